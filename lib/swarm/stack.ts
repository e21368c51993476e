import { posix } from 'node:path'

/**
 * The stack file of the Swarm mode (issue 17), rendered from the repository's own
 * docker-compose.yml: a decision function only (no file system, no process). Its input is the
 * compose file as parsed YAML with the variables already substituted (Swarm does not read
 * .env: `docker stack deploy` substitutes only from its own environment) and the YAML merge
 * keys (<<: *service) applied; its output is the object to write as the stack file, plus what
 * was left out and why, for the operator.
 *
 * What Swarm does with compose keys, as relied on here. "Measured" means checked on this
 * machine: `docker stack config` of the Docker CLI 28.2.2 (the same compose loader as
 * `docker stack deploy`, client-side) and a three-node Swarm of Engine 20.10.24
 * (test/e2e/swarm/cluster.sh, test/e2e/swarm/README.md).
 * - `build:` is parsed and ignored by `docker stack deploy` (images must be in a registry every
 *   node can pull from); the project's images become <registry>/<name>:<release>.
 * - `profiles:` is rejected: "services.a Additional property profiles is not allowed"
 *   (measured; docker/cli#4721). A service with profiles is left out unless one of its
 *   profiles is enabled; certbot (profile tools) runs on demand, never as a service.
 * - `depends_on:` long form is rejected: "services.a.depends_on must be a list" (measured;
 *   moby/moby#46827); the short form is accepted and ignored. Left out: start order is
 *   Swarm's restart policy plus the deploy flow's health gate.
 * - `mem_limit:` is rejected ("Configuration contains forbidden properties", measured): the
 *   v3 format has deploy.resources.limits.memory instead.
 * - `docker stack deploy` itself says "Ignoring unsupported options: restart, security_opt,
 *   shm_size" and "container_name: Setting the container name is not supported" (measured).
 *   restart becomes deploy.restart_policy. security_opt is lost: the task runs with
 *   NoNewPrivs 0 (measured in /proc/1/status), noted for the operator. shm_size becomes a
 *   tmpfs mount on /dev/shm of that size (measured: 128M in the task).
 * - The service-level `tmpfs:` list is dropped silently by `docker stack deploy` (measured:
 *   no mount in the service spec, no warning); the long volume syntax `type: tmpfs` is honoured
 *   (measured: /tmp writable in a read_only task), so each entry becomes one.
 * - Ports: a host address is dropped with a warning, "ignoring IP-address (127.0.0.1:80:80/tcp)
 *   service will listen on '0.0.0.0'" (measured; moby/moby#32299): Swarm cannot bind one
 *   address. The default ingress mode needs IPVS (absent on the test machine, where an
 *   ingress-published port is silently not listening: measured); `mode: host` binds the port
 *   on the node that runs the task and keeps the client's address.
 * - `cap_add`/`cap_drop` are honoured by `docker stack deploy` since Docker 20.10
 *   (docker/cli#2663: ContainerSpec CapabilityAdd/CapabilityDrop; measured: cap_drop ALL +
 *   cap_add CHOWN gives CapEff 0000000000000001), `read_only` is ContainerSpec.ReadOnly
 *   (measured: the root is read-only); both kept.
 * - Secrets with `file:` are read by the client at deploy time and created as Swarm secrets;
 *   a Swarm secret cannot change once created, so its name carries a version
 *   (settings.secretVersions) and a new version is a new secret.
 * - `endpoint_mode: dnsrr`: the service name resolves to its tasks' own addresses; no virtual
 *   IP, hence no IPVS (measured: a VIP service is unreachable on the test machine, dnsrr
 *   answers). nginx resolves names at request time, so it follows tasks as they move.
 * - Named volumes are local to each node: a service keeps its data only if it always runs on
 *   the same node (placement), unless the volume is on storage every node mounts
 *   (settings.sharedVolumes, e.g. NFS through the local driver's options).
 */

export type ComposeScalar = string | number | boolean | null

export interface ComposePortLong {
  target: number
  published?: number | string
  protocol?: string
  mode?: string
  host_ip?: string
}

export interface ComposeVolumeLong {
  type: string
  source?: string
  target: string
  read_only?: boolean
  tmpfs?: { size?: number }
  [key: string]: unknown
}

export interface ComposeService {
  image?: string
  build?: unknown
  profiles?: string[]
  depends_on?: string[] | Record<string, unknown>
  container_name?: string
  restart?: string
  mem_limit?: string | number
  shm_size?: string | number
  security_opt?: string[]
  ports?: Array<string | number | ComposePortLong>
  volumes?: Array<string | ComposeVolumeLong>
  tmpfs?: string | string[]
  networks?: string[] | Record<string, { aliases?: string[] } | null>
  secrets?: Array<string | { source: string; target?: string; mode?: number }>
  healthcheck?: Record<string, unknown>
  deploy?: Record<string, unknown>
  [key: string]: unknown
}

export interface ComposeFile {
  services: Record<string, ComposeService>
  volumes?: Record<string, Record<string, unknown> | null>
  secrets?: Record<string, { file?: string; name?: string; [key: string]: unknown }>
  networks?: Record<string, Record<string, unknown> | null>
  [key: string]: unknown
}

export interface StackSettings {
  /** Where the nodes pull the project's images: host[:port][/path], no trailing slash. */
  registry: string
  /** The release tag of the project's images. */
  release: string
  /** Absolute folder of docker-compose.yml: relative bind and secret paths are resolved there. */
  projectDir: string
  /** Node label names: PostgreSQL, Redis and other services with their own data on `data`; the public ports on `edge`. */
  labels: { edge: string; data: string }
  /** Replicas of each service running the project's images (celery-beat aside). */
  appReplicas: number
  /** Profiles to deploy (their `profiles:` key is removed); services of other profiles are left out. */
  profiles?: string[]
  /** Services that must run exactly once (never two side by side, not even during an update). */
  singletons?: string[]
  /** Named volumes on storage every node mounts: their services may run anywhere. Value: the volume's definition. */
  sharedVolumes?: Record<string, Record<string, unknown>>
  /** Version of each secret's content (e.g. a digest prefix): the Swarm secret is named <secret>-<version>. */
  secretVersions?: Record<string, string>
  /** How long a new task must stay healthy before the update goes on (deploy.update_config.monitor). */
  monitor?: string
}

export const DEFAULT_SINGLETONS: readonly string[] = ['celery-beat']

export interface StackService {
  image: string
  deploy: StackDeploy
  [key: string]: unknown
}

export interface StackDeploy {
  mode?: 'replicated' | 'global'
  replicas?: number
  endpoint_mode: 'dnsrr'
  placement?: { constraints: string[] }
  restart_policy: { condition: 'any' | 'on-failure' | 'none'; delay: string }
  update_config?: UpdateConfig
  rollback_config?: UpdateConfig
  resources?: { limits: { memory: string | number } }
}

export interface UpdateConfig {
  parallelism: number
  order: 'start-first' | 'stop-first'
  failure_action?: 'rollback' | 'pause'
  monitor: string
  delay?: string
}

export interface StackFile {
  version: string
  services: Record<string, StackService>
  networks: Record<string, Record<string, unknown>>
  volumes?: Record<string, Record<string, unknown> | null>
  secrets?: Record<string, Record<string, unknown>>
}

export interface StackNote {
  service: string
  note: string
}

export interface StackRender {
  file: StackFile
  /** Services of the compose file that are not in the stack, and why. */
  omitted: StackNote[]
  /** What a service loses or changes in Swarm, for the operator. */
  notes: StackNote[]
}

/** How a service is run: its update order, replicas and placement follow from it. */
export type ServiceRole = 'app' | 'stateful' | 'singleton' | 'edge' | 'global' | 'stateless'

const imageRepository = (image: string): string => {
  const at = image.indexOf('@')
  const noDigest = at === -1 ? image : image.slice(0, at)
  const colon = noDigest.lastIndexOf(':')
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest
}

const listOf = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value])

/** The named volumes and the host paths a service mounts. */
function mounts(service: ComposeService, named: ReadonlySet<string>): { volumes: string[]; hostPaths: string[] } {
  const volumes: string[] = []
  const hostPaths: string[] = []
  for (const entry of service.volumes ?? []) {
    const source = typeof entry === 'string' ? (entry.split(':')[0] ?? '') : entry.type === 'volume' || entry.type === 'bind' ? (entry.source ?? '') : ''
    if (source === '') continue
    if (named.has(source)) volumes.push(source)
    else if (source.startsWith('/')) hostPaths.push(source)
  }
  return { volumes, hostPaths }
}

const WILDCARD = new Set(['', '0.0.0.0', '[::]', '::'])
const isLoopback = (address: string): boolean => address.startsWith('127.') || address === '[::1]' || address === '::1' || address === 'localhost'

/**
 * Ports as Swarm publishes them: long syntax, mode host, one entry per target/published/protocol
 * (compose's IPv4 and IPv6 bindings of one port become one). A port bound to a loopback address
 * only is left out (`skipped`): Swarm would publish it on every address. Any other address is
 * dropped (`droppedAddresses`, the wildcards aside): Swarm cannot bind one address.
 */
export function hostModePorts(ports: ReadonlyArray<string | number | ComposePortLong>): { ports: ComposePortLong[]; droppedAddresses: string[]; skipped: string[] } {
  const out: ComposePortLong[] = []
  const dropped = new Set<string>()
  const skipped: string[] = []
  for (const port of ports) {
    let target: number
    let published: number | undefined
    let protocol = 'tcp'
    let address = ''
    if (typeof port === 'number') {
      target = port
    } else if (typeof port === 'string') {
      const [spec = '', proto] = port.split('/')
      if (proto !== undefined) protocol = proto
      // [address:]published:target, the address possibly in brackets (IPv6)
      const match = /^(?:(\[[^\]]*\]|[^:]*):)??(?:(\d+):)?(\d+)$/.exec(spec)
      if (match === null) throw new Error(`port "${port}": not [address:]published:target[/protocol]`)
      address = match[1] ?? ''
      published = match[2] === undefined ? undefined : Number(match[2])
      target = Number(match[3])
    } else {
      target = port.target
      published = port.published === undefined ? undefined : Number(port.published)
      protocol = port.protocol ?? 'tcp'
      address = port.host_ip ?? ''
    }
    if (isLoopback(address)) {
      skipped.push(typeof port === 'object' ? `${address}:${published ?? ''}:${target}/${protocol}` : String(port))
      continue
    }
    if (!WILDCARD.has(address)) dropped.add(address)
    const entry: ComposePortLong = { target, ...(published === undefined ? {} : { published }), protocol, mode: 'host' }
    if (!out.some((p) => p.target === entry.target && p.published === entry.published && p.protocol === entry.protocol)) out.push(entry)
  }
  return { ports: out, droppedAddresses: [...dropped], skipped }
}

/** "128mb", "512m", "1g", "1024" (bytes) as bytes. */
export function byteSize(value: string | number): number {
  if (typeof value === 'number') return value
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(value.trim())
  if (match === null) throw new Error(`size "${value}": not a number of bytes with k, m or g`)
  const units: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }
  return Math.round(Number(match[1]) * (units[(match[2] ?? '').toLowerCase()] ?? 1))
}

const restartCondition = (restart: string | undefined): 'any' | 'on-failure' | 'none' => {
  if (restart === undefined || restart === 'always' || restart === 'unless-stopped') return 'any'
  if (restart === 'no') return 'none'
  if (restart.startsWith('on-failure')) return 'on-failure'
  throw new Error(`restart: "${restart}" is not a compose restart policy`)
}

/**
 * The role of each deployed service:
 * - a singleton (settings.singletons, celery-beat by default): exactly one task, stop-first;
 * - edge: publishes ports, or shares a volume with a service that does (certbot's certificates);
 * - global: mounts absolute host paths and keeps no data of its own (node-exporter reads /proc,
 *   /sys, /): one per node;
 * - stateful: a third-party image with a named volume of its own on local storage (PostgreSQL,
 *   Redis, Prometheus, Alertmanager): one task, stop-first (two servers must never open the
 *   same data), even when it also reads a host folder (Alertmanager's rendered config under
 *   AIKO_VAR_DIR: one per node would also send every alert once per node);
 * - app: runs one of the project's images (built here): several replicas, start-first;
 * - stateless: anything else (the exporters): one task, start-first.
 */
export function serviceRoles(compose: ComposeFile, deployed: readonly string[], settings: StackSettings): Record<string, ServiceRole> {
  const named = new Set(Object.keys(compose.volumes ?? {}))
  const shared = new Set(Object.keys(settings.sharedVolumes ?? {}))
  const singletons = new Set(settings.singletons ?? DEFAULT_SINGLETONS)
  const projectRepos = projectRepositories(compose)
  const publishes = (name: string) => hostModePorts(compose.services[name]?.ports ?? []).ports.length > 0
  const edgeVolumes = new Set(Object.keys(compose.services).filter(publishes).flatMap((name) => mounts(compose.services[name] ?? {}, named).volumes))
  const roles: Record<string, ServiceRole> = {}
  for (const name of deployed) {
    const service = compose.services[name] ?? {}
    const { volumes, hostPaths } = mounts(service, named)
    const project = service.image !== undefined && projectRepos.has(imageRepository(service.image))
    const ownData = !project && volumes.some((v) => !shared.has(v))
    if (singletons.has(name)) roles[name] = 'singleton'
    else if (publishes(name) || volumes.some((v) => edgeVolumes.has(v))) roles[name] = 'edge'
    else if (hostPaths.length > 0 && !ownData) roles[name] = 'global'
    else if (project) roles[name] = 'app'
    else if (volumes.some((v) => !shared.has(v))) roles[name] = 'stateful'
    else roles[name] = 'stateless'
  }
  return roles
}

/** Repositories of the images the project builds (services with `build:`). */
function projectRepositories(compose: ComposeFile): Set<string> {
  const repos = new Set<string>()
  for (const service of Object.values(compose.services)) {
    if (service.build !== undefined && service.image !== undefined) repos.add(imageRepository(service.image))
  }
  return repos
}

/** The services deployed (profiles) and those left out, with the reason. */
export function deployedServices(compose: ComposeFile, settings: Pick<StackSettings, 'profiles'>): { deployed: string[]; omitted: StackNote[] } {
  const enabled = new Set(settings.profiles ?? [])
  const deployed: string[] = []
  const omitted: StackNote[] = []
  for (const [name, service] of Object.entries(compose.services)) {
    const profiles = service.profiles ?? []
    if (profiles.length === 0 || profiles.some((p) => enabled.has(p))) deployed.push(name)
    else if (profiles.includes('tools')) omitted.push({ service: name, note: `profile tools: run on demand on its node (docker run), not a service` })
    else omitted.push({ service: name, note: `profile ${profiles.join(', ')} not enabled` })
  }
  return { deployed, omitted }
}

/** Compose keys Swarm rejects or ignores, removed from every service (the notes say what is lost). */
const DROPPED_KEYS = ['build', 'profiles', 'depends_on', 'container_name', 'restart', 'mem_limit', 'shm_size', 'security_opt', 'tmpfs'] as const

const SECURITY_OPT_NOTE = 'security_opt (no-new-privileges) is not applied to Swarm services by Engine 20.10'

export function renderStack(compose: ComposeFile, settings: StackSettings): StackRender {
  const { deployed, omitted } = deployedServices(compose, settings)
  const roles = serviceRoles(compose, deployed, settings)
  const named = new Set(Object.keys(compose.volumes ?? {}))
  const shared = new Set(Object.keys(settings.sharedVolumes ?? {}))
  const projectRepos = projectRepositories(compose)
  const monitor = settings.monitor ?? '30s'
  const notes: StackNote[] = []
  const services: Record<string, StackService> = {}
  const withSecurityOpt: string[] = []

  for (const name of deployed) {
    const source = compose.services[name] ?? {}
    const role = roles[name] ?? 'stateless'
    if (source.image === undefined) throw new Error(`service ${name}: no image (Swarm cannot build: name the image in docker-compose.yml)`)
    const rest: Record<string, unknown> = { ...source }
    for (const key of DROPPED_KEYS) delete rest[key]
    delete rest['image']
    delete rest['deploy']
    delete rest['ports']
    delete rest['volumes']
    delete rest['networks']
    delete rest['secrets']

    // the project's images come from the registry, at the release's tag
    const repo = imageRepository(source.image)
    const project = projectRepos.has(repo)
    const image = project ? `${settings.registry}/${repo}:${settings.release}` : source.image

    // volumes: relative binds made absolute (the stack file is not next to docker-compose.yml);
    // the service-level tmpfs and shm_size become tmpfs mounts (the long syntax Swarm honours)
    const volumes: Array<string | ComposeVolumeLong> = (source.volumes ?? []).map((entry) => {
      if (typeof entry !== 'string') return entry.type === 'bind' && entry.source !== undefined ? { ...entry, source: posix.resolve(settings.projectDir, entry.source) } : entry
      const [src = '', ...tail] = entry.split(':')
      return src.startsWith('.') ? [posix.resolve(settings.projectDir, src), ...tail].join(':') : entry
    })
    for (const target of listOf(source.tmpfs)) volumes.push({ type: 'tmpfs', target })
    if (source.shm_size !== undefined) volumes.push({ type: 'tmpfs', target: '/dev/shm', tmpfs: { size: byteSize(source.shm_size) } })

    const service: StackService = { image, ...rest, deploy: { endpoint_mode: 'dnsrr', restart_policy: { condition: restartCondition(source.restart), delay: '5s' } } }
    if (volumes.length > 0) service['volumes'] = volumes

    // networks: the release-named aliases of compose's blue/green switch cannot outlive a
    // rolling update (the old name loses its last task); in the stack, nginx uses service names
    if (source.networks !== undefined) {
      const networks = Array.isArray(source.networks) ? source.networks : Object.keys(source.networks)
      service['networks'] = networks
      if (!Array.isArray(source.networks) && Object.values(source.networks).some((n) => (n?.aliases ?? []).length > 0)) {
        notes.push({ service: name, note: 'network aliases dropped: nginx reaches the service by its name' })
      }
    }

    if (source.secrets !== undefined) service['secrets'] = source.secrets

    if (source.ports !== undefined && source.ports.length > 0) {
      const { ports, droppedAddresses, skipped } = hostModePorts(source.ports)
      if (ports.length > 0) service['ports'] = ports
      if (droppedAddresses.length > 0) notes.push({ service: name, note: `published on every address of its node: Swarm cannot bind ${droppedAddresses.join(', ')} (a firewall must restrict them)` })
      if (skipped.length > 0) notes.push({ service: name, note: `not published (${skipped.join(', ')}): Swarm cannot bind a loopback address, it would publish on every address` })
    }

    const deploy = service.deploy
    if (source.mem_limit !== undefined) deploy.resources = { limits: { memory: source.mem_limit } }

    const { volumes: ownVolumes } = mounts(source, named)
    const localVolumes = ownVolumes.filter((v) => !shared.has(v))
    const constraints: string[] = []
    if (role === 'edge') constraints.push(`node.labels.${settings.labels.edge} == true`)
    else if (role !== 'global' && localVolumes.length > 0) constraints.push(`node.labels.${settings.labels.data} == true`)
    if (constraints.length > 0) deploy.placement = { constraints }

    const stopFirst: UpdateConfig = { parallelism: 1, order: 'stop-first', failure_action: 'rollback', monitor }
    switch (role) {
      case 'app':
        deploy.mode = 'replicated'
        deploy.replicas = settings.appReplicas
        deploy.update_config = { parallelism: 1, order: 'start-first', failure_action: 'rollback', monitor, delay: '5s' }
        deploy.rollback_config = { parallelism: 1, order: 'start-first', monitor }
        if (localVolumes.length > 0) notes.push({ service: name, note: `runs on the data node only: volume ${localVolumes.join(', ')} is on local storage (settings.sharedVolumes lets it run anywhere)` })
        break
      case 'stateless':
        deploy.mode = 'replicated'
        deploy.replicas = 1
        deploy.update_config = { parallelism: 1, order: 'start-first', failure_action: 'rollback', monitor }
        deploy.rollback_config = { parallelism: 1, order: 'start-first', monitor }
        break
      case 'global':
        deploy.mode = 'global'
        deploy.update_config = stopFirst
        break
      default:
        // stateful, singleton, edge: one task; a second one would open the same data, run the
        // same schedule twice, or find the host port taken (mode host binds it on the node)
        deploy.mode = 'replicated'
        deploy.replicas = 1
        deploy.update_config = stopFirst
        deploy.rollback_config = { parallelism: 1, order: 'stop-first', monitor }
    }

    if (source.security_opt !== undefined && source.security_opt.length > 0) withSecurityOpt.push(name)
    services[name] = service
  }

  if (withSecurityOpt.length > 0) notes.push({ service: withSecurityOpt.join(', '), note: SECURITY_OPT_NOTE })

  const file: StackFile = {
    version: '3.8',
    services,
    // overlay; attachable: one-off containers (certbot, a psql) can join it with docker run
    networks: { default: { driver: 'overlay', attachable: true } },
  }

  if (compose.volumes !== undefined) {
    const volumes: Record<string, Record<string, unknown> | null> = {}
    const used = new Set(deployed.flatMap((name) => mounts(compose.services[name] ?? {}, named).volumes))
    for (const [name, definition] of Object.entries(compose.volumes)) {
      if (!used.has(name)) continue
      volumes[name] = settings.sharedVolumes?.[name] ?? definition
    }
    file.volumes = volumes
  }

  if (compose.secrets !== undefined) {
    const secrets: Record<string, Record<string, unknown>> = {}
    const used = new Set(deployed.flatMap((name) => (compose.services[name]?.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source))))
    for (const [name, definition] of Object.entries(compose.secrets)) {
      if (!used.has(name)) continue
      const version = settings.secretVersions?.[name]
      const out: Record<string, unknown> = { ...definition }
      if (typeof definition.file === 'string') out['file'] = posix.resolve(settings.projectDir, definition.file)
      if (version !== undefined) out['name'] = `${name}-${version}`
      secrets[name] = out
    }
    file.secrets = secrets
  }

  return { file, omitted, notes }
}
