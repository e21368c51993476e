import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readEnvFile, loadEnv } from '../../lib/env/load.ts'
import { SECRET_NAMES } from '../../lib/env/schema.ts'
import { setEnvVariable } from '../../lib/env/update.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { renderAlertmanager } from '../../lib/stack/start.ts'
import { runCommand, runScript } from './helpers/run.ts'
import { E2E, e2eContext } from './helpers/stack.ts'

/**
 * Alerts reach a person (issue 16): Alertmanager in the stack, its config rendered from .env
 * (e-mail over SMTP to a real SMTP server, aiosmtpd, and a webhook receiver, both stand-in
 * containers on the compose network), French messages. The test alert of `status
 * --test-alert` arrives by e-mail and webhook; a real condition (the postgres-exporter
 * container stopped: TargetDown after its 2 minutes) gives one e-mail and one webhook call,
 * then a "RÉSOLU" message once it is back; so does a backup.mts run that fails (PostgreSQL
 * stopped), through the textfile metric it writes, until a good backup. No secret of .env
 * is in any message.
 * Prometheus keeps its production intervals; only Alertmanager's grouping is short here
 * (AIKO_ALERT_TIMING, the toolkit's test knob).
 */
const smtpName = `${E2E.project}-smtp`
const webhookName = `${E2E.project}-webhook`
const network = `${E2E.project}_default`
const docker = (args: string[], timeoutMs = 120_000) => runCommand('docker', args, { timeoutMs })
const compose = (args: string[]) => runCommand('docker', ['compose', '--env-file', E2E.envFile, ...args], { timeoutMs: 120_000 })

interface Mail {
  mail_from: string
  rcpt_tos: string[]
  subject: string
  text: string
  html: string
  raw: string
}
interface WebhookCall {
  path: string
  body: { status: string; receiver: string; commonLabels: Record<string, string>; alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[] }
  raw: string
}

async function mails(): Promise<Mail[]> {
  const logs = await docker(['logs', smtpName])
  return logs.stdout
    .split('\n')
    .filter((line) => line.startsWith('MAIL '))
    .map((line) => JSON.parse(line.slice(5)) as Mail)
}

async function webhookCalls(): Promise<WebhookCall[]> {
  const logs = await docker(['logs', webhookName])
  return logs.stdout
    .split('\n')
    .filter((line) => line.startsWith('WEBHOOK '))
    .map((line) => {
      const [, path = '', ...rest] = line.split(' ')
      const raw = rest.join(' ')
      return { path, body: JSON.parse(raw) as WebhookCall['body'], raw }
    })
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await sleep(2_000)
  }
}

let ctx: StackContext
let secrets: string[] = []

const alertSettings = {
  ALERT_SMTP_HOST: 'smtp',
  ALERT_SMTP_PORT: '1025',
  ALERT_SMTP_TLS: 'none',
  ALERT_EMAIL_FROM: `alertes@${E2E.domain}`,
  ALERT_EMAIL_TO: `ops@${E2E.domain}`,
  ALERT_WEBHOOK_URL: 'http://webhook:8000/alertmanager',
}

beforeAll(async () => {
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
  await compose(['start', 'postgres', 'postgres-exporter'])
  if (process.env['E2E_KEEP'] === '1') return
  for (const name of [smtpName, webhookName]) await docker(['rm', '-f', name])
})

describe('alerts reach a person (Alertmanager, e-mail and webhook)', () => {
  it('with no channel, status says alerts go nowhere and --test-alert refuses', async () => {
    const status = await runScript('status', ['--env-path', E2E.envFile, '--json'])
    const report = JSON.parse(status.stdout) as { alerts: { channels: string[] }; problems: { check: string; message: string }[] }
    expect(report.alerts).toEqual({ channels: [] })
    expect(report.problems.filter((problem) => problem.check === 'alerts').map((problem) => problem.message)).toEqual([
      'alerts go nowhere (no e-mail nor webhook configured): set ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO and/or ALERT_WEBHOOK_URL in .env, run npx zx scripts/deploy.mts, then npx zx scripts/status.mts --test-alert',
    ])
    const test = await runScript('status', ['--env-path', E2E.envFile, '--test-alert'])
    expect(test.code).toBe(4)
    expect(test.stderr + test.stdout).toContain('no alert channel is configured: a test alert would go nowhere')
  })

  it('renders the channels from .env into a 0640 file Alertmanager reloads; nothing of it in docker inspect', async () => {
    // As an operator does: the port and TLS mode have defaults in .env, edited by hand; init-env --set fills the empty ones.
    const { ALERT_SMTP_PORT, ALERT_SMTP_TLS, ...empty } = alertSettings
    expect(await setEnvVariable(E2E.envFile, 'ALERT_SMTP_PORT', ALERT_SMTP_PORT)).toBe(true)
    expect(await setEnvVariable(E2E.envFile, 'ALERT_SMTP_TLS', ALERT_SMTP_TLS)).toBe(true)
    const set = await runScript('init-env', ['--env-path', E2E.envFile, '--yes', ...Object.entries(empty).flatMap(([name, value]) => ['--set', `${name}=${value}`])])
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
    const values = (await readEnvFile(E2E.envFile))?.values ?? {}
    secrets = SECRET_NAMES.map((name) => values[name] ?? '').filter((value) => value.length >= 8)
    expect(secrets.length).toBeGreaterThanOrEqual(5)
  })

  it('status --test-alert names the channels; the test alert arrives by e-mail (in French) and by webhook', async () => {
    const status = await runScript('status', ['--env-path', E2E.envFile, '--json'])
    const report = JSON.parse(status.stdout) as { alerts: { channels: string[] }; problems: { check: string }[] }
    expect(report.alerts.channels).toEqual([`e-mail to ops@${E2E.domain} via smtp:1025 (none)`, 'webhook http://webhook:8000/…'])
    expect(report.problems.filter((problem) => problem.check === 'alerts')).toEqual([])

    const sent = await runScript('status', ['--env-path', E2E.envFile, '--test-alert'])
    expect(sent.code, sent.stdout + sent.stderr).toBe(0)
    expect(sent.stdout).toContain(`test alert AikoTestAlert sent; it goes to: e-mail to ops@${E2E.domain} via smtp:1025 (none); webhook http://webhook:8000/…`)
    const mail = await waitFor('the test e-mail', async () => (await mails()).find((m) => m.subject.includes('AikoTestAlert')), 90_000)
    expect(mail.subject).toBe(`[AI-KO] ALERTE : AikoTestAlert (${E2E.domain})`)
    expect(mail.mail_from).toBe(`alertes@${E2E.domain}`)
    expect(mail.rcpt_tos).toEqual([`ops@${E2E.domain}`])
    expect(mail.text).toContain('1 alerte(s) en cours sur le serveur AI-KO.')
    expect(mail.text).toContain(`Message de test envoyé depuis ${E2E.domain}`)
    expect(mail.text).toMatch(/Depuis le \d{2}\/\d{2}\/\d{4} à \d{2}:\d{2} UTC\./)
    expect(mail.text).toContain('npx zx scripts/status.mts')
    expect(mail.text).toContain(`Serveur : ${E2E.domain}`)
    const call = await waitFor('the test webhook call', async () => (await webhookCalls()).find((c) => c.body.commonLabels['alertname'] === 'AikoTestAlert'), 90_000)
    expect({ path: call.path, status: call.body.status, receiver: call.body.receiver }).toEqual({ path: '/alertmanager', status: 'firing', receiver: 'operator' })
    expect(call.body.alerts[0]?.annotations['summary']).toBe(`Message de test envoyé depuis ${E2E.domain}`)
  })

  it('a real condition (postgres-exporter stopped) gives one e-mail and one webhook call, then a resolved message; Watchdog goes to no one', async () => {
    const mentions = (text: string) => text.includes('postgres-exporter:9187')
    expect((await compose(['stop', 'postgres-exporter'])).code).toBe(0)
    const fired = await waitFor('the TargetDown e-mail', async () => (await mails()).find((m) => m.subject.startsWith('[AI-KO] ALERTE : TargetDown') && mentions(m.text)), 330_000)
    expect(fired.subject).toBe(`[AI-KO] ALERTE : TargetDown (${E2E.domain})`)
    expect(fired.text).toContain('- TargetDown [critical] : postgres target postgres-exporter:9187 is down')
    const firedCall = await waitFor('the TargetDown webhook call', async () => (await webhookCalls()).find((c) => c.body.status === 'firing' && c.body.commonLabels['alertname'] === 'TargetDown' && mentions(c.raw)), 60_000)
    expect(firedCall.body.alerts.map((alert) => alert.labels['instance'])).toContain('postgres-exporter:9187')

    expect((await compose(['start', 'postgres-exporter'])).code).toBe(0)
    const resolved = await waitFor('the RÉSOLU e-mail', async () => (await mails()).find((m) => m.subject.startsWith('[AI-KO] RÉSOLU : TargetDown') && mentions(m.text)), 240_000)
    expect(resolved.subject).toBe(`[AI-KO] RÉSOLU : TargetDown (${E2E.domain})`)
    expect(resolved.text).toContain('Les alertes suivantes sont résolues : rien à faire.')
    expect(resolved.text).toMatch(/résolue le \d{2}\/\d{2}\/\d{4} à \d{2}:\d{2} UTC/)
    await waitFor('the resolved webhook call', async () => (await webhookCalls()).find((c) => c.body.status === 'resolved' && c.body.commonLabels['alertname'] === 'TargetDown' && mentions(c.raw)), 60_000)

    // One message of each kind for this outage: no storm.
    const all = await mails()
    expect(all.filter((m) => m.subject.startsWith('[AI-KO] ALERTE : TargetDown') && mentions(m.text))).toHaveLength(1)
    expect(all.filter((m) => m.subject.startsWith('[AI-KO] RÉSOLU : TargetDown') && mentions(m.text))).toHaveLength(1)
    const calls = await webhookCalls()
    expect(calls.filter((c) => c.body.status === 'firing' && c.body.commonLabels['alertname'] === 'TargetDown' && mentions(c.raw))).toHaveLength(1)
    expect(calls.filter((c) => c.body.status === 'resolved' && c.body.commonLabels['alertname'] === 'TargetDown' && mentions(c.raw))).toHaveLength(1)
    expect(all.filter((m) => m.subject.includes('Watchdog'))).toEqual([])
    expect(calls.filter((c) => c.raw.includes('Watchdog'))).toEqual([])
  }, 700_000)

  it('a failing backup.mts (PostgreSQL stopped) gives one BackupFailed e-mail and webhook call, then RÉSOLU after a good backup', async () => {
    const backup = () => runScript('backup', ['--env-path', E2E.envFile, '--yes'], { timeoutMs: 300_000 })
    expect((await compose(['stop', 'postgres'])).code).toBe(0)
    const failed = await backup()
    expect((await compose(['start', 'postgres'])).code).toBe(0)
    expect(failed.code, failed.stdout + failed.stderr).not.toBe(0)
    const fired = await waitFor('the BackupFailed e-mail', async () => (await mails()).find((m) => m.subject.startsWith('[AI-KO] ALERTE : BackupFailed')), 240_000)
    expect(fired.subject).toBe(`[AI-KO] ALERTE : BackupFailed (${E2E.domain})`)
    expect(fired.text).toContain("- BackupFailed [critical] : La dernière sauvegarde de la base a échoué")
    expect(fired.text).toContain('À faire : Lire /var/log/aiko-db-backup.log, corriger, puis relancer npx zx scripts/backup.mts.')
    await waitFor('the BackupFailed webhook call', async () => (await webhookCalls()).find((c) => c.body.status === 'firing' && c.body.commonLabels['alertname'] === 'BackupFailed'), 60_000)

    const good = await waitFor('a good backup once PostgreSQL is back', async () => {
      const result = await backup()
      return result.code === 0 ? result : undefined
    }, 120_000)
    expect(good.stdout).toMatch(/wrote .*scheduled-\d{8}-\d{6}\.dump/)
    const resolved = await waitFor('the BackupFailed RÉSOLU e-mail', async () => (await mails()).find((m) => m.subject.startsWith('[AI-KO] RÉSOLU : BackupFailed')), 240_000)
    expect(resolved.subject).toBe(`[AI-KO] RÉSOLU : BackupFailed (${E2E.domain})`)
    await waitFor('the resolved webhook call', async () => (await webhookCalls()).find((c) => c.body.status === 'resolved' && c.body.commonLabels['alertname'] === 'BackupFailed'), 60_000)
    const all = await mails()
    expect(all.filter((m) => m.subject.startsWith('[AI-KO] ALERTE : BackupFailed'))).toHaveLength(1)
    expect(all.filter((m) => m.subject.startsWith('[AI-KO] RÉSOLU : BackupFailed'))).toHaveLength(1)
  }, 900_000)

  it('no secret of .env is in any message', async () => {
    const everything = [...(await mails()).map((m) => m.raw + m.text + m.html), ...(await webhookCalls()).map((c) => c.raw)]
    expect(everything.length).toBeGreaterThanOrEqual(4)
    for (const secret of secrets) for (const message of everything) expect(message.includes(secret)).toBe(false)
  })
})
