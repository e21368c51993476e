import { basename } from 'node:path'
import { backupDatabase, restoreDatabase } from '../db/dump.ts'
import { stopContainers, type ContainerState } from '../docker/containers.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { BESIDE_SERVICES } from '../release/converge-plan.ts'
import { recordServing } from '../release/record.ts'
import { pointNginxAt, releaseTarget, removeAll, restart, retire, startBeat, startBeside } from '../release/switch.ts'
import { runningNginx, waitForOldNginxWorkers } from '../nginx/apply.ts'
import { servableNginxMode } from '../ssl/nginx-mode.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers, waitUntilProbesPass } from '../stack/health.ts'
import { newBackupPath } from './files.ts'
import { preRestoreName } from './names.ts'

/** The services that write to the database: stopped for the time of the safety dump and the restore. */
export const WRITER_SERVICES: readonly string[] = ['backend', 'celery-worker', 'celery-beat']

export interface SafeRestore {
  /** The dump to restore. */
  file: string
  /** The release that serves after the restore (the serving one for backup --restore, the target for rollback --with-db). */
  release: string
  /** The release serving now; undefined when none ever served (no app writes: only the safety dump and the restore). */
  serving: string | undefined
  healthTimeoutMs: number
  now: Date
  /** Files restored with the database (the uploads of an off-site set), while the writers are stopped, right after it. */
  files?: { label: string; restore: (writers: readonly ContainerState[]) => Promise<void> }
}

/**
 * A restore that cannot lose data, as a short story with each undo next to its step:
 * the release that will serve is started beside and proven healthy while the database is
 * untouched; nginx shows the maintenance page and the writers stop; a safety dump of the
 * current database, then the restore (one transaction); the writers of that release start
 * again and pass their healthchecks; nginx serves it. Any failure after the restore puts the
 * safety dump back and the previous release serves as before. Returns the safety dump's path.
 * The caller holds the lock and has the operator's confirmation.
 */
export async function restoreSafely(ctx: StackContext, env: AikoEnv, restore: SafeRestore & { serving: string }): Promise<string> {
  const switching = restore.release !== restore.serving
  const mode = await servableNginxMode(ctx, env)
  const safety = await newBackupPath(ctx.varDir, preRestoreName(restore.now))
  if (ctx.executor.dryRun) return dryRun(ctx, restore, safety)

  const generation = switching
    ? await ctx.output.step(`start release ${restore.release} beside the serving one`, () => startBeside(releaseTarget(ctx, restore.release), restore.release, BESIDE_SERVICES))
    : { old: [], fresh: [] }
  const fresh = generation.fresh
  if (switching) {
    try {
      await ctx.output.step(`prove release ${restore.release} healthy before the database is touched`, () => waitUntilProbesPass(ctx, fresh, restore.healthTimeoutMs))
    } catch (error) {
      await removeAll(ctx, fresh)
      throw error
    }
  }
  const freshIds = new Set(fresh.map((state) => state.id))
  const writers = (await projectContainers(ctx)).filter((state) => WRITER_SERVICES.includes(state.service ?? '') && state.status === 'running')
  const oldWriters = writers.filter((state) => !freshIds.has(state.id))
  const putBack = async () => {
    await restart(ctx, oldWriters)
    await pointNginxAt(ctx, env, mode, restore.serving)
    await removeAll(ctx, fresh)
  }

  await ctx.output.step('show the maintenance page (503, Retry-After)', () => pointNginxAt(ctx, env, mode, restore.serving, true))
  try {
    // Requests nginx's previous workers still hold go to the writers: they finish before those stop.
    await ctx.output.step("let nginx's previous workers finish their requests", () => drainNginx(ctx))
    await ctx.output.step(`stop the writers (${names(writers)}): in-flight requests and tasks finish`, () => ctx.executor.run(stopContainers(writers.map((state) => state.id), 60)))
    await ctx.output.step(`safety dump of the current database to ${basename(safety)}`, () => backupDatabase(ctx, safety))
    await ctx.output.step(`restore ${basename(restore.file)} (one transaction)`, () => restoreDatabase(ctx, restore.file))
  } catch (error) {
    // The restore is one transaction: a failure up to here leaves the database as it was.
    await putBack()
    throw new ToolkitError(`${error instanceof Error ? error.message : String(error)}: the database is as it was, release ${restore.serving} serves again`, {
      exitCode: error instanceof ToolkitError ? error.exitCode : ExitCode.commandFailed,
      details: error instanceof ToolkitError ? error.details : [],
      cause: error,
    })
  }

  const coming = switching ? fresh : writers
  try {
    const files = restore.files
    if (files !== undefined) await ctx.output.step(files.label, () => files.restore(coming))
    await ctx.output.step(`start the writers of release ${restore.release} again`, () => restart(ctx, coming))
    await ctx.output.step(`wait for release ${restore.release} to pass its healthchecks`, () => waitUntilProbesPass(ctx, coming.filter((state) => state.service !== 'celery-beat'), restore.healthTimeoutMs))
    await ctx.output.step(`nginx serves release ${restore.release} (maintenance page off)`, () => pointNginxAt(ctx, env, mode, restore.release))
  } catch (error) {
    // Nothing writes while the safety dump goes back: the writers that failed stop first.
    if (switching) await retire(ctx, fresh)
    else await ctx.executor.probe(stopContainers(coming.map((state) => state.id), 60))
    await ctx.output.step(`put the safety dump ${basename(safety)} back`, () => restoreDatabase(ctx, safety))
    await putBack()
    throw new ToolkitError(`release ${restore.release} failed after the restore: the safety dump is back, release ${restore.serving} serves as before, nothing was lost`, {
      exitCode: ExitCode.commandFailed,
      details: error instanceof ToolkitError ? [error.message, ...error.details] : [String(error)],
      hint: `see the logs of release ${restore.release} with \`docker compose logs backend\`; ${restore.file} is untouched`,
    })
  }
  if (switching) {
    await recordServing(ctx, restore.release)
    await ctx.output.step('remove the previous release (stopped)', () => retire(ctx, generation.old))
    await ctx.output.step('start celery beat of the restored release (never two at once)', () => startBeat(releaseTarget(ctx, restore.release), { replace: true }))
  }
  return safety
}

const names = (containers: readonly ContainerState[]) => [...new Set(containers.map((state) => state.service ?? state.name))].join(', ') || 'none running'

function dryRun(ctx: StackContext, restore: SafeRestore, safety: string): string {
  const steps = [
    ...(restore.release !== restore.serving ? [`start release ${restore.release} beside ${restore.serving} and wait for its healthchecks`] : []),
    'show the maintenance page (503, Retry-After)',
    `stop the writers (${WRITER_SERVICES.join(', ')})`,
    `safety dump of the current database to ${basename(safety)}`,
    `restore ${basename(restore.file)} (one transaction)`,
    ...(restore.files === undefined ? [] : [restore.files.label]),
    `start the writers of release ${restore.release} again and wait for their healthchecks`,
    `nginx serves release ${restore.release} (maintenance page off)`,
  ]
  for (const step of steps) ctx.output.info(`[dry-run] would ${step}`)
  return safety
}

/**
 * Restores `file` after a safety backup of the current database (pre-restore-STAMP.dump), so
 * nothing is lost: restoring that one undoes this. For a stack where no release serves (no app
 * writes to stop, no page to show). Returns the safety backup's path.
 */
export async function restoreWithSafetyBackup(ctx: StackContext, file: string, now: Date): Promise<string> {
  const safety = await newBackupPath(ctx.varDir, preRestoreName(now))
  await ctx.output.step(`safety backup of the current database to ${basename(safety)}`, () => backupDatabase(ctx, safety))
  await ctx.output.step(`restore ${basename(file)} (one transaction)`, () => restoreDatabase(ctx, file))
  return safety
}

async function drainNginx(ctx: StackContext): Promise<void> {
  const nginx = await runningNginx(ctx)
  if (nginx === undefined) return
  const drained = await ctx.executor.probe(waitForOldNginxWorkers(nginx))
  if (drained.exitCode !== 0) ctx.output.warn("nginx's previous workers still hold connections after 15 s: the writers stop anyway")
}
