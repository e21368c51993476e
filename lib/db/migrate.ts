import { setTimeout as sleep } from 'node:timers/promises'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Command } from '../exec/executor.ts'
import type { StackContext } from '../stack/context.ts'
import { serviceAt, serviceExec, serviceRun, type ServiceAt } from '../stack/service-exec.ts'
import { classifyMigrationSql, type MigrationFinding } from './migration-safety.ts'

/** How long one migration statement may wait for a table lock, and how many tries in all. */
export interface LockPolicy {
  lockTimeoutMs: number
  attempts: number
}

export const DEFAULT_LOCK_POLICY: LockPolicy = { lockTimeoutMs: 5_000, attempts: 3 }

/**
 * `flask db upgrade` in a one-off backend container (no dependency started, removed after).
 * PGOPTIONS (read by libpq, so by psycopg) gives every statement a lock_timeout: an ALTER TABLE
 * queued behind a long query gives up instead of blocking every query on that table behind it.
 */
export function migrateCommand(at: ServiceAt, policy: LockPolicy = DEFAULT_LOCK_POLICY): Command {
  const command = serviceRun(at, 'backend', ['flask', 'db', 'upgrade'], { mutates: true, env: ['PGOPTIONS'] })
  // Added to the target's variables, never in their place: without AIKO_RELEASE compose would
  // take the serving release's image from .env and run the old release's migrations.
  return { ...command, env: { ...command.env, PGOPTIONS: `-c lock_timeout=${policy.lockTimeoutMs}` } }
}

/** The Alembic revision the database is at (empty when it was never migrated), read with psql in the postgres container. */
export function currentRevisionCommand(at: ServiceAt): Command {
  const script = `psql -X -q -tA -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'alembic_version'" | grep -q 1 || exit 0; psql -X -q -tA -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c 'SELECT version_num FROM alembic_version'`
  return { ...serviceExec(at, 'postgres', ['sh', '-c', script], { mutates: false }), timeoutMs: 60_000 }
}

/** The SQL the pending migrations will run (Alembic's offline mode), from `from` (or the start) to head; nothing runs against the database. */
export function migrationSqlCommand(at: ServiceAt, from: string | undefined): Command {
  return { ...serviceRun(at, 'backend', ['flask', 'db', 'upgrade', from === undefined ? 'head' : `${from}:head`, '--sql'], { mutates: false }), timeoutMs: 5 * 60_000 }
}

/** `-- Running upgrade A -> B` lines of Alembic's offline output: the revisions that will run, in order. */
export function pendingRevisions(sql: string): string[] {
  return [...sql.matchAll(/^-- Running upgrade (?:\S*) -> (\S+)\s*$/gm)].map((match) => match[1] ?? '')
}

export interface MigrationPlan {
  /** The revision the database is at; undefined when never migrated. */
  from: string | undefined
  pending: string[]
  sql: string
  findings: MigrationFinding[]
}

/** Reads the database's revision and renders, with the new release's image, what its migrations will run. */
export async function planMigrations(current: StackContext, next: StackContext): Promise<MigrationPlan> {
  const from = (await current.executor.run(currentRevisionCommand(current.target))).stdout.trim().split('\n')[0]?.trim() || undefined
  const sql = (
    await next.executor.run(migrationSqlCommand(next.target, from)).catch((error: unknown) => {
      throw unknownRevision(error, from) ?? error
    })
  ).stdout
  return { from, pending: pendingRevisions(sql), sql, findings: classifyMigrationSql(sql) }
}

/** Alembic cannot find the database's revision in the new release: a newer release migrated it. Undefined for any other failure. */
export function unknownRevision(error: unknown, from: string | undefined): ToolkitError | undefined {
  if (!(error instanceof ToolkitError) || from === undefined || !/Can't locate revision/i.test([error.message, ...error.details].join('\n'))) return undefined
  return new ToolkitError(`the database is at migration ${from}, which this release does not contain (a newer release migrated it): nothing was changed`, {
    exitCode: ExitCode.precondition,
    details: error.details,
    hint: `deploy a commit whose migrations contain ${from}; or put back the database of an older release first (npx zx scripts/rollback.mts --with-db, or scripts/backup.mts --restore FILE)`,
    cause: error,
  })
}

/** The lock-timeout error PostgreSQL gives (SQLSTATE 55P03), as psycopg reports it. */
export const isLockTimeout = (text: string) => /lock timeout|LockNotAvailable|55P03/i.test(text)

const INIT_DB_FAILURE = {
  message: 'the migrations failed (flask db upgrade): nothing was seeded',
  hint: 'read the migration error above (Alembic rolls a failed revision back on PostgreSQL), fix the migration or the database, then run init-db again: it is idempotent',
}

/**
 * Runs the migrations; one that gave up on a table lock (another transaction held it past
 * the lock timeout) is retried, with a pause, up to `policy.attempts` times: Alembic runs them
 * in one transaction on PostgreSQL, so a try that gave up left nothing behind. Any other
 * failure stops the caller with the migration's own output and the caller's message.
 */
export async function runMigrations(ctx: StackContext, failure: { message: string; hint: string } = INIT_DB_FAILURE, policy: LockPolicy = DEFAULT_LOCK_POLICY): Promise<void> {
  const at = await serviceAt(ctx, 'backend')
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.executor.run(migrateCommand(at, policy))
      return
    } catch (error) {
      if (!(error instanceof ToolkitError)) throw error
      const lockBound = isLockTimeout([error.message, ...error.details].join('\n'))
      if (lockBound && attempt < policy.attempts) {
        ctx.output.warn(`a migration waited more than ${policy.lockTimeoutMs / 1000}s for a table lock (another transaction holds it): try ${attempt + 1} of ${policy.attempts} in ${2 * attempt}s`)
        await sleep(2_000 * attempt)
        continue
      }
      if (lockBound)
        throw new ToolkitError(`the migrations gave up ${policy.attempts} times on a table lock held by another transaction (lock timeout ${policy.lockTimeoutMs / 1000}s): nothing was migrated`, {
          exitCode: ExitCode.commandFailed,
          details: error.details,
          hint: 'find the long transaction with `docker compose exec postgres psql -U "$POSTGRES_USER" -c "SELECT pid, state, query_start, query FROM pg_stat_activity"`, let it end (or pg_cancel_backend it), then run the same command again; --lock-timeout S waits longer',
          cause: error,
        })
      throw new ToolkitError(failure.message, { exitCode: ExitCode.commandFailed, details: error.details, hint: failure.hint, cause: error })
    }
  }
}
