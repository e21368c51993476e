/**
 * Alertmanager's configuration, rendered from .env: where Prometheus' alerts go (e-mail over
 * SMTP and/or a webhook), grouped so an operator gets one useful message per problem and a
 * reminder every 4 hours, not a storm. Written by writeAlertmanagerConfig (lib/alerts/apply.ts)
 * into $AIKO_VAR_DIR/alertmanager/, mounted read-only by the alertmanager service.
 */
import type { AikoEnv } from '../env/schema.ts'

export const ALERTMANAGER_CONFIG_FILE = 'alertmanager.yml'
/** The SMTP password alone, beside the config (smtp_auth_password_file, read by Alertmanager 0.25 and later). */
export const SMTP_PASSWORD_FILE = 'smtp-password'
/** Where the alertmanager service sees $AIKO_VAR_DIR/alertmanager (docker-compose.yml). */
export const CONFIG_DIR_IN_CONTAINER = '/etc/alertmanager/config'

export type AlertEnv = Pick<
  AikoEnv,
  'DOMAIN' | 'ALERT_SMTP_HOST' | 'ALERT_SMTP_PORT' | 'ALERT_SMTP_TLS' | 'ALERT_SMTP_USER' | 'ALERT_SMTP_PASSWORD' | 'ALERT_EMAIL_FROM' | 'ALERT_EMAIL_TO' | 'ALERT_WEBHOOK_URL' | 'ALERT_HEARTBEAT_URL'
>

export interface EmailChannel {
  kind: 'email'
  smarthost: string
  tls: 'starttls' | 'tls' | 'none'
  from: string
  to: readonly string[]
  user?: string
}

export interface WebhookChannel {
  kind: 'webhook'
  url: string
}

export type AlertChannel = EmailChannel | WebhookChannel

/** How alerts are batched: group_wait, group_interval, repeat_interval (Alertmanager durations). */
export interface AlertTiming {
  groupWait: string
  groupInterval: string
  repeatInterval: string
}

/** Production: a first message 30 s after the first alert of a group, news every 5 min, a reminder every 4 h. */
export const PRODUCTION_TIMING: AlertTiming = { groupWait: '30s', groupInterval: '5m', repeatInterval: '4h' }

/** The channels .env configures, in the order messages go out (no secret in them). */
export function alertChannels(env: AlertEnv): AlertChannel[] {
  const channels: AlertChannel[] = []
  if (env.ALERT_SMTP_HOST !== undefined && env.ALERT_EMAIL_FROM !== undefined && env.ALERT_EMAIL_TO !== undefined)
    channels.push({
      kind: 'email',
      smarthost: `${env.ALERT_SMTP_HOST}:${env.ALERT_SMTP_PORT}`,
      tls: env.ALERT_SMTP_TLS,
      from: env.ALERT_EMAIL_FROM,
      to: env.ALERT_EMAIL_TO.split(',').map((address) => address.trim()).filter((address) => address !== ''),
      ...(env.ALERT_SMTP_USER === undefined ? {} : { user: env.ALERT_SMTP_USER }),
    })
  if (env.ALERT_WEBHOOK_URL !== undefined) channels.push({ kind: 'webhook', url: env.ALERT_WEBHOOK_URL })
  return channels
}

/** One line per channel, for status and the test alert (the webhook URL may carry a token: only its origin is shown). */
export function describeChannel(channel: AlertChannel): string {
  if (channel.kind === 'email') return `e-mail to ${channel.to.join(', ')} via ${channel.smarthost} (${channel.tls})`
  return `webhook ${new URL(channel.url).origin}/…`
}

/** YAML/JSON double-quoted scalar: every value from .env goes through it. */
const q = (value: string): string => JSON.stringify(value)

/** The Watchdog's pings to ALERT_HEARTBEAT_URL: one a minute or so while Prometheus and Alertmanager live. */
export const HEARTBEAT_REPEAT = '1m'

/** The content of the password file: the password alone, no line break (Alertmanager 0.25-0.27 read it untrimmed). */
export function smtpPasswordFile(env: AlertEnv): string | undefined {
  return env.ALERT_SMTP_USER !== undefined && env.ALERT_SMTP_PASSWORD !== undefined && env.ALERT_SMTP_HOST !== undefined ? env.ALERT_SMTP_PASSWORD : undefined
}

/**
 * The whole alertmanager.yml (no secret in it: the SMTP password is in its own file, named by
 * smtp_auth_password_file). Without a channel, alerts go to the receiver "nowhere" (status
 * reports it). Watchdog (always firing, see alerts.yml) never reaches a person: it goes to
 * ALERT_HEARTBEAT_URL (an external dead man's switch) when set, else nowhere.
 */
export function renderAlertmanagerConfig(env: AlertEnv, timing: AlertTiming = PRODUCTION_TIMING): string {
  const channels = alertChannels(env)
  const email = channels.find((channel): channel is EmailChannel => channel.kind === 'email')
  const webhook = channels.find((channel): channel is WebhookChannel => channel.kind === 'webhook')
  const lines = [
    '# Rendered by the AI-KO toolkit from .env (lib/alerts/config.ts): edits are overwritten.',
    'global:',
    '  resolve_timeout: 5m',
  ]
  if (email !== undefined) {
    lines.push(
      `  smtp_smarthost: ${q(email.smarthost)}`,
      `  smtp_from: ${q(email.from)}`,
      `  smtp_hello: ${q(env.DOMAIN)}`,
      // Port 465 is implicit TLS in Alertmanager; elsewhere require_tls means STARTTLS.
      `  smtp_require_tls: ${email.tls === 'starttls'}`,
    )
    if (email.user !== undefined && smtpPasswordFile(env) !== undefined)
      lines.push(`  smtp_auth_username: ${q(email.user)}`, `  smtp_auth_password_file: ${q(`${CONFIG_DIR_IN_CONTAINER}/${SMTP_PASSWORD_FILE}`)}`)
  }
  lines.push(
    'templates:',
    '  - /etc/alertmanager/templates/*.tmpl',
    'route:',
    `  receiver: ${channels.length === 0 ? 'nowhere' : 'operator'}`,
    "  group_by: ['alertname']",
    `  group_wait: ${timing.groupWait}`,
    `  group_interval: ${timing.groupInterval}`,
    `  repeat_interval: ${timing.repeatInterval}`,
    '  routes:',
    `    - receiver: ${env.ALERT_HEARTBEAT_URL === undefined ? 'nowhere' : 'heartbeat'}`,
    '      matchers: [\'alertname="Watchdog"\']',
    '      group_wait: 0s',
    `      group_interval: ${HEARTBEAT_REPEAT}`,
    `      repeat_interval: ${HEARTBEAT_REPEAT}`,
    'receivers:',
    '  - name: nowhere',
  )
  if (env.ALERT_HEARTBEAT_URL !== undefined)
    lines.push('  - name: heartbeat', '    webhook_configs:', `      - url: ${q(env.ALERT_HEARTBEAT_URL)}`, '        send_resolved: false')
  if (channels.length > 0) {
    lines.push('  - name: operator')
    if (email !== undefined)
      lines.push(
        '    email_configs:',
        `      - to: ${q(email.to.join(', '))}`,
        '        send_resolved: true',
        '        headers:',
        `          Subject: ${q(`{{ template "aiko.subject" . }} (${env.DOMAIN})`)}`,
        `        html: ${q('{{ template "aiko.html" . }}')}`,
        `        text: ${q(`{{ template "aiko.text" . }}\nServeur : ${env.DOMAIN}\n`)}`,
      )
    if (webhook !== undefined)
      lines.push('    webhook_configs:', `      - url: ${q(webhook.url)}`, '        send_resolved: true', '        max_alerts: 20')
  }
  return `${lines.join('\n')}\n`
}

const DURATION = /^\d+(ms|s|m|h|d)$/

/**
 * AIKO_ALERT_TIMING=groupWait,groupInterval,repeatInterval (e.g. 2s,10s,4h) overrides the
 * production timing: a test knob of the toolkit's environment (like AIKO_VAR_DIR), not of .env.
 */
export function alertTimingFrom(environment: Readonly<Record<string, string | undefined>>): AlertTiming {
  const raw = environment['AIKO_ALERT_TIMING']
  if (raw === undefined || raw === '') return PRODUCTION_TIMING
  const parts = raw.split(',').map((part) => part.trim())
  const [groupWait, groupInterval, repeatInterval] = parts
  if (parts.length !== 3 || groupWait === undefined || groupInterval === undefined || repeatInterval === undefined || !parts.every((part) => DURATION.test(part)))
    throw new Error(`AIKO_ALERT_TIMING must be three durations group_wait,group_interval,repeat_interval such as 2s,10s,4h (got ${JSON.stringify(raw)})`)
  return { groupWait, groupInterval, repeatInterval }
}

/** Labels of the test alert (status --test-alert): one group of its own. */
export const TEST_ALERT_NAME = 'AikoTestAlert'

/** The test alert, as Alertmanager's API v2 takes it: it fires now and resolves after `minutes`. */
export function testAlertPayload(domain: string, now: Date, minutes = 5): string {
  return JSON.stringify([
    {
      labels: { alertname: TEST_ALERT_NAME, severity: 'info', source: 'status --test-alert' },
      annotations: {
        summary: `Message de test envoyé depuis ${domain}`,
        description: `Envoyé par npx zx scripts/status.mts --test-alert le ${now.toISOString()} : si vous lisez ce message, les alertes vous parviennent.`,
        action: `Rien à faire. Un message « RÉSOLU » suit dans ${minutes} minutes environ.`,
      },
      startsAt: now.toISOString(),
      endsAt: new Date(now.getTime() + minutes * 60_000).toISOString(),
    },
  ])
}
