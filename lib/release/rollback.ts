import { stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { backupDir, backupFile } from '../backup/files.ts'
import { restoreSafely } from '../backup/restore.ts'
import { imageExists } from '../docker/containers.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { StackContext } from '../stack/context.ts'
import { releaseImages } from './images.ts'
import { readReleaseLog, rollbackTarget, type ReleaseLogEntry } from './log.ts'
import { recorded } from './record.ts'
import { switchToRelease } from './switch.ts'

export interface RollbackOptions {
  to: string | undefined
  withDb: boolean
  healthTimeoutMs: number
  /** The release that serves after convergence. */
  serving: string | undefined
}

/** The dump a --with-db rollback restores: it holds the database as the target release left it. */
export interface RollbackDump {
  file: string
  /** The deploy that took it, just before its migrations ran. */
  takenBy: string
  takenAt: Date
}

export interface RollbackChoice {
  target: string
  entries: ReleaseLogEntry[]
  /** --with-db only. */
  dump: RollbackDump | undefined
}

/** The release a rollback goes to, and with --with-db the dump it restores; refused by name before anything changes. */
export async function chooseRollbackTarget(ctx: StackContext, options: Pick<RollbackOptions, 'to' | 'serving' | 'withDb'>): Promise<RollbackChoice> {
  const entries = await readReleaseLog(ctx.varDir)
  const target = options.to ?? rollbackTarget(entries, options.serving)
  if (target === undefined) throw new ToolkitError('there is no previous release to go back to', { exitCode: ExitCode.precondition, hint: 'see the release log with --list' })
  if (target === options.serving) throw new ToolkitError(`release ${target} is already serving`, { exitCode: ExitCode.usage, hint: 'pick another one from --list' })
  await requireImages(ctx, target)
  return { target, entries, dump: options.withDb ? await requireDump(ctx.varDir, entries, target) : undefined }
}

export type DumpChoice = { kind: 'dump'; takenBy: string; name: string } | { kind: 'never-deployed' } | { kind: 'no-schema-change' }

/**
 * Which dump holds the database as `target` left it: the pre-migration dump of the first deploy
 * whose migrations ran after `target` last served on its own schema (its deploy, or a rollback
 * to it with --with-db; a plain rollback keeps the newer schema) (a line written before deploys
 * recorded their migrations always took one). A deploy with no migration changed no schema and
 * took none; one whose migrations failed changed nothing. Pure: the release log in, a choice out.
 */
export function chooseRollbackDump(entries: readonly ReleaseLogEntry[], target: string): DumpChoice {
  // The last time `target` served on its own schema: deployed, or rolled back to with its database.
  const index = entries.findLastIndex((entry) => entry.id === target && entry.result === 'ok' && (entry.action === 'deploy' || entry.backup !== undefined))
  if (index < 0) return { kind: 'never-deployed' }
  for (const entry of entries.slice(index + 1)) {
    if (entry.action !== 'deploy' || entry.id === target) continue
    // A killed deploy (its line written by the next run) may have migrated: its dump, taken just before, is the safe one.
    const migrated = entry.interrupted === true ? entry.backup !== undefined : entry.migrations === undefined ? entry.result === 'ok' : entry.migrations.length > 0
    if (migrated) return { kind: 'dump', takenBy: entry.id, name: entry.backup ?? basename(backupFile('', entry.id)) }
  }
  return { kind: 'no-schema-change' }
}

async function requireDump(varDir: string, entries: readonly ReleaseLogEntry[], target: string): Promise<RollbackDump> {
  const choice = chooseRollbackDump(entries, target)
  if (choice.kind === 'never-deployed')
    throw new ToolkitError(`--with-db: the release log has no successful deploy of ${target}, so no dump holds its database`, { exitCode: ExitCode.precondition, hint: 'roll back without --with-db, or restore a backup you pick with `npx zx scripts/backup.mts --restore FILE`' })
  if (choice.kind === 'no-schema-change')
    throw new ToolkitError(`--with-db: no deploy since ${target} ran a migration, so its database schema is the current one and there is no dump to restore`, { exitCode: ExitCode.precondition, hint: 'roll back without --with-db (the data stays); to go back to older data, restore a backup with `npx zx scripts/backup.mts --restore FILE`' })
  const file = join(backupDir(varDir), choice.name)
  const info = await stat(file).catch(() => undefined)
  if (info?.isFile() !== true)
    throw new ToolkitError(`--with-db: the dump ${choice.name} (taken by the deploy of ${choice.takenBy} before its migrations) is missing from ${backupDir(varDir)}: nothing was changed`, {
      exitCode: ExitCode.precondition,
      hint: 'put the file back (from your off-site copy), or roll back without --with-db',
    })
  return { file, takenBy: choice.takenBy, takenAt: info.mtime }
}

/** Back to a release already built: no build, no migration, the same zero-downtime switch; with a dump, the safe restore. */
export async function rollbackRelease(ctx: StackContext, env: AikoEnv, choice: RollbackChoice, options: RollbackOptions): Promise<void> {
  const serving = options.serving
  if (serving === undefined) throw new ToolkitError('no release serves: there is nothing to roll back from', { exitCode: ExitCode.precondition, hint: 'deploy first: npx zx scripts/deploy.mts' })
  const { target, entries, dump } = choice
  await recorded(ctx, { id: target, sha: entries.find((entry) => entry.id === target)?.sha ?? 'unknown', action: 'rollback', previous: serving }, async (facts) => {
    if (dump === undefined) return switchToRelease(ctx, env, target, { healthTimeoutMs: options.healthTimeoutMs, previous: serving })
    facts.backup = basename(dump.file)
    const safety = await restoreSafely(ctx, env, { file: dump.file, release: target, serving, healthTimeoutMs: options.healthTimeoutMs, now: new Date() })
    ctx.output.info(`the database as it was just before the rollback is in ${safety}; to get it back: npx zx scripts/backup.mts --restore ${basename(safety)}`)
  })
}

async function requireImages(ctx: StackContext, release: string): Promise<void> {
  for (const image of releaseImages(release)) {
    if ((await ctx.executor.probe(imageExists(image))).exitCode !== 0)
      throw new ToolkitError(`the image ${image} of release ${release} is gone`, { exitCode: ExitCode.precondition, hint: 'only releases still listed by --list with their images can come back; deploy that commit instead' })
  }
}
