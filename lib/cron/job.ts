import { randomInt } from 'node:crypto'

/** What differs between the toolkit's cron jobs; everything else is rendered the same way. */
export interface CronJob {
  /** The header, one comment line each (without the leading '# '). */
  comments: readonly string[]
  /** The cron hour field: '3,15' (twice a day), '2' (daily). */
  hours: string
  /** Every minute of the hours (the minute field is `*`): the watch job. */
  everyMinute?: boolean
  /** The cron day-of-week field ('0': Sundays); every day when unset. */
  weekdays?: string
  /** The script and its flags, run with `npx zx` from the project folder; --env-path is added. */
  script: readonly string[]
  /** Where the job appends its output when --install-cron is not told otherwise. */
  logFile: string
}

export interface CronInput {
  minute: number
  projectDir: string
  /** Folder of the node and npx binaries: cron's PATH is minimal. */
  nodeBinDir: string
  envPath: string
  logFile: string
  /** Toolkit variables set when the job was installed (AIKO_VAR_DIR, COMPOSE_FILE, ...): cron starts with none. */
  environment?: Readonly<Record<string, string>>
}

/** Variables the job needs to see the same stack and var folder as the shell that installed it. */
export const CRON_PASSTHROUGH = ['AIKO_VAR_DIR', 'COMPOSE_FILE', 'COMPOSE_PROJECT_NAME'] as const

const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`

/** An /etc/cron.d file (it names the user, root) running one toolkit script at `minute` past each of the job's hours. */
export function renderCronFile(job: CronJob, input: CronInput): string {
  const environment = Object.entries(input.environment ?? {}).map(([name, value]) => `${name}=${value}`)
  return [
    ...job.comments.map((line) => `# ${line}`),
    'SHELL=/bin/sh',
    `PATH=${input.nodeBinDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    ...environment,
    `${job.everyMinute === true ? '*' : input.minute} ${job.hours} * * ${job.weekdays ?? '*'} root cd ${quote(input.projectDir)} && npx zx ${job.script.join(' ')} --env-path ${quote(input.envPath)} >> ${quote(input.logFile)} 2>&1`,
    '',
  ].join('\n')
}

/** Keeps the minute of an installed file, so re-running the install changes nothing; a random one otherwise (spreads the load). */
export function cronMinute(job: CronJob, existing: string | undefined): number {
  const hours = job.hours.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const minute = existing === undefined ? undefined : new RegExp(`^(\\d{1,2}) ${hours} \\* \\* ${job.weekdays ?? '\\*'} `, 'm').exec(existing)?.[1]
  return minute === undefined || Number(minute) > 59 ? randomInt(60) : Number(minute)
}

/** The passthrough variables that are set (one line each in cron.d: a value with a line break is left out). */
export function cronEnvironment(environment: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of CRON_PASSTHROUGH) {
    const value = environment[name]
    if (value !== undefined && value !== '' && !/[\r\n]/.test(value)) picked[name] = value
  }
  return picked
}
