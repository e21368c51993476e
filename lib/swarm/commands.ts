import type { Command } from '../exec/executor.ts'

/**
 * The Docker calls of the stack mode, as data (the executor runs them). Every call goes to the
 * manager the toolkit runs on (the local daemon), or to DOCKER_HOST when `host` is set (the e2e
 * cluster's node sockets); flags are those of the Docker CLI 20.10 (Debian 12's docker.io),
 * which newer CLIs keep.
 */
export interface SwarmTarget {
  /** The stack's name (its services are <stack>_<service>). */
  stack: string
  /** DOCKER_HOST for every call; the local daemon when unset. */
  host?: string
}

/** Bounds of calls that answer in seconds when the managers are well. */
const QUICK_MS = 60_000
/** A push or a pull of a release image over a slow link. */
const TRANSFER_MS = 20 * 60_000

const docker = (target: Pick<SwarmTarget, 'host'>, args: readonly string[], mutates: boolean, timeoutMs: number): Command => ({
  argv: ['docker', ...args],
  mutates,
  timeoutMs,
  ...(target.host === undefined ? {} : { env: { DOCKER_HOST: target.host } }),
})

/** `docker info` of the Swarm part: LocalNodeState (active, inactive, pending...), ControlAvailable (a manager), NodeID. */
export function swarmInfo(target: SwarmTarget): Command {
  return docker(target, ['info', '--format', '{{json .Swarm}}'], false, QUICK_MS)
}

/** The nodes with their labels (one JSON document per node; `docker node ls` has no labels). */
export function inspectNodes(target: SwarmTarget, nodes: readonly string[]): Command {
  return docker(target, ['node', 'inspect', ...nodes], false, QUICK_MS)
}

export function listNodeIds(target: SwarmTarget): Command {
  return docker(target, ['node', 'ls', '--quiet'], false, QUICK_MS)
}

export function tagImage(target: SwarmTarget, source: string, destination: string): Command {
  return docker(target, ['tag', source, destination], true, QUICK_MS)
}

export function pushImage(target: SwarmTarget, image: string): Command {
  return docker(target, ['push', image], true, TRANSFER_MS)
}

/**
 * `docker stack deploy`: creates or updates every service of the file, then returns (20.10's CLI
 * does not wait: the toolkit polls until convergence). `--with-registry-auth` sends the
 * manager's registry login to the nodes (a registry with a password); `--prune` removes the
 * stack's services that the file no longer has.
 */
export function stackDeploy(target: SwarmTarget, stackFile: string, options: { registryAuth: boolean; prune: boolean }): Command {
  return docker(
    target,
    ['stack', 'deploy', '--compose-file', stackFile, ...(options.registryAuth ? ['--with-registry-auth'] : []), ...(options.prune ? ['--prune'] : []), target.stack],
    true,
    5 * 60_000,
  )
}

export function stackRemove(target: SwarmTarget): Command {
  return docker(target, ['stack', 'rm', target.stack], true, 5 * 60_000)
}

/** The stack's services, one JSON line each: Name, Mode, Replicas ("2/2"), Image. */
export function stackServices(target: SwarmTarget): Command {
  return docker(target, ['stack', 'services', '--format', '{{json .}}', target.stack], false, QUICK_MS)
}

/** Full specs and update status of services (a JSON array). */
export function inspectServices(target: SwarmTarget, services: readonly string[]): Command {
  return docker(target, ['service', 'inspect', ...services], false, QUICK_MS)
}

/** The tasks of a service that should run, one JSON line each (Node, CurrentState, Error). */
export function serviceTasks(target: SwarmTarget, service: string): Command {
  return docker(target, ['service', 'ps', '--no-trunc', '--filter', 'desired-state=running', '--format', '{{json .}}', service], false, QUICK_MS)
}

/** Back to the service's previous spec (the previous release's image), waiting until it converged. */
export function serviceRollback(target: SwarmTarget, service: string): Command {
  return docker(target, ['service', 'rollback', '--detach=false', '--quiet', service], true, 15 * 60_000)
}

/** The stack's name of a compose service. */
export const stackServiceName = (target: SwarmTarget, service: string): string => `${target.stack}_${service}`
