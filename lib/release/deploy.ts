import { basename } from 'node:path'
import { backupFile, pruneBackups } from '../backup/files.ts'
import { pruneBuildLeftovers, reclaimed } from '../docker/containers.ts'
import { composeBuild } from '../compose/commands.ts'
import { databaseHasData } from '../db/data-state.ts'
import { backupDatabase } from '../db/dump.ts'
import { planMigrations, runMigrations, type LockPolicy, type MigrationPlan } from '../db/migrate.ts'
import { formatFindings } from '../db/migration-safety.ts'
import { listImageTags, removeImages } from '../docker/containers.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Command } from '../exec/executor.ts'
import type { StackContext } from '../stack/context.ts'
import { renderServiceConfigs, SERVICE_CONFIG_STEP, startStack } from '../stack/start.ts'
import { IMAGE_REPOSITORIES, releaseImages, releasesToPrune } from './images.ts'
import { readCurrentRelease, readReleaseLog, rollbackTarget, servedReleases } from './log.ts'
import { recorded, recordServing } from './record.ts'
import { releaseTarget, switchToRelease } from './switch.ts'

export interface DeployOptions {
  release: string
  sha: string
  keepReleases: number
  healthTimeoutMs: number
  /** The release that serves after convergence; undefined when nothing was ever deployed. */
  serving: string | undefined
  /** Run migrations the classifier calls destructive or blocking (--allow-destructive-migrations). */
  allowDestructive: boolean
  lockPolicy: LockPolicy
}

/**
 * A deploy as a short story: build the release, read what its migrations will run (and stop
 * on a destructive one), back the database up when a migration is pending, migrate with the
 * new image, switch with zero downtime. Anything failing before the switch leaves the old
 * release serving untouched. The caller converged the stack first.
 */
export async function deployRelease(ctx: StackContext, env: AikoEnv, options: DeployOptions): Promise<void> {
  const next = releaseTarget(ctx, options.release)
  const serving = options.serving
  const migrate = () => runMigrations(next, MIGRATION_FAILURE, options.lockPolicy)
  await recorded(ctx, { id: options.release, sha: options.sha, action: 'deploy', previous: serving }, async (facts) => {
    await ctx.output.step(SERVICE_CONFIG_STEP, () => renderServiceConfigs(ctx, env))
    await ctx.output.step(`build release ${options.release}`, () => ctx.executor.run(buildCommand(next, ctx.executor.dryRun)))
    if (serving === undefined) {
      ctx.output.info('no release was ever deployed here: first start')
      const hasData = await ctx.output.step('start PostgreSQL and Redis, look for existing data', () => databaseHasData(ctx, env, { timeoutMs: options.healthTimeoutMs * 2 }))
      if (hasData) {
        await ctx.output.step('back up the database (pg_dump)', () => backupDatabase(ctx, backupFile(ctx.varDir, options.release)))
        facts.backup = basename(backupFile(ctx.varDir, options.release))
      }
      await ctx.output.step('run the migrations with the new release', migrate)
      await startStack(next, env, { timeoutMs: options.healthTimeoutMs * 3 })
      await recordServing(ctx, options.release)
      return
    }
    const plan = await ctx.output.step('read the pending migrations (Alembic offline SQL, nothing runs)', () => planMigrations(ctx, next))
    reviewMigrations(ctx, plan, options.allowDestructive)
    if (plan.pending.length === 0) {
      ctx.output.info('no migration pending: no pre-migration dump needed (the scheduled backups cover the data)')
    } else {
      const dump = backupFile(ctx.varDir, options.release)
      await ctx.output.step('back up the database (pg_dump)', () => backupDatabase(ctx, dump))
      facts.backup = basename(dump)
      await ctx.output.step(`run the migrations with the new release (${plan.pending.join(', ')})`, migrate)
    }
    // Noted once they ran: a rollback --with-db looks for the first deploy whose migrations changed the schema.
    facts.migrations = plan.pending
    try {
      await switchToRelease(ctx, env, options.release, { healthTimeoutMs: options.healthTimeoutMs, previous: serving })
    } catch (error) {
      if (plan.pending.length === 0 || !(error instanceof ToolkitError)) throw error
      throw migratedThenFailed(error, serving, options.release)
    }
  })
  await ctx.output.step(`prune old releases (keep ${options.keepReleases}) and build leftovers`, () => pruneReleases(ctx, options.keepReleases))
}

/** Under --dry-run the images are still built (nothing that serves changes): the release's migrations can only be read from its image. */
function buildCommand(next: StackContext, dryRun: boolean): Command {
  const build = { ...composeBuild(next.target, ['backend', 'frontend']), timeoutMs: 60 * 60_000 }
  return dryRun ? { ...build, mutates: false } : build
}

/** Prints what the migrations will run; a destructive or blocking statement stops the deploy here, before the dump and the migration. */
function reviewMigrations(ctx: StackContext, plan: MigrationPlan, allowDestructive: boolean): void {
  if (plan.pending.length === 0) return
  ctx.output.info(`pending migrations (database at ${plan.from ?? 'no revision'}): ${plan.pending.join(', ')}`)
  if (ctx.executor.dryRun) for (const line of plan.sql.trim().split('\n')) ctx.output.info(`  ${line}`)
  if (plan.findings.length === 0) return
  const lines = formatFindings(plan.findings)
  if (allowDestructive) {
    ctx.output.warn(`running migrations that break the running release or lock tables (--allow-destructive-migrations):\n${lines.join('\n')}`)
    return
  }
  const error = new ToolkitError('the pending migrations are destructive or lock tables for long: the deploy stopped before the backup and the migrations, nothing changed', {
    exitCode: ExitCode.precondition,
    details: lines,
    hint: 'write them expand/contract (add the new column or table, deploy, move the data, deploy the code that no longer reads the old one, then drop it) as the advice says; or, knowing the old release breaks as soon as they run, deploy with --allow-destructive-migrations',
  })
  if (!ctx.executor.dryRun) throw error
  ctx.output.warn(`${error.message.replace('the deploy stopped', 'a real deploy would stop')}:\n${lines.join('\n')}`)
}

/** The switch failed after the migrations ran: the old release serves on the migrated schema, and the operator is told how to undo them. */
function migratedThenFailed(error: ToolkitError, serving: string, release: string): ToolkitError {
  return new ToolkitError(`${error.message}; the migrations of ${release} had already run: release ${serving} serves on the migrated schema`, {
    exitCode: error.exitCode,
    details: error.details,
    hint: `if ${serving} misbehaves on that schema, put the database back as it was before the migrations: npx zx scripts/backup.mts --restore ${basename(backupFile('', release))}`,
    cause: error,
  })
}

const MIGRATION_FAILURE = {
  message: 'the migrations of the new release failed: the old release keeps serving, the database is as before',
  hint: 'fix the migration and deploy again; the pre-migration backup is in var/backups/',
}

/** Keeps the images and backups of the newest releases, never the current one or the rollback target. */
export async function pruneReleases(ctx: StackContext, keep: number): Promise<void> {
  const entries = await readReleaseLog(ctx.varDir)
  const current = await readCurrentRelease(ctx.varDir)
  const served = servedReleases(entries)
  const tagsOf = async (project?: string) => (await ctx.executor.probe(listImageTags(IMAGE_REPOSITORIES.backend, project))).stdout.split('\n').filter(Boolean)
  // Only this stack's own releases: those in its release log, and those Compose v2 labelled as
  // built for this project (a killed deploy's images are in no log). Another project keeps its images.
  const labelled = new Set(await tagsOf(ctx.target.project))
  const ours = (await tagsOf()).filter((tag) => labelled.has(tag) || entries.some((entry) => entry.id === tag))
  const doomed = releasesToPrune(ours, served, keep, [current, rollbackTarget(entries, current)])
  if (doomed.length > 0) {
    await ctx.executor.probe(removeImages(doomed.flatMap(releaseImages)))
    ctx.output.info(`pruned the images of ${doomed.length} old release${doomed.length === 1 ? '' : 's'}: ${doomed.join(', ')}`)
  }
  if (!ctx.executor.dryRun) await pruneBackups(ctx.varDir, served.slice(0, keep))
  // What the builds left: BuildKit's cache and the classic builder's untagged layers, older than a
  // day (the next build still finds today's). Layers of the kept releases belong to their tags.
  const freed = (await Promise.all(pruneBuildLeftovers(BUILD_CACHE_AGE).map((command) => ctx.executor.probe(command)))).map((result) => reclaimed(result.stdout))
  if (freed.some((text) => text !== undefined)) ctx.output.info(`build cache pruned (older than ${BUILD_CACHE_AGE}): ${freed.filter((text) => text !== undefined).join(' + ')} reclaimed`)
}

export const BUILD_CACHE_AGE = '24h'
