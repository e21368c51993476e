import { composeExec, composeScaleUp } from '../compose/commands.ts'
import { removeContainers, stopContainers, type ContainerState } from '../docker/containers.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { servableNginxMode } from '../ssl/nginx-mode.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers, waitUntilProbesPass } from '../stack/health.ts'
import { renderAndApplyNginx } from '../stack/start.ts'
import { imageOfService, WEB_PORTS } from './images.ts'

const BESIDE = ['backend', 'frontend', 'celery-worker'] as const

export interface Generation {
  old: ContainerState[]
  fresh: ContainerState[]
}

export const releaseTarget = (ctx: StackContext, release: string): StackContext => ({ ...ctx, target: { ...ctx.target, env: { ...ctx.target.env, AIKO_RELEASE: release } } })

/**
 * Blue/green: the release's backend, frontend and worker start beside the running ones,
 * nginx switches as soon as the new web containers pass their healthchecks, then the old
 * ones drain and stop. Every undo sits next to the step it undoes.
 */
export async function switchToRelease(ctx: StackContext, env: AikoEnv, release: string, options: { healthTimeoutMs: number }): Promise<void> {
  const next = releaseTarget(ctx, release)
  const mode = await servableNginxMode(ctx, env)
  const generation = await ctx.output.step('start the new release beside the old one', () => startBeside(next, release))
  const { web, worker } = split(generation.fresh)
  try {
    await ctx.output.step('wait for the new web containers to pass their healthchecks', () => waitUntilProbesPass(ctx, web, options.healthTimeoutMs))
  } catch (error) {
    await removeAll(ctx, generation.fresh)
    throw error
  }
  if (ctx.executor.dryRun) return
  await ctx.output.step('point nginx at the new release (nginx -t, graceful reload)', () => pointNginxAt(ctx, env, mode, generation.fresh))
  try {
    await ctx.output.step('check the API through nginx', () => checkThroughNginx(ctx, env, mode))
    await ctx.output.step('wait for the new worker to pass its healthcheck', () => waitUntilProbesPass(ctx, worker, options.healthTimeoutMs))
  } catch (error) {
    await pointNginxAt(ctx, env, mode, generation.old)
    await removeAll(ctx, generation.fresh)
    throw new ToolkitError('the new release failed a check after the switch: switched back to the previous release', {
      exitCode: ExitCode.commandFailed,
      details: error instanceof ToolkitError ? [error.message, ...error.details] : [String(error)],
    })
  }
  await ctx.output.step('drain and stop the old release (in-flight requests and tasks finish)', () => retire(ctx, generation.old))
  await ctx.output.step('swap celery beat (never two at once)', () => swapBeat(next))
}

const split = (containers: readonly ContainerState[]) => ({
  web: containers.filter((state) => state.service === 'backend' || state.service === 'frontend'),
  worker: containers.filter((state) => state.service === 'celery-worker'),
})

async function startBeside(next: StackContext, release: string): Promise<Generation> {
  const before = await projectContainers(next)
  const running = (service: string) => before.filter((state) => state.service === service && state.status === 'running')
  const scales = Object.fromEntries(BESIDE.map((service) => [service, running(service).length + 1]))
  await next.executor.run(composeScaleUp(next.target, scales))
  const after = await projectContainers(next)
  const oldIds = new Set(before.map((state) => state.id))
  const isBeside = (state: ContainerState) => BESIDE.some((service) => service === state.service)
  return {
    old: before.filter((state) => isBeside(state) && state.status === 'running'),
    fresh: after.filter((state) => isBeside(state) && !oldIds.has(state.id) && state.image === imageOfService(state.service ?? '', release)),
  }
}

/** Upstreams by container name: nginx resolves them at reload, so only these containers get traffic. */
export async function pointNginxAt(ctx: StackContext, env: AikoEnv, mode: 'http' | 'https', containers: readonly ContainerState[]): Promise<void> {
  const servers = (service: keyof typeof WEB_PORTS) => containers.filter((state) => state.service === service).map((state) => `${state.name}:${WEB_PORTS[service]}`)
  const backendServers = servers('backend')
  const frontendServers = servers('frontend')
  if (backendServers.length === 0 || frontendServers.length === 0)
    throw new ToolkitError('no running backend or frontend container to point nginx at', { exitCode: ExitCode.precondition, hint: 'start the stack first' })
  await renderAndApplyNginx(ctx, env, mode, { backendServers, frontendServers })
}

async function checkThroughNginx(ctx: StackContext, env: AikoEnv, mode: 'http' | 'https'): Promise<void> {
  const https = mode === 'https'
  const url = `${https ? 'https' : 'http'}://127.0.0.1/api/health`
  await ctx.executor.run(
    composeExec(ctx.target, 'nginx', ['wget', '-q', '-O', '/dev/null', '--header', `Host: ${env.DOMAIN}`, ...(https ? ['--no-check-certificate'] : []), url], { mutates: false }),
  )
}

/** SIGTERM with a grace period: gunicorn finishes its requests, celery does a warm shutdown. */
async function retire(ctx: StackContext, containers: readonly ContainerState[]): Promise<void> {
  if (containers.length === 0) return
  const ids = containers.map((state) => state.id)
  await ctx.executor.run(stopContainers(ids, 60))
  await ctx.executor.run(removeContainers(ids))
}

async function removeAll(ctx: StackContext, containers: readonly ContainerState[]): Promise<void> {
  if (containers.length > 0) await ctx.executor.probe(removeContainers(containers.map((state) => state.id)))
}

/** Beat schedules periodic tasks: the old one stops before the new one starts, so no task runs twice. */
async function swapBeat(next: StackContext): Promise<void> {
  const beats = (await projectContainers(next, 'celery-beat')).filter((state) => state.status === 'running' || state.status === 'restarting' || state.status === 'created')
  await retire(next, beats)
  await next.executor.run(composeScaleUp(next.target, { 'celery-beat': 1 }))
}
