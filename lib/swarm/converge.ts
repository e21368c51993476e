/**
 * Whether a `docker stack deploy` converged: a pure reading of `docker service inspect` (the
 * spec's image and replicas, and UpdateStatus) and of `docker stack services` (running/desired
 * tasks). Swarm's update states (API UpdateStatus.State): updating, paused, completed,
 * rollback_started, rollback_paused, rollback_completed; a service never updated has none.
 */

export type UpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed'

export interface ServiceStatus {
  /** <stack>_<service> */
  name: string
  /** The image of the spec, without the digest the CLI pins (image@sha256:...). */
  image: string
  /** undefined for a global service. */
  replicas: number | undefined
  updateState: UpdateState | undefined
  updateMessage: string | undefined
  /** When the last update (or rollback) began, as Swarm writes it (RFC 3339, nanoseconds). */
  updateStartedAt: string | undefined
}

interface InspectJson {
  Spec?: {
    Name?: string
    Mode?: { Replicated?: { Replicas?: number }; Global?: object }
    TaskTemplate?: { ContainerSpec?: { Image?: string } }
  }
  UpdateStatus?: { State?: string; Message?: string; StartedAt?: string } | null
}

const UPDATE_STATES: readonly string[] = ['updating', 'paused', 'completed', 'rollback_started', 'rollback_paused', 'rollback_completed']

const withoutDigest = (image: string): string => image.replace(/@sha256:[0-9a-f]+$/, '')

/** Reads `docker service inspect S...` (a JSON array). */
export function parseServiceStatuses(json: string): ServiceStatus[] {
  const items = JSON.parse(json) as InspectJson[]
  return items.map((item) => {
    const state = item.UpdateStatus?.State
    if (state !== undefined && !UPDATE_STATES.includes(state)) throw new Error(`service ${item.Spec?.Name ?? '?'}: unknown update state "${state}"`)
    return {
      name: item.Spec?.Name ?? '',
      image: withoutDigest(item.Spec?.TaskTemplate?.ContainerSpec?.Image ?? ''),
      replicas: item.Spec?.Mode?.Replicated?.Replicas,
      updateState: state as UpdateState | undefined,
      updateMessage: item.UpdateStatus?.Message,
      updateStartedAt: item.UpdateStatus?.StartedAt,
    }
  })
}

/** Reads `docker stack services --format '{{json .}}'`: running and desired tasks per service ("2/2", "0/1 (1/1 completed)"). */
export function parseStackReplicas(jsonLines: string): Record<string, { running: number; desired: number }> {
  const out: Record<string, { running: number; desired: number }> = {}
  for (const line of jsonLines.split('\n')) {
    if (line.trim() === '') continue
    const row = JSON.parse(line) as { Name?: string; Replicas?: string }
    const match = /^(\d+)\/(\d+)/.exec(row.Replicas ?? '')
    if (row.Name === undefined || match === null) throw new Error(`docker stack services: cannot read "${line}"`)
    out[row.Name] = { running: Number(match[1]), desired: Number(match[2]) }
  }
  return out
}

export interface Convergence {
  /** Every expected service runs its expected image with all its tasks, and no update is in progress. */
  converged: boolean
  /** Services that will not converge by waiting (rolled back, paused): the deploy failed. */
  failed: Array<{ service: string; reason: string }>
  /** Services still on their way, and what they wait for. */
  waiting: Array<{ service: string; reason: string }>
}

/**
 * The decision of the deploy's wait loop. `expected`: the image each service of the stack file
 * must run (stack service name to image). A service whose update was rolled back runs its
 * previous image, so it is a failure, not a wait; a paused update (failure_action pause, or
 * a rollback that itself failed) needs the operator. `deployedAt` (epoch ms, the start of this
 * deploy): an update status from before it belongs to an earlier deploy (a service this deploy
 * did not change keeps it) and is ignored.
 *
 * Measured on the e2e cluster (Engine 20.10.24): a fresh service has no UpdateStatus; an update
 * whose new task fails its healthcheck goes updating ("update in progress"), rollback_started
 * ("update rolled back due to failure or early termination of task <id>"), then
 * rollback_completed ("rollback completed": the cause is no longer in the message, the
 * tasks of `docker service ps` keep it) within 30 s with monitor 5s; the spec's image carries
 * the digest the CLI resolved (image@sha256:...).
 */
export function convergence(
  expected: Readonly<Record<string, string>>,
  statuses: readonly ServiceStatus[],
  replicas: Readonly<Record<string, { running: number; desired: number }>>,
  deployedAt: number,
): Convergence {
  const failed: Convergence['failed'] = []
  const waiting: Convergence['waiting'] = []
  const byName = new Map(statuses.map((s) => [s.name, s]))
  for (const [service, image] of Object.entries(expected)) {
    const status = byName.get(service)
    if (status === undefined) {
      waiting.push({ service, reason: 'not created yet' })
      continue
    }
    const message = status.updateMessage === undefined || status.updateMessage === '' ? '' : `: ${status.updateMessage}`
    const started = status.updateStartedAt === undefined ? Number.NaN : Date.parse(status.updateStartedAt)
    const state = Number.isNaN(started) || started < deployedAt ? undefined : status.updateState
    if (state === 'rollback_completed' || state === 'rollback_started' || state === 'rollback_paused') {
      failed.push({ service, reason: `update rolled back (${state})${message}` })
      continue
    }
    if (state === 'paused') {
      failed.push({ service, reason: `update paused${message}` })
      continue
    }
    if (status.image !== image) {
      waiting.push({ service, reason: `spec runs ${status.image}, not ${image} yet` })
      continue
    }
    if (state === 'updating') {
      waiting.push({ service, reason: `updating${message}` })
      continue
    }
    const count = replicas[service]
    if (count === undefined) waiting.push({ service, reason: 'no task count yet' })
    else if (count.running < count.desired) waiting.push({ service, reason: `${count.running}/${count.desired} tasks running` })
  }
  return { converged: failed.length === 0 && waiting.length === 0, failed, waiting }
}
