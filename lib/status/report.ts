/**
 * The shape `status --json` prints: every key always present (null when unknown), so that
 * scripts and monitoring can rely on it. Bump STATUS_SCHEMA when a key changes meaning.
 */
export const STATUS_SCHEMA = 1

export type ServiceState = 'running' | 'absent' | 'exited' | 'created' | 'restarting' | 'paused' | 'dead' | (string & {})
export type ServiceHealth = 'healthy' | 'unhealthy' | 'starting' | 'none'

export interface ServiceStatus {
  name: string
  /** running when any container runs; absent when there is none; else the first container's Docker status. */
  state: ServiceState
  /** The worst health of its running containers; none without a healthcheck or a running container. */
  health: ServiceHealth
  /** Containers of the service: 2 for a moment during a deploy. */
  containers: number
  /** Distinct images of those containers. */
  images: string[]
  /** Exit code of a container that is not running, else null. */
  exitCode: number | null
  /** In the default set of the compose file; false for a profile service (grafana) shown because it has a container. */
  expected: boolean
}

export interface LastAction {
  action: 'deploy' | 'rollback'
  id: string
  result: 'ok' | 'failed' | 'rolled-back'
  time: string
  user: string
  durationMs: number
  error: string | null
}

export interface CertificateStatus {
  domain: string
  /** false when nginx is not running: status never starts a container to read the files. */
  checked: boolean
  /** null when not checked. */
  present: boolean | null
  names: string[]
  notAfter: string | null
  daysLeft: number | null
  issuer: { cn: string | null; o: string | null } | null
  ca: 'production' | 'staging' | null
  /** Why a field is unknown (not checked, does not parse), else null. */
  note: string | null
}

export interface DiskStatus {
  path: string
  freeBytes: number
  totalBytes: number
  freePercent: number
}

export interface BackupStatus {
  name: string
  time: string
  sizeBytes: number
  ageHours: number
}

/** The last off-site copy (backup.mts with RESTIC_REPOSITORY). */
export interface OffsiteStatus {
  /** RESTIC_REPOSITORY is set. */
  configured: boolean
  last: { time: string; snapshot: string; repository: string; ageHours: number } | null
}

/** The last `backup --verify`: a backup restored into a throwaway database and checked. */
export interface VerifyStatus {
  time: string
  ok: boolean
  source: string
  detail: string
  ageHours: number
}

export interface Problem {
  /** service, certificate, disk, backup, docker or compose. */
  check: string
  message: string
}

/** Everything status observed, before any judgement. */
export interface StatusFacts {
  time: string
  project: string
  domain: string
  nginxMode: 'http' | 'https'
  release: { current: string | null; last: LastAction | null }
  docker: { reachable: boolean; rootDir: string | null; error: string | null }
  /** null when compose listed the services; else why the expected services are unknown. */
  composeError: string | null
  services: ServiceStatus[]
  certificate: CertificateStatus
  /** docker is null when its data root is not readable; sameFilesystem when it sits on the project's. */
  disk: { project: DiskStatus | null; docker: (DiskStatus & { sameFilesystem: boolean }) | null }
  backup: BackupStatus | null
  offsite: OffsiteStatus
  verify: VerifyStatus | null
  /** What a deploy or rollback would fix first (the convergence plan): empty when the stack is consistent. */
  drift: string[]
  /** Where Alertmanager sends the alerts (lib/alerts/config.ts describeChannel): empty when nowhere. */
  alerts: { channels: string[] }
}

export interface StatusReport {
  schema: number
  time: string
  ok: boolean
  project: string
  domain: string
  nginxMode: 'http' | 'https'
  release: StatusFacts['release']
  docker: StatusFacts['docker']
  services: ServiceStatus[]
  certificate: CertificateStatus
  disk: StatusFacts['disk']
  backup: BackupStatus | null
  offsite: OffsiteStatus
  verify: VerifyStatus | null
  drift: string[]
  alerts: StatusFacts['alerts']
  problems: Problem[]
  /** Worth knowing, not failing: the exit code ignores them (today: alerts that go nowhere). */
  warnings: Problem[]
}

/** The report in a fixed key order: what --json prints. */
export function buildReport(facts: StatusFacts, problems: readonly Problem[], warnings: readonly Problem[] = []): StatusReport {
  return {
    schema: STATUS_SCHEMA,
    time: facts.time,
    ok: problems.length === 0,
    project: facts.project,
    domain: facts.domain,
    nginxMode: facts.nginxMode,
    release: facts.release,
    docker: facts.docker,
    services: facts.services,
    certificate: facts.certificate,
    disk: facts.disk,
    backup: facts.backup,
    offsite: facts.offsite,
    verify: facts.verify,
    drift: facts.drift,
    alerts: facts.alerts,
    problems: [...problems],
    warnings: [...warnings],
  }
}
