import { commonHelp, commonOptions, parseFlags, scriptArgs, wholeNumberFlag } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { DEFAULT_LOCK_POLICY } from '../lib/db/migrate.ts'
import { exitCodeHelp, usageError } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { convergeStack } from '../lib/release/converge.ts'
import { deployRelease } from '../lib/release/deploy.ts'
import { interruptedRunFinished } from '../lib/release/interrupted.ts'
import { recordInterrupted } from '../lib/release/record.ts'
import { readCurrentRelease, releaseId } from '../lib/release/log.ts'
import { runPreflight } from '../lib/release/preflight-run.ts'
import { createStackContext } from '../lib/stack/context.ts'
import { readGitState } from '../lib/release/git.ts'
import { deploySwarmRelease, swarmSettings } from '../lib/swarm/deploy.ts'
import { withLock } from '../lib/stack/lock.ts'

const HELP = `Usage: npx zx scripts/deploy.mts [options]

Deploys the current checkout with zero downtime: pre-checks (all reported together), a
lock, then the stack is observed and brought to one consistent release (a killed run, compose
run by hand, a reboot: what was fixed is printed), images built and tagged per release,
the SQL of the pending migrations read (Alembic offline mode) and checked: a destructive or
table-locking statement stops the deploy before anything changes; when a migration is
pending, a pg_dump, then the migrations in a one-off container of the new release (each
statement waits at most --lock-timeout for a table lock, retried 3 times), then
blue/green: the new backend, frontend and worker start beside the old ones, nginx switches
once they are healthy, the switch is recorded, the old ones drain and stop. Any failure
before the switch leaves the old release serving.

A deploy killed after its switch (SIGKILL, a dropped SSH session) is finished by the next
plain run; when that release already serves this commit, nothing more is deployed.
SIGINT/SIGTERM stop at the next step boundary (exit 130/143); SIGHUP does not stop a deploy.
The whole output is also written to var/logs/ (the first line names the file).
--dry-run still builds the images (nothing that serves changes) to print the pending
migrations' SQL and what the checks find in it.

Options:
  --converge-only      observe the stack and bring it to one consistent release (what
                       status reports as drift), build and deploy nothing
  --allow-destructive-migrations
                       run migrations that drop, rename or retype columns or tables, or
                       lock a table for long (the running release may break at once)
  --lock-timeout S     seconds a migration statement may wait for a table lock (default 5)
  --keep N             releases whose images and backups are kept (default 5)
  --health-timeout S   seconds the new release has to become healthy (default 120)
  --take-over-lock     accepted for compatibility; a lock whose holder died is taken over
                       on its own
${commonHelp}

Every deploy appends a line to var/releases.log (see rollback --list).

With DEPLOY_TARGET=swarm in .env (stack mode, from a Swarm manager): the images are built,
pushed to REGISTRY, the stack file rendered from docker-compose.yml into var/swarm/stack.yml,
the migrations run as a one-off replicated-job, then \`docker stack deploy\` and a wait until
every service converged (start-first rolling updates); when they do not, the release's
services are rolled back (\`docker service rollback\`) and the deploy fails.

${exitCodeHelp}`

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    keep: { type: 'string', default: '5' },
    'health-timeout': { type: 'string', default: '120' },
    'take-over-lock': { type: 'boolean', default: false },
    'converge-only': { type: 'boolean', default: false },
    'allow-destructive-migrations': { type: 'boolean', default: false },
    'lock-timeout': { type: 'string', default: '5' },
  })
  if (flags.help) return void console.log(HELP)
  const keepReleases = wholeNumberFlag('keep', flags.keep, 2, 'releases kept: the current one and one to roll back to')
  const healthTimeoutMs = wholeNumberFlag('health-timeout', flags['health-timeout'], 5, 'seconds') * 1000
  const lockPolicy = { ...DEFAULT_LOCK_POLICY, lockTimeoutMs: wholeNumberFlag('lock-timeout', flags['lock-timeout'], 1, 'seconds') * 1000 }

  const { env } = await loadEnv(flags['env-path'])
  const ctx = await createStackContext(out, { envFile: flags['env-path'], dryRun: flags['dry-run'], verbose: flags.verbose })
  if (env.DEPLOY_TARGET === 'swarm') {
    if (flags['converge-only']) throw usageError('--converge-only is for DEPLOY_TARGET=compose: in stack mode Swarm keeps the services converged itself', 'run `npx zx scripts/status.mts` to see the services')
    const settings = swarmSettings(env, healthTimeoutMs, lockPolicy)
    const git = await readGitState(ctx.executor)
    const release = releaseId(git.sha, new Date())
    out.info(`release ${release} (stack mode: docker stack deploy, images in ${settings.registry})`)
    const deploySwarm = async () => {
      await deploySwarmRelease(ctx, env, { release, sha: git.sha, serving: await readCurrentRelease(ctx.varDir) }, settings)
      out.success(flags['dry-run'] ? `dry-run: release ${release} planned, nothing changed` : `release ${release} is serving (every service of the stack converged)`)
    }
    if (flags['dry-run']) return deploySwarm()
    return withLock(ctx.varDir, out, 'deploy', deploySwarm, { action: 'deploy', release })
  }
  if (flags['converge-only']) {
    const converge = async () => {
      const plan = await convergeStack(ctx, env, { healthTimeoutMs })
      out.success(plan.target === undefined ? 'nothing deployed yet: nothing to converge' : `release ${plan.target} serves, one container per service`)
    }
    if (flags['dry-run']) return converge()
    return withLock(ctx.varDir, out, 'deploy --converge-only', converge, { action: 'converge' })
  }
  const git = await runPreflight(ctx, env)
  const release = releaseId(git.sha, new Date())
  out.info(`release ${release}`)
  const deploy = async (previous: Parameters<typeof interruptedRunFinished>[0]) => {
    const { target: serving } = await convergeStack(ctx, env, { healthTimeoutMs })
    await recordInterrupted(ctx, previous, serving)
    const finished = interruptedRunFinished(previous, 'deploy', serving)
    if (finished !== undefined && finished.endsWith(`-${git.sha.slice(0, 7)}`))
      return void out.success(`the interrupted deploy of release ${finished} is finished: it serves this commit, nothing more to deploy`)
    await deployRelease(ctx, env, { release, sha: git.sha, keepReleases, healthTimeoutMs, serving, allowDestructive: flags['allow-destructive-migrations'], lockPolicy })
    out.success(flags['dry-run'] ? `dry-run: release ${release} planned, nothing changed` : `release ${release} is serving`)
  }
  if (flags['dry-run']) return deploy(undefined)
  await withLock(ctx.varDir, out, 'deploy', (lock) => deploy(lock.previous), { action: 'deploy', release })
}, { logName: 'deploy' })
