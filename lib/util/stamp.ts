/** UTC time as YYYYMMDD-HHMMSS: sorts like the time itself, safe in file names and release ids. */
export function utcStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, '').replace('T', '-')
}
