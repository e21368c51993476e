import { join } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'
import { composeContainerIds, type ComposeTarget } from '../compose/commands.ts'
import type { Command, Executor } from '../exec/executor.ts'
import { dockerExec, splitIds } from '../docker/containers.ts'
import type { Output } from '../ui/output.ts'
import { activateNginxFiles, readConfFiles, stageNginxFiles } from './stage.ts'

export interface NginxApplyContext {
  executor: Executor
  output: Output
  target: ComposeTarget
  /** Host folder mounted as /etc/nginx/conf.d. */
  confDir: string
}

export type ApplyResult = 'unchanged' | 'reloaded' | 'written' | 'planned'

export const nginxTest = (nginxId: string) => dockerExec(nginxId, ['nginx', '-t'], false)
export const nginxReload = (nginxId: string) => dockerExec(nginxId, ['nginx', '-s', 'reload'], true)

/**
 * Waits (at most ~15 s, inside the container) until no nginx worker of the configuration
 * before the last reload is left: a graceful reload lets them finish the requests they hold,
 * still proxied by the old configuration; such a worker is titled "nginx: worker process is
 * shutting down" ("[d]own": the script's own command line must not match). Exit 1 when some
 * are still there after the bound.
 */
export function waitForOldNginxWorkers(nginxId: string): Command {
  const script = 'i=0; while grep -qs "is shutting [d]own" /proc/[0-9]*/cmdline; do i=$((i+1)); [ $i -ge 150 ] && exit 1; sleep 0.1; done; exit 0'
  return { ...dockerExec(nginxId, ['sh', '-c', script], false), timeoutMs: 30_000 }
}

/** The id of the running nginx container, or undefined when it is not up. */
export async function runningNginx(ctx: Pick<NginxApplyContext, 'executor' | 'target'>): Promise<string | undefined> {
  return splitIds((await ctx.executor.probe(composeContainerIds(ctx.target, 'nginx', { runningOnly: true }))).stdout)[0]
}

/**
 * Writes the rendered files, has the running nginx test them, then reloads it gracefully.
 * When `nginx -t` refuses them, the previous files are put back and nginx keeps serving the
 * old configuration. When nginx is not running yet, the files are written for its start.
 */
export async function applyNginxFiles(ctx: NginxApplyContext, files: Readonly<Record<string, string>>): Promise<ApplyResult> {
  const previous = await readConfFiles(ctx.confDir, Object.keys(files))
  if (Object.entries(files).every(([name, content]) => previous[name] === content)) return 'unchanged'
  if (ctx.executor.dryRun) {
    for (const name of Object.keys(files)) if (previous[name] !== files[name]) ctx.output.info(`[dry-run] would write ${join(ctx.confDir, name)}, test it with nginx -t and reload nginx`)
    return 'planned'
  }
  await stageNginxFiles(ctx.confDir, files)
  return (await activateNginxFiles(ctx, previous)) ? 'reloaded' : 'written'
}

/** Tests the live configuration, then reloads gracefully: for new certificate files behind unchanged paths. */
export async function testAndReloadNginx(ctx: Pick<NginxApplyContext, 'executor' | 'target'>): Promise<void> {
  const nginx = await runningNginx(ctx)
  if (nginx === undefined) throw new ToolkitError('nginx is not running', { exitCode: ExitCode.precondition, hint: 'start the stack first' })
  await ctx.executor.run(nginxTest(nginx))
  await ctx.executor.run(nginxReload(nginx))
}
