import { composeRun, type ComposeTarget } from '../compose/commands.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Command } from '../exec/executor.ts'
import type { StackContext } from '../stack/context.ts'

/** `flask db upgrade` in a one-off backend container (no dependency started, removed after). */
export function migrateCommand(target: ComposeTarget): Command {
  return composeRun(target, 'backend', ['flask', 'db', 'upgrade'], { mutates: true })
}

/** Runs the migrations; a failure stops init-db before any seed, with the migration's own output. */
export async function runMigrations(ctx: StackContext): Promise<void> {
  try {
    await ctx.executor.run(migrateCommand(ctx.target))
  } catch (error) {
    if (!(error instanceof ToolkitError)) throw error
    throw new ToolkitError('the migrations failed (flask db upgrade): nothing was seeded', {
      exitCode: ExitCode.commandFailed,
      details: error.details,
      hint: 'read the migration error above (Alembic rolls a failed revision back on PostgreSQL), fix the migration or the database, then run init-db again: it is idempotent',
      cause: error,
    })
  }
}
