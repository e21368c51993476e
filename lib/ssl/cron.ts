import { randomInt } from 'node:crypto'

export interface CronInput {
  minute: number
  projectDir: string
  /** Folder of the node and npx binaries: cron's PATH is minimal. */
  nodeBinDir: string
  envPath: string
  logFile: string
}

export const DEFAULT_CRON_FILE = '/etc/cron.d/aiko-ssl-renew'
export const DEFAULT_RENEW_LOG = '/var/log/aiko-ssl-renew.log'

/** An /etc/cron.d file: twice a day at a random minute (Let's Encrypt asks clients to spread their load). */
export function renderCronFile(input: CronInput): string {
  const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`
  return [
    '# AI-KO: certificate renewal, installed by `npx zx scripts/init-ssl.mts --install-cron`.',
    '# Quiet when nothing is due; reloads nginx only when a certificate changed.',
    'SHELL=/bin/sh',
    `PATH=${input.nodeBinDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    `${input.minute} 3,15 * * * root cd ${quote(input.projectDir)} && npx zx scripts/init-ssl.mts --renew --yes --env-path ${quote(input.envPath)} >> ${quote(input.logFile)} 2>&1`,
    '',
  ].join('\n')
}

/** Keeps the minute of an installed file, so re-running the install changes nothing. */
export function cronMinute(existing: string | undefined): number {
  const minute = existing === undefined ? undefined : /^(\d{1,2}) 3,15 \* \* \* /m.exec(existing)?.[1]
  return minute === undefined ? randomInt(60) : Number(minute)
}
