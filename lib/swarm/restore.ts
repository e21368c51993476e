import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { YAML } from 'zx'
import { z } from 'zod'
import { WRITER_SERVICES } from '../backup/restore.ts'
import { newBackupPath } from '../backup/files.ts'
import { preRestoreName } from '../backup/names.ts'
import { backupDatabase, restoreDatabase } from '../db/dump.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { StackContext } from '../stack/context.ts'
import { serviceAt } from '../stack/service-exec.ts'
import { scaleServices, stackServiceName, type SwarmTarget } from './commands.ts'
import { requireManager, stackFilePath, swarmTarget } from './deploy.ts'

const StackReplicas = z.object({
  services: z.record(z.string(), z.object({ deploy: z.object({ replicas: z.number().int().nonnegative().optional() }).optional() })),
})

/**
 * The replicas the stack file (the last deploy's) gives each writer: what they go back to after
 * a restore, whatever the Swarm runs now (a restore killed while they were at 0 left them there).
 */
export function writerReplicas(stackYaml: string, target: SwarmTarget): Record<string, number> {
  const parsed = StackReplicas.safeParse(YAML.parse(stackYaml))
  if (!parsed.success) throw new ToolkitError('var/swarm/stack.yml cannot be read as a stack file', { exitCode: ExitCode.invalidConfig, hint: 'deploy once (npx zx scripts/deploy.mts): it writes the file again' })
  const replicas: Record<string, number> = {}
  for (const service of WRITER_SERVICES) {
    const spec = parsed.data.services[service]
    if (spec !== undefined) replicas[stackServiceName(target, service)] = spec.deploy?.replicas ?? 1
  }
  return replicas
}

/**
 * `backup --restore FILE` in stack mode, on the data node (a manager), as a short story: the
 * writers (backend, worker, beat) scaled to 0 (Swarm stops their tasks with their grace period),
 * a safety dump of the current database, the restore in one transaction, the writers back to the
 * stack file's replicas. A failure before the restore leaves the database as it was; after it,
 * the safety dump goes back. Either way the writers are scaled back. Returns the safety dump.
 * The caller holds the lock and has the operator's confirmation.
 */
export async function restoreInStack(ctx: StackContext, file: string, now: Date): Promise<string> {
  const target = swarmTarget(ctx)
  await ctx.output.step('check that this Docker engine is a Swarm manager', () => requireManager(ctx, target))
  // before anything changes: PostgreSQL must run here (this node keeps the backups)
  await serviceAt(ctx, 'postgres')
  const replicas = writerReplicas(await readFile(stackFilePath(ctx.varDir), 'utf8'), target)
  const safety = await newBackupPath(ctx.varDir, preRestoreName(now))
  const stopped = Object.fromEntries(Object.keys(replicas).map((name) => [name, 0]))
  const scaleBack = () => ctx.output.step(`scale the writers back (${describe(replicas)})`, () => ctx.executor.run(scaleServices(target, replicas)))

  await ctx.output.step(`scale the writers to 0 (${Object.keys(replicas).join(', ')}): in-flight requests and tasks finish`, () => ctx.executor.run(scaleServices(target, stopped)))
  try {
    await ctx.output.step(`safety dump of the current database to ${basename(safety)}`, () => backupDatabase(ctx, safety))
    await ctx.output.step(`restore ${basename(file)} (one transaction)`, () => restoreDatabase(ctx, file))
  } catch (error) {
    await scaleBack()
    throw error
  }
  try {
    await scaleBack()
  } catch (error) {
    await ctx.output.step(`put the safety dump ${basename(safety)} back`, () => restoreDatabase(ctx, safety))
    await ctx.executor.probe(scaleServices(target, replicas))
    throw new ToolkitError(`the writers did not come back after the restore: the safety dump is back, nothing was lost`, {
      exitCode: ExitCode.commandFailed,
      details: error instanceof ToolkitError ? [error.message, ...error.details] : [String(error)],
      hint: `see why with \`docker service ps --no-trunc ${stackServiceName(target, 'backend')}\`; ${file} is untouched`,
    })
  }
  return safety
}

const describe = (replicas: Readonly<Record<string, number>>) => Object.entries(replicas).map(([name, count]) => `${name}=${count}`).join(' ')
