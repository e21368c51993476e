import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Command, CommandResult } from '../exec/executor.ts'
import { maskSecrets } from '../exec/mask.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers } from '../stack/health.ts'
import { notOnThisNode, serviceExec, type ServiceAt } from '../stack/service-exec.ts'
import type { ContainerState } from '../docker/containers.ts'
import { formatDuration } from '../ui/output.ts'
import { waitUntil, WaitTimeout, type Poll } from '../util/wait.ts'

/**
 * `pg_isready` inside the postgres container, over TCP on 127.0.0.1 like the healthcheck: the
 * official image's first start runs a temporary server on the unix socket only, which must
 * not count as ready. Read-only, so it also runs under --dry-run.
 */
export function pgIsReady(at: ServiceAt, env: Pick<AikoEnv, 'POSTGRES_USER' | 'POSTGRES_DB'>): Command {
  return serviceExec(at, 'postgres', ['pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', env.POSTGRES_USER, '-d', env.POSTGRES_DB], { mutates: false })
}

const PG_ISREADY_STATES: Readonly<Record<number, string>> = {
  1: 'PostgreSQL is starting up (rejecting connections)',
  2: 'PostgreSQL does not answer',
  3: 'pg_isready could not try (bad parameters)',
}

/**
 * What one probe says. A `compose exec` into a stopped container fails with nothing on stderr
 * with compose 1.29, like pg_isready's own "rejecting": the container state tells them apart.
 */
export function judgePgIsReady(result: Pick<CommandResult, 'exitCode' | 'stderr'>, postgres: readonly Pick<ContainerState, 'status'>[]): Poll<true> {
  if (result.exitCode === 0) return { done: true, value: true }
  if (!postgres.some((container) => container.status === 'running'))
    return { done: false, waitingFor: `no running postgres container${postgres.length > 0 ? ` (${postgres.map((container) => container.status).join(', ')})` : ''}` }
  const said = maskSecrets(result.stderr).trim().split('\n').filter((line) => line.trim() !== '').at(-1)
  if (said !== undefined) return { done: false, waitingFor: `the postgres container (${said.replace(/^ERROR:\s*/, '')})` }
  return { done: false, waitingFor: PG_ISREADY_STATES[result.exitCode] ?? `PostgreSQL (pg_isready exit code ${result.exitCode})` }
}

async function probePostgres(ctx: StackContext, env: Pick<AikoEnv, 'POSTGRES_USER' | 'POSTGRES_DB'>): Promise<Poll<true>> {
  let at: ServiceAt = ctx.target
  if (ctx.swarm !== undefined) {
    // stack mode: a task of this node (Swarm replaces a failed one with a new container)
    const tasks = await projectContainers(ctx, 'postgres')
    const running = tasks.find((state) => state.status === 'running')
    if (running === undefined) {
      // no task here at all: the error says on which node to run
      if (tasks.length === 0) throw notOnThisNode(ctx.swarm.stack, 'postgres', tasks)
      return judgePgIsReady({ exitCode: 2, stderr: '' }, tasks)
    }
    at = { container: running.id }
  }
  const result = await ctx.executor.probe(pgIsReady(at, env))
  if (result.exitCode === 0) return { done: true, value: true }
  return judgePgIsReady(result, await projectContainers(ctx, 'postgres').catch(() => []))
}

const PROGRESS_EVERY_MS = 5000

/**
 * Waits until PostgreSQL accepts connections, with backoff, bounded by `timeoutMs`. A stopped
 * or missing container is waited for too: it may be starting (restart policy, operator).
 * Prints a progress line when the reason changes, and every few seconds.
 */
export async function waitForPostgres(ctx: StackContext, env: Pick<AikoEnv, 'POSTGRES_USER' | 'POSTGRES_DB'>, options: { timeoutMs: number }): Promise<void> {
  const started = Date.now()
  let lastReason = ''
  let lastPrinted = 0
  const progress = (waitingFor: string): void => {
    const now = Date.now()
    if (waitingFor === lastReason && now - lastPrinted < PROGRESS_EVERY_MS) return
    ctx.output.info(`waiting for PostgreSQL: ${waitingFor} (${formatDuration(now - started)} of ${formatDuration(options.timeoutMs)})`)
    lastReason = waitingFor
    lastPrinted = now
  }
  try {
    await waitUntil(() => probePostgres(ctx, env), {
      timeoutMs: options.timeoutMs,
      firstDelayMs: 500,
      maxDelayMs: 3000,
      onWait: progress,
    })
  } catch (error) {
    if (!(error instanceof WaitTimeout)) throw error
    throw new ToolkitError(`PostgreSQL did not accept connections within ${formatDuration(options.timeoutMs)}: nothing was migrated or seeded`, {
      exitCode: ExitCode.precondition,
      details: [`last seen: ${error.waitingFor}`],
      hint: 'start the stack (`docker compose up -d postgres`), read `docker compose logs postgres`, or wait longer with --timeout SECONDS',
    })
  }
}
