import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { copyFromContainer, copyToContainer } from '../docker/containers.ts'
import type { Command } from '../exec/executor.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers } from '../stack/health.ts'
import { isMissingRepository, parseBackupSummary, parseSnapshots, pickSnapshot, resticBackup, resticCatConfig, resticForget, resticInit, resticRestore, resticSnapshots, resticUnlock, type ResticRepo, type ResticSnapshot } from './restic.ts'
import { freshSetFolder, readManifest, setProblems, SET_FILES, writeManifest, type SetManifest } from './set.ts'
import { recordBackupState } from './state.ts'

/** Where a set is staged before restic copies it (removed after), and where restored sets land. */
export const offsiteSetDir = (varDir: string) => join(varDir, 'offsite-set')
export const restoredSetsDir = (varDir: string) => join(varDir, 'offsite-restore')

/** Where the uploads volume is mounted in the backend (and worker) containers. */
export const UPLOADS_PATH = '/app/uploads'

const INIT_HINT = 'create it once with `npx zx scripts/backup.mts --init-offsite` (check RESTIC_REPOSITORY first)'

/** RESTIC_REPOSITORY for people to read: a password inside a URL (rest:https://user:pass@host) is hidden. */
export const repositoryLabel = (repository: string) => repository.replace(/(\/\/[^/:@\s]+:)[^@\s]*@/, '$1***@')

type RepositoryState = 'open' | 'missing'

/**
 * Opens the repository once (`restic cat config`): open, missing (a first run, or a wrong
 * RESTIC_REPOSITORY), or an error naming what to check when the password or the key is refused.
 */
async function probeRepository(ctx: StackContext, repo: ResticRepo): Promise<RepositoryState> {
  const probe = await ctx.executor.probe(resticCatConfig(repo))
  if (probe.exitCode === 0) return 'open'
  if (isMissingRepository(probe.stderr)) return 'missing'
  throw new ToolkitError(`the restic repository ${repositoryLabel(repo.repository)} cannot be opened`, {
    exitCode: ExitCode.precondition,
    details: probe.stderr.trim().split('\n').slice(-5),
    hint: 'check RESTIC_REPOSITORY, RESTIC_PASSWORD (the one the repository was created with) and, for sftp:, RESTIC_SFTP_COMMAND and the ssh key',
  })
}

/**
 * Fails early, by name, when the repository is missing or the password does not open it; then
 * removes the locks a killed run of this server left (restic unlock: stale locks only, never
 * those of a restic still running), so the next backup, prune or check is not refused.
 */
export async function ensureRepository(ctx: StackContext, repo: ResticRepo): Promise<void> {
  if ((await probeRepository(ctx, repo)) === 'missing')
    throw new ToolkitError(`there is no restic repository at ${repositoryLabel(repo.repository)} (RESTIC_REPOSITORY)`, { exitCode: ExitCode.precondition, hint: INIT_HINT })
  await ctx.executor.run(resticUnlock(repo))
}

/** `backup --init-offsite`: creates the repository, or says it is already there (idempotent). */
export async function initRepository(ctx: StackContext, repo: ResticRepo): Promise<'created' | 'exists'> {
  if ((await probeRepository(ctx, repo)) === 'open') return 'exists'
  await ctx.output.step(`create the restic repository at ${repositoryLabel(repo.repository)}`, () => ctx.executor.run(resticInit(repo)))
  return 'created'
}

/** Copies the uploads volume out of a backend container (running or stopped) to `to`. */
export async function copyUploadsOut(ctx: StackContext, to: string): Promise<void> {
  const backends = await projectContainers(ctx, 'backend')
  const source = backends.find((state) => state.status === 'running') ?? backends[0]
  if (source === undefined)
    throw new ToolkitError('there is no backend container to read the uploads volume from', { exitCode: ExitCode.precondition, hint: 'start the stack first (`npx zx scripts/deploy.mts`)' })
  await ctx.executor.run(copyFromContainer(source.id, UPLOADS_PATH, to))
}

export interface OffsiteCopy {
  snapshot: string
  manifest: SetManifest
}

/**
 * The set (this dump, the .env, the uploads volume, a manifest of checksums) staged in
 * var/offsite-set, copied off the server by restic, then the off-site retention applied. The
 * staged copy is removed whatever the result; the state file records the snapshot.
 */
export async function copySetOffsite(ctx: StackContext, repo: ResticRepo, set: { dump: string; envPath: string; domain: string; release: string | undefined; now: Date }): Promise<OffsiteCopy | undefined> {
  const label = repositoryLabel(repo.repository)
  if (ctx.executor.dryRun) {
    ctx.output.info(`[dry-run] would copy the set (dump, .env, uploads) to ${label} and apply the retention (restic forget --prune)`)
    return undefined
  }
  await ctx.output.step(`open the off-site repository ${label}`, () => ensureRepository(ctx, repo))
  const dir = offsiteSetDir(ctx.varDir)
  try {
    const manifest = await ctx.output.step('stage the backup set (dump, .env, uploads volume, checksums)', async () => {
      await freshSetFolder(dir, set.envPath, set.dump)
      await copyUploadsOut(ctx, join(dir, SET_FILES.uploads))
      await mkdir(join(dir, SET_FILES.uploads), { recursive: true })
      return writeManifest(dir, { domain: set.domain, release: set.release, now: set.now })
    })
    const result = await ctx.output.step(`copy the set off the server (restic backup to ${label})`, () => ctx.executor.run(resticBackup(repo, dir, set.domain)))
    const snapshot = parseBackupSummary(result.stdout)
    await ctx.output.step(`keep ${repo.keep.daily} daily, ${repo.keep.weekly} weekly, ${repo.keep.monthly} monthly copies (restic forget --prune)`, () => ctx.executor.run(resticForget(repo, set.domain)))
    await recordBackupState(ctx.varDir, { offsite: { time: set.now.toISOString(), snapshot, repository: label } })
    return { snapshot, manifest }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export interface RestoredSet {
  snapshot: ResticSnapshot
  /** The set's folder under the restore target (restic keeps the absolute path it was taken from). */
  dir: string
  manifest: SetManifest
  /** Removes the restored files. */
  dispose: () => Promise<void>
}

/**
 * Brings one set back from the repository into var/offsite-restore (0700): `wanted` is "latest"
 * or a snapshot id; `host` limits the choice to one server (undefined on a new server: any).
 * Every file is checked against the manifest; a damaged set is an error listing what differs.
 */
export async function fetchSet(ctx: StackContext, repo: ResticRepo, wanted: string, host: string | undefined): Promise<RestoredSet> {
  await ctx.output.step(`open the off-site repository ${repositoryLabel(repo.repository)}`, () => ensureRepository(ctx, repo))
  const snapshots = parseSnapshots((await ctx.executor.run(resticSnapshots(repo, host))).stdout)
  const snapshot = pickSnapshot(snapshots, wanted)
  if (snapshot === undefined)
    throw new ToolkitError(snapshots.length === 0 ? `the repository holds no backup set${host === undefined ? '' : ` of ${host}`}` : `no backup set matches ${wanted}`, {
      exitCode: ExitCode.precondition,
      details: snapshots.slice(-10).map((item) => `${item.short_id}  ${item.time}  ${item.hostname}`),
      hint: snapshots.length === 0 ? 'take one with `npx zx scripts/backup.mts`' : 'name one of the sets above by its id, or use latest',
    })
  const target = restoredSetsDir(ctx.varDir)
  const dispose = () => rm(target, { recursive: true, force: true })
  await dispose()
  await mkdir(target, { recursive: true, mode: 0o700 })
  try {
    await ctx.output.step(`restore set ${snapshot.short_id} (${snapshot.time}) from the repository, every file read back`, () => ctx.executor.run(resticRestore(repo, snapshot.id, target)))
    const dir = join(target, snapshot.paths[0] ?? '')
    const manifest = await readManifest(dir)
    const problems = await setProblems(dir, manifest)
    if (problems.length > 0)
      throw new ToolkitError(`backup set ${snapshot.short_id} is damaged: its files differ from its manifest`, { exitCode: ExitCode.commandFailed, details: problems.slice(0, 20), hint: 'restore an older set by its id (`restic snapshots` lists them)' })
    return { snapshot, dir, manifest, dispose }
  } catch (error) {
    await dispose()
    if (error instanceof ToolkitError) throw error
    throw new ToolkitError(`backup set ${snapshot.short_id} could not be restored from the repository`, {
      exitCode: ExitCode.commandFailed,
      details: [error instanceof Error ? error.message : String(error)],
      hint: 'run `restic check --read-data` with the same RESTIC_REPOSITORY and RESTIC_PASSWORD to see which data is damaged, then restore an older set by its id',
      cause: error,
    })
  }
}

/**
 * Puts a set's uploads into the uploads volume through a stopped backend container (docker cp
 * reaches its volumes), then gives them the owner of the volume's root (the app's user), from a
 * throwaway container of the same image. Files newer than the set are kept: nothing is lost.
 */
export function restoreUploadsCommands(backend: { id: string; image: string }, from: string): Command[] {
  return [
    copyToContainer(`${from}/.`, backend.id, UPLOADS_PATH),
    {
      argv: ['docker', 'run', '--rm', '--volumes-from', backend.id, '--user', '0', '--network', 'none', '--entrypoint', 'sh', backend.image, '-c', `chown -R "$(stat -c %u:%g ${UPLOADS_PATH})" ${UPLOADS_PATH}`],
      mutates: true,
    },
  ]
}
