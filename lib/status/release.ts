import type { ReleaseLogEntry } from '../release/log.ts'
import type { LastAction } from './report.ts'

/** The last deploy or rollback of the release log, whatever its result. */
export function lastAction(entries: readonly ReleaseLogEntry[]): LastAction | null {
  const last = entries.at(-1)
  if (last === undefined) return null
  return { action: last.action, id: last.id, result: last.result, time: last.time, user: last.user, durationMs: last.durationMs, error: last.error ?? null }
}
