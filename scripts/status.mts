import { commonHelp, commonOptions, parseFlags, scriptArgs } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { dirname } from 'node:path'
import { postAlerts, runningAlertmanager } from '../lib/alerts/apply.ts'
import { alertChannels, describeChannel, testAlertPayload } from '../lib/alerts/config.ts'
import { DEFAULT_WATCH_CRON_FILE, serviceHealth, WATCH_JOB, writeWatchMetrics } from '../lib/alerts/watch.ts'
import { installCronJob } from '../lib/cron/install.ts'
import { ExitCode, exitCodeHelp, ToolkitError, usageError } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { maskSecrets } from '../lib/exec/mask.ts'
import { createStackContext, PROJECT_DIR } from '../lib/stack/context.ts'
import { readCurrentRelease } from '../lib/release/log.ts'
import { swarmServices } from '../lib/swarm/deploy.ts'
import { swarmServiceHealth } from '../lib/swarm/plan.ts'
import { collectStatus } from '../lib/status/collect.ts'
import { formatStatus } from '../lib/status/format.ts'
import { alertWarnings, judgeProblems, MAX_BACKUP_AGE_HOURS, MAX_OFFSITE_AGE_HOURS, MAX_VERIFY_AGE_HOURS, MIN_CERTIFICATE_DAYS, MIN_FREE_DISK_PERCENT } from '../lib/status/problems.ts'
import { buildReport, STATUS_SCHEMA } from '../lib/status/report.ts'
import { createOutput } from '../lib/ui/output.ts'

const HELP = `Usage: npx zx scripts/status.mts [options]

The day-two view of the stack: serving release and last deploy/rollback, each service
(state, health, containers, image), the certificate of DOMAIN, free disk, the newest
database backup, the last off-site copy and verified restore, and the problems found. Read-only: changes nothing, starts no container,
sends no ACME request. Works with Docker down or the stack stopped (services absent).

Problems (exit code 4 when there is any):
  - a service that has no container, is not running, or is unhealthy
  - NGINX_MODE=https and no certificate, or fewer than ${MIN_CERTIFICATE_DAYS} days left
  - a Let's Encrypt staging certificate with APP_ENV=production
  - less than ${MIN_FREE_DISK_PERCENT} % free on the project's or Docker's filesystem
  - no *.dump in var/backups, or the newest older than ${MAX_BACKUP_AGE_HOURS} h
  - RESTIC_REPOSITORY set and no off-site copy, or the last older than ${MAX_OFFSITE_AGE_HOURS} h
  - the last backup --verify failed, is older than ${MAX_VERIFY_AGE_HOURS / 24} days, or (off-site
    configured) never ran
Warnings (listed, exit code unchanged):
  - no alert channel (ALERT_SMTP_HOST/ALERT_EMAIL_* or ALERT_WEBHOOK_URL): alerts go nowhere

Options:
  --test-alert     send one test alert through Alertmanager (posted to its API inside its
                   container) and name the channels it goes to; a "RÉSOLU" message follows
                   about 5 minutes later. Exit 4 when no channel is configured or
                   Alertmanager is not running. Prints no status.
  --write-metrics  for the watch cron job: write each service's health and the cron
                   heartbeat into var/metrics (node-exporter's textfile folder; alerts
                   ServiceUnhealthy, CronHeartbeatMissing). Prints nothing when it works;
                   exit 0 whatever the stack's state (the alerts judge it).
  --install-cron   install the watch job (every minute; idempotent) and show it
  --cron-file PATH where --install-cron writes (default ${DEFAULT_WATCH_CRON_FILE})
  --json           print one JSON object on stdout and nothing else (messages go to
                   stderr); its shape, stable (schema ${STATUS_SCHEMA}), null when unknown:
    { schema, time, ok, project, domain, nginxMode: "http"|"https",
      release: { current, last: null | { action: "deploy"|"rollback", id,
                 result: "ok"|"failed"|"rolled-back", time, user, durationMs, error } },
      docker: { reachable, rootDir, error },
      services: [ { name, state: "running"|"absent"|"exited"|..., expected,
                    health: "healthy"|"unhealthy"|"starting"|"none",
                    containers, images: [..], exitCode } ],
      certificate: { domain, checked, present, names: [..], notAfter, daysLeft,
                     issuer: null | { cn, o }, ca: "production"|"staging"|null, note },
      disk: { project: null | { path, freeBytes, totalBytes, freePercent },
              docker: null | { path, freeBytes, totalBytes, freePercent, sameFilesystem } },
      backup: null | { name, time, sizeBytes, ageHours },
      offsite: { configured, last: null | { time, snapshot, repository, ageHours } },
      verify: null | { time, ok, source, detail, ageHours },
      drift: [ "what a deploy would fix first", .. ],
      alerts: { channels: [ "e-mail to ... via host:port (starttls)", "webhook https://host/…" ] },
      problems: [ { check: "docker"|"compose"|"service"|"certificate"|"disk"|"backup"|
                           "offsite"|"verify",
                    message } ],
      warnings: [ { check: "alerts", message } ] }
    e.g. npx zx scripts/status.mts --json | jq -r '.problems[].message'
${commonHelp}

${exitCodeHelp}`

// With --json, stdout carries the JSON object alone: every message of the toolkit goes to stderr.
const output = createOutput(scriptArgs(import.meta.url).includes('--json') ? { stdout: process.stderr } : {})

await runMain(async () => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    json: { type: 'boolean', default: false },
    'test-alert': { type: 'boolean', default: false },
    'write-metrics': { type: 'boolean', default: false },
    'install-cron': { type: 'boolean', default: false },
    'cron-file': { type: 'string', default: DEFAULT_WATCH_CRON_FILE },
  })
  if (flags.help) return void console.log(HELP)
  const modes = (['json', 'test-alert', 'write-metrics', 'install-cron'] as const).filter((mode) => flags[mode])
  if (modes.length > 1) throw usageError(`--${modes.join(' and --')} cannot be combined`, 'run one at a time')
  if (flags['install-cron'])
    return installCronJob(output, WATCH_JOB, { cronFile: flags['cron-file'], projectDir: PROJECT_DIR, nodeBinDir: dirname(process.execPath), envPath: flags['env-path'], dryRun: flags['dry-run'], environment: process.env })
  const { env, file } = await loadEnv(flags['env-path'])
  const ctx = await createStackContext(output, { envFile: flags['env-path'], dryRun: flags['dry-run'], verbose: flags.verbose })
  if (flags['test-alert']) return sendTestAlert(ctx, env)
  if (env.DEPLOY_TARGET === 'swarm') {
    // Stack mode: the services and their tasks as Swarm reports them (the rest of the report reads compose containers).
    const { lines, text } = await swarmServices(ctx)
    if (flags['write-metrics']) {
      if (flags['dry-run']) return ctx.output.info(`[dry-run] would write the health of ${lines.length} services of the stack and the heartbeat into ${ctx.varDir}/metrics`)
      return writeWatchMetrics(ctx.varDir, swarmServiceHealth(lines), new Date())
    }
    const release = await readCurrentRelease(ctx.varDir)
    const ok = lines.length > 0 && lines.every((line) => line.ok)
    if (flags.json) console.log(JSON.stringify({ target: 'swarm', release: release ?? null, ok, services: lines }, null, 2))
    else console.log(maskSecrets(`stack mode (DEPLOY_TARGET=swarm), release ${release ?? '(none deployed)'}\n${text}`))
    process.exitCode = ok ? ExitCode.ok : ExitCode.precondition
    return
  }
  const facts = await collectStatus(ctx, { env, composeProfiles: process.env['COMPOSE_PROFILES'] ?? file.values['COMPOSE_PROFILES'] })
  if (flags['write-metrics']) {
    if (flags['dry-run']) return ctx.output.info(`[dry-run] would write the health of ${facts.services.filter((service) => service.expected).length} services and the heartbeat into ${ctx.varDir}/metrics`)
    return writeWatchMetrics(ctx.varDir, serviceHealth(facts.services), new Date())
  }
  const report = buildReport(facts, judgeProblems(facts, { production: env.APP_ENV === 'production' }), alertWarnings(facts))
  console.log(maskSecrets(flags.json ? JSON.stringify(report, null, 2) : formatStatus(report)))
  process.exitCode = report.ok ? ExitCode.ok : ExitCode.precondition
}, output)

/** One alert posted to Alertmanager's API from inside its container; says where it goes. */
async function sendTestAlert(ctx: Awaited<ReturnType<typeof createStackContext>>, env: Awaited<ReturnType<typeof loadEnv>>['env']): Promise<void> {
  const channels = alertChannels(env)
  if (channels.length === 0)
    throw new ToolkitError('no alert channel is configured: a test alert would go nowhere', {
      exitCode: ExitCode.precondition,
      hint: 'set ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO and/or ALERT_WEBHOOK_URL in .env, then npx zx scripts/deploy.mts',
    })
  const id = await runningAlertmanager(ctx)
  if (id === undefined && !ctx.executor.dryRun)
    throw new ToolkitError('Alertmanager is not running', { exitCode: ExitCode.precondition, hint: 'start the stack: npx zx scripts/deploy.mts' })
  await ctx.output.step('post a test alert to Alertmanager', () => ctx.executor.run(postAlerts(id ?? 'alertmanager', testAlertPayload(env.DOMAIN, new Date()))))
  ctx.output.info(`test alert AikoTestAlert sent; it goes to: ${channels.map(describeChannel).join('; ')}`)
  ctx.output.info('it arrives within about a minute (Alertmanager groups alerts first); a "RÉSOLU" message follows about 5 minutes later')
}
