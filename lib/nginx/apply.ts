import { join } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'
import { composeContainerIds, type ComposeTarget } from '../compose/commands.ts'
import type { Command, Executor } from '../exec/executor.ts'
import { dockerExec, splitIds } from '../docker/containers.ts'
import { localTaskContainerIds, type SwarmTarget } from '../swarm/commands.ts'
import type { Output } from '../ui/output.ts'
import { activateNginxFiles, readConfFiles, stageNginxFiles } from './stage.ts'

export interface NginxApplyContext {
  executor: Executor
  output: Output
  target: ComposeTarget
  /** Host folder mounted as /etc/nginx/conf.d. */
  confDir: string
  /** Stack mode: nginx is the stack's task on this node (the edge node). */
  swarm?: SwarmTarget
}

export type ApplyResult = 'unchanged' | 'reloaded' | 'written' | 'planned'

export const nginxTest = (nginxId: string) => dockerExec(nginxId, ['nginx', '-t'], false)
/**
 * `nginx -s reload` only sends SIGHUP: the master reads the configuration and the certificate
 * files, starts new workers, then tells the old ones to stop accepting; until then a new
 * connection may still reach an old worker and the old configuration (found by e2e: a check
 * right after init-ssl's switch still got the HTTP site). So the reload waits, inside the
 * container, until no worker of the master's previous generation still accepts: each is gone
 * or titled "worker process is shutting down" (nginx sets the title as it closes its
 * listening sockets). A master that refused the new files (it keeps the old workers, and says
 * why only in its log) makes it fail after 10 s instead of passing silently.
 */
const RELOAD_AND_WAIT = [
  'm=$(cat /run/nginx.pid 2>/dev/null || cat /var/run/nginx.pid 2>/dev/null)',
  // The master's children that still accept connections (not shutting down).
  'accepting() { for d in /proc/[0-9]*; do set -- $(cat "$d/stat" 2>/dev/null); [ "${4:-}" = "$m" ] || continue; tr "\\0" " " < "$d/cmdline" 2>/dev/null | grep -q "shutting down" || printf "%s " "$1"; done; }',
  'old=$(accepting)',
  'nginx -s reload || exit $?',
  'i=0',
  'while :; do now=" $(accepting)"; left=""; for p in $old; do case "$now " in *" $p "*) left="$left $p";; esac; done; [ -z "$left" ] && exit 0; i=$((i+1)); if [ $i -ge 100 ]; then echo "nginx did not apply the new configuration within 10 s (workers$left still serve the old one): see docker compose logs nginx" >&2; exit 1; fi; sleep 0.1; done',
].join('\n')
export const nginxReload = (nginxId: string): Command => ({ ...dockerExec(nginxId, ['sh', '-c', RELOAD_AND_WAIT, 'nginx -s reload'], true), timeoutMs: 30_000 })

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

/** The id of the running nginx container (in stack mode, the stack's nginx task on this node), or undefined when it is not up. */
export async function runningNginx(ctx: Pick<NginxApplyContext, 'executor' | 'target' | 'swarm'>): Promise<string | undefined> {
  const list = ctx.swarm === undefined ? composeContainerIds(ctx.target, 'nginx', { runningOnly: true }) : localTaskContainerIds(ctx.swarm, 'nginx', { runningOnly: true })
  return splitIds((await ctx.executor.probe(list)).stdout)[0]
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
export async function testAndReloadNginx(ctx: Pick<NginxApplyContext, 'executor' | 'target' | 'swarm'>): Promise<void> {
  const nginx = await runningNginx(ctx)
  if (nginx === undefined) throw new ToolkitError('nginx is not running', { exitCode: ExitCode.precondition, hint: 'start the stack first' })
  await ctx.executor.run(nginxTest(nginx))
  await ctx.executor.run(nginxReload(nginx))
}
