import { utcStamp } from '../util/stamp.ts'

/** scheduled: backup.mts (cron or by hand); release: deploy, before migrating; pre-restore: backup.mts --restore, before restoring. */
export type BackupKind = 'scheduled' | 'release' | 'pre-restore'

export interface BackupEntry {
  name: string
  path: string
  kind: BackupKind
  size: number
  mtime: Date
}

export const scheduledName = (now: Date) => `scheduled-${utcStamp(now)}.dump`
export const preRestoreName = (now: Date) => `pre-restore-${utcStamp(now)}.dump`

/** What kind of backup a file of var/backups is; undefined for anything else (a partial copy, a stray file). */
export function backupKind(name: string): BackupKind | undefined {
  if (/^scheduled-\d{8}-\d{6}\.dump$/.test(name)) return 'scheduled'
  if (/^pre-restore-\d{8}-\d{6}\.dump$/.test(name)) return 'pre-restore'
  // Only a name the toolkit makes (pre-<release id>.dump): an operator's own pre-something.dump is never touched.
  if (/^pre-\d{8}-\d{6}-[0-9a-z]{7}\.dump$/.test(name)) return 'release'
  return undefined
}

/** The scheduled backups beyond the newest `keep` (their names sort by time); other kinds are never chosen. */
export function scheduledToPrune(names: readonly string[], keep: number): string[] {
  return names
    .filter((name) => backupKind(name) === 'scheduled')
    .sort()
    .reverse()
    .slice(keep)
}

/** Newest first by modification time (then by name, for files written in the same second). */
export function newestFirst(entries: readonly BackupEntry[]): BackupEntry[] {
  return [...entries].sort((a, b) => b.mtime.getTime() - a.mtime.getTime() || b.name.localeCompare(a.name))
}

/** `--restore latest`: the newest backup of any kind. */
export function latestBackup(entries: readonly BackupEntry[]): BackupEntry | undefined {
  return newestFirst(entries)[0]
}
