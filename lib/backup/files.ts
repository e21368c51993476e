import { readdir, rm, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'
import { backupKind, latestBackup, newestFirst, type BackupEntry } from './names.ts'

export const backupDir = (varDir: string) => join(varDir, 'backups')
/** The database as it was just before `release` migrated it. */
export const backupFile = (varDir: string, release: string) => join(backupDir(varDir), `pre-${release}.dump`)

const LIST_HINT = 'see the backups with `npx zx scripts/backup.mts --list`'

/** Every backup of var/backups (partial copies and stray files left out), newest first; none when the folder does not exist. */
export async function listBackups(varDir: string): Promise<BackupEntry[]> {
  const dir = backupDir(varDir)
  const names = await readdir(dir).catch(() => [])
  const entries: BackupEntry[] = []
  for (const name of names) {
    const kind = backupKind(name)
    const info = kind === undefined ? undefined : await stat(join(dir, name)).catch(() => undefined)
    if (kind !== undefined && info?.isFile() === true) entries.push({ name, path: join(dir, name), kind, size: info.size, mtime: info.mtime })
  }
  return newestFirst(entries)
}

/**
 * The file `--restore` names: `latest` (the newest backup of any kind), a path, or a bare name
 * from --list (looked up in var/backups). A missing file is a precondition error naming the path.
 */
export async function resolveBackup(varDir: string, wanted: string): Promise<string> {
  if (wanted === 'latest') {
    const latest = latestBackup(await listBackups(varDir))
    if (latest === undefined)
      throw new ToolkitError(`there is no backup in ${backupDir(varDir)}`, { exitCode: ExitCode.precondition, hint: 'take one with `npx zx scripts/backup.mts`' })
    return latest.path
  }
  const candidates = [resolve(wanted), ...(wanted.includes('/') ? [] : [join(backupDir(varDir), wanted)])]
  for (const candidate of candidates) if ((await stat(candidate).catch(() => undefined))?.isFile() === true) return candidate
  throw new ToolkitError(`no backup at ${resolve(wanted)}`, { exitCode: ExitCode.precondition, hint: LIST_HINT })
}

/** The path of a backup about to be written; two in the same second would share a name, and a backup is never overwritten. */
export async function newBackupPath(varDir: string, name: string): Promise<string> {
  const path = join(backupDir(varDir), name)
  if ((await stat(path).catch(() => undefined)) !== undefined)
    throw new ToolkitError(`${path} already exists`, { exitCode: ExitCode.precondition, hint: 'another backup was taken this very second: run this again in a moment' })
  return path
}

/** Keeps the backups of the newest `keep` releases; scheduled and pre-restore backups are not deploy's to prune. */
export async function pruneBackups(varDir: string, keepReleases: readonly string[]): Promise<string[]> {
  const names = await readdir(backupDir(varDir)).catch(() => [])
  const doomed = names.filter((name) => backupKind(name) === 'release' && !keepReleases.some((release) => name === `pre-${release}.dump`))
  for (const name of doomed) await rm(join(backupDir(varDir), name), { force: true })
  return doomed
}
