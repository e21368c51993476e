import { mkdir, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { composeExec } from '../compose/commands.ts'
import { copyFromContainer, copyToContainer } from '../docker/containers.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers } from '../stack/health.ts'

export const backupDir = (varDir: string) => join(varDir, 'backups')
/** The database as it was just before `release` migrated it. */
export const backupFile = (varDir: string, release: string) => join(backupDir(varDir), `pre-${release}.dump`)

const IN_CONTAINER = '/tmp/aiko-backup.dump'
const DUMP = `pg_dump --format=custom --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f ${IN_CONTAINER}`
const RESTORE = `pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error -U "$POSTGRES_USER" -d "$POSTGRES_DB" ${IN_CONTAINER}; status=$?; rm -f ${IN_CONTAINER}; exit $status`

async function postgresId(ctx: StackContext): Promise<string> {
  const running = (await projectContainers(ctx, 'postgres')).find((state) => state.status === 'running')
  if (running === undefined) throw new ToolkitError('PostgreSQL is not running', { exitCode: ExitCode.precondition, hint: 'start the stack first' })
  return running.id
}

/** pg_dump in custom format inside the postgres container, copied out to var/backups (mode 0600). */
export async function backupDatabase(ctx: StackContext, file: string): Promise<void> {
  const id = await postgresId(ctx)
  await mkdir(backupDir(ctx.varDir), { recursive: true, mode: 0o700 })
  await ctx.executor.run(composeExec(ctx.target, 'postgres', ['sh', '-c', DUMP], { mutates: true }))
  await ctx.executor.run(copyFromContainer(id, IN_CONTAINER, file))
  await ctx.executor.run(composeExec(ctx.target, 'postgres', ['rm', '-f', IN_CONTAINER], { mutates: true }))
}

/** Replaces the database's content with a backup, in one transaction. */
export async function restoreDatabase(ctx: StackContext, file: string): Promise<void> {
  await stat(file).catch(() => {
    throw new ToolkitError(`no backup at ${file}`, { exitCode: ExitCode.precondition, hint: 'list the backups in var/backups/' })
  })
  const id = await postgresId(ctx)
  await ctx.executor.run(copyToContainer(file, id, IN_CONTAINER))
  await ctx.executor.run(composeExec(ctx.target, 'postgres', ['sh', '-c', RESTORE], { mutates: true }))
}

/** Keeps the backups of the newest `keep` releases. */
export async function pruneBackups(varDir: string, keepReleases: readonly string[]): Promise<string[]> {
  const names = await readdir(backupDir(varDir)).catch(() => [])
  const doomed = names.filter((name) => name.startsWith('pre-') && !keepReleases.some((release) => name === `pre-${release}.dump`))
  for (const name of doomed) await rm(join(backupDir(varDir), name), { force: true })
  return doomed
}
