/**
 * How the toolkit's own jobs end, for Prometheus: node-exporter's textfile collector reads
 * $AIKO_VAR_DIR/metrics/*.prom (docker-compose.yml mounts that folder read-only at /textfile).
 * One file per operation (aiko_<operation>.prom), replaced in one rename after an fsync, so
 * node-exporter never reads half a file. monitoring/prometheus/alerts.yml alerts on them.
 *
 * The rendering is pure: the previous file's text goes in (its last success time and its count
 * of failures in a row carry over), the new text comes out.
 */
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import type { Output } from '../ui/output.ts'

export type Operation = 'backup' | 'offsite' | 'verify' | 'deploy' | 'rollback' | 'renew'

export const metricsDir = (varDir: string): string => join(varDir, 'metrics')
export const operationMetricFile = (operation: Operation): string => `aiko_${operation}.prom`

/** node-exporter runs as nobody: the folder and the files are world-readable (they hold no secret). */
const FILE_MODE = 0o644
const DIR_MODE = 0o755

const SUCCESS = 'aiko_operation_last_success_timestamp_seconds'
const FAILURES = 'aiko_operation_consecutive_failures'

export interface OperationRun {
  ok: boolean
  time: Date
  /** deploy and rollback: the release they went to. */
  release?: string
}

/** What the previous file says: when the operation last succeeded, and how many runs failed since. */
export interface OperationHistory {
  lastSuccess?: number
  failures: number
}

const number = (text: string, metric: string): number | undefined => {
  const match = new RegExp(`^${metric}\\{[^}]*\\} (\\d+)$`, 'm').exec(text)
  return match?.[1] === undefined ? undefined : Number(match[1])
}

export function parseOperationHistory(text: string | undefined): OperationHistory {
  if (text === undefined) return { failures: 0 }
  const lastSuccess = number(text, SUCCESS)
  return { ...(lastSuccess === undefined ? {} : { lastSuccess }), failures: number(text, FAILURES) ?? 0 }
}

/** Label values as the text format wants them (backslash, quote and line break escaped). */
const labelValue = (value: string): string => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

const gauge = (name: string, help: string, labels: string, value: number): string[] => [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}${labels} ${value}`]

export function renderOperationMetric(operation: Operation, run: OperationRun, previous: OperationHistory): string {
  const seconds = Math.floor(run.time.getTime() / 1000)
  const labels = `{operation="${operation}"${run.release === undefined ? '' : `,release="${labelValue(run.release)}"`}}`
  const own = `{operation="${operation}"}`
  const lastSuccess = run.ok ? seconds : previous.lastSuccess
  const failures = run.ok ? 0 : previous.failures + 1
  return [
    ...gauge('aiko_operation_last_run_success', '1 when the last run of the operation succeeded, 0 when it failed.', labels, run.ok ? 1 : 0),
    ...gauge('aiko_operation_last_run_timestamp_seconds', 'End of the last run of the operation, Unix time.', own, seconds),
    ...(lastSuccess === undefined ? [] : gauge(SUCCESS, 'End of the last successful run of the operation, Unix time.', own, lastSuccess)),
    ...gauge(FAILURES, 'Runs of the operation that failed in a row (0 after a success).', own, failures),
    '',
  ].join('\n')
}

/** Reads a metrics file: undefined when absent (any other read error is an error). */
export async function readMetricFile(varDir: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(join(metricsDir(varDir), file), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Replaces one *.prom file of the metrics folder (temp file, fsync, rename). */
export async function writeMetricFile(varDir: string, file: string, content: string): Promise<void> {
  await mkdir(metricsDir(varDir), { recursive: true, mode: DIR_MODE })
  await writeFileAtomic(join(metricsDir(varDir), file), content, { mode: FILE_MODE })
}

export interface MetricsContext {
  output: Output
  varDir: string
  executor: { dryRun: boolean }
}

/** Writes the metric of one run; a failure to write it is a warning, never the run's failure. */
export async function recordOperation(ctx: MetricsContext, operation: Operation, run: OperationRun): Promise<void> {
  if (ctx.executor.dryRun) return
  try {
    const previous = parseOperationHistory(await readMetricFile(ctx.varDir, operationMetricFile(operation)))
    await writeMetricFile(ctx.varDir, operationMetricFile(operation), renderOperationMetric(operation, run, previous))
  } catch (error) {
    ctx.output.warn(`could not write the ${operation} metric for Prometheus (${error instanceof Error ? error.message.split('\n')[0] : String(error)}): its alerts may be stale`)
  }
}

export const SERVICES_METRIC_FILE = 'aiko_services.prom'
export const HEARTBEAT_METRIC_FILE = 'aiko_heartbeat.prom'

/** status --write-metrics: each expected service, 1 when running and healthy (or running without a healthcheck). */
export function renderServiceHealth(services: ReadonlyArray<{ name: string; healthy: boolean }>): string {
  return [
    '# HELP aiko_service_healthy 1 when the service runs and its healthcheck passes, 0 otherwise (written by status --write-metrics).',
    '# TYPE aiko_service_healthy gauge',
    ...services.map((service) => `aiko_service_healthy{service="${labelValue(service.name)}"} ${service.healthy ? 1 : 0}`),
    '',
  ].join('\n')
}

/** The watch cron job's own proof of life: CronHeartbeatMissing fires when it stops moving. */
export function renderHeartbeat(time: Date): string {
  return [...gauge('aiko_cron_heartbeat_timestamp_seconds', 'Last run of the watch cron job (status --write-metrics), Unix time.', '', Math.floor(time.getTime() / 1000)), ''].join('\n')
}
