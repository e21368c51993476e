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

/**
 * Sets the replicas of services (`name=count`) all at once and returns (`--detach`): the CLI's
 * own wait goes one service after the other, each with a stability pause (measured: 90 s to
 * stop three services, 102 s to start them); the toolkit polls them together instead.
 */
export function scaleServices(target: SwarmTarget, replicas: Readonly<Record<string, number>>): Command {
  return docker(target, ['service', 'scale', '--detach', ...Object.entries(replicas).map(([name, count]) => `${name}=${count}`)], true, QUICK_MS)
}

/** The stack's name of a compose service. */
export const stackServiceName = (target: SwarmTarget, service: string): string => `${target.stack}_${service}`

/** All the tasks of a service, finished ones included (a job's task ends Complete or Failed), one JSON line each. */
export function serviceTasksAll(target: SwarmTarget, service: string): Command {
  return docker(target, ['service', 'ps', '--no-trunc', '--format', '{{json .}}', service], false, QUICK_MS)
}

/** The stack's services for status: one JSON line each (Name, Mode, Replicas, Image). */
export function listStackServices(target: SwarmTarget): Command {
  return docker(target, ['service', 'ls', '--filter', `label=com.docker.stack.namespace=${target.stack}`, '--format', '{{json .}}'], false, QUICK_MS)
}

/** The last lines a service's tasks wrote (a failed migration job's error), without task ids. */
export function serviceLogs(target: SwarmTarget, service: string, tail: number): Command {
  return docker(target, ['service', 'logs', '--raw', '--no-task-ids', '--tail', String(tail), service], false, QUICK_MS)
}

/**
 * Ids of the stack's task containers on this node (of one service when given), stopped ones
 * included: what init-db and the backups exec into. A one-off job is not in the stack's namespace.
 */
export function localTaskContainerIds(target: SwarmTarget, service?: string, options: { runningOnly?: boolean } = {}): Command {
  const labels = [`com.docker.stack.namespace=${target.stack}`, ...(service === undefined ? [] : [`com.docker.swarm.service.name=${stackServiceName(target, service)}`])]
  return docker(target, ['ps', options.runningOnly === true ? '-q' : '-aq', ...labels.flatMap((label) => ['--filter', `label=${label}`])], false, QUICK_MS)
}

export function removeServices(target: SwarmTarget, services: readonly string[]): Command {
  return docker(target, ['service', 'rm', ...services], true, QUICK_MS)
}

/** The overlay network of the stack (renderStack's `default`), as `docker stack deploy` names it. */
export const stackNetwork = (target: SwarmTarget): string => `${target.stack}_default`

export interface OneOffJob {
  /** The service's name (not in the stack's namespace: `stack deploy --prune` never removes it, `stack services` never lists it). */
  name: string
  image: string
  argv: readonly string[]
  network: string
  /** A file of NAME=value lines read by the CLI (the values, secrets included, never reach argv). */
  envFile: string
  /** Variables that are no secret, passed as --env NAME=value. */
  env: Readonly<Record<string, string>>
  labels: Readonly<Record<string, string>>
  /** Placement constraints of the task (e.g. the data node). */
  constraints: readonly string[]
  registryAuth: boolean
}

/**
 * A one-off task (Engine >= 20.10: `--mode replicated-job`), e.g. the migrations: one task,
 * never restarted (a failed migration is a failed deploy, not something to retry), detached
 * (the toolkit polls its task until it ends).
 */
export function createJob(target: SwarmTarget, job: OneOffJob): Command {
  return docker(
    target,
    [
      'service', 'create', '--detach', '--quiet',
      '--name', job.name,
      '--mode', 'replicated-job',
      '--restart-condition', 'none',
      // the image's HEALTHCHECK watches a server; a job's task only has to exit 0
      '--no-healthcheck',
      '--network', job.network,
      '--env-file', job.envFile,
      ...Object.entries(job.env).flatMap(([name, value]) => ['--env', `${name}=${value}`]),
      ...Object.entries(job.labels).flatMap(([name, value]) => ['--label', `${name}=${value}`]),
      ...job.constraints.flatMap((constraint) => ['--constraint', constraint]),
      ...(job.registryAuth ? ['--with-registry-auth'] : []),
      job.image,
      ...job.argv,
    ],
    true,
    5 * 60_000,
  )
}
