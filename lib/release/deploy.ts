import { composeBuild } from '../compose/commands.ts'
import { runMigrations } from '../db/migrate.ts'
import { listImageTags, removeImages } from '../docker/containers.ts'
import type { AikoEnv } from '../env/schema.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers } from '../stack/health.ts'
import { startStack } from '../stack/start.ts'
import { backupDatabase, backupFile, pruneBackups } from './backup.ts'
import { IMAGE_REPOSITORIES, releaseImages, releasesToPrune } from './images.ts'
import { readCurrentRelease, readReleaseLog, rollbackTarget, servedReleases } from './log.ts'
import { recorded } from './record.ts'
import { releaseTarget, switchToRelease } from './switch.ts'

export interface DeployOptions {
  release: string
  sha: string
  keepReleases: number
  healthTimeoutMs: number
}

/**
 * A deploy as a short story: build the release, back the database up, migrate with the new
 * image, switch with zero downtime. Anything failing before the switch leaves the old
 * release serving untouched.
 */
export async function deployRelease(ctx: StackContext, env: AikoEnv, options: DeployOptions): Promise<void> {
  const previous = await readCurrentRelease(ctx.varDir)
  const next = releaseTarget(ctx, options.release)
  const firstStart = (await projectContainers(ctx, 'postgres')).every((state) => state.status !== 'running')
  await recorded(ctx, { id: options.release, sha: options.sha, action: 'deploy', previous }, async () => {
    await ctx.output.step(`build release ${options.release}`, () => ctx.executor.run(composeBuild(next.target, ['backend', 'frontend'])))
    if (firstStart) {
      ctx.output.info('the stack is not running: first start')
      await startStack(next, env, { timeoutMs: options.healthTimeoutMs * 3 })
      await ctx.output.step('run the migrations', () => migrate(next))
      return
    }
    await ctx.output.step('back up the database (pg_dump)', () => backupDatabase(ctx, backupFile(ctx.varDir, options.release)))
    await ctx.output.step('run the migrations with the new release', () => migrate(next))
    await switchToRelease(ctx, env, options.release, { healthTimeoutMs: options.healthTimeoutMs })
  })
  await pruneReleases(ctx, options.keepReleases)
}

const migrate = (next: StackContext) =>
  runMigrations(next, {
    message: 'the migrations of the new release failed: the old release keeps serving, the database is as before',
    hint: 'fix the migration and deploy again; the pre-migration backup is in var/backups/',
  })

/** Keeps the images and backups of the newest releases, never the current one or the rollback target. */
export async function pruneReleases(ctx: StackContext, keep: number): Promise<void> {
  const entries = await readReleaseLog(ctx.varDir)
  const current = await readCurrentRelease(ctx.varDir)
  const served = servedReleases(entries)
  const tags = (await ctx.executor.probe(listImageTags(IMAGE_REPOSITORIES.backend))).stdout.split('\n').filter(Boolean)
  const doomed = releasesToPrune(tags, served, keep, [current, rollbackTarget(entries, current)])
  if (doomed.length > 0) {
    await ctx.executor.probe(removeImages(doomed.flatMap(releaseImages)))
    ctx.output.info(`pruned the images of ${doomed.length} old release${doomed.length === 1 ? '' : 's'}: ${doomed.join(', ')}`)
  }
  if (!ctx.executor.dryRun) await pruneBackups(ctx.varDir, served.slice(0, keep))
}
