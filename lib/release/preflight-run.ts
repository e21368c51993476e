import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { detectCompose } from '../compose/detect.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { runningNginx } from '../nginx/apply.ts'
import { servableNginxMode } from '../ssl/nginx-mode.ts'
import { PROJECT_DIR, type StackContext } from '../stack/context.ts'
import { readGitState, type GitState } from './git.ts'
import { certificateCheck, composeCheck, diskCheck, freeDiskBytes, memLimits, memoryCheck, portCheck, readMemory, type Check } from './preflight.ts'
import { BESIDE_SERVICES } from './converge-plan.ts'

/** The memory limits of the services a switch starts beside the serving ones (docker-compose.yml). */
async function switchMemoryNeed(): Promise<Record<string, number>> {
  const limits = memLimits(await readFile(join(PROJECT_DIR, 'docker-compose.yml'), 'utf8'))
  return Object.fromEntries(BESIDE_SERVICES.flatMap((service) => (limits[service] === undefined ? [] : [[service, limits[service]]])))
}

/** Every pre-check, all reported together before anything changes. */
export async function runPreflight(ctx: StackContext, env: AikoEnv): Promise<GitState> {
  const nginxUp = (await runningNginx(ctx)) !== undefined
  const git = await readGitState(ctx.executor)
  const checks: Check[] = [
    composeCheck(await detectCompose(ctx.executor)),
    diskCheck(await freeDiskBytes(PROJECT_DIR)),
    memoryCheck(await readMemory(), await switchMemoryNeed()),
    await portCheck(env.HTTP_BIND, env.HTTP_PORT, nginxUp),
    await portCheck(env.HTTP_BIND, env.HTTPS_PORT, nginxUp),
    { name: '.env', ok: true, detail: `valid (APP_ENV=${env.APP_ENV}, DOMAIN=${env.DOMAIN})` },
    // Read through nginx, or from the letsencrypt volume by a one-off container when nginx is down (after `down`, a reboot).
    certificateCheck(env, await servableNginxMode(ctx, env)),
    { name: 'git', ok: true, detail: `${git.sha.slice(0, 12)}${git.dirty ? ' with uncommitted changes (they are deployed too)' : ', clean tree'}` },
  ]
  for (const check of checks) (check.ok ? ctx.output.info : ctx.output.error)(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`)
  const failed = checks.filter((check) => !check.ok)
  if (failed.length > 0)
    throw new ToolkitError(`${failed.length} pre-check${failed.length === 1 ? '' : 's'} failed: nothing was changed`, {
      exitCode: ExitCode.precondition,
      details: failed.map((check) => `- ${check.name}: ${check.detail}`),
    })
  return git
}
