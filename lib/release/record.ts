import { writeFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import type { StackContext } from '../stack/context.ts'
import { appendReleaseLog, currentReleasePath, type ReleaseLogEntry } from './log.ts'

/**
 * Runs a deploy or rollback and appends its line to the release log whatever happens:
 * id, sha, time, who, result, duration.
 */
export async function recorded(
  ctx: StackContext,
  entry: Pick<ReleaseLogEntry, 'id' | 'sha' | 'action' | 'previous'>,
  work: () => Promise<void>,
): Promise<void> {
  const started = new Date()
  const line = (result: ReleaseLogEntry['result'], error?: string): ReleaseLogEntry => ({
    ...entry, result, time: started.toISOString(), user: userInfo().username, durationMs: Date.now() - started.getTime(), ...(error === undefined ? {} : { error }),
  })
  if (ctx.executor.dryRun) return work()
  try {
    await work()
  } catch (error) {
    await appendReleaseLog(ctx.varDir, line('failed', error instanceof Error ? error.message : String(error)))
    throw error
  }
  await writeFile(currentReleasePath(ctx.varDir), `${entry.id}\n`)
  await appendReleaseLog(ctx.varDir, line('ok'))
}
