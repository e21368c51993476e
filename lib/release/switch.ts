import { composeExec, composeScaleUp } from '../compose/commands.ts'
import { removeContainers, startContainers, stopContainers, type ContainerState } from '../docker/containers.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { renderNginxSite } from '../nginx/render.ts'
import { siteCheckArgv } from '../nginx/served.ts'
import { activateNginxFiles, stageNginxFiles, type PreviousFiles } from '../nginx/stage.ts'
import { readNginxTemplates } from '../nginx/templates.ts'
import { servableNginxMode } from '../ssl/nginx-mode.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers, waitUntilProbesPass } from '../stack/health.ts'
import { BESIDE_SERVICES } from './converge-plan.ts'
import { imageOfService } from './images.ts'
import { recordServing } from './record.ts'

export interface Generation {
  old: ContainerState[]
  fresh: ContainerState[]
}

export const releaseTarget = (ctx: StackContext, release: string): StackContext => ({ ...ctx, target: { ...ctx.target, env: { ...ctx.target.env, AIKO_RELEASE: release } } })

/**
 * Blue/green: the release's backend, frontend and worker start beside the running ones,
 * nginx switches as soon as the new web containers pass their healthchecks, the switch is
 * recorded at once, then the old ones drain and stop. Every undo sits next to its step.
 */
export async function switchToRelease(ctx: StackContext, env: AikoEnv, release: string, options: { healthTimeoutMs: number; previous: string }): Promise<void> {
  const mode = await servableNginxMode(ctx, env)
  const generation = await ctx.output.step('start the new release beside the old one', () => startBeside(releaseTarget(ctx, release), release, BESIDE_SERVICES))
  const { web, worker } = split(generation.fresh)
  try {
    await ctx.output.step('wait for the new web containers to pass their healthchecks', () => waitUntilProbesPass(ctx, web, options.healthTimeoutMs))
  } catch (error) {
    await removeAll(ctx, generation.fresh)
    throw error
  }
  if (ctx.executor.dryRun) return
  const before = await ctx.output.step(`render the nginx upstreams for release ${release}`, () => stageRelease(ctx, env, mode, release))
  try {
    await ctx.output.step('reload nginx (nginx -t, graceful reload)', () => activateNginxFiles(nginxContext(ctx), before))
  } catch (error) {
    await removeAll(ctx, generation.fresh)
    throw error
  }
  await recordServing(ctx, release)
  try {
    await ctx.output.step('check the API through nginx', () => checkThroughNginx(ctx, env))
    await ctx.output.step('wait for the new worker to pass its healthcheck', () => waitUntilProbesPass(ctx, worker, options.healthTimeoutMs))
  } catch (error) {
    await pointNginxAt(ctx, env, mode, options.previous)
    await recordServing(ctx, options.previous)
    await removeAll(ctx, generation.fresh)
    throw new ToolkitError('the new release failed a check after the switch: switched back to the previous release', {
      exitCode: ExitCode.commandFailed,
      details: error instanceof ToolkitError ? [error.message, ...error.details] : [String(error)],
    })
  }
  await ctx.output.step('drain and stop the old release (in-flight requests and tasks finish)', () => retire(ctx, generation.old))
  await ctx.output.step('swap celery beat (never two at once)', () => startBeat(releaseTarget(ctx, release), { replace: true }))
}

const split = (containers: readonly ContainerState[]) => ({
  web: containers.filter((state) => state.service === 'backend' || state.service === 'frontend'),
  worker: containers.filter((state) => state.service === 'celery-worker'),
})

const nginxContext = (ctx: StackContext) => ({ executor: ctx.executor, target: ctx.target, confDir: ctx.nginxConfDir })

/**
 * One more container of each service with the release's image, beside every container the
 * service has (compose counts exited and created ones too: the scale counts them all). Each
 * service must get its fresh container, or nothing is switched.
 */
export async function startBeside(next: StackContext, release: string, services: readonly string[]): Promise<Generation> {
  const before = await projectContainers(next)
  const isSwitched = (state: ContainerState) => services.some((service) => service === state.service)
  const scales = Object.fromEntries(services.map((service) => [service, before.filter((state) => state.service === service).length + 1]))
  await next.executor.run(composeScaleUp(next.target, scales))
  if (next.executor.dryRun) return { old: [], fresh: [] }
  const oldIds = new Set(before.map((state) => state.id))
  const after = await projectContainers(next)
  const fresh = after.filter((state) => isSwitched(state) && !oldIds.has(state.id) && state.image === imageOfService(state.service ?? '', release))
  const missing = services.filter((service) => !fresh.some((state) => state.service === service))
  if (missing.length > 0) {
    await removeAll(next, fresh)
    throw new ToolkitError(`compose started no new container of ${missing.join(', ')} for release ${release}: nothing was switched`, {
      exitCode: ExitCode.commandFailed,
      hint: 'see `docker compose ps -a`; run the same command again: it removes stopped containers first',
    })
  }
  return { old: before.filter((state) => isSwitched(state) && state.status !== 'removing'), fresh }
}

/** Renders the site for a release (in maintenance mode: the maintenance page instead of the app) and stages it. */
export async function stageRelease(ctx: StackContext, env: AikoEnv, mode: 'http' | 'https', release: string, maintenance = false): Promise<PreviousFiles> {
  const files = renderNginxSite({ mode, domain: env.DOMAIN, wwwAlias: env.DOMAIN_WWW, uploadMaxSize: env.UPLOAD_MAX_SIZE, release, maintenance }, await readNginxTemplates(ctx.nginxDir))
  return stageNginxFiles(ctx.nginxConfDir, files)
}

/** Renders the site for a release and makes the running nginx serve it (staged, tested, reloaded); maintenance: the maintenance page instead. */
export async function pointNginxAt(ctx: StackContext, env: AikoEnv, mode: 'http' | 'https', release: string, maintenance = false): Promise<boolean> {
  return activateNginxFiles(nginxContext(ctx), await stageRelease(ctx, env, mode, release, maintenance))
}

async function checkThroughNginx(ctx: StackContext, env: AikoEnv): Promise<void> {
  await ctx.executor.run({
    ...composeExec(ctx.target, 'nginx', siteCheckArgv(env.DOMAIN), { mutates: false }),
    timeoutMs: 60_000,
  })
}

/** SIGTERM with a grace period: gunicorn finishes its requests, celery does a warm shutdown. */
export async function retire(ctx: StackContext, containers: readonly Pick<ContainerState, 'id'>[]): Promise<void> {
  if (containers.length === 0) return
  const ids = containers.map((state) => state.id)
  await ctx.executor.run(stopContainers(ids, 60))
  await ctx.executor.run(removeContainers(ids))
}

/** Starts stopped containers again (the writers a restore stopped), as they were. */
export async function restart(ctx: StackContext, containers: readonly Pick<ContainerState, 'id'>[]): Promise<void> {
  if (containers.length > 0) await ctx.executor.run(startContainers(containers.map((state) => state.id)))
}

export async function removeAll(ctx: StackContext, containers: readonly Pick<ContainerState, 'id'>[]): Promise<void> {
  if (containers.length > 0) await ctx.executor.probe(removeContainers(containers.map((state) => state.id)))
}

/** Beat schedules periodic tasks: the old one stops before the new one starts, so no task runs twice. */
export async function startBeat(next: StackContext, options: { replace: boolean }): Promise<void> {
  const beats = await projectContainers(next, 'celery-beat')
  if (options.replace) await retire(next, beats)
  await next.executor.run(composeScaleUp(next.target, { 'celery-beat': options.replace ? 1 : beats.length + 1 }))
}
