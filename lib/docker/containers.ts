import type { Command } from '../exec/executor.ts'

export interface ContainerState {
  id: string
  name: string
  service: string | undefined
  project: string | undefined
  /** created, running, exited, ... */
  status: string
  exitCode: number
  /** healthy, unhealthy, starting; undefined when the container has no healthcheck. */
  health: string | undefined
  /** The last healthcheck output, for error messages. */
  lastHealthLog: string | undefined
  image: string
  labels: Readonly<Record<string, string>>
  /** The image's or compose's healthcheck test, e.g. ['CMD', 'python3', 'healthcheck.py']. */
  healthcheck: readonly string[] | undefined
}

/** Bounds of calls that answer in seconds when the daemon is well: a hung one fails the step instead of holding the lock. */
const QUICK_MS = 60_000

export function inspectContainers(ids: readonly string[]): Command {
  return { argv: ['docker', 'inspect', ...ids], mutates: false, timeoutMs: QUICK_MS }
}

interface InspectJson {
  Id?: string
  Name?: string
  Config?: { Labels?: Record<string, string> | null; Image?: string; Healthcheck?: { Test?: string[] } }
  State?: { Status?: string; ExitCode?: number; Health?: { Status?: string; Log?: { Output?: string }[] } }
}

/** Reads `docker inspect` JSON: labels and state, the same whatever the compose version. */
export function parseContainerStates(json: string): ContainerState[] {
  const items = JSON.parse(json) as InspectJson[]
  return items.map((item) => {
    const labels = item.Config?.Labels ?? {}
    const log = item.State?.Health?.Log ?? []
    return {
      id: item.Id ?? '',
      name: (item.Name ?? '').replace(/^\//, ''),
      service: labels['com.docker.compose.service'] ?? swarmService(labels),
      project: labels['com.docker.compose.project'] ?? labels['com.docker.stack.namespace'],
      status: item.State?.Status ?? 'unknown',
      exitCode: item.State?.ExitCode ?? 0,
      health: item.State?.Health?.Status,
      lastHealthLog: log.at(-1)?.Output?.trim(),
      image: item.Config?.Image ?? '',
      labels,
      healthcheck: item.Config?.Healthcheck?.Test,
    }
  })
}

/** The compose service of a Swarm task's container: its service name without the stack's prefix (aiko_postgres → postgres). */
function swarmService(labels: Readonly<Record<string, string>>): string | undefined {
  const name = labels['com.docker.swarm.service.name']
  const stack = labels['com.docker.stack.namespace']
  return name === undefined || stack === undefined || !name.startsWith(`${stack}_`) ? undefined : name.slice(stack.length + 1)
}

export function splitIds(stdout: string): string[] {
  return stdout.split(/\s+/).filter((id) => id.length > 0)
}

export function stopContainers(ids: readonly string[], graceSeconds: number): Command {
  return { argv: ['docker', 'stop', '--time', String(graceSeconds), ...ids], mutates: true, timeoutMs: (graceSeconds + 60) * 1000 }
}

export function startContainers(ids: readonly string[]): Command {
  return { argv: ['docker', 'start', ...ids], mutates: true, timeoutMs: QUICK_MS }
}

export function removeContainers(ids: readonly string[]): Command {
  return { argv: ['docker', 'rm', '--force', '--volumes', ...ids], mutates: true, timeoutMs: QUICK_MS }
}

export function copyFromContainer(id: string, from: string, to: string): Command {
  return { argv: ['docker', 'cp', `${id}:${from}`, to], mutates: true }
}

export function copyToContainer(from: string, id: string, to: string): Command {
  return { argv: ['docker', 'cp', from, `${id}:${to}`], mutates: true }
}

export function imageExists(image: string): Command {
  return { argv: ['docker', 'image', 'inspect', '--format', '{{.Id}}', image], mutates: false }
}

/** The tags of a repository; with a project, only images Compose v2 built for it (its build label). */
export function listImageTags(repository: string, project?: string): Command {
  const filter = project === undefined ? [] : ['--filter', `label=com.docker.compose.project=${project}`]
  return { argv: ['docker', 'image', 'ls', repository, ...filter, '--format', '{{.Tag}}'], mutates: false }
}

/** BuildKit's cache and the classic builder's dangling (untagged) images older than `age`; never a tagged image. */
export function pruneBuildLeftovers(age: string): Command[] {
  return [
    { argv: ['docker', 'builder', 'prune', '--force', '--filter', `until=${age}`], mutates: true, timeoutMs: 300_000 },
    { argv: ['docker', 'image', 'prune', '--force', '--filter', `until=${age}`], mutates: true, timeoutMs: 300_000 },
  ]
}

/** The "Total reclaimed space: 1.2GB" of a prune; undefined when nothing was freed. */
export function reclaimed(stdout: string): string | undefined {
  const size = /Total reclaimed space:\s*(\S+)/.exec(stdout)?.[1]
  return size === undefined || /^0(\.0+)?B$/.test(size) ? undefined : size
}

export function removeImages(images: readonly string[]): Command {
  return { argv: ['docker', 'image', 'rm', ...images], mutates: true }
}

/**
 * The container's own healthcheck, run now with `docker exec` instead of waiting for Docker's
 * next interval; undefined when the container has none.
 */
export function runHealthcheck(state: Pick<ContainerState, 'id' | 'healthcheck'>): Command | undefined {
  const [kind, ...rest] = state.healthcheck ?? []
  if (kind === 'CMD') return { argv: ['docker', 'exec', state.id, ...rest], mutates: false, timeoutMs: HEALTHCHECK_MS }
  if (kind === 'CMD-SHELL' && rest[0] !== undefined) return { argv: ['docker', 'exec', state.id, 'sh', '-c', rest[0]], mutates: false, timeoutMs: HEALTHCHECK_MS }
  return undefined
}

/** `docker exec` by id: a Go client call, much faster than `compose exec` with docker-compose 1.29. */
export function dockerExec(id: string, argv: readonly string[], mutates: boolean): Command {
  return { argv: ['docker', 'exec', id, ...argv], mutates, timeoutMs: QUICK_MS }
}

/** A healthcheck probe that hangs counts as failing, like Docker's own timeout. */
const HEALTHCHECK_MS = 30_000
