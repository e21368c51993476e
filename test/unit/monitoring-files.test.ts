import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { YAML } from 'zx'
import { z } from 'zod'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string): string => readFileSync(ROOT + path, 'utf8')
const yaml = (path: string): unknown => YAML.parse(read(path)) as unknown

// Only the parts of each file the checks below read; unknown keys are ignored.
const Compose = z.object({
  services: z.record(
    z.string(),
    z.object({
      command: z.union([z.string(), z.array(z.string())]).optional(),
      volumes: z.array(z.string()).optional(),
      profiles: z.array(z.string()).optional(),
      environment: z.record(z.string(), z.string()).optional(),
      ports: z.array(z.string()).optional(),
    }),
  ),
  volumes: z.record(z.string(), z.unknown().nullable()),
})

const Prometheus = z.object({
  alerting: z.object({ alertmanagers: z.array(z.object({ static_configs: z.array(z.object({ targets: z.array(z.string()) })) })) }),
  rule_files: z.array(z.string()),
  scrape_configs: z.array(
    z.object({
      job_name: z.string(),
      static_configs: z.array(z.object({ targets: z.array(z.string()) })).optional(),
      dns_sd_configs: z.array(z.object({ names: z.array(z.string()), port: z.number() })).optional(),
    }),
  ),
})

const Alerts = z.object({
  groups: z.array(
    z.object({
      name: z.string(),
      rules: z.array(
        z.object({
          alert: z.string(),
          expr: z.string(),
          for: z.string().optional(),
          labels: z.object({ severity: z.string() }).optional(),
          annotations: z.record(z.string(), z.string()).optional(),
        }),
      ),
    }),
  ),
})

const AlertTests = z.object({
  rule_files: z.array(z.string()),
  tests: z.array(z.object({ alert_rule_test: z.array(z.object({ alertname: z.string(), exp_alerts: z.array(z.unknown()).nullable().optional() })).optional() })),
})

const Datasources = z.object({
  apiVersion: z.number(),
  datasources: z.array(z.object({ name: z.string(), uid: z.string(), type: z.string(), url: z.string() })),
})

const DashboardProviders = z.object({
  apiVersion: z.number(),
  providers: z.array(z.object({ name: z.string(), type: z.literal('file'), options: z.object({ path: z.string() }) })),
})

const DatasourceRef = z.object({ type: z.string().optional(), uid: z.string() })
type Panel = {
  id?: number | undefined
  type: string
  title: string
  datasource?: z.infer<typeof DatasourceRef> | undefined
  targets?: { refId: string; expr: string; datasource?: z.infer<typeof DatasourceRef> | undefined }[] | undefined
  panels?: Panel[] | undefined
}
const PanelSchema: z.ZodType<Panel> = z.lazy(() =>
  z.object({
    id: z.number().optional(),
    type: z.string(),
    title: z.string(),
    datasource: DatasourceRef.optional(),
    targets: z.array(z.object({ refId: z.string(), expr: z.string(), datasource: DatasourceRef.optional() })).optional(),
    panels: z.array(PanelSchema).optional(),
  }),
)
const Dashboard = z.object({ uid: z.string(), title: z.string(), panels: z.array(PanelSchema) })

const compose = Compose.parse(yaml('docker-compose.yml'))
const prometheus = Prometheus.parse(yaml('monitoring/prometheus/prometheus.yml'))
const alerts = Alerts.parse(yaml('monitoring/prometheus/alerts.yml'))
const datasources = Datasources.parse(yaml('monitoring/grafana/provisioning/datasources/prometheus.yml'))
const providers = DashboardProviders.parse(yaml('monitoring/grafana/provisioning/dashboards/dashboards.yml'))
const dashboard = Dashboard.parse(JSON.parse(read('monitoring/grafana/dashboards/aiko-overview.json')) as unknown)

const serviceNames = Object.keys(compose.services)
const service = (name: string) => {
  const found = compose.services[name]
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`)
  return found
}
/** `source:target[:mode]` of a service's volume whose target is `target`. */
const mountOf = (name: string, target: string): string | undefined =>
  service(name)
    .volumes?.map((v) => v.split(':'))
    .find((parts) => parts[1] === target)?.[0]

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
}

describe('alertmanager', () => {
  it('receives Prometheus\' alerts on the internal network only', () => {
    expect(prometheus.alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((s) => s.targets))).toEqual(['alertmanager:9093'])
    expect(service('alertmanager').ports).toBeUndefined()
  })

  it('reads the rendered config from the var folder and the French templates, and gets no secret through its environment', () => {
    expect(service('alertmanager').command).toContain('--config.file=/etc/alertmanager/config/alertmanager.yml')
    expect(service('alertmanager').volumes).toContain('${AIKO_VAR_DIR:-./var}/alertmanager:/etc/alertmanager/config:ro')
    expect(mountOf('alertmanager', '/etc/alertmanager/templates')).toBe('./monitoring/alertmanager/templates')
    expect(service('alertmanager').environment).toEqual({ TZ: '${TZ:-Europe/Paris}' })
  })
})

describe('prometheus.yml', () => {
  it('scrapes only hosts that are docker-compose.yml services', () => {
    const hosts = prometheus.scrape_configs.flatMap((job) => [
      ...(job.static_configs ?? []).flatMap((s) => s.targets.map((t) => t.replace(/:\d+$/, ''))),
      ...(job.dns_sd_configs ?? []).flatMap((d) => d.names),
    ])
    expect(hosts.length).toBeGreaterThan(0)
    for (const host of hosts) expect(serviceNames, `scrape target host ${host}`).toContain(host)
  })

  it('scrapes prometheus, the exporters and the backend', () => {
    const targets = prometheus.scrape_configs.flatMap((job) => [
      ...(job.static_configs ?? []).flatMap((s) => s.targets),
      ...(job.dns_sd_configs ?? []).flatMap((d) => d.names.map((n) => `${n}:${d.port}`)),
    ])
    expect(targets.sort()).toEqual(
      ['alertmanager:9093', 'backend:5000', 'nginx-exporter:9113', 'node-exporter:9100', 'postgres-exporter:9187', 'prometheus:9090', 'redis-exporter:9121'].sort(),
    )
  })

  it('loads the alert rules from the mounted monitoring/prometheus folder', () => {
    expect(mountOf('prometheus', '/etc/prometheus')).toBe('./monitoring/prometheus')
    expect(prometheus.rule_files).toEqual(['/etc/prometheus/alerts.yml'])
  })
})

describe('alerts.yml', () => {
  const rules = alerts.groups.flatMap((g) => g.rules)

  it('defines the expected alerts', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'Watchdog', 'TargetDown', 'High5xxRate', 'NginxDown', 'ServiceUnhealthy', 'CronHeartbeatMissing', 'DiskAlmostFull', 'MemoryAlmostExhausted',
      'CertificateExpiringSoon', 'CertificateRenewalFailing', 'PostgresDown', 'RedisDown', 'CeleryQueueBacklog',
      'BackupFailed', 'BackupTooOld', 'OffsiteCopyFailed', 'OffsiteCopyTooOld', 'RestoreNotVerified', 'DeployFailed',
    ])
  })

  it('tells the operator what to do for every alert a person receives (annotation action)', () => {
    for (const rule of rules.filter((r) => r.alert !== 'Watchdog')) expect(rule.annotations?.['action'], `${rule.alert}: annotations.action`).toBeTruthy()
  })

  it('has promtool tests for every rule, firing and quiet (Watchdog: always firing)', () => {
    const cases = AlertTests.parse(yaml('monitoring/prometheus/alerts.test.yml')).tests.flatMap((t) => t.alert_rule_test ?? [])
    const uncovered = rules
      .map((r) => r.alert)
      .flatMap((name) => {
        const mine = cases.filter((c) => c.alertname === name)
        return [
          ...(mine.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${name}: no firing case`]),
          ...(name === 'Watchdog' || mine.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : [`${name}: no quiet case`]),
        ]
      })
    expect(uncovered).toEqual([])
  })

  it('gives every rule an expr, a for and a known severity', () => {
    for (const rule of rules) {
      expect(rule.expr.trim(), rule.alert).not.toBe('')
      expect(rule.for, `${rule.alert}: for`).toMatch(/^\d+[smhd]$/)
      expect(rule.alert === 'Watchdog' ? ['none'] : ['critical', 'warning'], `${rule.alert}: labels.severity`).toContain(rule.labels?.severity)
      expect(rule.annotations?.summary, `${rule.alert}: annotations.summary`).toBeTruthy()
    }
  })

  it('watches the certificate expiry metric and the disk space', () => {
    const expr = (name: string) => rules.find((r) => r.alert === name)?.expr ?? ''
    expect(expr('CertificateExpiringSoon')).toMatch(/aiko_ssl_certificate_expiry_seconds\s*-\s*time\(\)\s*<\s*14\s*\*\s*86400/)
    expect(expr('DiskAlmostFull')).toContain('node_filesystem_avail_bytes')
  })
})

describe('node-exporter', () => {
  it("reads the textfile collector directory from the toolkit's var/metrics folder, read-only", () => {
    const command = service('node-exporter').command
    expect(Array.isArray(command) ? command : [command]).toContain('--collector.textfile.directory=/textfile')
    expect(service('node-exporter').volumes).toContain('${AIKO_VAR_DIR:-./var}/metrics:/textfile:ro')
    expect(Object.keys(compose.volumes)).not.toContain('node-textfile')
  })
})

describe('grafana provisioning', () => {
  const uids = datasources.datasources.map((d) => d.uid)

  it('provisions the Prometheus datasource (uid prometheus) at a compose service', () => {
    expect(datasources.datasources).toContainEqual(expect.objectContaining({ name: 'Prometheus', uid: 'prometheus', type: 'prometheus' }))
    for (const ds of datasources.datasources) expect(serviceNames).toContain(new URL(ds.url).hostname)
  })

  it('mounts the provisioning files and the dashboards where the provider looks', () => {
    expect(mountOf('grafana', '/etc/grafana/provisioning')).toBe('./monitoring/grafana/provisioning')
    const dashboardsMount = service('grafana')
      .volumes?.map((v) => v.split(':'))
      .find((parts) => parts[0] === './monitoring/grafana/dashboards')?.[1]
    expect(providers.providers.map((p) => p.options.path)).toContain(dashboardsMount)
    expect(service('grafana').profiles).toEqual(['monitoring-ui'])
  })

  it('dashboard panels and queries use provisioned datasources only', () => {
    const panels = allPanels(dashboard.panels).filter((p) => p.type !== 'row')
    expect(panels.length).toBeGreaterThan(0)
    for (const panel of panels) {
      expect(uids, `panel "${panel.title}" datasource`).toContain(panel.datasource?.uid)
      expect(panel.targets?.length, `panel "${panel.title}" has queries`).toBeGreaterThan(0)
      for (const target of panel.targets ?? []) {
        if (target.datasource !== undefined) expect(uids, `panel "${panel.title}" query ${target.refId}`).toContain(target.datasource.uid)
        expect(target.expr.trim()).not.toBe('')
      }
    }
  })

  it('covers nginx, the backend, PostgreSQL, Redis and the host, with unique panel ids', () => {
    const exprs = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n')
    for (const metric of ['nginx_', 'aiko_http_requests_total', 'pg_', 'redis_', 'node_']) expect(exprs).toContain(metric)
    const ids = allPanels(dashboard.panels).map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
  })
})
