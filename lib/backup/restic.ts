import { z } from 'zod'
import type { AikoEnv } from '../env/schema.ts'
import type { Command } from '../exec/executor.ts'

/** Every snapshot the toolkit makes carries this tag: forget and restore never touch another's. */
export const RESTIC_TAG = 'aiko'

/** The off-site repository: where it is, how to reach it, what to keep. */
export interface ResticRepo {
  repository: string
  /**
   * What restic reads from its environment (RESTIC_REPOSITORY, RESTIC_PASSWORD, the S3 keys):
   * the password never reaches argv, so it is in no `ps` line and no echoed command.
   */
  env: Readonly<Record<string, string>>
  /** `-o sftp.command=...` for an sftp: repository on another port or with its own key. */
  sftpCommand: string | undefined
  keep: { daily: number; weekly: number; monthly: number }
}

/** The variables that reach restic (and that a new server may export instead of having a .env). */
export const RESTIC_VARIABLES = ['RESTIC_REPOSITORY', 'RESTIC_PASSWORD', 'RESTIC_SFTP_COMMAND', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const

type ResticSettings = Pick<AikoEnv, 'RESTIC_REPOSITORY' | 'RESTIC_PASSWORD' | 'RESTIC_SFTP_COMMAND' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY'> &
  Partial<Pick<AikoEnv, 'RESTIC_KEEP_DAILY' | 'RESTIC_KEEP_WEEKLY' | 'RESTIC_KEEP_MONTHLY'>>

/** The repository of the .env; undefined when RESTIC_REPOSITORY is empty (no off-site copy). */
export function resticRepo(env: ResticSettings): ResticRepo | undefined {
  if (env.RESTIC_REPOSITORY === undefined || env.RESTIC_PASSWORD === undefined) return undefined
  const vars: Record<string, string> = { RESTIC_REPOSITORY: env.RESTIC_REPOSITORY, RESTIC_PASSWORD: env.RESTIC_PASSWORD }
  if (env.AWS_ACCESS_KEY_ID !== undefined && env.AWS_SECRET_ACCESS_KEY !== undefined) {
    vars['AWS_ACCESS_KEY_ID'] = env.AWS_ACCESS_KEY_ID
    vars['AWS_SECRET_ACCESS_KEY'] = env.AWS_SECRET_ACCESS_KEY
  }
  return {
    repository: env.RESTIC_REPOSITORY,
    env: vars,
    sftpCommand: env.RESTIC_SFTP_COMMAND,
    keep: { daily: env.RESTIC_KEEP_DAILY ?? 7, weekly: env.RESTIC_KEEP_WEEKLY ?? 4, monthly: env.RESTIC_KEEP_MONTHLY ?? 6 },
  }
}

/** A long upload or download is bounded too: a hung connection must not hold the cron job forever. */
const RESTIC_TIMEOUT_MS = 4 * 60 * 60_000

function restic(repo: ResticRepo, args: readonly string[], mutates: boolean): Command {
  const options = repo.sftpCommand === undefined ? [] : ['--option', `sftp.command=${repo.sftpCommand}`]
  return { argv: ['restic', ...options, ...args], env: repo.env, mutates, timeoutMs: RESTIC_TIMEOUT_MS }
}

/**
 * Removes the stale locks only: those of a restic process of this host that is gone (a run
 * killed by SIGKILL, the OOM killer or a reboot) and those older than 30 minutes. Without it,
 * the lock a killed `restic backup` leaves makes every later `forget --prune` and `check`
 * (exclusive) fail with "repository is already locked" until someone runs it by hand.
 */
export const resticUnlock = (repo: ResticRepo): Command => restic(repo, ['unlock'], true)

/** Creates the repository (its keys are made from RESTIC_PASSWORD). */
export const resticInit = (repo: ResticRepo): Command => restic(repo, ['init'], true)

/** Succeeds when the repository exists and the password opens it. */
export const resticCatConfig = (repo: ResticRepo): Command => restic(repo, ['cat', 'config'], false)

/** Uploads one folder as a snapshot of this server (host = DOMAIN); the summary line names the snapshot. */
export const resticBackup = (repo: ResticRepo, folder: string, host: string): Command =>
  restic(repo, ['backup', '--json', '--tag', RESTIC_TAG, '--host', host, folder], true)

/** The retention of the .env applied to this server's snapshots, then the unused data removed. */
export const resticForget = (repo: ResticRepo, host: string): Command =>
  restic(
    repo,
    ['forget', '--tag', RESTIC_TAG, '--host', host, '--group-by', 'host,tags', '--keep-daily', String(repo.keep.daily), '--keep-weekly', String(repo.keep.weekly), '--keep-monthly', String(repo.keep.monthly), '--prune'],
    true,
  )

/** The toolkit's snapshots, of one server or (host undefined: a new server that does not know yet) of all. */
export const resticSnapshots = (repo: ResticRepo, host: string | undefined): Command =>
  restic(repo, ['snapshots', '--json', '--tag', RESTIC_TAG, ...(host === undefined ? [] : ['--host', host])], false)

/** The repository's structure (index, snapshots, packs listed); pack contents are read by the restore that follows. */
export const resticCheck = (repo: ResticRepo): Command => restic(repo, ['check'], false)

/** Restores a snapshot under `target` (its absolute paths kept below it), every file read back and checked. */
export const resticRestore = (repo: ResticRepo, snapshot: string, target: string): Command =>
  restic(repo, ['restore', snapshot, '--target', target, '--verify'], true)

/** restic 0.14's words for a repository that is not there (a first run, or a wrong RESTIC_REPOSITORY). */
export const isMissingRepository = (stderr: string): boolean => /Is there a repository at the following location\?|repository does not exist/i.test(stderr)

const snapshotSchema = z.object({
  id: z.string().regex(/^[0-9a-f]{64}$/),
  short_id: z.string(),
  time: z.string(),
  hostname: z.string(),
  paths: z.array(z.string()).min(1),
  tags: z.array(z.string()).nullish(),
})
export type ResticSnapshot = z.infer<typeof snapshotSchema>

/** `restic snapshots --json`, oldest first as restic prints them; anything else is an error, not an empty list. */
export function parseSnapshots(stdout: string): ResticSnapshot[] {
  const parsed = z.array(snapshotSchema).safeParse(JSON.parse(stdout.trim() === '' ? '[]' : stdout))
  if (!parsed.success) throw new Error(`restic snapshots --json printed an unexpected shape: ${parsed.error.issues[0]?.message ?? 'unknown'}`)
  return parsed.data
}

/** The snapshot `wanted` names: "latest" (the newest by time) or an id or its prefix (8 characters at least). */
export function pickSnapshot(snapshots: readonly ResticSnapshot[], wanted: string): ResticSnapshot | undefined {
  if (wanted === 'latest') return [...snapshots].sort((a, b) => Date.parse(b.time) - Date.parse(a.time))[0]
  if (!/^[0-9a-f]{8,64}$/.test(wanted)) return undefined
  const matches = snapshots.filter((snapshot) => snapshot.id.startsWith(wanted))
  return matches.length === 1 ? matches[0] : undefined
}

const summarySchema = z.object({ message_type: z.literal('summary'), snapshot_id: z.string().regex(/^[0-9a-f]{8,64}$/) })

/** The snapshot id in `restic backup --json`'s summary line (the last JSON line of that type). */
export function parseBackupSummary(stdout: string): string {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.trim().startsWith('{')) continue
    const parsed = summarySchema.safeParse(safeJson(line))
    if (parsed.success) return parsed.data.snapshot_id
  }
  throw new Error('restic backup --json printed no summary line with a snapshot id')
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}
