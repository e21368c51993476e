import { question } from 'zx'
import { commonHelp, commonOptions, parseFlags, scriptArgs, wholeNumberFlag } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { initDatabase } from '../lib/db/init.ts'
import { DEFAULT_DATA_FILE, readReferenceData } from '../lib/db/reference-data.ts'
import { loadEnv } from '../lib/env/load.ts'
import { ExitCode, exitCodeHelp, ToolkitError } from '../lib/errors.ts'
import { readCurrentRelease } from '../lib/release/log.ts'
import { releaseTarget } from '../lib/release/switch.ts'
import { createStackContext } from '../lib/stack/context.ts'
import { withLock } from '../lib/stack/lock.ts'

const HELP = `Usage: npx zx scripts/init-db.mts [options]

Prepares the database of a running stack, idempotently:
  1. waits until PostgreSQL accepts connections;
  2. runs the migrations (flask db upgrade) in a one-off backend container;
  3. inserts the missing levels and subjects of db/reference-data.json (rows that exist are
     never updated or deleted: add a row to the file and run again to add exactly that row);
  4. creates the first admin from ADMIN_EMAIL / ADMIN_PASSWORD. With no ADMIN_PASSWORD, a
     strong password is generated, shown once and stored (mode 0600) in
     $AIKO_VAR_DIR/secrets/admin-initial-password. An existing admin keeps its password.
Each step is one transaction; a second run changes nothing and says so. The one-off
containers use the image of the release that serves (var/current-release, written by
deploy; AIKO_RELEASE overrides it).

Options:
  --timeout SECONDS         how long to wait for PostgreSQL (default 120)
  --data PATH               the reference data file (default db/reference-data.json)
  --reset-admin-password    set the admin's password again, on purpose: to ADMIN_PASSWORD,
                            or to a new generated one (asks first unless --yes)
${commonHelp}

--dry-run runs the seed and rolls every step back: it shows what would be inserted.
The output also goes to $AIKO_VAR_DIR/logs/init-db-*.log (the first line names the file; a
generated password is never written there).

${exitCodeHelp}`

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    timeout: { type: 'string', default: '120' },
    data: { type: 'string', default: DEFAULT_DATA_FILE },
    'reset-admin-password': { type: 'boolean', default: false },
  })
  if (flags.help) return void console.log(HELP)
  const timeoutSeconds = wholeNumberFlag('timeout', flags.timeout, 1, 'seconds')
  const envPath = flags['env-path']
  const { env } = await loadEnv(envPath)
  const data = await readReferenceData(flags.data)

  const reset = flags['reset-admin-password']
  if (reset && !flags.yes && !flags['dry-run']) await confirmReset(env.ADMIN_EMAIL)

  const stack = await createStackContext(out, { envFile: envPath, dryRun: flags['dry-run'], verbose: flags.verbose })
  // After a deploy, migrate and seed with the image of the release that serves.
  const current = process.env['AIKO_RELEASE'] === undefined ? await readCurrentRelease(stack.varDir) : undefined
  const ctx = current === undefined ? stack : releaseTarget(stack, current)
  if (current !== undefined) out.info(`release ${current} (the one serving)`)
  const init = () => initDatabase(ctx, env, { data, timeoutMs: timeoutSeconds * 1000, resetAdminPassword: reset })
  // Migrations and seeding change the database: never beside a deploy, a rollback or a restore.
  const { generatedPassword } = flags['dry-run'] ? await init() : await withLock(stack.varDir, out, reset ? 'init-db --reset-admin-password' : 'init-db', init)
  if (generatedPassword !== undefined) {
    // The one place a secret is printed, on purpose and once: straight to stdout, past the masker.
    process.stdout.write(`\nadmin password for ${generatedPassword.email} (shown once, write it down):\n\n    ${generatedPassword.value}\n\n`)
    out.info(`also stored in ${generatedPassword.file} (mode 0600): delete that file once the password is safe elsewhere`)
  }
  out.success(flags['dry-run'] ? 'init-db dry run done' : 'database ready: migrations applied, reference data and admin in place')
}, { logName: 'init-db' })

async function confirmReset(email: string): Promise<void> {
  if (process.stdin.isTTY !== true)
    throw new ToolkitError('--reset-admin-password needs a confirmation', { exitCode: ExitCode.precondition, hint: 'add --yes to confirm (no terminal to ask on)' })
  const answer = (await question(`Reset the password of ${email}? Its current password stops working. [y/N] `)).trim().toLowerCase()
  if (answer !== 'y' && answer !== 'yes') throw new ToolkitError('the admin password was not reset', { exitCode: ExitCode.precondition, hint: 'run again and answer y, or add --yes' })
}
