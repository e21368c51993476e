import { createHash } from 'node:crypto'
import { YAML } from 'zx'
import { z } from 'zod'
import { ExitCode, ToolkitError } from '../errors.ts'
import { releaseImages } from '../release/images.ts'
import type { Convergence, ServiceStatus } from './converge.ts'
import { interpolateValues, type Variables } from './interpolate.ts'
import type { ComposeFile, StackFile, StackService } from './stack.ts'
import { stackServiceName, type SwarmTarget } from './commands.ts'

/**
 * The decisions of the stack mode's deploy and rollback (lib/swarm/deploy.ts), as pure
 * functions over what the Docker CLI answered: no process, no file system. Each is tested on
 * the states the e2e cluster showed (test/e2e/swarm/README.md).
 */

/** The release images and where they go: <REGISTRY>/aiko-backend:<release>, the names renderStack gives the stack's services. */
export function pushPlan(registry: string, release: string): Array<{ source: string; destination: string }> {
  return releaseImages(release).map((source) => ({ source, destination: `${registry}/${source}` }))
}

/**
 * The variables docker-compose.yml is substituted with: the defaults the .env schema applies
 * (a variable init-env would have written with its default, e.g. POSTGRES_USER=aiko), then
 * .env's own values (empty means unset, as compose reads ${X:-default}), then AIKO_RELEASE and
 * AIKO_VAR_DIR as the toolkit sets them.
 */
export function stackVariables(
  envValues: Readonly<Record<string, string | undefined>>,
  validated: Readonly<Record<string, unknown>>,
  release: string,
  varDir: string,
): Variables {
  const vars: Record<string, string> = {}
  for (const [name, value] of Object.entries(validated)) if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') vars[name] = String(value)
  for (const [name, value] of Object.entries(envValues)) if (value !== undefined && value !== '') vars[name] = value
  return { ...vars, AIKO_RELEASE: release, AIKO_VAR_DIR: varDir }
}

const composeShape = z.object({
  services: z.record(z.string(), z.record(z.string(), z.unknown()), { error: 'docker-compose.yml: `services` must map each service name to its settings' }),
})

/**
 * docker-compose.yml as the stack renderer reads it: parsed, each service's YAML merge key
 * (`<<: *service`) applied under its own keys, every string value substituted. An error names
 * the file and what is wrong (a variable with `${X:?}` unset, a malformed substitution).
 */
export function composeForStack(text: string, vars: Variables): { compose: ComposeFile; unset: string[] } {
  let raw: unknown
  try {
    raw = YAML.parse(text)
  } catch (error) {
    throw new ToolkitError(`docker-compose.yml is not valid YAML: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, { exitCode: ExitCode.invalidConfig })
  }
  const shape = composeShape.safeParse(raw)
  if (!shape.success) throw new ToolkitError(shape.error.issues[0]?.message ?? 'docker-compose.yml: no services', { exitCode: ExitCode.invalidConfig })
  const services = Object.fromEntries(
    Object.entries(shape.data.services).map(([name, service]) => {
      const { '<<': base, ...own } = service
      const merged = Array.isArray(base) ? Object.assign({}, ...base.filter((b): b is object => typeof b === 'object' && b !== null)) : typeof base === 'object' && base !== null ? base : {}
      return [name, { ...merged, ...own }]
    }),
  )
  try {
    const { value, unset } = interpolateValues<ComposeFile>({ ...(raw as ComposeFile), services }, vars)
    return { compose: value, unset }
  } catch (error) {
    throw new ToolkitError(`docker-compose.yml: ${error instanceof Error ? error.message : String(error)}`, { exitCode: ExitCode.invalidConfig, hint: 'set the variable in .env, then check with `npx zx scripts/init-env.mts --check`' })
  }
}

/** The image each service of the stack file must run, by its Swarm name (<stack>_<service>). */
export function expectedImages(file: StackFile, target: SwarmTarget): Record<string, string> {
  return Object.fromEntries(Object.entries(file.services).map(([name, service]) => [stackServiceName(target, name), service.image]))
}

/**
 * The folders under the toolkit's var/ that services bind-mount (node-exporter's metrics,
 * Alertmanager's config). `docker compose up` has the engine create a missing bind source;
 * Swarm rejects the task instead ("bind source path does not exist") and retries it forever,
 * so the deploy creates them first. Other servers need the same folder (the guide's § 16).
 */
export function varBindSources(file: StackFile, varDir: string): string[] {
  const root = varDir.replace(/\/+$/, '')
  const sources = new Set<string>()
  for (const service of Object.values(file.services)) {
    const volumes = Array.isArray(service['volumes']) ? (service['volumes'] as unknown[]) : []
    for (const entry of volumes) {
      const source = typeof entry === 'string' ? entry.split(':')[0] : typeof entry === 'object' && entry !== null && (entry as { type?: unknown }).type === 'bind' ? (entry as { source?: unknown }).source : undefined
      if (typeof source === 'string' && source.startsWith(`${root}/`)) sources.add(source)
    }
  }
  return [...sources].sort()
}

/**
 * Swarm bumps a service's version while it rolls the service's tasks (swarmkit#1379), so a
 * `docker stack deploy` that reads a spec in the middle of a rolling update (one a killed
 * deploy left going) can fail with "update out of sequence". Deploying the same file again
 * is safe: the tries left decide, up to STACK_DEPLOY_TRIES in all.
 */
export const STACK_DEPLOY_TRIES = 5

export function retryStackDeploy(details: readonly string[], attempt: number): boolean {
  return attempt < STACK_DEPLOY_TRIES && details.some((line) => line.includes('update out of sequence'))
}

/** The services that run the project's release images (those a failed update rolls back). */
export function releaseServices(file: StackFile, target: SwarmTarget, registry: string): string[] {
  return Object.entries(file.services)
    .filter(([, service]) => service.image.startsWith(`${registry}/`))
    .map(([name]) => stackServiceName(target, name))
}

/** A subset of the expected images (e.g. the data services a first deploy waits for before its migrations). */
export const onlyServices = (expected: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> =>
  Object.fromEntries(Object.entries(expected).filter(([name]) => names.includes(name)))

/**
 * The order of a deploy. The migrations run in a job on the stack's network, against the
 * stack's PostgreSQL: when the stack already runs, before `docker stack deploy` (a failed
 * migration leaves the old release serving, untouched); on the very first deploy neither the
 * network nor PostgreSQL exists yet, so the stack is deployed first, the job runs once
 * PostgreSQL converged, and the app's tasks (restarted by Swarm until the schema is there)
 * converge after it.
 */
export type DeployOrder = 'migrate-then-deploy' | 'deploy-then-migrate'

export function deployOrder(runningServices: Readonly<Record<string, unknown>>, postgres: string): DeployOrder {
  return Object.hasOwn(runningServices, postgres) ? 'migrate-then-deploy' : 'deploy-then-migrate'
}

/**
 * The output of `docker stack services` as lines to parse, or undefined when the call failed.
 * A stack that does not exist yet is "Nothing found in stack: NAME" on stderr: with exit 0
 * (the CLI of Docker 20.10 and later) or 1 (older ones); either way it has no services.
 */
export function stackServicesOutput(result: { exitCode: number; stdout: string; stderr: string }): string | undefined {
  if (result.exitCode === 0) return result.stdout
  return /Nothing found in stack/.test(result.stderr) ? '' : undefined
}

export const migrationJobName = (target: SwarmTarget, release: string): string => `${target.stack}-migrate-${release}`

/** One line of `docker service ps --format '{{json .}}'`. */
const taskRow = z.object({
  ID: z.string(),
  Name: z.string(),
  Image: z.string().default(''),
  Node: z.string().default(''),
  DesiredState: z.string(),
  CurrentState: z.string(),
  Error: z.string().default(''),
})

export type TaskRow = z.infer<typeof taskRow>

export function parseTaskRows(jsonLines: string): TaskRow[] {
  const rows: TaskRow[] = []
  for (const line of jsonLines.split('\n')) {
    if (line.trim() === '') continue
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      throw new Error(`docker service ps: cannot read "${line}"`)
    }
    const row = taskRow.safeParse(json)
    if (!row.success) throw new Error(`docker service ps: cannot read "${line}"`)
    rows.push(row.data)
  }
  return rows
}

/** The state word of CurrentState ("Complete 3 seconds ago", "Running 2 minutes ago", "Failed 1 second ago"). */
const stateWord = (current: string): string => (current.split(' ')[0] ?? '').toLowerCase()

export type JobOutcome = { state: 'running'; detail: string } | { state: 'complete'; detail: string } | { state: 'failed'; detail: string }

const FAILED_STATES = ['failed', 'rejected', 'orphaned', 'remove', 'shutdown']

/**
 * Where a one-off job is (`--mode replicated-job --restart-condition none`: one task). Its task
 * goes new, pending, assigned, preparing, starting, running, then complete (exit 0) or failed
 * (non-zero, with Error "task: non-zero exit (1)"); rejected when it cannot start (an image
 * no node can pull, a network missing). No task yet: still being scheduled.
 */
export function jobOutcome(tasks: readonly TaskRow[]): JobOutcome {
  if (tasks.length === 0) return { state: 'running', detail: 'no task scheduled yet' }
  const complete = tasks.find((task) => stateWord(task.CurrentState) === 'complete')
  if (complete !== undefined) return { state: 'complete', detail: `completed on ${complete.Node || 'a node'}` }
  const failed = tasks.find((task) => FAILED_STATES.includes(stateWord(task.CurrentState)))
  if (failed !== undefined) return { state: 'failed', detail: `${stateWord(failed.CurrentState)}${failed.Node === '' ? '' : ` on ${failed.Node}`}${failed.Error === '' ? '' : `: ${failed.Error}`}` }
  const task = tasks[0]
  return { state: 'running', detail: `${stateWord(task?.CurrentState ?? '')}${task?.Node ? ` on ${task.Node}` : ''}` }
}

export type WaitStep =
  | { kind: 'converged' }
  | { kind: 'wait'; reasons: string[] }
  | { kind: 'failed'; reasons: string[] }
  | { kind: 'timeout'; reasons: string[] }

const reasonsOf = (items: ReadonlyArray<{ service: string; reason: string }>): string[] => items.map((item) => `${item.service}: ${item.reason}`)

/** One turn of the wait loop: converged, a failure no wait will cure, the time is up, or wait again. */
export function waitStep(convergence: Convergence, elapsedMs: number, timeoutMs: number): WaitStep {
  if (convergence.converged) return { kind: 'converged' }
  if (convergence.failed.length > 0) return { kind: 'failed', reasons: reasonsOf(convergence.failed) }
  if (elapsedMs >= timeoutMs) return { kind: 'timeout', reasons: reasonsOf(convergence.waiting) }
  return { kind: 'wait', reasons: reasonsOf(convergence.waiting) }
}

/**
 * The services a failed deploy must roll back itself (`docker service rollback`): those whose
 * spec already runs the new image. A service Swarm rolled back on its own (failure_action
 * rollback: rollback_started or rollback_completed since this deploy) is left to finish; one
 * still on its old image was never changed. Nothing on a first deploy: a service has no
 * previous spec to go back to.
 */
export function servicesToRollBack(
  expected: Readonly<Record<string, string>>,
  services: readonly string[],
  statuses: readonly ServiceStatus[],
  deployedAt: number,
): string[] {
  const byName = new Map(statuses.map((status) => [status.name, status]))
  return services.filter((name) => {
    const status = byName.get(name)
    if (status === undefined || status.image !== expected[name]) return false
    const started = status.updateStartedAt === undefined ? Number.NaN : Date.parse(status.updateStartedAt)
    const ownRollback = !Number.isNaN(started) && started >= deployedAt && status.updateState?.startsWith('rollback') === true
    return !ownRollback && status.updateState !== undefined
  })
}

/**
 * The environment of the stack's backend service as a `--env-file` for the migration job: the
 * CLI reads NAME=value lines literally (no quotes, no substitution), so the $$ the stack file
 * keeps for `docker stack deploy`'s own substitution is turned back into $.
 */
export function jobEnvFile(service: StackService): string {
  const environment = service['environment']
  const pairs: Array<[string, string]> = []
  if (Array.isArray(environment)) {
    for (const item of environment) {
      const text = String(item)
      const at = text.indexOf('=')
      if (at > 0) pairs.push([text.slice(0, at), text.slice(at + 1)])
    }
  } else if (typeof environment === 'object' && environment !== null) {
    for (const [name, value] of Object.entries(environment)) if (value !== null && value !== undefined) pairs.push([name, String(value)])
  }
  for (const [name, value] of pairs) if (/[\r\n]/.test(value)) throw new Error(`${name}: a value on several lines cannot go into an env file`)
  return pairs.map(([name, value]) => `${name}=${value.replaceAll('$$', '$')}\n`).join('')
}

/** A short digest of a secret's content: the Swarm secret is named <secret>-<version> (a secret cannot change once created). */
export function secretVersion(content: string): string {
  return createHash('sha256').update(content).digest('hex').slice(0, 12)
}

const swarmInfoShape = z.object({
  LocalNodeState: z.string(),
  ControlAvailable: z.boolean().default(false),
  NodeID: z.string().default(''),
})

/** Why this daemon cannot run a stack deploy (not in a Swarm, or a worker), or undefined when it is a manager. */
export function managerProblem(infoJson: string): string | undefined {
  let json: unknown
  try {
    json = JSON.parse(infoJson)
  } catch {
    return `docker info answered no Swarm state: ${infoJson.trim().slice(0, 200)}`
  }
  const info = swarmInfoShape.safeParse(json)
  if (!info.success) return `docker info answered no Swarm state: ${infoJson.trim().slice(0, 200)}`
  if (info.data.LocalNodeState !== 'active') return `this Docker engine is not in a Swarm (state ${info.data.LocalNodeState || 'inactive'}): run \`docker swarm init\` here first (see the guide, « Passer à plusieurs serveurs »)`
  if (!info.data.ControlAvailable) return 'this Docker engine is a Swarm worker: run the toolkit on a manager (`docker node ls` there), or promote this node (`docker node promote`)'
  return undefined
}

/** One line of `docker service ls --format '{{json .}}'`. */
const serviceRow = z.object({ Name: z.string(), Mode: z.string(), Replicas: z.string(), Image: z.string() })
export type ServiceRow = z.infer<typeof serviceRow>

export function parseServiceRows(jsonLines: string): ServiceRow[] {
  return jsonLines
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const row = serviceRow.safeParse((() => {
        try {
          return JSON.parse(line) as unknown
        } catch {
          return undefined
        }
      })())
      if (!row.success) throw new Error(`docker service ls: cannot read "${line}"`)
      return row.data
    })
}

export interface ServiceLine {
  name: string
  mode: string
  running: number
  desired: number
  image: string
  ok: boolean
}

/** The services table of `status` in stack mode: each service with its running/desired tasks, sorted by name. */
export function serviceLines(rows: readonly ServiceRow[], stack: string): ServiceLine[] {
  return rows
    .map((row) => {
      const match = /^(\d+)\/(\d+)/.exec(row.Replicas)
      const running = Number(match?.[1] ?? 0)
      const desired = Number(match?.[2] ?? 0)
      const name = row.Name.startsWith(`${stack}_`) ? row.Name.slice(stack.length + 1) : row.Name
      return { name, mode: row.Mode, running, desired, image: row.Image.replace(/@sha256:[0-9a-f]+$/, ''), ok: match !== null && running >= desired && desired > 0 }
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}

/** The watch job's health in stack mode: a service is healthy when Swarm runs all the tasks it wants (a task is running only once its healthcheck passed). */
export const swarmServiceHealth = (lines: readonly ServiceLine[]): Array<{ name: string; healthy: boolean }> => lines.map((line) => ({ name: line.name, healthy: line.ok }))

export function formatServiceLines(lines: readonly ServiceLine[]): string {
  if (lines.length === 0) return 'no service of this stack runs (nothing deployed with DEPLOY_TARGET=swarm yet?)'
  const width = Math.max(7, ...lines.map((line) => line.name.length))
  const header = `${'service'.padEnd(width)}  ${'mode'.padEnd(10)}  tasks  image`
  return [header, ...lines.map((line) => `${line.name.padEnd(width)}  ${line.mode.padEnd(10)}  ${`${line.running}/${line.desired}`.padEnd(5)}  ${line.image}${line.ok ? '' : '  <- not all running'}`)].join('\n')
}
