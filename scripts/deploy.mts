import { commonHelp, commonOptions, parseFlags, scriptArgs, wholeNumberFlag } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { exitCodeHelp } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { deployRelease } from '../lib/release/deploy.ts'
import { releaseId } from '../lib/release/log.ts'
import { acquireLock } from '../lib/release/lock.ts'
import { runPreflight } from '../lib/release/preflight-run.ts'
import { createStackContext } from '../lib/stack/context.ts'

const HELP = `Usage: npx zx scripts/deploy.mts [options]

Deploys the current checkout with zero downtime: pre-checks (all reported together), a
lock, images built and tagged per release, a pg_dump before the migrations, migrations in a
one-off container of the new release, then blue/green: the new backend, frontend and worker
start beside the old ones, nginx switches once they are healthy, the old ones drain and
stop. Any failure before the switch leaves the old release serving.

Options:
  --keep N             releases whose images and backups are kept (default 5)
  --health-timeout S   seconds the new release has to become healthy (default 120)
  --take-over-lock     take over the lock of a deploy that was killed
${commonHelp}

Every deploy appends a line to var/releases.log (see rollback --list).

${exitCodeHelp}`

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    keep: { type: 'string', default: '5' },
    'health-timeout': { type: 'string', default: '120' },
    'take-over-lock': { type: 'boolean', default: false },
  })
  if (flags.help) return void console.log(HELP)
  const keepReleases = wholeNumberFlag('keep', flags.keep, 2, 'releases kept: the current one and one to roll back to')
  const healthTimeout = wholeNumberFlag('health-timeout', flags['health-timeout'], 5, 'seconds')

  const { env } = await loadEnv(flags['env-path'])
  const ctx = await createStackContext(out, { envFile: flags['env-path'], dryRun: flags['dry-run'], verbose: flags.verbose })
  const git = await runPreflight(ctx, env)
  const release = releaseId(git.sha, new Date())
  out.info(`release ${release}`)
  const unlock = flags['dry-run'] ? async () => undefined : await acquireLock(ctx.varDir, `deploy ${release}`, { takeOver: flags['take-over-lock'] })
  try {
    await deployRelease(ctx, env, { release, sha: git.sha, keepReleases, healthTimeoutMs: healthTimeout * 1000 })
  } finally {
    await unlock()
  }
  out.success(flags['dry-run'] ? `dry-run: release ${release} planned, nothing changed` : `release ${release} is serving`)
})
