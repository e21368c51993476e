import { formatBytes } from '../ui/output.ts'
import type { BackupEntry } from './names.ts'

/** One line of --list: date (UTC), size, kind, name. */
export function formatBackupLine(entry: BackupEntry): string {
  const date = entry.mtime.toISOString().replace(/\.\d+Z$/, 'Z')
  return `${date}  ${formatBytes(entry.size).padStart(10)}  ${entry.kind.padEnd(11)}  ${entry.name}`
}
