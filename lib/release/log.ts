import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import { utcStamp } from '../util/stamp.ts'

const entrySchema = z.object({
  id: z.string().min(1),
  sha: z.string(),
  action: z.enum(['deploy', 'rollback']),
  result: z.enum(['ok', 'failed', 'rolled-back']),
  /** ISO time the action started. */
  time: z.string(),
  user: z.string(),
  durationMs: z.number(),
  /** The release that served before this action. */
  previous: z.string().optional(),
  error: z.string().optional(),
  /** Deploy: the revisions its migrations applied (none: no migration was pending). */
  migrations: z.array(z.string()).optional(),
  /** Deploy: the pre-migration dump it took (a file of var/backups); absent when none was needed. */
  backup: z.string().optional(),
  /** Written by the next run for a run that was killed (SIGKILL, reboot) and wrote no line: whether its migrations ran is not known. */
  interrupted: z.boolean().optional(),
})

export type ReleaseLogEntry = z.infer<typeof entrySchema>

export const releaseLogPath = (varDir: string) => join(varDir, 'releases.log')
export const currentReleasePath = (varDir: string) => join(varDir, 'current-release')

/** A file that does not exist yet reads as empty; any other read error is an error. */
async function readOptional(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw error
  }
}

export interface ParsedReleaseLog {
  entries: ReleaseLogEntry[]
  /** 1-based numbers of the lines that are not a whole entry (a torn write, a hand edit). */
  badLines: number[]
}

/** One JSON object per line. A line that does not parse is reported and skipped, never a crash. */
export function parseReleaseLog(text: string): ParsedReleaseLog {
  const entries: ReleaseLogEntry[] = []
  const badLines: number[] = []
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      badLines.push(index + 1)
      return
    }
    const parsed = entrySchema.safeParse(json)
    if (parsed.success) entries.push(parsed.data)
    else badLines.push(index + 1)
  })
  return { entries, badLines }
}

export async function readReleaseLogChecked(varDir: string): Promise<ParsedReleaseLog> {
  return parseReleaseLog(await readOptional(releaseLogPath(varDir)))
}

export async function readReleaseLog(varDir: string): Promise<ReleaseLogEntry[]> {
  return (await readReleaseLogChecked(varDir)).entries
}

/**
 * Appends one entry: the whole log is rewritten to a temp file, synced and renamed, so a crash
 * leaves the old log or the new one, never a torn line. Unreadable lines are dropped on the way.
 */
export async function appendReleaseLog(varDir: string, entry: ReleaseLogEntry): Promise<void> {
  const { entries } = await readReleaseLogChecked(varDir)
  const text = [...entries, entry].map((item) => `${JSON.stringify(item)}\n`).join('')
  await mkdir(varDir, { recursive: true })
  await writeFileAtomic(releaseLogPath(varDir), text, { mode: 0o640 })
}

export async function readCurrentRelease(varDir: string): Promise<string | undefined> {
  const text = (await readOptional(currentReleasePath(varDir))).trim()
  return text === '' ? undefined : text
}

export async function writeCurrentRelease(varDir: string, release: string): Promise<void> {
  await mkdir(varDir, { recursive: true })
  await writeFileAtomic(currentReleasePath(varDir), `${release}\n`, { mode: 0o644 })
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
