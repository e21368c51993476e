import { dirname, basename } from 'node:path'
import { question } from 'zx'
import { DEFAULT_BACKUP_CRON_FILE, DEFAULT_BACKUP_LOG, backupCronJob } from '../lib/backup/cron.ts'
import { listBackups, resolveBackup } from '../lib/backup/files.ts'
import { formatBackupLine } from '../lib/backup/format.ts'
import { restoreWithSafetyBackup } from '../lib/backup/restore.ts'
import { takeScheduledBackup } from '../lib/backup/scheduled.ts'
import { commonHelp, commonOptions, parseFlags, scriptArgs, wholeNumberFlag } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { installCronJob } from '../lib/cron/install.ts'
import { ExitCode, exitCodeHelp, ToolkitError, usageError } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { backupDir } from '../lib/release/backup.ts'
import { acquireLock } from '../lib/release/lock.ts'
import { createStackContext, PROJECT_DIR, varDirOf } from '../lib/stack/context.ts'
import { formatBytes } from '../lib/ui/output.ts'

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
                     asks for confirmation (--yes confirms). It takes the deploy lock, and
                     first a safety backup pre-restore-YYYYMMDD-HHMMSS.dump of the current
                     database: restoring that one undoes the restore.
  --take-over-lock   with --restore: take over the lock of a deploy or rollback that was killed
  --install-cron     install the daily job (02:MM, a random minute kept on re-install) that
                     runs this script with --keep N, appending to ${DEFAULT_BACKUP_LOG};
                     idempotent, and shows it
  --cron-file PATH   where --install-cron writes (default ${DEFAULT_BACKUP_CRON_FILE})
${commonHelp}

AIKO_VAR_DIR moves var/ (backups included) elsewhere.

${exitCodeHelp}`

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    keep: { type: 'string', default: '14' },
    list: { type: 'boolean', default: false },
    restore: { type: 'string' },
    'take-over-lock': { type: 'boolean', default: false },
    'install-cron': { type: 'boolean', default: false },
    'cron-file': { type: 'string', default: DEFAULT_BACKUP_CRON_FILE },
  })
  if (flags.help) return void console.log(HELP)
  const keep = wholeNumberFlag('keep', flags.keep, 1, 'scheduled backups to keep')
  const modes = (['list', 'restore', 'install-cron'] as const).filter((mode) => flags[mode] !== undefined && flags[mode] !== false)
  if (modes.length > 1) throw usageError(`--${modes.join(' and --')} cannot be used together`, 'run one of them at a time')

  if (flags.list) {
    const entries = await listBackups(varDirOf())
    if (entries.length === 0) return out.info(`no backup in ${backupDir(varDirOf())}`)
    for (const entry of entries) console.log(formatBackupLine(entry))
    return
  }

  const envPath = flags['env-path']
  await loadEnv(envPath)
  if (flags['install-cron']) {
    await installCronJob(out, backupCronJob(keep), { cronFile: flags['cron-file'], projectDir: PROJECT_DIR, nodeBinDir: dirname(process.execPath), envPath, dryRun: flags['dry-run'], environment: process.env })
    return
  }

  const ctx = await createStackContext(out, { envFile: envPath, dryRun: flags['dry-run'], verbose: flags.verbose })
  if (flags.restore !== undefined) {
    const file = await resolveBackup(ctx.varDir, flags.restore)
    if (!flags.yes && !flags['dry-run']) {
      const loss = `every write made to the database since ${basename(file)} was taken will be lost`
      if (process.stdin.isTTY !== true) throw new ToolkitError(`--restore needs a confirmation: ${loss}`, { exitCode: ExitCode.usage, hint: 'add --yes to confirm (a safety backup of the current database is taken first)' })
      const answer = await question(`Restore ${file}: ${loss} (a safety backup of the current database is taken first). Type "yes" to go on:\n> `)
      if (answer.trim() !== 'yes') throw new ToolkitError('restore cancelled: nothing was changed', { exitCode: ExitCode.usage })
    }
    const unlock = flags['dry-run'] ? async () => undefined : await acquireLock(ctx.varDir, 'restore', { takeOver: flags['take-over-lock'] })
    try {
      const safety = await restoreWithSafetyBackup(ctx, file, new Date())
      if (flags['dry-run']) return out.success(`dry-run: restore of ${basename(file)} planned (safety backup ${basename(safety)}), nothing changed`)
      out.success(`restored ${file}`)
      out.info(`the database as it was just before is in ${safety}; to undo: npx zx scripts/backup.mts --restore ${basename(safety)} --yes`)
    } finally {
      await unlock()
    }
    return
  }

  const backup = await takeScheduledBackup(ctx, { keep, now: new Date() })
  if (backup.size === undefined) out.success(`dry-run: would write ${backup.file}, nothing changed`)
  else out.success(`wrote ${backup.file} (${formatBytes(backup.size)})`)
  for (const name of backup.pruned) out.info(`${flags['dry-run'] ? 'would prune' : 'pruned'} ${name} (--keep ${keep})`)
  if (backup.pruned.length === 0) out.info(`nothing to prune (--keep ${keep})`)
})
