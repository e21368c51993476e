import { describe, expect, it } from 'vitest'
import { composeConfig, type ComposeTarget } from '../../lib/compose/commands.ts'
import { parseContainerStates, type ContainerState } from '../../lib/docker/containers.ts'
import { dockerRootDir } from '../../lib/docker/info.ts'
import { LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from '../../lib/ssl/plan.ts'
import { readStateInContainer } from '../../lib/ssl/state.ts'
import type { BackupEntry, BackupKind } from '../../lib/backup/names.ts'
import { newestBackup } from '../../lib/status/backups.ts'
import { describeCertificate, parseIssuer } from '../../lib/status/certificate.ts'
import { diskStatus } from '../../lib/status/disk.ts'
import { formatAge, formatStatus } from '../../lib/status/format.ts'
import { formatBytes } from '../../lib/ui/output.ts'
import { alertWarnings, backupProblems, offsiteProblems, certificateProblems, diskProblems, dockerProblems, driftProblems, judgeProblems, serviceProblems } from '../../lib/status/problems.ts'
import { lastAction } from '../../lib/status/release.ts'
import { buildReport, type CertificateStatus, type ServiceStatus, type StatusFacts } from '../../lib/status/report.ts'
import { activeProfiles, expectedServices, parseComposeServices, summariseServices } from '../../lib/status/services.ts'
import { makeCertificate } from './helpers/certificates.ts'

const now = new Date('2026-11-26T12:00:00Z')
const hours = (h: number) => now.getTime() - h * 3_600_000
const target: ComposeTarget = { base: ['docker-compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: { AIKO_RELEASE: 'r2' } }

function container(service: string, status: string, health?: string, image = `aiko/${service}:r2`, exitCode = 0): ContainerState {
  return { id: `${service}-${status}`, name: `aiko_${service}_1`, service, project: 'aiko', status, exitCode, health, lastHealthLog: undefined, image, labels: {}, healthcheck: undefined }
}

const service = (overrides: Partial<ServiceStatus> = {}): ServiceStatus => ({ name: 'backend', state: 'running', health: 'healthy', containers: 1, images: ['aiko/backend:r2'], exitCode: null, expected: true, ...overrides })

const cert = (overrides: Partial<CertificateStatus> = {}): CertificateStatus => ({
  domain: 'aiko.fr', checked: true, present: true, names: ['aiko.fr', 'www.aiko.fr'], notAfter: '2027-02-20T00:00:00.000Z', daysLeft: 86,
  issuer: { cn: 'E5', o: "Let's Encrypt" }, ca: 'production', note: null, ...overrides,
})

function facts(overrides: Partial<StatusFacts> = {}): StatusFacts {
  return {
    time: now.toISOString(),
    project: 'aiko',
    domain: 'aiko.fr',
    nginxMode: 'https',
    release: { current: 'r2', last: { action: 'deploy', id: 'r2', result: 'ok', time: '2026-11-26T10:00:00.000Z', user: 'ops', durationMs: 42_000, error: null } },
    docker: { reachable: true, rootDir: '/var/lib/docker', error: null },
    composeError: null,
    services: [service(), service({ name: 'postgres', images: ['postgres:16.4-alpine'] })],
    certificate: cert(),
    disk: { project: { path: '/srv/aiko', freeBytes: 40 * 1024 ** 3, totalBytes: 80 * 1024 ** 3, freePercent: 50 }, docker: { path: '/var/lib/docker', freeBytes: 40 * 1024 ** 3, totalBytes: 80 * 1024 ** 3, freePercent: 50, sameFilesystem: true } },
    backup: { name: 'scheduled-20261126-0300.dump', time: '2026-11-26T03:00:00.000Z', sizeBytes: 5 * 1024 ** 2, ageHours: 9 },
    offsite: { configured: false, last: null },
    verify: null,
    drift: [],
    alerts: { channels: ['e-mail to ops@aiko.test via smtp.aiko.test:587 (starttls)'] },
    ...overrides,
  }
}

describe('status commands', () => {
  it('reads the model with compose config, the data root with docker info, the certificate through nginx', () => {
    expect(composeConfig(target).argv).toEqual(['docker-compose', '--project-directory', '/srv/aiko', '--env-file', '/srv/aiko/.env', 'config'])
    expect(composeConfig(target).mutates).toBe(false)
    expect(dockerRootDir()).toEqual({ argv: ['docker', 'info', '--format', '{{.DockerRootDir}}'], mutates: false })
    const read = readStateInContainer('abc123', 'aiko.fr')
    expect(read.argv.slice(0, 4)).toEqual(['docker', 'exec', 'abc123', 'sh'])
    expect(read.argv.slice(-2)).toEqual(['sh', 'aiko.fr'])
    expect(read.mutates).toBe(false)
  })
})

describe('services', () => {
  const config = `services:
  backend:
    image: aiko/backend:r2
    environment:
      SECRET_KEY: not-printed
  grafana:
    image: grafana/grafana
    profiles:
    - monitoring-ui
  certbot:
    profiles: [tools]
  postgres:
    image: postgres:16.4-alpine
`

  it('reads service names and profiles from compose config, whatever the list style', () => {
    expect(parseComposeServices(config)).toEqual([
      { name: 'backend', profiles: [] },
      { name: 'grafana', profiles: ['monitoring-ui'] },
      { name: 'certbot', profiles: ['tools'] },
      { name: 'postgres', profiles: [] },
    ])
    expect(parseComposeServices('')).toEqual([])
  })

  it('expects the default set, plus the services of active profiles', () => {
    const services = parseComposeServices(config)
    expect(expectedServices(services, [])).toEqual(['backend', 'postgres'])
    expect(expectedServices(services, activeProfiles('monitoring-ui, other'))).toEqual(['backend', 'grafana', 'postgres'])
    expect(activeProfiles(undefined)).toEqual([])
  })

  it('shows an expected service with no container as absent, and a profile service only when it has a container', () => {
    expect(summariseServices(['backend', 'postgres'], [container('postgres', 'running', 'healthy')])).toEqual([
      { name: 'backend', state: 'absent', health: 'none', containers: 0, images: [], exitCode: null, expected: true },
      { name: 'postgres', state: 'running', health: 'healthy', containers: 1, images: ['aiko/postgres:r2'], exitCode: null, expected: true },
    ])
    expect(summariseServices(['backend'], [container('backend', 'running'), container('grafana', 'running')]).map((s) => [s.name, s.expected, s.health])).toEqual([
      ['backend', true, 'none'],
      ['grafana', false, 'none'],
    ])
  })

  it('counts both containers of a service during a deploy, with the worst health of the running ones', () => {
    const [backend] = summariseServices(['backend'], [container('backend', 'running', 'healthy', 'aiko/backend:r1'), container('backend', 'running', 'starting', 'aiko/backend:r2')])
    expect(backend).toMatchObject({ state: 'running', health: 'starting', containers: 2, images: ['aiko/backend:r1', 'aiko/backend:r2'] })
    const [unhealthy] = summariseServices(['backend'], [container('backend', 'running', 'healthy'), container('backend', 'running', 'unhealthy')])
    expect(unhealthy?.health).toBe('unhealthy')
    const [exited] = summariseServices(['redis'], [container('redis', 'exited', 'unhealthy', 'redis:7', 137)])
    expect(exited).toMatchObject({ state: 'exited', health: 'none', exitCode: 137 })
  })

  it('works from real docker inspect JSON', () => {
    const states = parseContainerStates(JSON.stringify([{ Id: 'x', Name: '/aiko_nginx_1', Config: { Image: 'nginx:1.27-alpine', Labels: { 'com.docker.compose.service': 'nginx' } }, State: { Status: 'running', Health: { Status: 'healthy' } } }]))
    expect(summariseServices(['nginx'], states)[0]).toMatchObject({ name: 'nginx', state: 'running', health: 'healthy', images: ['nginx:1.27-alpine'] })
  })
})

describe('certificate status', () => {
  const names = ['aiko.fr', 'www.aiko.fr']
  const fresh = makeCertificate({ names, days: 90 })
  const staging = makeCertificate({ names, days: 30, issuerCN: '(STAGING) Ersatz Edamame E1' })

  it('reads CN and O of an issuer', () => {
    expect(parseIssuer("C=US, O=Let's Encrypt, CN=E5")).toEqual({ cn: 'E5', o: "Let's Encrypt" })
    expect(parseIssuer('C=US\nO=(STAGING) Let\'s Encrypt\nCN=(STAGING) Ersatz Edamame E1')).toEqual({ cn: '(STAGING) Ersatz Edamame E1', o: "(STAGING) Let's Encrypt" })
    expect(parseIssuer('CN=Pebble Intermediate CA 2a0b1c')).toEqual({ cn: 'Pebble Intermediate CA 2a0b1c', o: null })
  })

  it('gives days left, notAfter, issuer and production for a trusted certificate', () => {
    const status = describeCertificate('aiko.fr', { fullchain: fresh, hasKey: true, renewalServer: LETSENCRYPT_PRODUCTION }, new Date())
    expect(status).toMatchObject({ checked: true, present: true, names, ca: 'production', issuer: { cn: 'aiko.fr', o: null }, note: null })
    expect(status.daysLeft).toBeGreaterThanOrEqual(89)
    expect(status.notAfter).toMatch(/^\d{4}-\d\d-\d\dT/)
  })

  it('classifies staging by the issuer or by the renewal config', () => {
    expect(describeCertificate('aiko.fr', { fullchain: staging, hasKey: true, renewalServer: undefined }, new Date()).ca).toBe('staging')
    expect(describeCertificate('aiko.fr', { fullchain: fresh, hasKey: true, renewalServer: LETSENCRYPT_STAGING }, new Date()).ca).toBe('staging')
  })

  it('tells a missing certificate from one that was not read', () => {
    expect(describeCertificate('aiko.fr', { fullchain: undefined, hasKey: false, renewalServer: undefined }, now)).toMatchObject({ checked: true, present: false, daysLeft: null, note: 'no certificate file' })
    expect(describeCertificate('aiko.fr', undefined, now)).toMatchObject({ checked: false, present: null, note: 'not read (nginx is not running)' })
    const broken = describeCertificate('aiko.fr', { fullchain: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', hasKey: true, renewalServer: undefined }, now)
    expect(broken).toMatchObject({ present: true, daysLeft: null, note: expect.stringContaining('does not parse') })
    expect(describeCertificate('aiko.fr', { fullchain: fresh, hasKey: false, renewalServer: undefined }, new Date()).note).toBe('the private key is missing')
  })
})

describe('backups, disk and release log', () => {
  it('picks the newest backup by time, whatever its kind, with its age', () => {
    const entry = (name: string, kind: BackupKind, ageMs: number, size: number): BackupEntry => ({ name, path: `/v/backups/${name}`, kind, size, mtime: new Date(ageMs) })
    const entries = [
      entry('pre-20261120-100000-abc1234.dump', 'release', hours(150), 10),
      entry('scheduled-20261126-030000.dump', 'scheduled', hours(9), 20),
      entry('pre-20261101-100000-0000000.dump', 'release', hours(600), 30),
    ]
    expect(newestBackup(entries, now)).toEqual({ name: 'scheduled-20261126-030000.dump', time: '2026-11-26T03:00:00.000Z', sizeBytes: 20, ageHours: 9 })
    const tie = [entry('pre-restore-20261126-100000.dump', 'pre-restore', hours(2), 1), entry('scheduled-20261126-100000.dump', 'scheduled', hours(2), 1)]
    expect(newestBackup(tie, now)?.name).toBe('scheduled-20261126-100000.dump')
    expect(newestBackup([], now)).toBeNull()
  })

  it('computes free and total bytes and the free percentage from statfs', () => {
    expect(diskStatus('/srv', { bsize: 4096, blocks: 1000, bavail: 95 })).toEqual({ path: '/srv', freeBytes: 389_120, totalBytes: 4_096_000, freePercent: 9.5 })
    expect(diskStatus('/x', { bsize: 4096, blocks: 0, bavail: 0 }).freePercent).toBe(0)
  })

  it('reports the last deploy or rollback, failed ones included', () => {
    expect(lastAction([])).toBeNull()
    const entry = { id: 'r3', sha: 'def', action: 'deploy' as const, result: 'failed' as const, time: 't', user: 'ops', durationMs: 9000, previous: 'r2', error: 'migrations failed' }
    expect(lastAction([{ ...entry, id: 'r2', result: 'ok', error: undefined }, entry])).toEqual({ action: 'deploy', id: 'r3', result: 'failed', time: 't', user: 'ops', durationMs: 9000, error: 'migrations failed' })
    expect(lastAction([{ ...entry, action: 'rollback', result: 'ok', error: undefined }])?.error).toBeNull()
  })
})

describe('problems', () => {
  it('finds none in a healthy stack', () => {
    expect(judgeProblems(facts(), { production: true })).toEqual([])
  })

  it('reports drift as one problem naming what a converge would do', () => {
    expect(driftProblems(facts({ drift: ['record release r2 as serving (var/current-release, AIKO_RELEASE in .env)', 'replace celery beat by one of release r2 (never two at once)'] }))).toEqual([
      { check: 'drift', message: 'the stack is not on one consistent release; npx zx scripts/deploy.mts --converge-only would: record release r2 as serving (var/current-release, AIKO_RELEASE in .env); replace celery beat by one of release r2 (never two at once)' },
    ])
  })

  it('service: absent ones in one problem, a stopped or unhealthy one on its own; starting is fine', () => {
    expect(serviceProblems({ services: [service(), service({ name: 'frontend', health: 'starting' }), service({ name: 'flower', health: 'none' })] })).toEqual([])
    expect(serviceProblems({ services: [service({ state: 'absent', containers: 0 }), service({ name: 'nginx', state: 'absent', containers: 0 })] })).toEqual([
      { check: 'service', message: expect.stringContaining('no container for backend, nginx') },
    ])
    expect(serviceProblems({ services: [service({ state: 'exited', health: 'none', exitCode: 137 })] })[0]?.message).toContain('backend is exited (exit code 137)')
    expect(serviceProblems({ services: [service({ health: 'unhealthy' })] })[0]?.message).toContain('backend is unhealthy')
  })

  it('certificate: https needs one with at least 14 days left; http does not care', () => {
    const https = (certificate: CertificateStatus) => certificateProblems({ nginxMode: 'https', certificate }, true)
    expect(https(cert({ daysLeft: 14 }))).toEqual([])
    expect(https(cert({ daysLeft: 13 }))[0]?.message).toContain('expires in 13 days')
    expect(https(cert({ daysLeft: -2 }))[0]?.message).toContain('has expired')
    expect(https(cert({ present: false, daysLeft: null, notAfter: null, issuer: null, ca: null, note: 'no certificate file' }))[0]?.message).toContain('no certificate for aiko.fr')
    expect(https(cert({ daysLeft: null, note: 'the certificate file does not parse (x)' }))[0]?.message).toContain('does not parse')
    expect(certificateProblems({ nginxMode: 'http', certificate: cert({ present: false, daysLeft: null }) }, true)).toEqual([])
    expect(certificateProblems({ nginxMode: 'http', certificate: cert({ daysLeft: 3 }) }, true)).toEqual([])
    // Not read (nginx down): nginx's own absence is the problem reported.
    expect(https(cert({ checked: false, present: null, daysLeft: null }))).toEqual([])
  })

  it('certificate: a staging one is a problem in production only', () => {
    expect(certificateProblems({ nginxMode: 'http', certificate: cert({ ca: 'staging' }) }, true)[0]?.message).toContain('staging CA')
    expect(certificateProblems({ nginxMode: 'https', certificate: cert({ ca: 'staging' }) }, false)).toEqual([])
    expect(certificateProblems({ nginxMode: 'https', certificate: cert({ ca: 'production' }) }, true)).toEqual([])
  })

  it('disk: less than 10 % free, the shared filesystem reported once', () => {
    const disk = (freePercent: number) => ({ path: '/srv/aiko', freeBytes: 1, totalBytes: 10, freePercent })
    expect(diskProblems({ disk: { project: disk(10), docker: null } })).toEqual([])
    expect(diskProblems({ disk: { project: disk(9.9), docker: { ...disk(9.9), path: '/var/lib/docker', sameFilesystem: true } } })).toEqual([
      { check: 'disk', message: expect.stringContaining('only 9.9 % free on the filesystem of the project folder') },
    ])
    expect(diskProblems({ disk: { project: disk(50), docker: { ...disk(5), path: '/var/lib/docker', sameFilesystem: false } } })[0]?.message).toContain("Docker's data root (/var/lib/docker)")
  })

  it('backup: none, or the newest older than 48 h', () => {
    const backup = (ageHours: number) => ({ name: 'scheduled-x.dump', time: 't', sizeBytes: 1, ageHours })
    expect(backupProblems({ backup: backup(47.9) })).toEqual([])
    expect(backupProblems({ backup: backup(48.5) })[0]?.message).toContain('is 48 h old')
    expect(backupProblems({ backup: null })[0]?.message).toContain('no database backup')
  })

  it('off-site and verify: silent until configured or run, then missing, old or failed', () => {
    const last = (ageHours: number) => ({ time: 't', snapshot: '00ff55e3', repository: 'sftp:restic@host:/srv/aiko', ageHours })
    const verify = (ok: boolean, ageHours: number) => ({ time: 't', ok, source: 'off-site set 00ff55e3', detail: 'head 0004', ageHours })
    expect(offsiteProblems({ offsite: { configured: false, last: null }, verify: null })).toEqual([])
    expect(offsiteProblems({ offsite: { configured: true, last: null }, verify: null })).toEqual([
      { check: 'offsite', message: 'no off-site copy yet: npx zx scripts/backup.mts (after --init-offsite)' },
      { check: 'verify', message: 'no backup has been proven restorable yet: npx zx scripts/backup.mts --verify' },
    ])
    expect(offsiteProblems({ offsite: { configured: true, last: last(47) }, verify: verify(true, 24 * 8 - 1) })).toEqual([])
    expect(offsiteProblems({ offsite: { configured: true, last: last(49) }, verify: verify(true, 24 * 9) })).toEqual([
      { check: 'offsite', message: 'the last off-site copy (00ff55e3) is 49 h old (more than 48 h): see /var/log/aiko-db-backup.log, then npx zx scripts/backup.mts' },
      { check: 'verify', message: 'the last verified restore is 9 days old (more than 8): npx zx scripts/backup.mts --verify' },
    ])
    expect(offsiteProblems({ offsite: { configured: false, last: null }, verify: verify(false, 1) })).toEqual([
      { check: 'verify', message: 'the last restore test failed (off-site set 00ff55e3): head 0004' },
    ])
  })

  it('docker and compose: unreachable daemon, unknown services', () => {
    expect(dockerProblems({ docker: { reachable: true, rootDir: null, error: null }, composeError: null })).toEqual([])
    expect(dockerProblems({ docker: { reachable: false, rootDir: null, error: 'Cannot connect to the Docker daemon' }, composeError: 'compose config failed: boom' }).map((p) => p.check)).toEqual(['docker', 'compose'])
  })

  it('orders problems as an operator fixes them', () => {
    const problems = judgeProblems(facts({ backup: null, services: [service({ state: 'absent' })], certificate: cert({ daysLeft: 2 }), docker: { reachable: false, rootDir: null, error: 'down' } }), { production: true })
    expect(problems.map((problem) => problem.check)).toEqual(['docker', 'service', 'certificate', 'backup'])
  })
})

describe('alert warnings', () => {
  it('says alerts go nowhere when no channel is configured, and nothing otherwise; never a problem', () => {
    expect(judgeProblems(facts({ alerts: { channels: [] } }), { production: true })).toEqual([])
    expect(alertWarnings(facts({ alerts: { channels: [] } }))).toEqual([
      {
        check: 'alerts',
        message:
          'alerts go nowhere (no e-mail nor webhook configured): set ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO and/or ALERT_WEBHOOK_URL in .env, run npx zx scripts/deploy.mts, then npx zx scripts/status.mts --test-alert',
      },
    ])
    expect(alertWarnings(facts())).toEqual([])
  })
})

describe('report', () => {
  it('has a stable JSON shape: every key present, in a fixed order', () => {
    const report = buildReport(facts(), [])
    expect(Object.keys(report)).toEqual(['schema', 'time', 'ok', 'project', 'domain', 'nginxMode', 'release', 'docker', 'services', 'certificate', 'disk', 'backup', 'offsite', 'verify', 'drift', 'alerts', 'problems', 'warnings'])
    expect(report).toMatchObject({ schema: 1, ok: true, problems: [] })
    expect(Object.keys(report.certificate)).toEqual(['domain', 'checked', 'present', 'names', 'notAfter', 'daysLeft', 'issuer', 'ca', 'note'])
    expect(Object.keys(report.services[0] ?? {})).toEqual(['name', 'state', 'health', 'containers', 'images', 'exitCode', 'expected'])
    expect(Object.keys(report.release.last ?? {})).toEqual(['action', 'id', 'result', 'time', 'user', 'durationMs', 'error'])
    expect(JSON.parse(JSON.stringify(report))).toEqual(report)
    expect(report).not.toHaveProperty('composeError')
  })

  it('is not ok when there is a problem', () => {
    const report = buildReport(facts(), [{ check: 'backup', message: 'no database backup' }])
    expect(report.ok).toBe(false)
    expect(report.problems).toHaveLength(1)
  })
})

describe('human format', () => {
  it('prints a compact report, the problems last', () => {
    const text = formatStatus(buildReport(facts({ services: [service({ containers: 2, images: ['aiko/backend:r1', 'aiko/backend:r2'] }), service({ name: 'celery-beat', state: 'absent', health: 'none', containers: 0, images: [] })] }), [{ check: 'service', message: 'no container for celery-beat' }]))
    expect(text).toContain('project aiko  aiko.fr  NGINX_MODE=https')
    expect(text).toContain('release      r2')
    expect(text).toContain('last action  deploy r2 ok at 2026-11-26T10:00:00.000Z by ops in 42.0s')
    expect(text).toMatch(/ {2}backend +running +healthy +2 {2}aiko\/backend:r1, aiko\/backend:r2/)
    expect(text).toMatch(/ {2}celery-beat +absent +none +0 {2}-/)
    expect(text).toContain("certificate  aiko.fr: production, 86 days left (until 2027-02-20), issuer E5 / Let's Encrypt")
    expect(text).toContain('disk         project 40.0 GiB free of 80.0 GiB (50 %)  /srv/aiko')
    expect(text).toContain('docker  same filesystem  /var/lib/docker')
    expect(text).toContain('backup       scheduled-20261126-0300.dump, 2026-11-26T03:00:00.000Z, 5.0 MiB, 9 h old')
    expect(text.trimEnd().split('\n').slice(-2)).toEqual(['1 problem:', '  - [service] no container for celery-beat'])
  })

  it('shows where alerts go, and a warning line after the problems when they go nowhere', () => {
    expect(formatStatus(buildReport(facts(), []))).toContain('alerts       e-mail to ops@aiko.test via smtp.aiko.test:587 (starttls)\n')
    const nowhere = facts({ alerts: { channels: [] } })
    const text = formatStatus(buildReport(nowhere, [], alertWarnings(nowhere)))
    expect(text).toContain('alerts       go nowhere (no ALERT_* channel in .env)\n')
    expect(text.split('\n').slice(-2)).toEqual([
      'OK: no problem found',
      'warning: [alerts] alerts go nowhere (no e-mail nor webhook configured): set ALERT_SMTP_HOST, ALERT_EMAIL_FROM and ALERT_EMAIL_TO and/or ALERT_WEBHOOK_URL in .env, run npx zx scripts/deploy.mts, then npx zx scripts/status.mts --test-alert',
    ])
    expect(buildReport(nowhere, [], alertWarnings(nowhere))).toMatchObject({ ok: true, problems: [], warnings: [{ check: 'alerts' }] })
  })

  it('says so when everything is fine, and when nothing is known', () => {
    expect(formatStatus(buildReport(facts(), []))).toMatch(/OK: no problem found$/)
    const empty = formatStatus(
      buildReport(facts({ release: { current: null, last: null }, services: [], backup: null, certificate: cert({ checked: false, present: null, note: 'not read (nginx is not running)' }), disk: { project: null, docker: null }, docker: { reachable: false, rootDir: null, error: 'down' } }), []),
    )
    expect(empty).toContain('release      none (never deployed)')
    expect(empty).toContain('services     (Docker is not reachable)')
    expect(empty).toContain('(none known)')
    expect(empty).toContain('certificate  aiko.fr: not read (nginx is not running)')
    expect(empty).toContain('backup       none')
  })

  it('sizes and ages read easily', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatAge(0.25)).toBe('15 min')
    expect(formatAge(30)).toBe('30 h')
    expect(formatAge(80)).toBe('3 days')
  })
})
