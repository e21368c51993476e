import { basename } from 'node:path'
import { commonHelp, commonOptions, parseFlags, scriptArgs, wholeNumberFlag } from '../lib/cli/args.ts'
import { confirmLoss, mustConfirm } from '../lib/cli/confirm.ts'
import { runMain } from '../lib/cli/main.ts'
import { exitCodeHelp, usageError } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { convergeStack } from '../lib/release/converge.ts'
import { interruptedRunFinished } from '../lib/release/interrupted.ts'
import { recordInterrupted } from '../lib/release/record.ts'
import { readCurrentRelease, readReleaseLogChecked } from '../lib/release/log.ts'
import { chooseRollbackTarget, rollbackRelease } from '../lib/release/rollback.ts'
import { createStackContext } from '../lib/stack/context.ts'
import { rollbackSwarmRelease, swarmSettings } from '../lib/swarm/deploy.ts'
import { formatAge, formatTime } from '../lib/ui/output.ts'
import { setLockIntent, withLock, type HeldLock } from '../lib/stack/lock.ts'

const HELP = `Usage: npx zx scripts/rollback.mts [options]

Goes back to the previous release (or --to ID) with the same zero-downtime switch as
deploy, without building anything: the images of each release are kept. Like deploy, it
first observes the stack and brings it to one consistent release; a rollback killed after
its switch is finished by the next plain run.

Options:
  --list               show the release log and exit
  --to ID              the release to go back to (default: the previous one served)
  --with-db            also put the database back as that release left it: the dump the
                       next deploy that ran migrations took before them (refused, naming
                       it, when it is missing). Asks for confirmation (--yes confirms): every
                       write made since that dump is lost. The release is started and proven
                       healthy first; then, behind a maintenance page (503, Retry-After),
                       the writers stop, a safety dump of the current database is taken,
                       the dump is restored and the release serves. A failure after the
                       restore puts the safety dump back.
  --health-timeout S   seconds the release has to become healthy (default 120)
  --take-over-lock     accepted for compatibility; a lock whose holder died is taken over
                       on its own
${commonHelp}

With DEPLOY_TARGET=swarm in .env (stack mode): the stack is deployed again with the images of
that release (kept in REGISTRY), Swarm rolls each service over (start-first) and the toolkit
waits until every service converged; --with-db is not available in stack mode yet.

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
  const healthTimeoutMs = wholeNumberFlag('health-timeout', flags['health-timeout'], 5, 'seconds') * 1000
  const { env } = await loadEnv(flags['env-path'])
  const ctx = await createStackContext(out, { envFile: flags['env-path'], dryRun: flags['dry-run'], verbose: flags.verbose })

  if (flags.list) {
    const current = await readCurrentRelease(ctx.varDir)
    const { entries, badLines } = await readReleaseLogChecked(ctx.varDir)
    for (const entry of entries)
      console.log(`${entry.id === current ? '*' : ' '} ${entry.time}  ${entry.action.padEnd(8)} ${entry.result.padEnd(6)} ${entry.id}  ${(entry.durationMs / 1000).toFixed(1)}s  ${entry.user}${entry.error === undefined ? '' : `  ${entry.error}`}`)
    if (badLines.length > 0) out.warn(`var/releases.log: line${badLines.length === 1 ? '' : 's'} ${badLines.join(', ')} skipped (not a whole entry: a torn write or a hand edit)`)
    return
  }
  if (env.DEPLOY_TARGET === 'swarm') {
    if (flags['with-db']) throw usageError('--with-db is not available with DEPLOY_TARGET=swarm yet', 'roll back without it, then restore a dump with the data node\'s PostgreSQL by hand (see the guide)')
    const settings = swarmSettings(env, healthTimeoutMs)
    const rollbackSwarm = async () => {
      const serving = await readCurrentRelease(ctx.varDir)
      const { target, entries } = await chooseRollbackTarget(ctx, { to: flags.to, serving, withDb: false })
      await rollbackSwarmRelease(ctx, env, { target, sha: entries.find((entry) => entry.id === target)?.sha ?? 'unknown', serving }, settings)
      out.success(flags['dry-run'] ? `dry-run: rollback to ${target} planned, nothing changed` : `release ${target} is serving again (every service of the stack converged)`)
    }
    if (flags['dry-run']) return rollbackSwarm()
    return withLock(ctx.varDir, out, 'rollback', rollbackSwarm, { action: 'rollback', release: flags.to })
  }
  const confirm = { yes: flags.yes, dryRun: flags['dry-run'], interactive: process.stdin.isTTY === true }
  // Without a terminal, refused before the lock and before anything changes.
  if (flags['with-db']) mustConfirm('rollback --with-db', confirm, ['every write made to the database since the dump it restores was taken is lost'])
  const rollback = async (lock: HeldLock | undefined) => {
    const { target: serving } = await convergeStack(ctx, env, { healthTimeoutMs })
    await recordInterrupted(ctx, lock?.previous, serving)
    const finished = flags.to === undefined ? interruptedRunFinished(lock?.previous, 'rollback', serving) : undefined
    if (finished !== undefined) return void out.success(`the interrupted rollback to release ${finished} is finished: it serves`)
    const choice = await chooseRollbackTarget(ctx, { to: flags.to, serving, withDb: flags['with-db'] })
    const { target, dump } = choice
    if (lock !== undefined) await setLockIntent(lock, { action: 'rollback', release: target })
    if (dump !== undefined) {
      out.info(`the database will be restored from ${dump.file}, taken ${formatTime(dump.takenAt)} by the deploy of ${dump.takenBy}, just before its migrations`)
      await confirmLoss(`Roll back to release ${target} and restore its database`, [
        `release ${target} serves instead of ${serving ?? '(none)'}`,
        `the database is replaced by ${basename(dump.file)}, taken ${formatTime(dump.takenAt)} (${formatAge(new Date().getTime() - dump.takenAt.getTime())} ago) before release ${dump.takenBy} migrated it`,
        'every write made to the database since then is lost (a safety dump of the current database is taken first: restoring it undoes this)',
        'the site shows a maintenance page while the dump is restored',
      ], confirm)
    }
    await rollbackRelease(ctx, env, choice, { to: flags.to, withDb: flags['with-db'], healthTimeoutMs, serving })
    out.success(flags['dry-run'] ? `dry-run: rollback to ${target} planned, nothing changed` : `release ${target} is serving again`)
  }
  if (flags['dry-run']) return rollback(undefined)
  await withLock(ctx.varDir, out, 'rollback', async (lock) => {
    await rollback(lock)
  }, { action: 'rollback', release: flags.to })
}, { logName: 'rollback' })
