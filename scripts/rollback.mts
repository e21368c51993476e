import { question } from 'zx'
import { commonHelp, commonOptions, parseFlags, scriptArgs, wholeNumberFlag } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { ExitCode, exitCodeHelp, ToolkitError } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { readCurrentRelease, readReleaseLog } from '../lib/release/log.ts'
import { acquireLock } from '../lib/release/lock.ts'
import { rollbackRelease } from '../lib/release/rollback.ts'
import { createStackContext } from '../lib/stack/context.ts'

const HELP = `Usage: npx zx scripts/rollback.mts [options]

Goes back to the previous release (or --to ID) with the same zero-downtime switch as
deploy, without building anything: the images of each release are kept.

Options:
  --list               show the release log and exit
  --to ID              the release to go back to (default: the previous one served)
  --with-db            also restore the database as it was at that release (asks for
                       confirmation: every write made since is lost; --yes confirms)
  --health-timeout S   seconds the release has to become healthy (default 120)
  --take-over-lock     take over the lock of a deploy or rollback that was killed
${commonHelp}

${exitCodeHelp}`

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    list: { type: 'boolean', default: false },
    to: { type: 'string' },
    'with-db': { type: 'boolean', default: false },
    'health-timeout': { type: 'string', default: '120' },
    'take-over-lock': { type: 'boolean', default: false },
  })
  if (flags.help) return void console.log(HELP)
  const healthTimeout = wholeNumberFlag('health-timeout', flags['health-timeout'], 5, 'seconds')
  const { env } = await loadEnv(flags['env-path'])
  const ctx = await createStackContext(out, { envFile: flags['env-path'], dryRun: flags['dry-run'], verbose: flags.verbose })

  if (flags.list) {
    const current = await readCurrentRelease(ctx.varDir)
    for (const entry of await readReleaseLog(ctx.varDir))
      console.log(`${entry.id === current ? '*' : ' '} ${entry.time}  ${entry.action.padEnd(8)} ${entry.result.padEnd(6)} ${entry.id}  ${(entry.durationMs / 1000).toFixed(1)}s  ${entry.user}${entry.error === undefined ? '' : `  ${entry.error}`}`)
    return
  }
  if (flags['with-db'] && !flags.yes && !flags['dry-run']) {
    if (process.stdin.isTTY !== true)
      throw new ToolkitError('--with-db needs a confirmation: every write made to the database since that release will be lost', { exitCode: ExitCode.usage, hint: 'add --yes to confirm' })
    const answer = await question('Restore the database: every write made since that release will be lost. Type "yes" to go on: ')
    if (answer.trim() !== 'yes') throw new ToolkitError('rollback cancelled: nothing was changed', { exitCode: ExitCode.usage })
  }
  const unlock = flags['dry-run'] ? async () => undefined : await acquireLock(ctx.varDir, 'rollback', { takeOver: flags['take-over-lock'] })
  try {
    const target = await rollbackRelease(ctx, env, { to: flags.to, withDb: flags['with-db'], healthTimeoutMs: healthTimeout * 1000 })
    out.success(flags['dry-run'] ? `dry-run: rollback to ${target} planned, nothing changed` : `release ${target} is serving again`)
  } finally {
    await unlock()
  }
})
