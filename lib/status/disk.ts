import { stat, statfs } from 'node:fs/promises'
import type { DiskStatus } from './report.ts'

/** The fields of fs.statfs status needs. */
export interface FilesystemStats {
  bsize: number
  blocks: number
  bavail: number
}

/** Free space as an unprivileged process sees it (bavail: blocks reserved for root excluded). */
export function diskStatus(path: string, stats: FilesystemStats): DiskStatus {
  const freeBytes = stats.bavail * stats.bsize
  const totalBytes = stats.blocks * stats.bsize
  return { path, freeBytes, totalBytes, freePercent: totalBytes === 0 ? 0 : Math.round((freeBytes / totalBytes) * 1000) / 10 }
}

/** statfs of a path; undefined when it does not exist or cannot be read. */
export async function readDisk(path: string): Promise<DiskStatus | undefined> {
  return statfs(path).then((stats) => diskStatus(path, stats), () => undefined)
}

/** Whether two paths are on one filesystem (same device), so one problem is not reported twice. */
export async function sameFilesystem(a: string, b: string): Promise<boolean> {
  const [first, second] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)])
  return first !== undefined && second !== undefined && first.dev === second.dev
}
