import type { BackupEntry } from './names.ts'

const UNITS = ['KiB', 'MiB', 'GiB', 'TiB']

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`
}

/** One line of --list: date (UTC), size, kind, name. */
export function formatBackupLine(entry: BackupEntry): string {
  const date = entry.mtime.toISOString().replace(/\.\d+Z$/, 'Z')
  return `${date}  ${formatSize(entry.size).padStart(10)}  ${entry.kind.padEnd(11)}  ${entry.name}`
}
