/**
 * The convergence planner: observed facts in, the actions that bring the stack to one
 * consistent release out. Pure: no Docker, no files; lib/release/observe.ts gathers the facts
 * and lib/release/converge.ts carries the actions out.
 */

/** The services a release consists of (one image each, see images.ts); the others are infrastructure. */
export const APP_SERVICES = ['backend', 'frontend', 'celery-worker', 'celery-beat'] as const
export type AppService = (typeof APP_SERVICES)[number]
/** Started beside the running generation during a switch (beat never runs twice: it is swapped). */
export const BESIDE_SERVICES = ['backend', 'frontend', 'celery-worker'] as const
/** Started after the app: nginx (it proxies to the app) and what scrapes it. */
const EDGE_SERVICES: readonly string[] = ['nginx', 'nginx-exporter']

export interface ObservedContainer {
  id: string
  name: string
  service: string
  /** The release of an app container (its image tag); undefined for infrastructure. */
  release: string | undefined
  /** created, running, restarting, exited, paused, dead */
  status: string
  /** healthy, unhealthy, starting; undefined without a healthcheck. */
  health: string | undefined
}

export interface ObservedStack {
  /** var/current-release. */
  recorded: string | undefined
  /** AIKO_RELEASE in .env: what a plain `docker compose up -d` starts. */
  envRelease: string | undefined
  /** The release of conf.d/upstreams.conf on disk. */
  nginxFile: string | undefined
  /** The release the RUNNING nginx configuration serves (/aiko-release); undefined when nginx is down or cannot say. */
  nginxServing: string | undefined
  /** nginx shows the maintenance page (its running configuration or its file says so): a restore was interrupted. */
  maintenance: boolean
  /** The project's service containers, every state. */
  containers: readonly ObservedContainer[]
  /** One-off containers (`compose run`: migrations, certbot) left by a killed run. */
  oneOffs: readonly string[]
  /** Temp files of a killed run (`*.tmp-PID`, `*.partial-PID`) whose process is gone. */
  partialFiles: readonly string[]
  /** Every service compose starts with a plain `up` (from `compose config`). */
  expectedServices: readonly string[]
  /** Releases whose images are all present. */
  startable: readonly string[]
}

export type ConvergeAction =
  | { kind: 'remove-one-offs'; ids: readonly string[] }
  | { kind: 'remove-partial-files'; paths: readonly string[] }
  | { kind: 'remove-stopped'; containers: readonly ObservedContainer[] }
  | { kind: 'start-beside'; release: string; services: readonly string[] }
  | { kind: 'wait-healthy'; release: string }
  | { kind: 'start-infrastructure'; services: readonly string[] }
  | { kind: 'point-nginx'; release: string; reload: boolean }
  | { kind: 'record'; release: string }
  | { kind: 'retire'; containers: readonly ObservedContainer[] }
  | { kind: 'start-beat'; release: string }

export interface ConvergePlan {
  /** The release the stack converges to; undefined when nothing was ever deployed (first start). */
  target: string | undefined
  /** Why this release: shown to the operator. */
  reason: string
  actions: ConvergeAction[]
}

const isRunning = (container: ObservedContainer) => container.status === 'running' || container.status === 'restarting'
const isStopped = (container: ObservedContainer) => !isRunning(container)
const isApp = (container: ObservedContainer) => APP_SERVICES.some((service) => service === container.service)

/** A release that can serve right now: a running, not unhealthy, backend and frontend. */
function serving(containers: readonly ObservedContainer[], release: string | undefined): boolean {
  if (release === undefined) return false
  return ['backend', 'frontend'].every((service) =>
    containers.some((container) => container.service === service && container.release === release && isRunning(container) && container.health !== 'unhealthy'),
  )
}

/**
 * The release to converge to, most trusted first: what the running nginx serves (the site's
 * truth), what its file names, what was recorded; each only while its web containers run. Then
 * a recorded release whose images exist (it is started again), then any release whose web
 * containers run.
 */
export function chooseTarget(observed: ObservedStack): { target: string | undefined; reason: string } {
  const candidates: [string | undefined, string][] = [
    [observed.nginxServing, 'nginx serves it'],
    [observed.nginxFile, 'nginx is configured for it'],
    [observed.recorded, 'it is the recorded release'],
    [observed.envRelease, '.env names it'],
  ]
  for (const [release, reason] of candidates) if (serving(observed.containers, release)) return { target: release, reason }
  for (const [release, reason] of candidates.slice(2))
    if (release !== undefined && observed.startable.includes(release)) return { target: release, reason: `${reason} (its containers are started again)` }
  const running = observed.containers.find((container) => container.service === 'backend' && container.release !== undefined && serving(observed.containers, container.release))
  if (running?.release !== undefined) return { target: running.release, reason: 'its web containers are running' }
  return { target: undefined, reason: 'no release was ever deployed here' }
}

/** Observed stack → the ordered actions that leave exactly one running container per service, all on one release. */
export function planConvergence(observed: ObservedStack): ConvergePlan {
  const { target, reason } = chooseTarget(observed)
  const actions: ConvergeAction[] = []
  if (observed.oneOffs.length > 0) actions.push({ kind: 'remove-one-offs', ids: observed.oneOffs })
  if (observed.partialFiles.length > 0) actions.push({ kind: 'remove-partial-files', paths: observed.partialFiles })
  // Exited, created or dead containers: compose counts them, a scale-up would restart them instead of creating new ones.
  const stopped = observed.containers.filter((container) => isStopped(container) && (isApp(container) || !observed.expectedServices.includes(container.service)))
  if (stopped.length > 0) actions.push({ kind: 'remove-stopped', containers: stopped })
  const live = observed.containers.filter((container) => !stopped.includes(container))
  if (target === undefined) return { target, reason, actions }

  // The data services first (the app needs them), the edge last (it needs the app).
  const infrastructure = observed.expectedServices.filter((service) => !APP_SERVICES.some((app) => app === service))
  const infraDown = infrastructure.filter((service) => !live.some((container) => container.service === service && isRunning(container)))
  const edgeDown = infraDown.filter((service) => EDGE_SERVICES.includes(service))
  const dataDown = infraDown.filter((service) => !EDGE_SERVICES.includes(service))
  if (dataDown.length > 0) actions.push({ kind: 'start-infrastructure', services: dataDown })

  const ofTarget = (service: string) => live.filter((container) => container.service === service && container.release === target && isRunning(container))
  const missing = BESIDE_SERVICES.filter((service) => ofTarget(service).length === 0)
  if (missing.length > 0) actions.push({ kind: 'start-beside', release: target, services: missing })
  if (missing.length > 0 || !serving(live, target)) actions.push({ kind: 'wait-healthy', release: target })

  // nginx reads its site from the file when it starts: the file is right before nginx starts.
  const nginxDown = edgeDown.includes('nginx')
  // A restore killed behind the maintenance page: the site serves again (its dump was one transaction).
  if (observed.nginxFile !== target || (!nginxDown && observed.nginxServing !== target) || observed.maintenance)
    actions.push({ kind: 'point-nginx', release: target, reload: !nginxDown })
  if (edgeDown.length > 0) actions.push({ kind: 'start-infrastructure', services: edgeDown })
  if (observed.recorded !== target || observed.envRelease !== target) actions.push({ kind: 'record', release: target })

  // Everything of another release, and any extra container of the target beyond the first.
  const extras = BESIDE_SERVICES.flatMap((service) => ofTarget(service).slice(1))
  const others = live.filter((container) => isApp(container) && container.service !== 'celery-beat' && container.release !== target)
  if (others.length + extras.length > 0) actions.push({ kind: 'retire', containers: [...others, ...extras] })

  const beats = live.filter((container) => container.service === 'celery-beat')
  const goodBeat = beats.length === 1 && beats[0]?.release === target && isRunning(beats[0])
  if (!goodBeat) actions.push({ kind: 'start-beat', release: target })
  return { target, reason, actions }
}

/** One line per action, for the operator. */
export function describeAction(action: ConvergeAction): string {
  const names = (containers: readonly ObservedContainer[]) => containers.map((container) => `${container.name} (${container.status}${container.release === undefined ? '' : `, ${container.release}`})`).join(', ')
  switch (action.kind) {
    case 'remove-one-offs':
      return `remove ${action.ids.length} one-off container${action.ids.length === 1 ? '' : 's'} left by a killed run`
    case 'remove-partial-files':
      return `remove the partial file${action.paths.length === 1 ? '' : 's'} of a killed run: ${action.paths.join(', ')}`
    case 'remove-stopped':
      return `remove stopped containers: ${names(action.containers)}`
    case 'start-beside':
      return `start ${action.services.join(', ')} of release ${action.release}`
    case 'wait-healthy':
      return `wait for release ${action.release} to pass its healthchecks`
    case 'start-infrastructure':
      return `start ${action.services.join(', ')}`
    case 'point-nginx':
      return `point nginx at release ${action.release}${action.reload ? ' (reload)' : ''}`
    case 'record':
      return `record release ${action.release} as serving (var/current-release, AIKO_RELEASE in .env)`
    case 'retire':
      return `drain and remove ${names(action.containers)}`
    case 'start-beat':
      return `replace celery beat by one of release ${action.release} (never two at once)`
  }
}
