import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { BackupStatus } from './report.ts'

export interface BackupFile {
  name: string
  mtimeMs: number
  size: number
}

/** Every database dump counts: deploy's pre-<release>.dump and the scheduled-<stamp>.dump of backup.mts. */
export const isBackupName = (name: string): boolean => name.endsWith('.dump')

/** The newest dump by modification time (a name tie-break keeps the choice stable), with its age. */
export function newestBackup(files: readonly BackupFile[], now: Date): BackupStatus | null {
  const newest = files
    .filter((file) => isBackupName(file.name))
    .reduce<BackupFile | undefined>((best, file) => (best === undefined || file.mtimeMs > best.mtimeMs || (file.mtimeMs === best.mtimeMs && file.name > best.name) ? file : best), undefined)
  if (newest === undefined) return null
  return {
    name: newest.name,
    time: new Date(newest.mtimeMs).toISOString(),
    sizeBytes: newest.size,
    ageHours: Math.round(((now.getTime() - newest.mtimeMs) / 3_600_000) * 10) / 10,
  }
}

/** The dumps of a backup folder; none when it does not exist or cannot be read. */
export async function listBackups(dir: string): Promise<BackupFile[]> {
  const names = (await readdir(dir).catch(() => [])).filter(isBackupName)
  const files = await Promise.all(
    names.map(async (name) => {
      const stats = await stat(join(dir, name)).catch(() => undefined)
      return stats?.isFile() === true ? [{ name, mtimeMs: stats.mtimeMs, size: stats.size }] : []
    }),
  )
  return files.flat()
}
