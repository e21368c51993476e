import type { LockHolder } from '../stack/lock.ts'
import type { ReleaseLogEntry } from './log.ts'

/**
 * Whether a run that died holding the lock had already switched: its intent names the release
 * it was bringing in, and convergence found that release serving. The same command run again
 * then only finishes that work (convergence did) instead of starting over.
 */
export function interruptedRunFinished(previous: LockHolder | 'unreadable' | undefined, action: 'deploy' | 'rollback', serving: string | undefined): string | undefined {
  if (previous === undefined || previous === 'unreadable' || previous.intent?.action !== action) return undefined
  const release = previous.intent.release
  return release !== undefined && release === serving ? release : undefined
}

/**
 * The release-log line a killed run never wrote (its lock says which release it brought in),
 * written by the next run so that the log stays whole: `ok` when convergence found that release
 * serving, else `failed`; its pre-migration dump when the file exists (whether its migrations
 * ran is not known, so rollback --with-db counts it as migrated). Undefined when there is
 * nothing to add: no killed run, or a line for that release is already there.
 */
export function interruptedLine(
  previous: LockHolder | 'unreadable' | undefined,
  entries: readonly ReleaseLogEntry[],
  facts: { serving: string | undefined; backup: string | undefined },
): ReleaseLogEntry | undefined {
  if (previous === undefined || previous === 'unreadable') return undefined
  const { intent } = previous
  if ((intent?.action !== 'deploy' && intent?.action !== 'rollback') || intent.release === undefined) return undefined
  const release = intent.release
  if (entries.some((entry) => entry.id === release && entry.time >= previous.since)) return undefined
  return {
    id: release,
    sha: entries.find((entry) => entry.id === release)?.sha ?? release.slice(-7),
    action: intent.action,
    result: facts.serving === release ? 'ok' : 'failed',
    time: previous.since,
    user: previous.user,
    durationMs: 0,
    error: `killed before it finished (${previous.command}, pid ${previous.pid}); written by the next run`,
    interrupted: true,
    ...(intent.action === 'deploy' && facts.backup !== undefined ? { backup: facts.backup } : {}),
  }
}
