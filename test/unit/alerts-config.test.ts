import { describe, expect, it } from 'vitest'
import { alertChannels, alertTimingFrom, describeChannel, PRODUCTION_TIMING, renderAlertmanagerConfig, smtpPasswordFile, testAlertPayload, type AlertEnv } from '../../lib/alerts/config.ts'
import { validateEnv } from '../../lib/env/schema.ts'

const NONE: AlertEnv = { DOMAIN: 'aiko.test', ALERT_SMTP_PORT: 587, ALERT_SMTP_TLS: 'starttls' }
const FULL: AlertEnv = {
  ...NONE,
  ALERT_SMTP_HOST: 'smtp.aiko.test',
  ALERT_SMTP_USER: 'alertes@aiko.test',
  ALERT_SMTP_PASSWORD: 'p"a\\ss word',
  ALERT_EMAIL_FROM: 'alertes@aiko.test',
  ALERT_EMAIL_TO: 'ops@aiko.test, astreinte@aiko.test',
  ALERT_WEBHOOK_URL: 'https://chat.aiko.test/hooks/s3cr3t-token',
}

const COMMON_TAIL = `templates:
  - /etc/alertmanager/templates/*.tmpl
route:
  receiver: operator
  group_by: ['alertname']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - receiver: nowhere
      matchers: ['alertname="Watchdog"']
      group_wait: 0s
      group_interval: 1m
      repeat_interval: 1m
receivers:
  - name: nowhere
  - name: operator
`

describe('renderAlertmanagerConfig', () => {
  it('renders e-mail (with authentication) and webhook, grouped, with the French templates and resolved messages', () => {
    expect(renderAlertmanagerConfig(FULL)).toBe(
      `# Rendered by the AI-KO toolkit from .env (lib/alerts/config.ts): edits are overwritten.
global:
  resolve_timeout: 5m
  smtp_smarthost: "smtp.aiko.test:587"
  smtp_from: "alertes@aiko.test"
  smtp_hello: "aiko.test"
  smtp_require_tls: true
  smtp_auth_username: "alertes@aiko.test"
  smtp_auth_password_file: "/etc/alertmanager/config/smtp-password"
${COMMON_TAIL}    email_configs:
      - to: "ops@aiko.test, astreinte@aiko.test"
        send_resolved: true
        headers:
          Subject: "{{ template \\"aiko.subject\\" . }} (aiko.test)"
        html: "{{ template \\"aiko.html\\" . }}"
        text: "{{ template \\"aiko.text\\" . }}\\nServeur : aiko.test\\n"
    webhook_configs:
      - url: "https://chat.aiko.test/hooks/s3cr3t-token"
        send_resolved: true
        max_alerts: 20
`,
    )
  })

  it('renders a webhook alone, with the given timing', () => {
    expect(renderAlertmanagerConfig({ ...NONE, ALERT_WEBHOOK_URL: 'http://webhook:8000/alerts' }, { groupWait: '2s', groupInterval: '10s', repeatInterval: '4h' })).toBe(
      `# Rendered by the AI-KO toolkit from .env (lib/alerts/config.ts): edits are overwritten.
global:
  resolve_timeout: 5m
${COMMON_TAIL.replace('group_wait: 30s', 'group_wait: 2s').replace('group_interval: 5m', 'group_interval: 10s')}    webhook_configs:
      - url: "http://webhook:8000/alerts"
        send_resolved: true
        max_alerts: 20
`,
    )
  })

  it('keeps the SMTP password out of the config: alone in its own file, no line break; none without a user', () => {
    const config = renderAlertmanagerConfig(FULL)
    expect(config).not.toContain('p"a')
    expect(smtpPasswordFile(FULL)).toBe('p"a\\ss word')
    expect(smtpPasswordFile({ ...FULL, ALERT_SMTP_USER: undefined })).toBeUndefined()
    expect(smtpPasswordFile({ ...NONE, ALERT_SMTP_USER: 'u', ALERT_SMTP_PASSWORD: 'p' })).toBeUndefined()
  })

  it('routes the Watchdog to ALERT_HEARTBEAT_URL alone, every minute, never resolved', () => {
    expect(renderAlertmanagerConfig({ ...NONE, ALERT_HEARTBEAT_URL: 'https://hc-ping.example/abc' })).toBe(
      `# Rendered by the AI-KO toolkit from .env (lib/alerts/config.ts): edits are overwritten.
global:
  resolve_timeout: 5m
templates:
  - /etc/alertmanager/templates/*.tmpl
route:
  receiver: nowhere
  group_by: ['alertname']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - receiver: heartbeat
      matchers: ['alertname="Watchdog"']
      group_wait: 0s
      group_interval: 1m
      repeat_interval: 1m
receivers:
  - name: nowhere
  - name: heartbeat
    webhook_configs:
      - url: "https://hc-ping.example/abc"
        send_resolved: false
`,
    )
  })

  it('sends everything nowhere without a channel, and an unauthenticated relay needs no TLS', () => {
    expect(renderAlertmanagerConfig(NONE)).toContain('  receiver: nowhere\n')
    expect(renderAlertmanagerConfig(NONE)).not.toContain('name: operator')
    const relay = renderAlertmanagerConfig({ ...NONE, ALERT_SMTP_HOST: 'smtp', ALERT_SMTP_PORT: 25, ALERT_SMTP_TLS: 'none', ALERT_EMAIL_FROM: 'a@aiko.test', ALERT_EMAIL_TO: 'b@aiko.test' })
    expect(relay).toContain('  smtp_smarthost: "smtp:25"\n  smtp_from: "a@aiko.test"\n  smtp_hello: "aiko.test"\n  smtp_require_tls: false\ntemplates:')
  })
})

describe('alert channels', () => {
  it('lists e-mail then webhook, and never shows the password nor the webhook path', () => {
    const channels = alertChannels(FULL)
    expect(channels).toEqual([
      { kind: 'email', smarthost: 'smtp.aiko.test:587', tls: 'starttls', from: 'alertes@aiko.test', to: ['ops@aiko.test', 'astreinte@aiko.test'], user: 'alertes@aiko.test' },
      { kind: 'webhook', url: 'https://chat.aiko.test/hooks/s3cr3t-token' },
    ])
    expect(channels.map(describeChannel)).toEqual(['e-mail to ops@aiko.test, astreinte@aiko.test via smtp.aiko.test:587 (starttls)', 'webhook https://chat.aiko.test/…'])
    expect(alertChannels(NONE)).toEqual([])
  })
})

describe('alertTimingFrom', () => {
  it('is the production timing unless AIKO_ALERT_TIMING gives three durations', () => {
    expect(alertTimingFrom({})).toEqual(PRODUCTION_TIMING)
    expect(PRODUCTION_TIMING).toEqual({ groupWait: '30s', groupInterval: '5m', repeatInterval: '4h' })
    expect(alertTimingFrom({ AIKO_ALERT_TIMING: '2s,10s,4h' })).toEqual({ groupWait: '2s', groupInterval: '10s', repeatInterval: '4h' })
    expect(() => alertTimingFrom({ AIKO_ALERT_TIMING: '2s,10s' })).toThrow('AIKO_ALERT_TIMING must be three durations group_wait,group_interval,repeat_interval such as 2s,10s,4h (got "2s,10s")')
  })
})

describe('testAlertPayload', () => {
  it('fires now, resolves in 5 minutes, in French, naming the server', () => {
    expect(JSON.parse(testAlertPayload('aiko.test', new Date('2026-12-02T10:00:00Z')))).toEqual([
      {
        labels: { alertname: 'AikoTestAlert', severity: 'info', source: 'status --test-alert' },
        annotations: {
          summary: 'Message de test envoyé depuis aiko.test',
          description: 'Envoyé par npx zx scripts/status.mts --test-alert le 2026-12-02T10:00:00.000Z : si vous lisez ce message, les alertes vous parviennent.',
          action: 'Rien à faire. Un message « RÉSOLU » suit dans 5 minutes environ.',
        },
        startsAt: '2026-12-02T10:00:00.000Z',
        endsAt: '2026-12-02T10:05:00.000Z',
      },
    ])
  })
})

describe('ALERT_* validation', () => {
  const base = {
    APP_ENV: 'development',
    DOMAIN: 'aiko.test',
    LETSENCRYPT_EMAIL: 'ops@aiko.test',
    ADMIN_EMAIL: 'ops@aiko.test',
    POSTGRES_PASSWORD: 'pg',
    REDIS_PASSWORD: 'redis',
    SECRET_KEY: 'a',
    JWT_SECRET_KEY: 'b',
    GRAFANA_ADMIN_PASSWORD: 'g',
  }
  const problems = (extra: Record<string, string>) => {
    const result = validateEnv({ ...base, ...extra })
    return result.ok ? [] : result.problems
  }

  it('accepts no channel, e-mail, webhook or both', () => {
    expect(problems({})).toEqual([])
    expect(problems({ ALERT_WEBHOOK_URL: 'https://hooks.aiko.test/x' })).toEqual([])
    expect(problems({ ALERT_SMTP_HOST: 'smtp', ALERT_SMTP_PORT: '1025', ALERT_SMTP_TLS: 'none', ALERT_EMAIL_FROM: 'a@aiko.test', ALERT_EMAIL_TO: 'b@aiko.test,c@aiko.test' })).toEqual([])
    expect(problems({ ALERT_SMTP_HOST: 'smtp.aiko.test', ALERT_SMTP_PORT: '465', ALERT_SMTP_TLS: 'tls', ALERT_SMTP_USER: 'u', ALERT_SMTP_PASSWORD: 'p', ALERT_EMAIL_FROM: 'a@aiko.test', ALERT_EMAIL_TO: 'b@aiko.test' })).toEqual([])
  })

  it('names what is missing or wrong, precisely', () => {
    expect(problems({ ALERT_EMAIL_TO: 'b@aiko.test', ALERT_SMTP_PASSWORD: 'p' })).toEqual([
      { name: 'ALERT_SMTP_HOST', message: 'ALERT_SMTP_HOST is missing: e-mail alerts need ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO together (or empty all ALERT_SMTP_* and ALERT_EMAIL_* for no e-mail)' },
      { name: 'ALERT_EMAIL_FROM', message: 'ALERT_EMAIL_FROM is missing: e-mail alerts need ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO together (or empty all ALERT_SMTP_* and ALERT_EMAIL_* for no e-mail)' },
      { name: 'ALERT_SMTP_USER', message: 'ALERT_SMTP_USER and ALERT_SMTP_PASSWORD go together (SMTP authentication): set both or neither' },
    ])
    const mail = { ALERT_SMTP_HOST: 'smtp.aiko.test', ALERT_EMAIL_FROM: 'a@aiko.test', ALERT_EMAIL_TO: 'b@aiko.test' }
    expect(problems({ ...mail, ALERT_SMTP_TLS: 'tls' })).toEqual([{ name: 'ALERT_SMTP_TLS', message: 'ALERT_SMTP_TLS=tls (implicit TLS) needs ALERT_SMTP_PORT=465, not 587: set the port to 465, or use starttls on port 587' }])
    expect(problems({ ...mail, ALERT_SMTP_PORT: '465' })).toEqual([{ name: 'ALERT_SMTP_TLS', message: 'ALERT_SMTP_PORT=465 is implicit TLS: set ALERT_SMTP_TLS=tls' }])
    expect(problems({ ...mail, ALERT_SMTP_TLS: 'none', ALERT_SMTP_USER: 'u', ALERT_SMTP_PASSWORD: 'p' })).toEqual([
      { name: 'ALERT_SMTP_TLS', message: 'ALERT_SMTP_TLS=none with ALERT_SMTP_USER would send the SMTP password in clear: use starttls (port 587) or tls (port 465)' },
    ])
    expect(problems({ ...mail, ALERT_SMTP_TLS: 'ssl', ALERT_EMAIL_TO: 'b@aiko.test c@aiko.test', ALERT_SMTP_HOST: 'smtp.aiko.test:587', ALERT_WEBHOOK_URL: 'ftp://x' }).map((p) => p.message)).toEqual([
      'ALERT_SMTP_HOST must be a host name such as smtp.your-provider.fr or an IPv4 address (no port: see ALERT_SMTP_PORT)',
      'ALERT_SMTP_TLS must be starttls (port 587), tls (port 465) or none (a relay on a trusted network) (default starttls)',
      'ALERT_EMAIL_TO must be one e-mail address or several separated by commas, such as admin@your-domain.fr,astreinte@your-domain.fr',
      "ALERT_WEBHOOK_URL must be an http:// or https:// URL that accepts Alertmanager's JSON POST (empty: no webhook)",
    ])
    expect(problems({ ALERT_HEARTBEAT_URL: 'hc-ping.com/abc' })).toEqual([
      { name: 'ALERT_HEARTBEAT_URL', message: "ALERT_HEARTBEAT_URL must be the http:// or https:// ping URL of a dead man's switch such as https://hc-ping.com/<uuid> (empty: no heartbeat)" },
    ])
    expect(problems({ ALERT_HEARTBEAT_URL: 'https://hc-ping.com/abc' })).toEqual([])
  })
})
