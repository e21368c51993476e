import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { renderAlertmanagerConfig, smtpPasswordFile } from '../../lib/alerts/config.ts'
import { readEnvFile, loadEnv } from '../../lib/env/load.ts'
import { SECRET_NAMES } from '../../lib/env/schema.ts'
import { setEnvVariable } from '../../lib/env/update.ts'
import { PROJECT_DIR, type StackContext } from '../../lib/stack/context.ts'
import { renderAlertmanager } from '../../lib/stack/start.ts'
import { runWithStaleAaaa } from './helpers/stale-aaaa.ts'
import { runCommand, runScript, type RunResult } from './helpers/run.ts'
import { E2E, e2eContext, execIn } from './helpers/stack.ts'

/**
 * Alerts reach a person (issue 16), on the real stack: Alertmanager (stand-in: Debian's
 * prometheus-alertmanager 0.25), its config rendered from .env, e-mail over SMTP to a real
 * SMTP server (aiosmtpd) and a webhook receiver, both containers on the compose network.
 *
 * - no channel: status warns (exit code unchanged) and --test-alert refuses;
 * - the test alert arrives by e-mail (in French) and by webhook;
 * - real conditions, started together so the file stays short: the postgres-exporter
 *   container stopped (TargetDown after its 2 minutes), backup.mts failing (PostgreSQL
 *   stopped), the renewal job failing twice in a row (init-ssl --renew with no certificate:
 *   Pebble cannot be stopped for it, `compose run certbot` starts it again through
 *   depends_on). Each gives ONE e-mail and ONE webhook call with its French subject, then a
 *   RÉSOLU message once fixed (exporter started, a good backup, init-ssl then a good renewal);
 * - meanwhile, the backend container stopped: status --write-metrics publishes
 *   aiko_service_healthy 0 and ServiceUnhealthy goes pending (its 5 minutes are not waited
 *   for here: promtool proves the rest of that rule);
 * - the rules, every one firing and quiet: promtool test rules (started first, asserted last);
 * - the Watchdog pings ALERT_HEARTBEAT_URL and never reaches a person; no secret of .env in
 *   any message.
 * Prometheus keeps its production intervals (30 s); only Alertmanager's grouping is short
 * (AIKO_ALERT_TIMING, the toolkit's test knob).
 */
const smtpName = `${E2E.project}-smtp`
const webhookName = `${E2E.project}-webhook`
const network = `${E2E.project}_default`
const docker = (args: string[], timeoutMs = 120_000) => runCommand('docker', args, { timeoutMs })
const compose = (args: string[]) => runCommand('docker', ['compose', '--env-file', E2E.envFile, ...args], { timeoutMs: 180_000 })
const script = (name: string, args: string[], timeoutMs = 300_000) => runScript(name, ['--env-path', E2E.envFile, ...args], { timeoutMs })

const Mail = z.object({ mail_from: z.string(), rcpt_tos: z.array(z.string()), subject: z.string(), text: z.string(), html: z.string(), raw: z.string() })
type Mail = z.infer<typeof Mail>
const WebhookBody = z.object({
  status: z.string(),
  receiver: z.string(),
  commonLabels: z.record(z.string(), z.string()),
  alerts: z.array(z.object({ status: z.string(), labels: z.record(z.string(), z.string()), annotations: z.record(z.string(), z.string()) })),
})
interface WebhookCall {
  path: string
  body: z.infer<typeof WebhookBody>
  raw: string
}

async function mails(): Promise<Mail[]> {
  const logs = await docker(['logs', smtpName])
  return logs.stdout
    .split('\n')
    .filter((line) => line.startsWith('MAIL '))
    .map((line) => Mail.parse(JSON.parse(line.slice(5))))
}

async function webhookCalls(): Promise<WebhookCall[]> {
  const logs = await docker(['logs', webhookName])
  return logs.stdout
    .split('\n')
    .filter((line) => line.startsWith('WEBHOOK '))
    .map((line) => {
      const [, path = '', ...rest] = line.split(' ')
      const raw = rest.join(' ')
      return { path, body: WebhookBody.parse(JSON.parse(raw)), raw }
    })
}

/** Polls `probe` every 2 s; on timeout, the error carries `last()` (what the last attempt saw). */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, last: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last() === '' ? '' : `; last attempt: ${last()}`}`)
    await sleep(2_000)
  }
}

const PromResult = z.object({ data: z.object({ result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: z.tuple([z.number(), z.string()]) })) }) })
const PromAlerts = z.object({ data: z.object({ alerts: z.array(z.object({ labels: z.record(z.string(), z.string()), state: z.string() })) }) })
const prometheusGet = (path: string) => execIn(ctx, 'prometheus', ['wget', '-q', '-O', '-', `http://127.0.0.1:9090${path}`])
const query = async (expr: string) => PromResult.parse(JSON.parse(await prometheusGet(`/api/v1/query?query=${encodeURIComponent(expr)}`))).data.result
const ruleAlerts = async () => PromAlerts.parse(JSON.parse(await prometheusGet('/api/v1/alerts'))).data.alerts

const subjectOf = (kind: 'ALERTE' | 'RÉSOLU', alert: string) => `[AI-KO] ${kind} : ${alert} (${E2E.domain})`
const mailsWith = async (kind: 'ALERTE' | 'RÉSOLU', alert: string) => (await mails()).filter((m) => m.subject === subjectOf(kind, alert))
const callsWith = async (status: 'firing' | 'resolved', alert: string) => (await webhookCalls()).filter((c) => c.path === '/alertmanager' && c.body.status === status && c.body.commonLabels['alertname'] === alert)
/** The first e-mail and webhook call of this kind for this alert, within the delay. */
async function delivered(kind: 'ALERTE' | 'RÉSOLU', alert: string, timeoutMs: number): Promise<{ mail: Mail; call: WebhookCall }> {
  const mail = await waitFor(`the "${subjectOf(kind, alert)}" e-mail`, async () => (await mailsWith(kind, alert))[0], timeoutMs)
  const call = await waitFor(`the ${alert} ${kind} webhook call`, async () => (await callsWith(kind === 'ALERTE' ? 'firing' : 'resolved', alert))[0], 60_000)
  return { mail, call }
}

/**
 * The backend container stopped: status --write-metrics (the watch cron job's command)
 * publishes it unhealthy and ServiceUnhealthy goes pending; its 5 minutes are not waited for
 * (promtool proves the rest of that rule). Run while TargetDown takes its 2 minutes.
 */
async function backendUnhealthyIsPublished(): Promise<void> {
  expect((await compose(['stop', 'backend'])).code).toBe(0)
  try {
    const written = await script('status', ['--write-metrics'])
    expect(written.code, written.stdout + written.stderr).toBe(0)
    expect(written.stdout.trim()).toBe('')
    expect(await readFile(join(E2E.varDir, 'metrics', 'aiko_services.prom'), 'utf8')).toContain('aiko_service_healthy{service="backend"} 0\n')
    const pending = await waitFor('ServiceUnhealthy pending for backend', async () => (await ruleAlerts()).find((alert) => alert.labels['alertname'] === 'ServiceUnhealthy' && alert.labels['service'] === 'backend'), 120_000)
    expect(pending.state).toBe('pending')
    expect((await query('aiko_cron_heartbeat_timestamp_seconds'))[0]?.value[1]).toMatch(/^\d{10}$/)
  } finally {
    expect((await compose(['start', 'backend'])).code).toBe(0)
  }
  const health = async () => {
    const id = (await compose(['ps', '-q', 'backend'])).stdout.trim()
    return id === '' ? '' : (await docker(['inspect', '-f', '{{.State.Health.Status}}', id])).stdout.trim()
  }
  await waitFor('backend healthy again', async () => ((await health()) === 'healthy' ? true : undefined), 120_000)
  expect((await script('status', ['--write-metrics'])).code).toBe(0)
  expect(await readFile(join(E2E.varDir, 'metrics', 'aiko_services.prom'), 'utf8')).toContain('aiko_service_healthy{service="backend"} 1\n')
  expect(await mailsWith('ALERTE', 'ServiceUnhealthy')).toEqual([])
}

let ctx: StackContext
let secrets: string[] = []
const timings: string[] = []

const alertSettings = {
  ALERT_SMTP_HOST: 'smtp',
  ALERT_EMAIL_FROM: `alertes@${E2E.domain}`,
  ALERT_EMAIL_TO: `ops@${E2E.domain}`,
  ALERT_WEBHOOK_URL: 'http://webhook:8000/alertmanager',
  ALERT_HEARTBEAT_URL: 'http://webhook:8000/heartbeat',
}

/** promtool test rules in the Prometheus stand-in, started at once: it runs beside the slow tests (asserted at the end). */
let promtool: Promise<RunResult>

beforeAll(async () => {
  const rules = join(PROJECT_DIR, 'monitoring', 'prometheus')
  promtool = docker(['run', '--rm', '--entrypoint', 'promtool', '-v', `${rules}:/rules:ro`, '-w', '/rules', 'aiko-standin/prometheus:test', 'test', 'rules', 'alerts.test.yml'], 300_000)
  ctx = await e2eContext()
  process.env['AIKO_ALERT_TIMING'] = '2s,10s,4h'
  for (const name of [smtpName, webhookName]) await docker(['rm', '-f', name])
  for (const [name, alias, image] of [
    [smtpName, 'smtp', 'aiko-standin/smtp:test'],
    [webhookName, 'webhook', 'aiko-standin/webhook:test'],
  ] as const) {
    const started = await docker(['run', '-d', '--name', name, '--label', `com.docker.compose.project=${E2E.project}`, '--network', network, '--network-alias', alias, image])
    expect(started.code, started.stderr).toBe(0)
  }
}, 300_000)

afterAll(async () => {
  await compose(['start', 'postgres', 'postgres-exporter', 'backend'])
  process.stderr.write(`13-alerts timings: ${timings.join('; ')}\n`)
  if (process.env['E2E_KEEP'] === '1') return
  for (const name of [smtpName, webhookName]) await docker(['rm', '-f', name])
})

describe('alerts reach a person (Alertmanager, e-mail and webhook)', () => {
  it('with no channel, status warns that alerts go nowhere (exit code unchanged) and --test-alert refuses', async () => {
    const status = await script('status', ['--json'])
    const report = z.object({ alerts: z.object({ channels: z.array(z.string()) }), problems: z.array(z.object({ check: z.string() })), warnings: z.array(z.object({ check: z.string(), message: z.string() })) }).parse(JSON.parse(status.stdout))
    expect(report.alerts).toEqual({ channels: [] })
    expect(report.problems.filter((problem) => problem.check === 'alerts')).toEqual([])
    expect(report.warnings).toEqual([
      {
        check: 'alerts',
        message: 'alerts go nowhere (no e-mail nor webhook configured): set ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO and/or ALERT_WEBHOOK_URL in .env, run npx zx scripts/deploy.mts, then npx zx scripts/status.mts --test-alert',
      },
    ])
    expect(status.code).toBe(report.problems.length === 0 ? 0 : 4)
    const test = await script('status', ['--test-alert'])
    expect(test.code).toBe(4)
    expect(test.stderr + test.stdout).toContain('no alert channel is configured: a test alert would go nowhere')
  })

  it('renders the channels from .env into 0640 files Alertmanager reloads; nothing of them in docker inspect; a password file is accepted', async () => {
    // ALERT_SMTP_PORT and ALERT_SMTP_TLS have defaults in .env: edited as an operator would; init-env --set fills the empty ones.
    expect(await setEnvVariable(E2E.envFile, 'ALERT_SMTP_PORT', '1025')).toBe(true)
    expect(await setEnvVariable(E2E.envFile, 'ALERT_SMTP_TLS', 'none')).toBe(true)
    const set = await script('init-env', ['--yes', ...Object.entries(alertSettings).flatMap(([name, value]) => ['--set', `${name}=${value}`])])
    expect(set.code, set.stdout + set.stderr).toBe(0)
    const { env } = await loadEnv(E2E.envFile)
    expect(await renderAlertmanager(ctx, env)).toBe('reloaded')
    expect(await renderAlertmanager(ctx, env)).toBe('unchanged')
    const file = await stat(join(E2E.varDir, 'alertmanager', 'alertmanager.yml'))
    expect({ mode: (file.mode & 0o777).toString(8), gid: file.gid }).toEqual({ mode: '640', gid: 65534 })
    const id = (await compose(['ps', '-q', 'alertmanager'])).stdout.trim()
    const inspect = await docker(['inspect', id])
    expect(inspect.code).toBe(0)
    expect(inspect.stdout).not.toContain('ALERT_')
    expect(inspect.stdout).not.toContain('webhook:8000')
    const loaded = await docker(['exec', id, 'wget', '-q', '-O', '-', 'http://127.0.0.1:9093/api/v2/status'])
    expect(loaded.stdout).toContain('http://webhook:8000/alertmanager')
    expect(loaded.stdout).toContain('http://webhook:8000/heartbeat')

    // With SMTP authentication (a real provider: STARTTLS on 587): the password only in its own
    // file, which this Alertmanager accepts (smtp_auth_password_file).
    const withPassword = { ...env, ALERT_SMTP_HOST: 'smtp.example.test', ALERT_SMTP_PORT: 587, ALERT_SMTP_TLS: 'starttls' as const, ALERT_SMTP_USER: 'alertes', ALERT_SMTP_PASSWORD: 'not-in-the-config-9X' }
    const dir = await mkdtemp(join(tmpdir(), 'aiko-am-'))
    try {
      const config = renderAlertmanagerConfig(withPassword)
      expect(config).not.toContain('not-in-the-config-9X')
      await writeFile(join(dir, 'alertmanager.yml'), config.replace('/etc/alertmanager/templates/*.tmpl', '/templates/*.tmpl'))
      await writeFile(join(dir, 'smtp-password'), smtpPasswordFile(withPassword) ?? '')
      await chmod(dir, 0o755)
      const templates = join(PROJECT_DIR, 'monitoring', 'alertmanager', 'templates')
      const check = await docker(['run', '--rm', '--entrypoint', 'amtool', '-v', `${dir}:/etc/alertmanager/config:ro`, '-v', `${templates}:/templates:ro`, 'aiko-standin/alertmanager:test', 'check-config', '/etc/alertmanager/config/alertmanager.yml'])
      expect(check.code, check.stdout + check.stderr).toBe(0)
      expect(check.stdout).toContain('SUCCESS')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
    const values = (await readEnvFile(E2E.envFile))?.values ?? {}
    secrets = SECRET_NAMES.map((name) => values[name] ?? '').filter((value) => value.length >= 8)
    expect(secrets.length).toBeGreaterThanOrEqual(5)
  })

  it('status --test-alert names the channels; the test alert arrives by e-mail (in French) and by webhook', async () => {
    const status = await script('status', ['--json'])
    const report = z.object({ alerts: z.object({ channels: z.array(z.string()) }), warnings: z.array(z.unknown()) }).parse(JSON.parse(status.stdout))
    expect(report).toEqual({ alerts: { channels: [`e-mail to ops@${E2E.domain} via smtp:1025 (none)`, 'webhook http://webhook:8000/…'] }, warnings: [] })

    const started = Date.now()
    const sent = await script('status', ['--test-alert'])
    expect(sent.code, sent.stdout + sent.stderr).toBe(0)
    expect(sent.stdout).toContain(`test alert AikoTestAlert sent; it goes to: e-mail to ops@${E2E.domain} via smtp:1025 (none); webhook http://webhook:8000/…`)
    const { mail, call } = await delivered('ALERTE', 'AikoTestAlert', 90_000)
    timings.push(`test alert delivered in ${((Date.now() - started) / 1000).toFixed(1)} s`)
    expect(mail.mail_from).toBe(`alertes@${E2E.domain}`)
    expect(mail.rcpt_tos).toEqual([`ops@${E2E.domain}`])
    expect(mail.text).toContain('1 alerte(s) en cours sur le serveur AI-KO.')
    expect(mail.text).toContain(`Message de test envoyé depuis ${E2E.domain}`)
    expect(mail.text).toMatch(/Depuis le \d{2}\/\d{2}\/\d{4} à \d{2}:\d{2} UTC\./)
    expect(mail.text).toContain('npx zx scripts/status.mts')
    expect(mail.text).toContain('DEPLOYMENT_VPS_GUIDE.md#alertes')
    expect(mail.text).toContain(`Serveur : ${E2E.domain}`)
    expect({ status: call.body.status, receiver: call.body.receiver }).toEqual({ status: 'firing', receiver: 'operator' })
    expect(call.body.alerts[0]?.annotations['summary']).toBe(`Message de test envoyé depuis ${E2E.domain}`)
  })

  it('real conditions: an exporter stopped, a backup failing, the renewal failing twice: one e-mail and one webhook call each, then RÉSOLU; the backend stopped: published unhealthy', async () => {
    const started = Date.now()
    const since = () => `${((Date.now() - started) / 1000).toFixed(0)} s`
    const ok = (result: RunResult) => expect(result.code, result.stdout + result.stderr).toBe(0)
    ok(await compose(['stop', 'postgres-exporter']))

    // backup.mts with PostgreSQL stopped: it fails, and says so to Prometheus.
    ok(await compose(['stop', 'postgres']))
    const failedBackup = await script('backup', ['--yes'])
    ok(await compose(['start', 'postgres']))
    expect(failedBackup.code, failedBackup.stdout + failedBackup.stderr).not.toBe(0)
    expect(await readFile(join(E2E.varDir, 'metrics', 'aiko_backup.prom'), 'utf8')).toContain('aiko_operation_last_run_success{operation="backup"} 0\n')

    // The renewal job, twice, refused before any ACME request: www has a stale AAAA record
    // (forced, so that it runs with a certificate far from expiry; with none, it is refused too).
    for (const run of [1, 2]) {
      const renew = await runWithStaleAaaa('init-ssl', ['--env-path', E2E.envFile, '--renew', '--force', '--yes'])
      expect(renew.code, `renew ${run}: ${renew.stdout}${renew.stderr}`).toBe(4)
    }
    expect(await readFile(join(E2E.varDir, 'metrics', 'aiko_renew.prom'), 'utf8')).toContain('aiko_operation_consecutive_failures{operation="renew"} 2\n')

    const backup = await delivered('ALERTE', 'BackupFailed', 150_000)
    timings.push(`BackupFailed delivered ${since()} after the start`)
    expect(backup.mail.text).toContain('- BackupFailed [critical] : La dernière sauvegarde de la base a échoué')
    expect(backup.mail.text).toContain('À faire : Lire /var/log/aiko-db-backup.log, corriger, puis relancer npx zx scripts/backup.mts.')
    const renewal = await delivered('ALERTE', 'CertificateRenewalFailing', 120_000)
    timings.push(`CertificateRenewalFailing delivered ${since()} after the start`)
    expect(renewal.mail.text).toContain('- CertificateRenewalFailing [warning] : Le renouvellement du certificat a échoué 2 fois de suite')
    expect(renewal.call.body.alerts[0]?.annotations['action']).toBe('Lire /var/log/aiko-ssl-renew.log, puis lancer npx zx scripts/init-ssl.mts --renew --verbose.')

    // Fixed: a good backup; a certificate, then a renewal run that succeeds.
    let lastBackup = ''
    const good = await waitFor('a good backup once PostgreSQL is back', async () => {
      const result = await script('backup', ['--yes'])
      lastBackup = `exit ${result.code}: ${result.stdout}${result.stderr}`
      return result.code === 0 ? result : undefined
    }, 120_000, () => lastBackup)
    expect(good.stdout).toMatch(/wrote .*scheduled-\d{8}-\d{6}\.dump/)
    ok(await script('init-ssl', ['--yes']))
    ok(await script('init-ssl', ['--renew', '--yes']))
    expect(await readFile(join(E2E.varDir, 'metrics', 'aiko_renew.prom'), 'utf8')).toContain('aiko_operation_consecutive_failures{operation="renew"} 0\n')

    // Meanwhile, while TargetDown takes its 2 minutes:
    await backendUnhealthyIsPublished()
    timings.push(`backend unhealthy published ${since()} after the start`)

    const target = await delivered('ALERTE', 'TargetDown', 300_000)
    timings.push(`TargetDown delivered ${since()} after the start`)
    expect(target.mail.text).toContain('- TargetDown [critical] : La cible postgres-exporter:9187 (postgres) ne répond plus')
    expect(target.call.body.alerts.map((alert) => alert.labels['instance'])).toEqual(['postgres-exporter:9187'])
    ok(await compose(['start', 'postgres-exporter']))
    ok(await script('status', ['--write-metrics']))

    for (const alert of ['BackupFailed', 'CertificateRenewalFailing', 'TargetDown']) {
      const resolved = await delivered('RÉSOLU', alert, 180_000)
      expect(resolved.mail.text).toContain('Les alertes suivantes sont résolues : rien à faire.')
      expect(resolved.mail.text).toMatch(/résolue le \d{2}\/\d{2}\/\d{4} à \d{2}:\d{2} UTC/)
    }
    timings.push(`all resolved ${since()} after the start`)

    // One message of each kind per condition: no storm.
    for (const alert of ['BackupFailed', 'CertificateRenewalFailing', 'TargetDown']) {
      expect((await mailsWith('ALERTE', alert)).length, `${alert} e-mails`).toBe(1)
      expect((await mailsWith('RÉSOLU', alert)).length, `${alert} RÉSOLU e-mails`).toBe(1)
      expect((await callsWith('firing', alert)).length, `${alert} webhook calls`).toBe(1)
      expect((await callsWith('resolved', alert)).length, `${alert} resolved webhook calls`).toBe(1)
    }
    // The certificate now exists: its expiry reached Prometheus through var/metrics.
    const expiry = await query('aiko_ssl_certificate_expiry_seconds')
    expect(Number(expiry.find((sample) => sample.metric['domain'] === E2E.domain)?.value[1]) * 1000).toBeGreaterThan(Date.now() + 14 * 86_400_000)
  }, 900_000)

  it('every rule of alerts.yml fires and stays quiet as its promtool tests say (run since the start of the file)', async () => {
    const result = await promtool
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toContain('SUCCESS')
  })

  it('the Watchdog pings the heartbeat URL and reaches no one; no secret of .env is in any message', async () => {
    const calls = await webhookCalls()
    const heartbeats = calls.filter((call) => call.path === '/heartbeat')
    expect(heartbeats.length).toBeGreaterThanOrEqual(1)
    expect(new Set(heartbeats.map((call) => call.body.commonLabels['alertname']))).toEqual(new Set(['Watchdog']))
    expect(calls.filter((call) => call.path !== '/heartbeat' && call.raw.includes('Watchdog'))).toEqual([])
    const all = await mails()
    expect(all.filter((mail) => mail.subject.includes('Watchdog'))).toEqual([])
    const everything = [...all.map((m) => m.raw + m.text + m.html), ...calls.map((c) => c.raw)]
    expect(everything.length).toBeGreaterThanOrEqual(10)
    for (const secret of secrets) for (const message of everything) expect(message.includes(secret)).toBe(false)
  })
})
