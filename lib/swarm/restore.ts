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
import { waitUntil, WaitTimeout } from '../util/wait.ts'
import { scaleServices, serviceTasksAll, stackServiceName, type SwarmTarget } from './commands.ts'
import { parseTaskRows, type TaskRow } from './plan.ts'
import { observeServices, requireManager, stackFilePath, swarmTarget } from './deploy.ts'

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

/** The services whose running tasks are not yet the wanted count, as `name running/wanted`; [] once all are. */
export function replicasPending(wanted: Readonly<Record<string, number>>, running: Readonly<Record<string, { running: number }>>): string[] {
  return Object.entries(wanted).flatMap(([name, count]) => {
    const now = running[name]?.running ?? 0
    return now === count ? [] : [`${name} ${now}/${count}`]
  })
}

/** Task states after which the container no longer runs (Swarm's terminal states). */
const ENDED = /^(Shutdown|Complete|Failed|Rejected|Orphaned|Remove)\b/

/**
 * The tasks of a service scaled to 0 that may still run: one being stopped keeps its current
 * state Running (desired Shutdown) until its process exits, and the running count no longer
 * includes it; the restore must wait for it, or a request it finishes would be lost.
 */
export const liveTasks = (rows: readonly TaskRow[]): TaskRow[] => rows.filter((row) => !ENDED.test(row.CurrentState))

/** What the writers still lack: running tasks short of their count, or tasks of a stopped one still running. */
async function writersPending(ctx: StackContext, target: SwarmTarget, wanted: Readonly<Record<string, number>>): Promise<string[]> {
  const up = Object.fromEntries(Object.entries(wanted).filter(([, count]) => count > 0))
  const pending = Object.keys(up).length === 0 ? [] : replicasPending(up, (await observeServices(ctx, target, Object.keys(up))).replicas)
  for (const [name, count] of Object.entries(wanted)) {
    if (count > 0) continue
    const live = liveTasks(parseTaskRows((await ctx.executor.run(serviceTasksAll(target, name))).stdout))
    if (live.length > 0) pending.push(`${name}: ${live.length} task${live.length === 1 ? '' : 's'} still stopping`)
  }
  return pending
}

/** Scales the services together, then polls until each runs exactly its count (a started task counts once its healthcheck passed; a stopped one once its process exited). */
async function scaleAndWait(ctx: StackContext, target: SwarmTarget, wanted: Readonly<Record<string, number>>, timeoutMs: number, pollMs: number): Promise<void> {
  await ctx.executor.run(scaleServices(target, wanted))
  if (ctx.executor.dryRun) return
  try {
    await waitUntil(
      async () => {
        const pending = await writersPending(ctx, target, wanted)
        return pending.length === 0 ? { done: true, value: undefined } : { done: false, waitingFor: pending.join('; ') }
      },
      { timeoutMs, firstDelayMs: pollMs, maxDelayMs: pollMs },
    )
  } catch (error) {
    if (!(error instanceof WaitTimeout)) throw error
    throw new ToolkitError(`the writers did not reach their task count within ${Math.round(timeoutMs / 1000)}s`, {
      exitCode: ExitCode.commandFailed,
      details: error.waitingFor.split('; '),
      hint: `see why with \`docker service ps --no-trunc ${error.waitingFor.split(/[ :]/)[0] ?? target.stack}\``,
    })
  }
}

/**
 * `backup --restore FILE` in stack mode, on the data node (a manager), as a short story: the
 * writers (backend, worker, beat) scaled to 0 (Swarm stops their tasks with their grace period),
 * a safety dump of the current database, the restore in one transaction, the writers back to the
 * stack file's replicas. A failure before the restore leaves the database as it was; after it,
 * the safety dump goes back. Either way the writers are scaled back. Returns the safety dump.
 * The caller holds the lock and has the operator's confirmation.
 */
export async function restoreInStack(ctx: StackContext, file: string, options: { now: Date; healthTimeoutMs: number; pollMs?: number }): Promise<string> {
  const target = swarmTarget(ctx)
  await ctx.output.step('check that this Docker engine is a Swarm manager', () => requireManager(ctx, target))
  // before anything changes: PostgreSQL must run here (this node keeps the backups)
  await serviceAt(ctx, 'postgres')
  const replicas = writerReplicas(await readFile(stackFilePath(ctx.varDir), 'utf8'), target)
  const safety = await newBackupPath(ctx.varDir, preRestoreName(options.now))
  const stopped = Object.fromEntries(Object.keys(replicas).map((name) => [name, 0]))
  const pollMs = options.pollMs ?? 1_000
  // stopping waits for the longest grace period (celery-worker: 60 s) on top of the health timeout
  const scaleBack = () => ctx.output.step(`scale the writers back (${describe(replicas)}) and wait for their healthchecks`, () => scaleAndWait(ctx, target, replicas, options.healthTimeoutMs, pollMs))

  await ctx.output.step(`scale the writers to 0 (${Object.keys(replicas).join(', ')}): in-flight requests and tasks finish`, () => scaleAndWait(ctx, target, stopped, options.healthTimeoutMs + 90_000, pollMs))
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
    // nothing writes while the safety dump goes back: the writers that came up stop first
    await scaleAndWait(ctx, target, stopped, options.healthTimeoutMs + 90_000, pollMs).catch(() => undefined)
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
