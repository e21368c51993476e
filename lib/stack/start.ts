import { composeBuild, composeUp } from '../compose/commands.ts'
import { writeAlertmanagerConfig } from '../alerts/apply.ts'
import { alertTimingFrom } from '../alerts/config.ts'
import type { AikoEnv } from '../env/schema.ts'
import { applyNginxFiles } from '../nginx/apply.ts'
import { renderNginxSite } from '../nginx/render.ts'
import { readNginxTemplates } from '../nginx/templates.ts'
import { servableNginxMode } from '../ssl/nginx-mode.ts'
import type { StackContext } from './context.ts'
import { waitForHealthy } from './health.ts'
import { writeRedisConfig } from './redis-config.ts'

/** The release the compose calls of this context run: AIKO_RELEASE, else `latest` (compose's own default). */
export const contextRelease = (ctx: Pick<StackContext, 'target'>): string => ctx.target.env['AIKO_RELEASE'] ?? 'latest'

/**
 * Renders the nginx site in the given mode, proxying to `release`'s DNS aliases
 * (backend-<release>, frontend-<release>), and applies it (nginx -t, reload, restore on
 * failure). Without a release, the context's own (AIKO_RELEASE: the serving release, see
 * createStackContext), so a mode switch (init-ssl) never moves nginx to another release.
 */
export async function renderAndApplyNginx(ctx: StackContext, env: AikoEnv, mode: 'http' | 'https', release: string = contextRelease(ctx)) {
  // stack mode: nginx proxies to the stack's service names (Docker's DNS), whatever the release
  const where = ctx.swarm === undefined ? { release } : { release: 'swarm', upstreams: 'service-names' as const }
  const files = renderNginxSite({ mode, domain: env.DOMAIN, wwwAlias: env.DOMAIN_WWW, uploadMaxSize: env.UPLOAD_MAX_SIZE, ...where }, await readNginxTemplates(ctx.nginxDir))
  return applyNginxFiles({ executor: ctx.executor, output: ctx.output, target: ctx.target, confDir: ctx.nginxConfDir, ...(ctx.swarm === undefined ? {} : { swarm: ctx.swarm }) }, files)
}

/**
 * The services' config files rendered from .env into $AIKO_VAR_DIR: Redis's (its password,
 * secrets/redis.conf, which compose must find to create the redis container, also when an
 * operator runs `docker compose up` by hand) and Alertmanager's (a running one reloads it).
 * Written on every start and deploy, so a lost or stale file is put back by the next run.
 */
export const SERVICE_CONFIG_STEP = 'render the Redis and Alertmanager config'
export async function renderServiceConfigs(ctx: StackContext, env: AikoEnv): Promise<void> {
  await writeRedisConfig(ctx, env)
  await renderAlertmanager(ctx, env)
}

/** $AIKO_VAR_DIR/alertmanager/alertmanager.yml from .env; a running Alertmanager reloads it. */
export function renderAlertmanager(ctx: StackContext, env: AikoEnv) {
  return writeAlertmanagerConfig({ executor: ctx.executor, output: ctx.output, target: ctx.target, varDir: ctx.varDir }, env, alertTimingFrom(process.env))
}

/** Brings the whole stack up: nginx config first, then build and start, then every healthcheck green. */
export async function startStack(ctx: StackContext, env: AikoEnv, options: { timeoutMs: number }): Promise<readonly string[]> {
  const mode = await servableNginxMode(ctx, env)
  await ctx.output.step(`render nginx config (${mode} mode)`, () => renderAndApplyNginx(ctx, env, mode, contextRelease(ctx)))
  await ctx.output.step(SERVICE_CONFIG_STEP, () => renderServiceConfigs(ctx, env))
  // Built first: compose 1.29's `up --build` would try to pull the worker's image (the backend's, no build: section) before building it.
  await ctx.output.step('build the app images', () => ctx.executor.run({ ...composeBuild(ctx.target, ['backend', 'frontend']), timeoutMs: 60 * 60_000 }))
  await ctx.output.step('start the stack', () => ctx.executor.run(composeUp(ctx.target)))
  if (ctx.executor.dryRun) return []
  return ctx.output.step('wait until every service is healthy', () => waitForHealthy(ctx, { timeoutMs: options.timeoutMs }))
}
