import { composeRun, type ComposeTarget } from '../compose/commands.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Command } from '../exec/executor.ts'
import type { StackContext } from '../stack/context.ts'

/** `flask db upgrade` in a one-off backend container (no dependency started, removed after). */
export function migrateCommand(target: ComposeTarget): Command {
  return composeRun(target, 'backend', ['flask', 'db', 'upgrade'], { mutates: true })
}

const INIT_DB_FAILURE = {
  message: 'the migrations failed (flask db upgrade): nothing was seeded',
  hint: 'read the migration error above (Alembic rolls a failed revision back on PostgreSQL), fix the migration or the database, then run init-db again: it is idempotent',
}

/** Runs the migrations; a failure stops the caller with the migration's own output and the caller's message. */
export async function runMigrations(ctx: StackContext, failure: { message: string; hint: string } = INIT_DB_FAILURE): Promise<void> {
  try {
    await ctx.executor.run(migrateCommand(ctx.target))
  } catch (error) {
    if (!(error instanceof ToolkitError)) throw error
    throw new ToolkitError(failure.message, { exitCode: ExitCode.commandFailed, details: error.details, hint: failure.hint, cause: error })
  }
}
