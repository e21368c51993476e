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

export const DEFAULT_VERIFY_LOG = '/var/log/aiko-backup-verify.log'

/** The weekly verify job lives beside the daily one: same folder, same name + -verify. */
export const verifyCronFile = (backupCronFile: string) => `${backupCronFile}-verify`

/** Sundays at 04:MM: the newest backup restored into a throwaway PostgreSQL and checked. */
export function verifyCronJob(): CronJob {
  return {
    comments: ['AI-KO: weekly proof that the newest backup restores, installed by `npx zx scripts/backup.mts --install-cron`.', 'Restores it into a throwaway PostgreSQL and checks it; the result shows in `npx zx scripts/status.mts`.'],
    hours: '4',
    weekdays: '0',
    script: ['scripts/backup.mts', '--verify'],
    logFile: DEFAULT_VERIFY_LOG,
  }
}
