import { composeExec, composeUp, type ComposeTarget } from '../compose/commands.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Command } from '../exec/executor.ts'
import type { StackContext } from '../stack/context.ts'
import { writeRedisConfig } from '../stack/redis-config.ts'
import { waitForPostgres } from './wait.ts'

/** Counts the tables outside PostgreSQL's own schemas: any data an application put there. */
export const COUNT_TABLES_SQL = "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"

export function countTablesCommand(target: ComposeTarget): Command {
  return { ...composeExec(target, 'postgres', ['sh', '-c', 'psql -X -q -tA -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"', 'psql', COUNT_TABLES_SQL], { mutates: false }), timeoutMs: 60_000 }
}

export function parseTableCount(stdout: string): number {
  const value = stdout.trim()
  if (!/^\d+$/.test(value)) throw new ToolkitError(`could not count the tables of the database (psql printed "${value.slice(0, 80)}")`, { exitCode: ExitCode.commandFailed, hint: 'see `docker compose logs postgres`' })
  return Number(value)
}

/**
 * Whether the database holds data, with PostgreSQL and Redis started first when they are not
 * running (a stopped postgres is not an empty one): a first start is decided from this, never
 * from a container's state.
 */
export async function databaseHasData(ctx: StackContext, env: AikoEnv, options: { timeoutMs: number }): Promise<boolean> {
  await writeRedisConfig(ctx, env)
  await ctx.executor.run(composeUp(ctx.target, ['postgres', 'redis'], { noDeps: true, noRecreate: true }))
  if (ctx.executor.dryRun) return true
  await waitForPostgres(ctx, env, options)
  return parseTableCount((await ctx.executor.run(countTablesCommand(ctx.target))).stdout) > 0
}
