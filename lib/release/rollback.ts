import { imageExists } from '../docker/containers.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { StackContext } from '../stack/context.ts'
import { backupFile, restoreDatabase } from './backup.ts'
import { releaseImages } from './images.ts'
import { readCurrentRelease, readReleaseLog, rollbackTarget, type ReleaseLogEntry } from './log.ts'
import { recorded } from './record.ts'
import { switchToRelease } from './switch.ts'

export interface RollbackOptions {
  to: string | undefined
  withDb: boolean
  healthTimeoutMs: number
}

/** Back to a release already built: no build, no migration, the same zero-downtime switch. */
export async function rollbackRelease(ctx: StackContext, env: AikoEnv, options: RollbackOptions): Promise<string> {
  const entries = await readReleaseLog(ctx.varDir)
  const current = await readCurrentRelease(ctx.varDir)
  const target = options.to ?? rollbackTarget(entries, current)
  if (target === undefined) throw new ToolkitError('there is no previous release to go back to', { exitCode: ExitCode.precondition, hint: 'see the release log with --list' })
  if (target === current) throw new ToolkitError(`release ${target} is already serving`, { exitCode: ExitCode.usage, hint: 'pick another one from --list' })
  await requireImages(ctx, target)
  const backup = options.withDb ? backupFile(ctx.varDir, releaseAfter(entries, target) ?? target) : undefined
  await recorded(ctx, { id: target, sha: entries.find((entry) => entry.id === target)?.sha ?? 'unknown', action: 'rollback', previous: current }, async () => {
    if (backup !== undefined) await ctx.output.step(`restore the database as it was before ${releaseAfter(entries, target)}`, () => restoreDatabase(ctx, backup))
    await switchToRelease(ctx, env, target, { healthTimeoutMs: options.healthTimeoutMs })
  })
  return target
}

/** The release deployed right after `target`: its pre-migration backup holds the database of `target`. */
export function releaseAfter(entries: readonly ReleaseLogEntry[], target: string): string | undefined {
  const index = entries.findLastIndex((entry) => entry.id === target && entry.result === 'ok')
  return entries.slice(index + 1).find((entry) => entry.action === 'deploy' && entry.id !== target)?.id
}

async function requireImages(ctx: StackContext, release: string): Promise<void> {
  for (const image of releaseImages(release)) {
    if ((await ctx.executor.probe(imageExists(image))).exitCode !== 0)
      throw new ToolkitError(`the image ${image} of release ${release} is gone`, { exitCode: ExitCode.precondition, hint: 'only releases still listed by --list with their images can come back; deploy that commit instead' })
  }
}
