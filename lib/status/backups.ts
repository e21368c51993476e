import { latestBackup, type BackupEntry } from '../backup/names.ts'
import type { BackupStatus } from './report.ts'

/** The newest backup of any kind (the one `backup.mts --restore latest` would take), with its age. */
export function newestBackup(entries: readonly BackupEntry[], now: Date): BackupStatus | null {
  const newest = latestBackup(entries)
  if (newest === undefined) return null
  return {
    name: newest.name,
    time: newest.mtime.toISOString(),
    sizeBytes: newest.size,
    ageHours: Math.round(((now.getTime() - newest.mtime.getTime()) / 3_600_000) * 10) / 10,
  }
}
