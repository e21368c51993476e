import { composeContainerIds } from '../compose/commands.ts'
import { inspectContainers, parseContainerStates, splitIds, type ContainerState } from '../docker/containers.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { waitUntil, WaitTimeout } from '../util/wait.ts'
import { assessReadiness } from './readiness.ts'
import type { StackContext } from './context.ts'

export async function projectContainers(ctx: StackContext, service?: string): Promise<ContainerState[]> {
  const ids = splitIds((await ctx.executor.run(composeContainerIds(ctx.target, service))).stdout)
  if (ids.length === 0) return []
  return parseContainerStates((await ctx.executor.run(inspectContainers(ids))).stdout)
}

/**
 * Waits until every service of the project (or the given ones) is running and healthy;
 * `only` narrows the check to some containers (the new release's, during a deploy).
 */
export async function waitForHealthy(
  ctx: StackContext,
  options: { services?: readonly string[]; only?: (state: ContainerState) => boolean; timeoutMs: number },
): Promise<readonly string[]> {
  try {
    return await waitUntil(
      async () => {
        const states = (await projectContainers(ctx)).filter(options.only ?? (() => true))
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
