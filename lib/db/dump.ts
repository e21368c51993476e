import { randomBytes } from 'node:crypto'
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { copyFromContainer, copyToContainer } from '../docker/containers.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Command } from '../exec/executor.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers } from '../stack/health.ts'
import { serviceAt, serviceExec, type ServiceAt } from '../stack/service-exec.ts'

/** A path of its own in the container, so a scheduled backup and a deploy's backup never share a file. */
export const containerDumpPath = (token: string = randomBytes(6).toString('hex')) => `/tmp/aiko-backup-${token}.dump`

/**
 * pg_dump in custom format at compression level 1; the shell is the container's, for its
 * POSTGRES_USER and POSTGRES_DB. Level 1, measured by `npm run bench:deploy` on 974 MiB of data
 * (2 cores): 13.3 s and 507 MiB, against 32.6 s and 495 MiB at the default level; the
 * directory format with 2 jobs was no faster than one (12.2 s at level 1, 33.0 s by default).
 */
export function dumpCommand(at: ServiceAt, inContainer: string): Command {
  return serviceExec(at, 'postgres', ['sh', '-c', `pg_dump --format=custom --compress=1 --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f ${inContainer}`], { mutates: true })
}

/** Reads the dump's table of contents: fails on a truncated or corrupt file. Reads a file only a real run wrote, so it counts as a change. */
export function verifyDumpCommand(at: ServiceAt, inContainer: string): Command {
  return serviceExec(at, 'postgres', ['pg_restore', '--list', inContainer], { mutates: true })
}

export function removeDumpCommand(at: ServiceAt, inContainer: string): Command {
  return serviceExec(at, 'postgres', ['rm', '-f', inContainer], { mutates: true })
}

/**
 * Empties the database before the dump is replayed: every schema but PostgreSQL's own is dropped
 * (tables created after the backup too, which `pg_restore --clean` would leave behind), then
 * `public` is recreated as PostgreSQL 15+ creates it. Sent on psql's stdin, never in argv.
 */
export const RESET_SQL = `DO $$
DECLARE schema_name name;
BEGIN
  FOR schema_name IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', schema_name);
  END LOOP;
END $$;
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA public TO PUBLIC;
COMMENT ON SCHEMA public IS 'standard public schema';
`

/**
 * Makes the database exactly the backup, in one transaction (an error leaves it as it was): the
 * dump becomes SQL first (pg_restore fails on a corrupt file before anything changes), then one
 * psql --single-transaction runs RESET_SQL (stdin) and that SQL. Both files are removed whatever the result.
 */
export function restoreCommand(at: ServiceAt, inContainer: string): Command {
  const sql = inContainer.replace(/\.dump$/, '.sql')
  const script = [
    `pg_restore --no-owner --file=${sql} ${inContainer}`,
    `&& psql -X -q -v ON_ERROR_STOP=1 --single-transaction -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f - -f ${sql};`,
    `status=$?; rm -f ${inContainer} ${sql}; exit $status`,
  ].join(' ')
  return { ...serviceExec(at, 'postgres', ['sh', '-c', script], { mutates: true, stdin: true }), input: RESET_SQL }
}

/** The running postgres container (by id, for docker cp) and where to exec in it. */
async function postgresContainer(ctx: StackContext): Promise<{ id: string; at: ServiceAt }> {
  const at = await serviceAt(ctx, 'postgres')
  if ('container' in at) return { id: at.container, at }
  const running = (await projectContainers(ctx, 'postgres')).find((state) => state.status === 'running')
  if (running === undefined) throw new ToolkitError('PostgreSQL is not running', { exitCode: ExitCode.precondition, hint: 'start the stack first' })
  return { id: running.id, at }
}

/**
 * pg_dump in custom format inside the postgres container, checked with `pg_restore --list`
 * before it leaves the container, then copied out to `file` (mode 0600, folder 0700). The copy
 * goes to a hidden partial file renamed at the end: a failure leaves no backup-looking file.
 */
export async function backupDatabase(ctx: StackContext, file: string): Promise<void> {
  const { id, at } = await postgresContainer(ctx)
  const inContainer = containerDumpPath()
  const partial = join(dirname(file), `.${basename(file)}.partial-${process.pid}`)
  if (!ctx.executor.dryRun) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 })
    await chmod(dirname(file), 0o700)
  }
  try {
    await ctx.executor.run(dumpCommand(at, inContainer))
    await ctx.executor.run(verifyDumpCommand(at, inContainer)).catch((error: unknown) => {
      throw new ToolkitError('the dump is not readable (pg_restore --list failed): no backup was written', {
        exitCode: ExitCode.commandFailed,
        details: error instanceof ToolkitError ? error.details : [],
        hint: 'see the PostgreSQL logs with `docker compose logs postgres`; check the disk space of the server',
        cause: error,
      })
    })
    await ctx.executor.run(copyFromContainer(id, inContainer, partial))
    if (!ctx.executor.dryRun) {
      await chmod(partial, 0o600)
      await rename(partial, file)
    }
  } finally {
    await rm(partial, { force: true })
    await ctx.executor.probe(removeDumpCommand(at, inContainer)).catch(() => undefined)
  }
}

/** Replaces the database's content with a backup, in one transaction. */
export async function restoreDatabase(ctx: StackContext, file: string): Promise<void> {
  await stat(file).catch(() => {
    throw new ToolkitError(`no backup at ${file}`, { exitCode: ExitCode.precondition, hint: 'list the backups in var/backups/' })
  })
  const { id, at } = await postgresContainer(ctx)
  const inContainer = containerDumpPath()
  await ctx.executor.run(copyToContainer(file, id, inContainer))
  await ctx.executor.run(restoreCommand(at, inContainer))
}
