import { composeUp } from '../compose/commands.ts'
import type { AikoEnv } from '../env/schema.ts'
import { applyNginxFiles } from '../nginx/apply.ts'
import { renderNginxSite } from '../nginx/render.ts'
import { readNginxTemplates } from '../nginx/templates.ts'
import { servableNginxMode } from '../ssl/nginx-mode.ts'
import type { StackContext } from './context.ts'
import { waitForHealthy } from './health.ts'

export const DEFAULT_UPSTREAMS = { backendServers: ['backend:5000'], frontendServers: ['frontend:3000'] }

/** Renders the nginx site in the given mode and applies it (nginx -t, reload, restore on failure). */
export async function renderAndApplyNginx(ctx: StackContext, env: AikoEnv, mode: 'http' | 'https', upstreams = DEFAULT_UPSTREAMS) {
  const files = renderNginxSite(
    { mode, domain: env.DOMAIN, wwwAlias: env.DOMAIN_WWW, uploadMaxSize: env.UPLOAD_MAX_SIZE, ...upstreams },
    await readNginxTemplates(ctx.nginxDir),
  )
  return applyNginxFiles({ executor: ctx.executor, output: ctx.output, target: ctx.target, confDir: ctx.nginxConfDir }, files)
}

/** Brings the whole stack up: nginx config first, then build and start, then every healthcheck green. */
export async function startStack(ctx: StackContext, env: AikoEnv, options: { timeoutMs: number }): Promise<readonly string[]> {
  const mode = await servableNginxMode(ctx, env)
  await ctx.output.step(`render nginx config (${mode} mode)`, () => renderAndApplyNginx(ctx, env, mode))
  await ctx.output.step('build images and start the stack', () => ctx.executor.run(composeUp(ctx.target, [], { build: true })))
  if (ctx.executor.dryRun) return []
  return ctx.output.step('wait until every service is healthy', () => waitForHealthy(ctx, { timeoutMs: options.timeoutMs }))
}
