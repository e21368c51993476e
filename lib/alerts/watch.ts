/**
 * The watch cron job: every minute, `status.mts --write-metrics` writes each expected
 * service's health (aiko_service_healthy, for ServiceUnhealthy) and its own heartbeat
 * (aiko_cron_heartbeat_timestamp_seconds, for CronHeartbeatMissing) into var/metrics.
 */
import type { CronJob } from '../cron/job.ts'
import type { ServiceStatus } from '../status/report.ts'
import { HEARTBEAT_METRIC_FILE, renderHeartbeat, renderServiceHealth, SERVICES_METRIC_FILE, writeMetricFile } from './metrics.ts'

export const DEFAULT_WATCH_CRON_FILE = '/etc/cron.d/aiko-watch'
export const DEFAULT_WATCH_LOG = '/var/log/aiko-watch.log'

export const WATCH_JOB: CronJob = {
  comments: ['AI-KO: health of each service and cron heartbeat for Prometheus, installed by `npx zx scripts/status.mts --install-cron`.', 'Silent when all goes well; its alerts: ServiceUnhealthy, CronHeartbeatMissing.'],
  hours: '*',
  everyMinute: true,
  script: ['scripts/status.mts', '--write-metrics'],
  logFile: DEFAULT_WATCH_LOG,
}

/**
 * Healthy: running, with a passing healthcheck or none (celery-beat, nginx-exporter). Starting
 * counts as unhealthy: a container that stays "starting" for the rule's 5 minutes is a problem,
 * and a deploy's new containers pass their checks well within it. Expected services only.
 */
export function serviceHealth(services: readonly ServiceStatus[]): Array<{ name: string; healthy: boolean }> {
  return services.filter((service) => service.expected).map((service) => ({ name: service.name, healthy: service.state === 'running' && (service.health === 'healthy' || service.health === 'none') }))
}

/** Both files, services first: the heartbeat says the run went to its end. */
/** Each service's health (serviceHealth in compose mode, swarmServiceHealth in stack mode). */
export async function writeWatchMetrics(varDir: string, health: ReadonlyArray<{ name: string; healthy: boolean }>, now: Date): Promise<void> {
  await writeMetricFile(varDir, SERVICES_METRIC_FILE, renderServiceHealth(health))
  await writeMetricFile(varDir, HEARTBEAT_METRIC_FILE, renderHeartbeat(now))
}
