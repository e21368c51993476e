import type { CronJob } from '../cron/job.ts'

export const DEFAULT_CRON_FILE = '/etc/cron.d/aiko-ssl-renew'
export const DEFAULT_RENEW_LOG = '/var/log/aiko-ssl-renew.log'

/** Twice a day at a random minute (Let's Encrypt asks clients to spread their load). */
export const SSL_RENEW_JOB: CronJob = {
  comments: ['AI-KO: certificate renewal, installed by `npx zx scripts/init-ssl.mts --install-cron`.', 'Quiet when nothing is due; reloads nginx only when a certificate changed.'],
  hours: '3,15',
  script: ['scripts/init-ssl.mts', '--renew', '--yes'],
  logFile: DEFAULT_RENEW_LOG,
}
