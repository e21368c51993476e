import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'
import { composeContainerIds, type ComposeTarget } from '../compose/commands.ts'
import type { Executor } from '../exec/executor.ts'
import { dockerExec, splitIds } from '../docker/containers.ts'
import type { Output } from '../ui/output.ts'

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
  const previous = await readCurrent(ctx.confDir, Object.keys(files))
  if (Object.entries(files).every(([name, content]) => previous[name] === content)) return 'unchanged'
  if (ctx.executor.dryRun) {
    for (const name of Object.keys(files)) if (previous[name] !== files[name]) ctx.output.info(`[dry-run] would write ${join(ctx.confDir, name)}, test it with nginx -t and reload nginx`)
    return 'planned'
  }
  await mkdir(ctx.confDir, { recursive: true })
  await writeAll(ctx.confDir, files)
  const nginx = await runningNginx(ctx)
  if (nginx === undefined) return 'written'

  const test = await ctx.executor.probe(nginxTest(nginx))
  if (test.exitCode !== 0) {
    await writeAll(ctx.confDir, previous)
    throw new ToolkitError('nginx -t refused the new configuration: the previous files are back and nginx keeps serving', {
      exitCode: ExitCode.commandFailed,
      details: (test.stderr || test.stdout).trim().split('\n').filter((line) => !/test is successful|syntax is ok/.test(line)),
      hint: 'the lines above name the file and line nginx refused; fix the template under nginx/templates/',
    })
  }
  await ctx.executor.run(nginxReload(nginx))
  return 'reloaded'
}

async function readCurrent(dir: string, names: readonly string[]): Promise<Record<string, string | undefined>> {
  const entries = await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name), 'utf8').catch(() => undefined)] as const))
  return Object.fromEntries(entries)
}

/** Writes each file; an undefined content removes the file (it did not exist before). */
async function writeAll(dir: string, files: Readonly<Record<string, string | undefined>>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name)
    if (content === undefined) await rm(path, { force: true })
    else await writeFile(path, content, { mode: 0o644 })
  }
}

/** Tests the live configuration, then reloads gracefully: for new certificate files behind unchanged paths. */
export async function testAndReloadNginx(ctx: Pick<NginxApplyContext, 'executor' | 'target'>): Promise<void> {
  const nginx = await runningNginx(ctx)
  if (nginx === undefined) throw new ToolkitError('nginx is not running', { exitCode: ExitCode.precondition, hint: 'start the stack first' })
  await ctx.executor.run(nginxTest(nginx))
  await ctx.executor.run(nginxReload(nginx))
}
