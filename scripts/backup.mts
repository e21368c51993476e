import { dirname, basename } from 'node:path'
import { stat } from 'node:fs/promises'
import { DEFAULT_BACKUP_CRON_FILE, DEFAULT_BACKUP_LOG, backupCronJob, verifyCronFile, verifyCronJob } from '../lib/backup/cron.ts'
import { backupDir, listBackups, resolveBackup } from '../lib/backup/files.ts'
import { formatBackupLine } from '../lib/backup/format.ts'
import { restoreSafely, restoreWithSafetyBackup } from '../lib/backup/restore.ts'
import { takeScheduledBackup } from '../lib/backup/scheduled.ts'
import { commonHelp, commonOptions, parseFlags, scriptArgs, wholeNumberFlag } from '../lib/cli/args.ts'
import { confirmLoss } from '../lib/cli/confirm.ts'
import { recordOperation } from '../lib/alerts/metrics.ts'
import { runMain } from '../lib/cli/main.ts'
import { installCronJob } from '../lib/cron/install.ts'
import { exitCodeHelp, usageError } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { createStackContext, PROJECT_DIR, varDirOf } from '../lib/stack/context.ts'
import { withLock } from '../lib/stack/lock.ts'
import { formatAge, formatBytes, formatTime } from '../lib/ui/output.ts'
import { convergeStack } from '../lib/release/converge.ts'
import { readCurrentRelease } from '../lib/release/log.ts'
import { installEnvFromSet, repoFromEnvironment, restoreSetIntoStack } from '../lib/backup/disaster.ts'
import { copySetOffsite, initRepository, repositoryLabel } from '../lib/backup/offsite.ts'
import { resticRepo, type ResticRepo } from '../lib/backup/restic.ts'
import { verifyLatestBackup } from '../lib/backup/verify.ts'
import { restoreInStack } from '../lib/swarm/restore.ts'

const fileExists = async (path: string) => (await stat(path).catch(() => undefined)) !== undefined

const HELP = `Usage: npx zx scripts/backup.mts [options]

Backs up the database now: pg_dump (custom format) inside the running postgres container,
checked with pg_restore --list before it is copied out to
var/backups/scheduled-YYYYMMDD-HHMMSS.dump (UTC, mode 0600). Then only the newest --keep
scheduled backups stay; deploy's pre-RELEASE.dump and the pre-restore-*.dump files are
never pruned here. A failed dump leaves no file behind.

With RESTIC_REPOSITORY set in .env, the backup is then a whole set copied off the server
with restic (encrypted, deduplicated): that dump, the uploads volume and the .env, with a
manifest of SHA-256 checksums; then the off-site retention of .env applies (RESTIC_KEEP_DAILY,
_WEEKLY, _MONTHLY: restic forget --prune, this server's sets only). The restic password is
passed in restic's environment, never on a command line, and never printed.

Each backup, off-site copy and --verify ends by writing its result and time for Prometheus
(aiko_operation_* in node-exporter's textfile folder, lib/alerts/metrics.ts): a failure, or
no success for 26 h (8 days for --verify), is an alert by e-mail/webhook (.env ALERT_*).

Options:
  --keep N           scheduled backups to keep (default 14)
  --list             every backup in var/backups, newest first, with size and date
                     (needs neither the stack nor .env)
  --restore FILE     restore FILE (a path, a name from --list, or "latest": the newest
                     backup of any kind). Every write made since that backup is lost, so it
                     asks for confirmation (--yes confirms). It takes the stack lock (waits
                     for no one: exit 6 while a deploy, rollback or restore runs), brings the
                     stack to one consistent release like deploy, then, behind a maintenance
                     page (503, Retry-After): stops the writers (backend, worker, beat), takes
                     a safety backup pre-restore-YYYYMMDD-HHMMSS.dump of the current database
                     (restoring that one undoes the restore), restores, starts the writers
                     and serves again. A failure after the restore puts the safety backup back.
  --init-offsite     create the restic repository of RESTIC_REPOSITORY (once; idempotent)
  --verify           prove the newest backup restorable: the newest off-site set (or, without
                     RESTIC_REPOSITORY, the newest dump of var/backups) restored into a
                     throwaway PostgreSQL (no network), its files checked against the
                     manifest, the migration head, row counts and admin checked; the result
                     goes to status. Touches nothing of the running stack.
  --restore-from-offsite SET
                     bring a set back from the repository (SET: latest or a snapshot id).
                     With no .env yet (a new server): writes .env from the set, then tells
                     the next steps; RESTIC_REPOSITORY and RESTIC_PASSWORD come from the
                     environment. With a .env and a serving stack: restores the set's
                     database and uploads like --restore (maintenance page, safety dump).
  --health-timeout S seconds the writers have to pass their healthchecks again (default 120)
  --take-over-lock   accepted and ignored: the lock of a killed run is freed by the kernel and
                     taken over on its own
  --install-cron     install the daily job (02:MM, a random minute kept on re-install) that
                     runs this script with --keep N, appending to ${DEFAULT_BACKUP_LOG},
                     and the weekly --verify job (Sundays 04:MM) in the same file + -verify;
                     idempotent, and shows them
  --cron-file PATH   where --install-cron writes (default ${DEFAULT_BACKUP_CRON_FILE})
${commonHelp}

AIKO_VAR_DIR moves var/ (backups included) elsewhere. Every run but --list also writes its
output to $AIKO_VAR_DIR/logs/backup-*.log (the first line names the file).

${exitCodeHelp}`

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    keep: { type: 'string', default: '14' },
    'health-timeout': { type: 'string', default: '120' },
    list: { type: 'boolean', default: false },
    restore: { type: 'string' },
    'restore-from-offsite': { type: 'string' },
    verify: { type: 'boolean', default: false },
    'init-offsite': { type: 'boolean', default: false },
    'take-over-lock': { type: 'boolean', default: false },
    'install-cron': { type: 'boolean', default: false },
    'cron-file': { type: 'string', default: DEFAULT_BACKUP_CRON_FILE },
  })
  if (flags.help) return void console.log(HELP)
  const keep = wholeNumberFlag('keep', flags.keep, 1, 'scheduled backups to keep')
  const healthTimeoutMs = wholeNumberFlag('health-timeout', flags['health-timeout'], 5, 'seconds') * 1000
  const modes = (['list', 'restore', 'restore-from-offsite', 'verify', 'init-offsite', 'install-cron'] as const).filter((mode) => flags[mode] !== undefined && flags[mode] !== false)
  if (modes.length > 1) throw usageError(`--${modes.join(' and --')} cannot be used together`, 'run one of them at a time')

  if (flags.list) {
    const entries = await listBackups(varDirOf())
    if (entries.length === 0) return out.info(`no backup in ${backupDir(varDirOf())}`)
    for (const entry of entries) console.log(formatBackupLine(entry))
    return
  }

  const envPath = flags['env-path']
  const confirm = { yes: flags.yes, dryRun: flags['dry-run'], interactive: process.stdin.isTTY === true }
  const wanted = flags['restore-from-offsite']
  if (wanted !== undefined && !(await fileExists(envPath))) {
    // A new server: the set's .env first, then deploy, then this again for the data.
    const ctx = await createStackContext(out, { envFile: envPath, dryRun: flags['dry-run'], verbose: flags.verbose })
    const snapshot = await installEnvFromSet(ctx, repoFromEnvironment(process.env), wanted, envPath)
    if (flags['dry-run']) return out.success(`dry-run: would write ${envPath} from set ${snapshot.short_id}, nothing changed`)
    out.success(`wrote ${envPath} from set ${snapshot.short_id} of ${snapshot.time} (${snapshot.hostname})`)
    out.info('next: check DOMAIN and the ports in it, run `npx zx scripts/init-ssl.mts` (certificates are not in the set) and `npx zx scripts/deploy.mts`,')
    out.info(`then run this same command again: the set's database and uploads go into the running stack`)
    return
  }
  const { env } = await loadEnv(envPath)
  const repo = resticRepo(env)
  if (env.DEPLOY_TARGET === 'swarm' && wanted !== undefined)
    throw usageError('--restore-from-offsite is not available with DEPLOY_TARGET=swarm yet', 'take the set out with restic restore (the guide, section 12), then run --restore with its .dump on the data node')
  if (flags['install-cron']) {
    const jobs = [{ job: backupCronJob(keep), file: flags['cron-file'] }, { job: verifyCronJob(), file: verifyCronFile(flags['cron-file']) }]
    for (const { job, file } of jobs)
      await installCronJob(out, job, { cronFile: file, projectDir: PROJECT_DIR, nodeBinDir: dirname(process.execPath), envPath, dryRun: flags['dry-run'], environment: process.env })
    return
  }

  const ctx = await createStackContext(out, { envFile: envPath, dryRun: flags['dry-run'], verbose: flags.verbose })
  const needRepo = (flag: string): ResticRepo => {
    if (repo === undefined) throw usageError(`${flag} needs an off-site repository, and RESTIC_REPOSITORY is empty in ${envPath}`, `set it with \`npx zx scripts/init-env.mts --env-path ${envPath} --set RESTIC_REPOSITORY=sftp:user@host:/srv/aiko\` (see the guide, section on off-site backups)`)
    return repo
  }
  if (flags['init-offsite']) {
    const result = await initRepository(ctx, needRepo('--init-offsite'))
    return out.success(result === 'exists' ? `the repository ${repositoryLabel(needRepo('--init-offsite').repository)} already exists: nothing to do` : `created the repository ${repositoryLabel(needRepo('--init-offsite').repository)}: keep RESTIC_PASSWORD off the server too, without it the copies cannot be read`)
  }
  if (flags.verify) {
    const report = await verifyLatestBackup(ctx, env, repo, new Date()).catch(async (error: unknown) => {
      await recordOperation(ctx, 'verify', { ok: false, time: new Date() })
      throw error
    })
    if (report !== undefined) await recordOperation(ctx, 'verify', { ok: true, time: new Date() })
    if (report === undefined) return out.success('dry-run: nothing restored')
    const rows = Object.values(report.tables).reduce((sum, count) => sum + count, 0)
    out.success(`verified ${report.source}: it restores into a working database (migration head ${report.head}, ${Object.keys(report.tables).length} tables, ${rows} rows, admin present)`)
    for (const [table, count] of Object.entries(report.tables)) out.info(`  ${table}: ${count} rows`)
    if (report.uploads !== undefined) out.info(`  uploads: ${report.uploads.count} files (${formatBytes(report.uploads.bytes)}), every checksum matches`)
    else out.info('  uploads and .env: not checked (no off-site set: RESTIC_REPOSITORY is empty)')
    return
  }
  if (wanted !== undefined) {
    const restored = await restoreSetIntoStack(ctx, env, needRepo('--restore-from-offsite'), { wanted, envPath, healthTimeoutMs, now: new Date(), confirm })
    if (flags['dry-run']) return out.success(`dry-run: restore of set ${restored.snapshot} planned, nothing changed`)
    out.success(`restored set ${restored.snapshot} (database and uploads): release ${restored.release} serves again`)
    out.info(`the database as it was just before is in ${restored.safety}; to undo: npx zx scripts/backup.mts --restore ${basename(restored.safety)} --yes`)
    return
  }
  if (flags.restore !== undefined) {
    const file = await resolveBackup(ctx.varDir, flags.restore)
    const taken = (await stat(file)).mtime
    await confirmLoss(`Restore the database from ${basename(file)}`, [
      `the database is replaced by ${file}, taken ${formatTime(taken)} (${formatAge(Date.now() - taken.getTime())} ago)`,
      'every write made to the database since then is lost (a safety dump of the current database is taken first: restoring it undoes this)',
      ctx.swarm === undefined ? 'the site shows a maintenance page while the dump is restored' : 'the API is unavailable while the dump is restored (stack mode: the writers are scaled to 0, no maintenance page)',
    ], confirm)
    const restore = async (): Promise<void> => {
      if (ctx.swarm !== undefined) {
        // stack mode: on the data node; the writers are scaled to 0 instead of the maintenance page
        const safety = await restoreInStack(ctx, file, { now: new Date(), healthTimeoutMs })
        if (flags['dry-run']) return out.success(`dry-run: restore of ${basename(file)} planned, nothing changed`)
        out.success(`restored ${file}: the writers of the stack run again`)
        return out.info(`the database as it was just before is in ${safety}; to undo: npx zx scripts/backup.mts --restore ${basename(safety)} --yes`)
      }
      const { target: serving } = await convergeStack(ctx, env, { healthTimeoutMs })
      const now = new Date()
      const safety = serving === undefined ? await restoreWithSafetyBackup(ctx, file, now) : await restoreSafely(ctx, env, { file, release: serving, serving, healthTimeoutMs, now })
      if (flags['dry-run']) return out.success(`dry-run: restore of ${basename(file)} planned (safety backup ${basename(safety)}), nothing changed`)
      out.success(`restored ${file}${serving === undefined ? '' : `: release ${serving} serves again`}`)
      out.info(`the database as it was just before is in ${safety}; to undo: npx zx scripts/backup.mts --restore ${basename(safety)} --yes`)
    }
    if (flags['dry-run']) await restore()
    else await withLock(ctx.varDir, out, `restore ${basename(file)}`, restore, { action: 'restore', release: basename(file) })
    return
  }

  // A plain backup takes no lock: pg_dump reads one consistent snapshot whatever else runs,
  // and the pruning touches only scheduled-*.dump files, which no other command writes. So the
  // daily cron job is never refused (exit 6) because a deploy or a restore happens to run.
  const backup = await takeScheduledBackup(ctx, { keep, now: new Date() }).catch(async (error: unknown) => {
    await recordOperation(ctx, 'backup', { ok: false, time: new Date() })
    throw error
  })
  if (backup.size !== undefined) await recordOperation(ctx, 'backup', { ok: true, time: new Date() })
  if (backup.size === undefined) out.success(`dry-run: would write ${backup.file}, nothing changed`)
  else out.success(`wrote ${backup.file} (${formatBytes(backup.size)})`)
  for (const name of backup.pruned) out.info(`${flags['dry-run'] ? 'would prune' : 'pruned'} ${name} (--keep ${keep})`)
  if (backup.pruned.length === 0) out.info(`nothing to prune (--keep ${keep})`)
  if (repo === undefined) return out.warn('no off-site copy: RESTIC_REPOSITORY is empty in .env (one lost disk loses every backup; see the guide)')
  const copy = await copySetOffsite(ctx, repo, { dump: backup.file, envPath, domain: env.DOMAIN, release: await readCurrentRelease(ctx.varDir), now: new Date() }).catch(async (error: unknown) => {
    await recordOperation(ctx, 'offsite', { ok: false, time: new Date() })
    throw error
  })
  if (copy !== undefined) await recordOperation(ctx, 'offsite', { ok: true, time: new Date() })
  if (copy !== undefined) out.success(`copied the set off the server: snapshot ${copy.snapshot.slice(0, 8)} (database, .env, ${copy.manifest.uploads.count} uploaded files)`)
}, { logName: scriptArgs(import.meta.url).includes('--list') ? undefined : 'backup' })
