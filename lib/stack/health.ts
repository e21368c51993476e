import { composeContainerIds } from '../compose/commands.ts'
import { inspectContainers, parseContainerStates, runHealthcheck, splitIds, type ContainerState } from '../docker/containers.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { localTaskContainerIds } from '../swarm/commands.ts'
import { waitUntil, WaitTimeout } from '../util/wait.ts'
import { assessReadiness } from './readiness.ts'
import type { StackContext } from './context.ts'

/** The stack's containers on this daemon (of one service when given): compose's, or in stack mode the Swarm tasks that run here. */
export async function projectContainers(ctx: StackContext, service?: string): Promise<ContainerState[]> {
  const list = ctx.swarm === undefined ? composeContainerIds(ctx.target, service) : localTaskContainerIds(ctx.swarm, service)
  const ids = splitIds((await ctx.executor.run(list)).stdout)
  if (ids.length === 0) return []
  return parseContainerStates((await ctx.executor.run(inspectContainers(ids))).stdout)
}

/** Waits until every service of the project (or the given ones) is running and healthy. */
export async function waitForHealthy(ctx: StackContext, options: { services?: readonly string[]; timeoutMs: number }): Promise<readonly string[]> {
  try {
    return await waitUntil(
      async () => {
        const states = await projectContainers(ctx)
        const services = options.services ?? [...new Set(states.flatMap((state) => (state.service === undefined ? [] : [state.service])))]
        const readiness = assessReadiness(states, services)
        if (readiness.ready) return { done: true, value: services }
        if (readiness.failed.length > 0)
          throw new ToolkitError(`the stack did not become healthy: ${readiness.failed.length} service${readiness.failed.length === 1 ? '' : 's'} failed`, {
            exitCode: ExitCode.commandFailed,
            details: readiness.failed,
            hint: 'see the service logs with `docker compose logs SERVICE`',
          })
        return { done: false, waitingFor: readiness.waitingFor.join(', ') }
      },
      { timeoutMs: options.timeoutMs, firstDelayMs: 500, maxDelayMs: 3000 },
    )
  } catch (error) {
    if (!(error instanceof WaitTimeout)) throw error
    throw new ToolkitError(`the stack is not healthy after ${Math.round(options.timeoutMs / 1000)}s`, {
      exitCode: ExitCode.commandFailed,
      details: [`waiting for: ${error.waitingFor}`],
      hint: 'see the service logs with `docker compose logs SERVICE`',
    })
  }
}

/**
 * Waits until each given container passes its own healthcheck, probed directly with backoff
 * (Docker only runs it every interval); a container that exits fails at once.
 */
export async function waitUntilProbesPass(ctx: StackContext, containers: readonly ContainerState[], timeoutMs: number): Promise<void> {
  if (containers.length === 0) return
  const passed = new Set<string>()
  try {
    await waitUntil(
      async () => {
        const states = parseContainerStates((await ctx.executor.run(inspectContainers(containers.map((c) => c.id)))).stdout)
        const failed = assessReadiness(states, [...new Set(states.map((s) => s.service ?? ''))])
        if (!failed.ready && failed.failed.length > 0)
          throw new ToolkitError('the new release did not start', { exitCode: ExitCode.commandFailed, details: failed.failed, hint: 'see its logs with `docker logs CONTAINER`' })
        for (const state of states) {
          if (passed.has(state.id) || state.status !== 'running') continue
          const probe = runHealthcheck(state)
          if (probe === undefined || (await ctx.executor.probe(probe)).exitCode === 0) passed.add(state.id)
        }
        const pending = states.filter((state) => !passed.has(state.id)).map((state) => state.service ?? state.name)
        return pending.length === 0 ? { done: true, value: undefined } : { done: false, waitingFor: pending.join(', ') }
      },
      { timeoutMs, firstDelayMs: 250, maxDelayMs: 1000 },
    )
  } catch (error) {
    if (!(error instanceof WaitTimeout)) throw error
    throw new ToolkitError(`the new release is not healthy after ${Math.round(timeoutMs / 1000)}s`, {
      exitCode: ExitCode.commandFailed,
      details: [`failing its healthcheck: ${error.waitingFor}`],
      hint: 'see its logs with `docker logs CONTAINER`; the previous release keeps serving',
    })
  }
}
