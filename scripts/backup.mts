import { dirname, basename } from 'node:path'
import { stat } from 'node:fs/promises'
import { DEFAULT_BACKUP_CRON_FILE, DEFAULT_BACKUP_LOG, backupCronJob } from '../lib/backup/cron.ts'
import { backupDir, listBackups, resolveBackup } from '../lib/backup/files.ts'
import { formatBackupLine } from '../lib/backup/format.ts'
import { restoreSafely, restoreWithSafetyBackup } from '../lib/backup/restore.ts'
import { takeScheduledBackup } from '../lib/backup/scheduled.ts'
import { commonHelp, commonOptions, parseFlags, scriptArgs, wholeNumberFlag } from '../lib/cli/args.ts'
import { confirmLoss } from '../lib/cli/confirm.ts'
import { runMain } from '../lib/cli/main.ts'
import { installCronJob } from '../lib/cron/install.ts'
import { exitCodeHelp, usageError } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { createStackContext, PROJECT_DIR, varDirOf } from '../lib/stack/context.ts'
import { withLock } from '../lib/stack/lock.ts'
import { formatAge, formatBytes, formatTime } from '../lib/ui/output.ts'
import { convergeStack } from '../lib/release/converge.ts'

const HELP = `Usage: npx zx scripts/backup.mts [options]

Backs up the database now: pg_dump (custom format) inside the running postgres container,
checked with pg_restore --list before it is copied out to
var/backups/scheduled-YYYYMMDD-HHMMSS.dump (UTC, mode 0600). Then only the newest --keep
scheduled backups stay; deploy's pre-RELEASE.dump and the pre-restore-*.dump files are
never pruned here. A failed dump leaves no file behind.

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
  --health-timeout S seconds the writers have to pass their healthchecks again (default 120)
  --take-over-lock   accepted and ignored: the lock of a killed run is freed by the kernel and
                     taken over on its own
  --install-cron     install the daily job (02:MM, a random minute kept on re-install) that
                     runs this script with --keep N, appending to ${DEFAULT_BACKUP_LOG};
                     idempotent, and shows it
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
    'take-over-lock': { type: 'boolean', default: false },
    'install-cron': { type: 'boolean', default: false },
    'cron-file': { type: 'string', default: DEFAULT_BACKUP_CRON_FILE },
  })
  if (flags.help) return void console.log(HELP)
  const keep = wholeNumberFlag('keep', flags.keep, 1, 'scheduled backups to keep')
  const healthTimeoutMs = wholeNumberFlag('health-timeout', flags['health-timeout'], 5, 'seconds') * 1000
  const modes = (['list', 'restore', 'install-cron'] as const).filter((mode) => flags[mode] !== undefined && flags[mode] !== false)
  if (modes.length > 1) throw usageError(`--${modes.join(' and --')} cannot be used together`, 'run one of them at a time')

  if (flags.list) {
    const entries = await listBackups(varDirOf())
    if (entries.length === 0) return out.info(`no backup in ${backupDir(varDirOf())}`)
    for (const entry of entries) console.log(formatBackupLine(entry))
    return
  }

  const envPath = flags['env-path']
  const { env } = await loadEnv(envPath)
  if (flags['install-cron']) {
    await installCronJob(out, backupCronJob(keep), { cronFile: flags['cron-file'], projectDir: PROJECT_DIR, nodeBinDir: dirname(process.execPath), envPath, dryRun: flags['dry-run'], environment: process.env })
    return
  }

  const ctx = await createStackContext(out, { envFile: envPath, dryRun: flags['dry-run'], verbose: flags.verbose })
  if (flags.restore !== undefined) {
    const file = await resolveBackup(ctx.varDir, flags.restore)
    const confirm = { yes: flags.yes, dryRun: flags['dry-run'], interactive: process.stdin.isTTY === true }
    const taken = (await stat(file)).mtime
    await confirmLoss(`Restore the database from ${basename(file)}`, [
      `the database is replaced by ${file}, taken ${formatTime(taken)} (${formatAge(Date.now() - taken.getTime())} ago)`,
      'every write made to the database since then is lost (a safety dump of the current database is taken first: restoring it undoes this)',
      'the site shows a maintenance page while the dump is restored',
    ], confirm)
    const restore = async (): Promise<void> => {
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
  const backup = await takeScheduledBackup(ctx, { keep, now: new Date() })
  if (backup.size === undefined) out.success(`dry-run: would write ${backup.file}, nothing changed`)
  else out.success(`wrote ${backup.file} (${formatBytes(backup.size)})`)
  for (const name of backup.pruned) out.info(`${flags['dry-run'] ? 'would prune' : 'pruned'} ${name} (--keep ${keep})`)
  if (backup.pruned.length === 0) out.info(`nothing to prune (--keep ${keep})`)
}, { logName: scriptArgs(import.meta.url).includes('--list') ? undefined : 'backup' })
