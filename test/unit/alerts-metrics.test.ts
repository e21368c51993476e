import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  metricsDir,
  operationMetricFile,
  parseOperationHistory,
  recordOperation,
  renderHeartbeat,
  renderOperationMetric,
  renderServiceHealth,
} from '../../lib/alerts/metrics.ts'
import { serviceHealth, WATCH_JOB, writeWatchMetrics } from '../../lib/alerts/watch.ts'
import { renderCronFile } from '../../lib/cron/job.ts'
import type { Output } from '../../lib/ui/output.ts'

const TIME = new Date('2026-12-02T03:00:00Z')
const SECONDS = 1796180400
const EARLIER = 1796094000

const HELP = {
  run: ['# HELP aiko_operation_last_run_success 1 when the last run of the operation succeeded, 0 when it failed.', '# TYPE aiko_operation_last_run_success gauge'],
  time: ['# HELP aiko_operation_last_run_timestamp_seconds End of the last run of the operation, Unix time.', '# TYPE aiko_operation_last_run_timestamp_seconds gauge'],
  success: ['# HELP aiko_operation_last_success_timestamp_seconds End of the last successful run of the operation, Unix time.', '# TYPE aiko_operation_last_success_timestamp_seconds gauge'],
  failures: ['# HELP aiko_operation_consecutive_failures Runs of the operation that failed in a row (0 after a success).', '# TYPE aiko_operation_consecutive_failures gauge'],
}

describe('renderOperationMetric', () => {
  it('a success: the run, its time, the success time and no failure in a row', () => {
    expect(renderOperationMetric('backup', { ok: true, time: TIME }, { failures: 3, lastSuccess: EARLIER })).toBe(
      [
        ...HELP.run,
        'aiko_operation_last_run_success{operation="backup"} 1',
        ...HELP.time,
        `aiko_operation_last_run_timestamp_seconds{operation="backup"} ${SECONDS}`,
        ...HELP.success,
        `aiko_operation_last_success_timestamp_seconds{operation="backup"} ${SECONDS}`,
        ...HELP.failures,
        'aiko_operation_consecutive_failures{operation="backup"} 0',
        '',
      ].join('\n'),
    )
  })

  it('a failure keeps the previous success time and counts one more failure in a row', () => {
    expect(renderOperationMetric('renew', { ok: false, time: TIME }, { failures: 1, lastSuccess: EARLIER })).toBe(
      [
        ...HELP.run,
        'aiko_operation_last_run_success{operation="renew"} 0',
        ...HELP.time,
        `aiko_operation_last_run_timestamp_seconds{operation="renew"} ${SECONDS}`,
        ...HELP.success,
        `aiko_operation_last_success_timestamp_seconds{operation="renew"} ${EARLIER}`,
        ...HELP.failures,
        'aiko_operation_consecutive_failures{operation="renew"} 2',
        '',
      ].join('\n'),
    )
  })

  it('a first failure has no success time at all; a release label is escaped', () => {
    const lines = renderOperationMetric('deploy', { ok: false, time: TIME, release: 'r"1\\' }, { failures: 0 }).split('\n').filter((line) => !line.startsWith('#'))
    expect(lines).toEqual([
      'aiko_operation_last_run_success{operation="deploy",release="r\\"1\\\\"} 0',
      `aiko_operation_last_run_timestamp_seconds{operation="deploy"} ${SECONDS}`,
      'aiko_operation_consecutive_failures{operation="deploy"} 1',
      '',
    ])
  })
})

describe('parseOperationHistory', () => {
  it('reads back what renderOperationMetric wrote; nothing when there is no file', () => {
    expect(parseOperationHistory(renderOperationMetric('renew', { ok: false, time: TIME }, { failures: 1, lastSuccess: EARLIER }))).toEqual({ failures: 2, lastSuccess: EARLIER })
    expect(parseOperationHistory(undefined)).toEqual({ failures: 0 })
    expect(parseOperationHistory('garbage\n')).toEqual({ failures: 0 })
  })
})

describe('renderServiceHealth and renderHeartbeat', () => {
  it('one gauge per service; the heartbeat time', () => {
    expect(renderServiceHealth([{ name: 'backend', healthy: true }, { name: 'nginx', healthy: false }])).toBe(
      [
        '# HELP aiko_service_healthy 1 when the service runs and its healthcheck passes, 0 otherwise (written by status --write-metrics).',
        '# TYPE aiko_service_healthy gauge',
        'aiko_service_healthy{service="backend"} 1',
        'aiko_service_healthy{service="nginx"} 0',
        '',
      ].join('\n'),
    )
    expect(renderHeartbeat(TIME)).toBe(
      ['# HELP aiko_cron_heartbeat_timestamp_seconds Last run of the watch cron job (status --write-metrics), Unix time.', '# TYPE aiko_cron_heartbeat_timestamp_seconds gauge', `aiko_cron_heartbeat_timestamp_seconds ${SECONDS}`, ''].join('\n'),
    )
  })
})

describe('recordOperation', () => {
  let varDir = ''
  const warnings: string[] = []
  const output = { warn: (message: string) => void warnings.push(message) } as unknown as Output
  beforeEach(async () => {
    varDir = await mkdtemp(join(tmpdir(), 'aiko-metrics-'))
    warnings.length = 0
  })
  afterEach(() => rm(varDir, { recursive: true, force: true }))

  it('writes var/metrics/aiko_<operation>.prom world-readable, carrying the history over, with no temp file left', async () => {
    await recordOperation({ output, varDir, executor: { dryRun: false } }, 'renew', { ok: true, time: new Date(EARLIER * 1000) })
    await recordOperation({ output, varDir, executor: { dryRun: false } }, 'renew', { ok: false, time: TIME })
    await recordOperation({ output, varDir, executor: { dryRun: false } }, 'renew', { ok: false, time: TIME })
    const file = join(metricsDir(varDir), operationMetricFile('renew'))
    expect(await readFile(file, 'utf8')).toBe(renderOperationMetric('renew', { ok: false, time: TIME }, { failures: 1, lastSuccess: EARLIER }))
    expect((await stat(file)).mode & 0o777).toBe(0o644)
    expect(await readdir(metricsDir(varDir))).toEqual(['aiko_renew.prom'])
    expect(warnings).toEqual([])
  })

  it('a dry run writes nothing; a write that fails is a warning, not the run failing', async () => {
    await recordOperation({ output, varDir, executor: { dryRun: true } }, 'backup', { ok: true, time: TIME })
    expect(await readdir(varDir)).toEqual([])
    await mkdir(metricsDir(varDir))
    await mkdir(join(metricsDir(varDir), 'aiko_backup.prom'))
    await writeFile(join(varDir, 'x'), '')
    await recordOperation({ output, varDir, executor: { dryRun: false } }, 'backup', { ok: true, time: TIME })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^could not write the backup metric for Prometheus \(EISDIR.*\): its alerts may be stale$/)
  })
})

describe('the watch job', () => {
  const base = { containers: 1, images: ['x'], exitCode: null, expected: true }
  it('healthy: running with a passing healthcheck or none; expected services only', () => {
    expect(
      serviceHealth([
        { ...base, name: 'backend', state: 'running', health: 'healthy' },
        { ...base, name: 'celery-beat', state: 'running', health: 'none' },
        { ...base, name: 'frontend', state: 'running', health: 'starting' },
        { ...base, name: 'nginx', state: 'running', health: 'unhealthy' },
        { ...base, name: 'postgres', state: 'exited', health: 'none', exitCode: 1 },
        { ...base, name: 'redis', state: 'absent', health: 'none', containers: 0 },
        { ...base, name: 'grafana', state: 'running', health: 'healthy', expected: false },
      ]),
    ).toEqual([
      { name: 'backend', healthy: true },
      { name: 'celery-beat', healthy: true },
      { name: 'frontend', healthy: false },
      { name: 'nginx', healthy: false },
      { name: 'postgres', healthy: false },
      { name: 'redis', healthy: false },
    ])
  })

  it('its cron line runs status --write-metrics every minute', () => {
    expect(renderCronFile(WATCH_JOB, { minute: 17, projectDir: '/srv/ai-ko', nodeBinDir: '/usr/bin', envPath: '/srv/ai-ko/.env', logFile: WATCH_JOB.logFile, environment: { AIKO_VAR_DIR: '/srv/ai-ko/var' } })).toBe(
      [
        '# AI-KO: health of each service and cron heartbeat for Prometheus, installed by `npx zx scripts/status.mts --install-cron`.',
        '# Silent when all goes well; its alerts: ServiceUnhealthy, CronHeartbeatMissing.',
        'SHELL=/bin/sh',
        'PATH=/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'AIKO_VAR_DIR=/srv/ai-ko/var',
        "* * * * * root cd '/srv/ai-ko' && npx zx scripts/status.mts --write-metrics --env-path '/srv/ai-ko/.env' >> '/var/log/aiko-watch.log' 2>&1",
        '',
      ].join('\n'),
    )
  })

  it('writes the services file, then the heartbeat', async () => {
    const varDir = await mkdtemp(join(tmpdir(), 'aiko-watch-'))
    try {
      await writeWatchMetrics(varDir, serviceHealth([{ ...base, name: 'backend', state: 'running', health: 'healthy' }]), TIME)
      expect(await readdir(metricsDir(varDir))).toEqual(['aiko_heartbeat.prom', 'aiko_services.prom'])
      expect(await readFile(join(metricsDir(varDir), 'aiko_services.prom'), 'utf8')).toBe(renderServiceHealth([{ name: 'backend', healthy: true }]))
      expect(await readFile(join(metricsDir(varDir), 'aiko_heartbeat.prom'), 'utf8')).toBe(renderHeartbeat(TIME))
    } finally {
      await rm(varDir, { recursive: true, force: true })
    }
  })
})
