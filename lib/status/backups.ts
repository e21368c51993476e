import { latestBackup, type BackupEntry } from '../backup/names.ts'
import type { BackupState } from '../backup/state.ts'
import type { BackupStatus, OffsiteStatus, VerifyStatus } from './report.ts'

/** The newest backup of any kind (the one `backup.mts --restore latest` would take), with its age. */
export function newestBackup(entries: readonly BackupEntry[], now: Date): BackupStatus | null {
  const newest = latestBackup(entries)
  if (newest === undefined) return null
  return {
    name: newest.name,
    time: newest.mtime.toISOString(),
    sizeBytes: newest.size,
    ageHours: ageHours(newest.mtime, now),
  }
}

const ageHours = (time: Date, now: Date) => Math.round(((now.getTime() - time.getTime()) / 3_600_000) * 10) / 10

/** The recorded off-site copy and verified restore, with their ages. */
export function offsiteFacts(state: BackupState, configured: boolean, now: Date): { offsite: OffsiteStatus; verify: VerifyStatus | null } {
  const last = state.offsite
  const verify = state.verify
  return {
    offsite: { configured, last: last === null ? null : { ...last, ageHours: ageHours(new Date(last.time), now) } },
    verify: verify === null ? null : { ...verify, ageHours: ageHours(new Date(verify.time), now) },
  }
}
