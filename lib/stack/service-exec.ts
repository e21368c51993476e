import { composeExec, composeRun, type ComposeTarget } from '../compose/commands.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { ContainerState } from '../docker/containers.ts'
import type { Command } from '../exec/executor.ts'
import type { StackContext } from './context.ts'
import { projectContainers } from './health.ts'

/**
 * Where a command meant for a service runs. Compose mode: compose finds the service's container
 * itself (`compose exec`), or makes a one-off one (`compose run`). Stack mode (DEPLOY_TARGET=swarm):
 * a task container of the service on THIS node, found by its Swarm labels and named by id, so
 * init-db and the backups run on the node where PostgreSQL runs (the data node).
 */
export type ServiceAt = ComposeTarget | { container: string }

export interface ServiceExecOptions {
  mutates: boolean
  /** The command reads Command.input on its stdin (`compose exec -T` always passes it on). */
  stdin?: boolean
}

export interface ServiceRunOptions extends ServiceExecOptions {
  /** Names handed to the process from Command.env (`-e NAME`, no value in argv). */
  env?: readonly string[]
}

const inContainer = (id: string, argv: readonly string[], options: ServiceRunOptions): Command => ({
  argv: ['docker', 'exec', ...(options.stdin === true ? ['-i'] : []), ...(options.env ?? []).flatMap((name) => ['-e', name]), id, ...argv],
  mutates: options.mutates,
})

/** A command in the service's running container: `compose exec -T` or `docker exec` by id. */
export function serviceExec(at: ServiceAt, service: string, argv: readonly string[], options: ServiceExecOptions): Command {
  if ('container' in at) return inContainer(at.container, argv, options)
  return composeExec(at, service, argv, { mutates: options.mutates })
}

/**
 * A command with the service's image and environment: a one-off `compose run --rm` container
 * in compose mode (the release's image, even before it serves); in stack mode the service's
 * running task on this node (`docker exec`: the stack's tasks run the release that serves).
 */
export function serviceRun(at: ServiceAt, service: string, argv: readonly string[], options: ServiceRunOptions): Command {
  if ('container' in at) return inContainer(at.container, argv, options)
  return composeRun(at, service, argv, { mutates: options.mutates, ...(options.env === undefined ? {} : { env: options.env }) })
}

/** The node label of the services the toolkit execs into (lib/swarm/stack.ts places them so). */
const NODE_OF: Readonly<Record<string, string>> = { postgres: 'data', backend: 'data', nginx: 'edge' }

/** The error of a stack-mode script run on a node where `service` has no running task: it says where to go. */
export function notOnThisNode(stack: string, service: string, tasks: readonly Pick<ContainerState, 'status'>[]): ToolkitError {
  return new ToolkitError(`no running task of ${stack}_${service} on this node${tasks.length > 0 ? ` (its containers here: ${tasks.map((state) => state.status).join(', ')})` : ''}`, {
    exitCode: ExitCode.precondition,
    hint: `in stack mode (DEPLOY_TARGET=swarm) run this on the node where ${service} runs: \`docker service ps ${stack}_${service}\` on a manager names it${NODE_OF[service] === undefined ? '' : ` (the node labelled ${NODE_OF[service]}=true)`}`,
  })
}

/**
 * Where to run a command for `service`: the compose target, or in stack mode the running task
 * container of the service on this node; none is a precondition error that says where to run.
 */
export async function serviceAt(ctx: StackContext, service: string): Promise<ServiceAt> {
  if (ctx.swarm === undefined) return ctx.target
  const tasks = await projectContainers(ctx, service)
  const running = tasks.find((state) => state.status === 'running')
  if (running !== undefined) return { container: running.id }
  throw notOnThisNode(ctx.swarm.stack, service, tasks)
}
