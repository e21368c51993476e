import { userInfo } from 'node:os'
import { recordOperation } from '../alerts/metrics.ts'
import { setEnvVariable } from '../env/update.ts'
import type { StackContext } from '../stack/context.ts'
import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { backupFile } from '../backup/files.ts'
import type { LockHolder } from '../stack/lock.ts'
import { interruptedLine } from './interrupted.ts'
import { appendReleaseLog, readReleaseLog, writeCurrentRelease, type ReleaseLogEntry } from './log.ts'

/**
 * Records the release that serves, the moment it starts serving: var/current-release for the
 * toolkit, AIKO_RELEASE in .env for compose (a plain `docker compose up -d`, a `down`/`up` or a
 * reboot then starts this release, never `latest`). Both writes are atomic.
 */
export async function recordServing(ctx: StackContext, release: string): Promise<void> {
  if (ctx.executor.dryRun) return
  await writeCurrentRelease(ctx.varDir, release)
  await setEnvVariable(ctx.target.envFile, 'AIKO_RELEASE', release)
}

/**
 * Runs a deploy or rollback and appends its line to the release log whatever happens:
 * id, sha, time, who, result, duration, and the facts `work` noted on the way (the
 * migrations it applied, the dump it took), even when it failed after noting them. (The serving release itself is recorded by
 * recordServing right after the nginx reload, not here.) Its result goes to Prometheus too
 * (var/metrics/aiko_<action>.prom): a deploy that failed, or rolled back on its own after the
 * switch, fires DeployFailed.
 */
export async function recorded(
  ctx: StackContext,
  entry: Pick<ReleaseLogEntry, 'id' | 'sha' | 'action' | 'previous'>,
  work: (facts: Pick<ReleaseLogEntry, 'migrations' | 'backup'>) => Promise<void>,
): Promise<void> {
  const facts: Pick<ReleaseLogEntry, 'migrations' | 'backup'> = {}
  if (ctx.executor.dryRun) return work(facts)
  const started = new Date()
  const line = (result: ReleaseLogEntry['result'], error?: string): ReleaseLogEntry => ({
    ...entry, ...facts, result, time: started.toISOString(), user: userInfo().username, durationMs: Date.now() - started.getTime(), ...(error === undefined ? {} : { error }),
  })
  try {
    await work(facts)
  } catch (error) {
    await appendReleaseLog(ctx.varDir, line('failed', error instanceof Error ? error.message : String(error)))
    await recordOperation(ctx, entry.action, { ok: false, time: new Date(), release: entry.id })
    throw error
  }
  await appendReleaseLog(ctx.varDir, line('ok'))
  await recordOperation(ctx, entry.action, { ok: true, time: new Date(), release: entry.id })
}

/** Writes the release-log line of a run that was killed holding the lock (interruptedLine), once convergence knows what serves. */
export async function recordInterrupted(ctx: StackContext, previous: LockHolder | 'unreadable' | undefined, serving: string | undefined): Promise<void> {
  if (ctx.executor.dryRun || previous === undefined || previous === 'unreadable' || previous.intent?.release === undefined) return
  const dump = backupFile(ctx.varDir, previous.intent.release)
  const backup = (await stat(dump).catch(() => undefined))?.isFile() === true ? basename(dump) : undefined
  const line = interruptedLine(previous, await readReleaseLog(ctx.varDir), { serving, backup })
  if (line === undefined) return
  await appendReleaseLog(ctx.varDir, line)
  ctx.output.info(`release log: ${line.action} of ${line.id} was killed before it wrote its line; added (${line.result}${line.backup === undefined ? '' : `, its dump ${line.backup}`})`)
}
