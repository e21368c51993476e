import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { utcStamp } from '../util/stamp.ts'

export interface ReleaseLogEntry {
  id: string
  sha: string
  action: 'deploy' | 'rollback'
  result: 'ok' | 'failed' | 'rolled-back'
  /** ISO time the action started. */
  time: string
  user: string
  durationMs: number
  /** The release that served before this action. */
  previous: string | undefined
  error?: string
}

export const releaseLogPath = (varDir: string) => join(varDir, 'releases.log')
export const currentReleasePath = (varDir: string) => join(varDir, 'current-release')

/** One JSON object per line: append-only, readable with `tail`, parsable by scripts. */
export async function appendReleaseLog(varDir: string, entry: ReleaseLogEntry): Promise<void> {
  const path = releaseLogPath(varDir)
  await mkdir(dirname(path), { recursive: true })
  await appendFile(path, `${JSON.stringify(entry)}\n`, { mode: 0o640 })
}

export function parseReleaseLog(text: string): ReleaseLogEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as ReleaseLogEntry)
}

export async function readReleaseLog(varDir: string): Promise<ReleaseLogEntry[]> {
  return parseReleaseLog(await readFile(releaseLogPath(varDir), 'utf8').catch(() => ''))
}

export async function readCurrentRelease(varDir: string): Promise<string | undefined> {
  const text = await readFile(currentReleasePath(varDir), 'utf8').catch(() => '')
  return text.trim() === '' ? undefined : text.trim()
}

/** Releases that served successfully, newest first, each once. */
export function servedReleases(entries: readonly ReleaseLogEntry[]): string[] {
  const ids: string[] = []
  for (const entry of [...entries].reverse()) if (entry.result === 'ok' && !ids.includes(entry.id)) ids.push(entry.id)
  return ids
}

/** The release a plain rollback goes back to: the newest served release other than the current one. */
export function rollbackTarget(entries: readonly ReleaseLogEntry[], current: string | undefined): string | undefined {
  return servedReleases(entries).find((id) => id !== current)
}

/** The shape of every id releaseId makes: the UTC stamp, then 7 characters of the commit (or `nogit00`). */
export const RELEASE_ID_PATTERN = /^\d{8}-\d{6}-[0-9a-z]{7}$/

export function releaseId(sha: string, now: Date): string {
  return `${utcStamp(now)}-${sha.slice(0, 7)}`
}
