import type { CronJob } from '../cron/job.ts'

export const DEFAULT_BACKUP_CRON_FILE = '/etc/cron.d/aiko-db-backup'
export const DEFAULT_BACKUP_LOG = '/var/log/aiko-db-backup.log'

/** Daily at 02:MM (a random minute, kept on re-install), keeping the newest `keep` scheduled backups. */
export function backupCronJob(keep: number): CronJob {
  return {
    comments: ['AI-KO: daily database backup, installed by `npx zx scripts/backup.mts --install-cron`.', `pg_dump checked with pg_restore --list, written to var/backups/; keeps the newest ${keep} scheduled backups.`],
    hours: '2',
    script: ['scripts/backup.mts', '--keep', String(keep)],
    logFile: DEFAULT_BACKUP_LOG,
  }
}
