import { mkdir, readFile, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { YAML } from 'zx'
import { backupFile } from '../backup/files.ts'
import { composeBuild } from '../compose/commands.ts'
import { backupDatabase } from '../db/dump.ts'
import { DEFAULT_LOCK_POLICY, type LockPolicy } from '../db/migrate.ts'
import { readEnvFile } from '../env/load.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { maskSecrets } from '../exec/mask.ts'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import { renderNginxSite } from '../nginx/render.ts'
import { applyNginxFiles } from '../nginx/apply.ts'
import { readNginxTemplates } from '../nginx/templates.ts'
import { recorded, recordServing } from '../release/record.ts'
import { releaseTarget } from '../release/switch.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers } from '../stack/health.ts'
import { redisConfigPath, writeRedisConfig } from '../stack/redis-config.ts'
import { renderAlertmanager } from '../stack/start.ts'
import { activeProfiles } from '../status/services.ts'
import {
  createJob, inspectServices, listStackServices, pushImage, removeServices, serviceLogs, serviceRollback, serviceTasksAll, stackDeploy, stackNetwork,
  stackServiceName, stackServices, swarmInfo, tagImage, type SwarmTarget,
} from './commands.ts'
import { convergence, parseServiceStatuses, parseStackReplicas, type ServiceStatus } from './converge.ts'
import {
  composeForStack, deployOrder, expectedImages, formatServiceLines, jobEnvFile, jobOutcome, managerProblem, migrationJobName, onlyServices, parseServiceRows,
  parseTaskRows, pushPlan, releaseServices, retryStackDeploy, secretVersion, serviceLines, servicesToRollBack, stackServicesOutput, stackVariables, varBindSources, waitStep, type ServiceLine,
} from './plan.ts'
import { renderStack, type StackFile, type StackNote } from './stack.ts'

/**
 * The stack mode (DEPLOY_TARGET=swarm): the same release as the compose mode (images built per
 * release, the release log, var/current-release), deployed with `docker stack deploy` on the
 * Swarm this machine manages. Swarm does the zero-downtime part itself (start-first rolling
 * updates of the app services, rollback on a failed healthcheck); the toolkit builds and pushes,
 * renders the stack file, runs the migrations as a job, deploys, and waits until every service
 * converged, rolling the release's services back when they do not.
 */

export interface SwarmSettings {
  /** REGISTRY of .env: where every node pulls the release images. */
  registry: string
  /** `--with-registry-auth`: send this manager's registry login to the nodes (a registry with a password). */
  registryAuth: boolean
  /** Replicas of backend, frontend and celery-worker. */
  appReplicas: number
  healthTimeoutMs: number
  /** Between two looks at the services (default 2 s). */
  pollMs?: number
  lockPolicy?: LockPolicy
}

/** The Swarm stack of this checkout: named like the compose project, on the daemon of DOCKER_HOST (this machine's by default). */
export const swarmTarget = (ctx: Pick<StackContext, 'target'>): SwarmTarget => ({ stack: ctx.target.project })

export const swarmDir = (varDir: string): string => join(varDir, 'swarm')
export const stackFilePath = (varDir: string): string => join(swarmDir(varDir), 'stack.yml')
export const previousStackFilePath = (varDir: string): string => join(swarmDir(varDir), 'stack.previous.yml')

/** The node labels the stack's placement uses (the guide labels the nodes with them). */
export const NODE_LABELS = { edge: 'edge', data: 'data' } as const

export async function requireManager(ctx: StackContext, target: SwarmTarget): Promise<void> {
  const info = await ctx.executor.probe(swarmInfo(target))
  const problem = info.exitCode !== 0 ? `docker info failed: ${maskSecrets(info.stderr.trim()).split('\n').slice(-3).join(' ')}` : managerProblem(info.stdout)
  if (problem !== undefined) throw new ToolkitError(problem, { exitCode: ExitCode.precondition, hint: 'DEPLOY_TARGET=swarm deploys from a Swarm manager; DEPLOY_TARGET=compose (the default) deploys on this server alone' })
}

/** Tags each release image with the registry's name and pushes it; nodes pull from there. */
async function pushRelease(ctx: StackContext, target: SwarmTarget, registry: string, release: string): Promise<void> {
  for (const { source, destination } of pushPlan(registry, release)) {
    await ctx.executor.run(tagImage(target, source, destination))
    await ctx.executor.run(pushImage(target, destination))
  }
}

export interface RenderedStack {
  file: StackFile
  path: string
  notes: StackNote[]
  omitted: StackNote[]
}

/**
 * The stack file of a release, rendered from docker-compose.yml with .env's values, written
 * atomically (mode 0600: it holds the environment, secrets included) to var/swarm/stack.yml,
 * the previous one kept as stack.previous.yml; plus the files its services read from var/ (the
 * nginx site proxying to the service names, the Redis config of the versioned secret).
 */
export async function writeStackFile(ctx: StackContext, env: AikoEnv, release: string, settings: SwarmSettings): Promise<RenderedStack> {
  const values = (await readEnvFile(ctx.target.envFile))?.values ?? {}
  const { compose, unset } = composeForStack(await readFile(join(ctx.target.projectDir, 'docker-compose.yml'), 'utf8'), stackVariables(values, env, release, ctx.varDir))
  if (unset.length > 0) ctx.output.warn(`docker-compose.yml uses ${unset.join(', ')}, unset in .env: substituted by an empty value (as compose does)`)
  await writeRedisConfig(ctx, env)
  const redis = ctx.executor.dryRun ? '' : await readFile(redisConfigPath(ctx.varDir), 'utf8')
  const { file, notes, omitted } = renderStack(compose, {
    registry: settings.registry,
    release,
    projectDir: ctx.target.projectDir,
    labels: NODE_LABELS,
    appReplicas: settings.appReplicas,
    profiles: activeProfiles(process.env['COMPOSE_PROFILES'] ?? values['COMPOSE_PROFILES']),
    secretVersions: { 'redis-config': secretVersion(redis) },
  })
  const path = stackFilePath(ctx.varDir)
  if (ctx.executor.dryRun) return { file, path, notes, omitted }
  const site = renderNginxSite(
    { mode: env.NGINX_MODE, domain: env.DOMAIN, wwwAlias: env.DOMAIN_WWW, uploadMaxSize: env.UPLOAD_MAX_SIZE, release: 'swarm', upstreams: 'service-names' },
    await readNginxTemplates(ctx.nginxDir),
  )
  // upstreams are service names: the site changes only with .env (mode, domain, upload size);
  // a running nginx task on this node (the edge node) tests and reloads it at once
  const nginx = await applyNginxFiles({ executor: ctx.executor, output: ctx.output, target: ctx.target, confDir: ctx.nginxConfDir, swarm: swarmTarget(ctx) }, site)
  if (nginx === 'reloaded') ctx.output.info('nginx (its task on this node) tested and reloaded the changed site configuration')
  for (const folder of varBindSources(file, ctx.varDir)) await mkdir(folder, { recursive: true, mode: 0o755 })
  await mkdir(swarmDir(ctx.varDir), { recursive: true, mode: 0o700 })
  await writeFileAtomic(path, `# Rendered by the AI-KO toolkit (release ${release}) from docker-compose.yml and .env: do not edit.\n${YAML.stringify(file)}`, {
    mode: 0o600,
    backupPath: previousStackFilePath(ctx.varDir),
  })
  return { file, path, notes, omitted }
}

/** Undo of writeStackFile: var/swarm/stack.yml says again what the Swarm runs. */
async function restoreStackFile(ctx: StackContext): Promise<void> {
  if (ctx.executor.dryRun) return
  let previous: string
  try {
    previous = await readFile(previousStackFilePath(ctx.varDir), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return void (await rm(stackFilePath(ctx.varDir), { force: true }))
    throw error
  }
  await writeFileAtomic(stackFilePath(ctx.varDir), previous, { mode: 0o600 })
}

/** `docker stack services` of the stack; a stack that does not exist yet has none (some CLIs say so with an error). */
async function readStackServices(ctx: StackContext, target: SwarmTarget): Promise<string> {
  const result = await ctx.executor.probe(stackServices(target))
  const services = stackServicesOutput(result)
  if (services !== undefined) return services
  throw new ToolkitError(`docker stack services ${target.stack} failed`, { exitCode: ExitCode.commandFailed, details: maskSecrets(result.stderr).trim().split('\n').slice(-5) })
}

/** What the Swarm runs now: each service's spec and update status, and its running/desired tasks. */
export async function observeServices(ctx: StackContext, target: SwarmTarget, names: readonly string[]): Promise<{ statuses: ServiceStatus[]; replicas: Record<string, { running: number; desired: number }> }> {
  const replicas = parseStackReplicas(await readStackServices(ctx, target))
  const present = names.filter((name) => Object.hasOwn(replicas, name))
  const statuses = present.length === 0 ? [] : parseServiceStatuses((await ctx.executor.run(inspectServices(target, present))).stdout)
  return { statuses, replicas }
}

/** Polls until every expected service converged; a failure no wait will cure, or the time running out, is an error. */
async function waitUntilConverged(ctx: StackContext, target: SwarmTarget, expected: Readonly<Record<string, string>>, deployedAt: number, settings: SwarmSettings): Promise<void> {
  if (ctx.executor.dryRun) return
  const started = Date.now()
  let last = ''
  for (;;) {
    const { statuses, replicas } = await observeServices(ctx, target, Object.keys(expected))
    const step = waitStep(convergence(expected, statuses, replicas, deployedAt), Date.now() - started, settings.healthTimeoutMs)
    if (step.kind === 'converged') return
    if (step.kind === 'failed' || step.kind === 'timeout')
      throw new ToolkitError(step.kind === 'failed' ? 'the stack did not converge: Swarm gave up an update' : `the stack did not converge within ${Math.round(settings.healthTimeoutMs / 1000)}s`, {
        exitCode: ExitCode.commandFailed,
        details: step.reasons,
        hint: `see why with \`docker service ps --no-trunc ${step.reasons[0]?.split(':')[0] ?? target.stack}\``,
      })
    const now = step.reasons.join('; ')
    if (now !== last) ctx.output.info(`waiting: ${now}`)
    last = now
    await sleep(settings.pollMs ?? 2_000)
  }
}

/** Undo of a stack deploy whose release did not converge: the release's services go back to their previous spec (Swarm's own rollbacks are left to finish). */
async function rollBackRelease(ctx: StackContext, target: SwarmTarget, expected: Readonly<Record<string, string>>, services: readonly string[], deployedAt: number): Promise<string[]> {
  const { statuses } = await observeServices(ctx, target, services)
  const doomed = servicesToRollBack(expected, services, statuses, deployedAt)
  for (const service of doomed) await ctx.executor.probe(serviceRollback(target, service))
  return doomed
}

const MIGRATION_FAILURE = 'the migrations of the new release failed: the old release keeps serving, the database is as before'

/**
 * `flask db upgrade` as a one-off Swarm job on the stack's network, with the backend service's
 * environment (through an env file of mode 0600, removed afterwards: no secret in argv), then
 * polled until its task completed or failed. The job service is removed either way.
 */
export async function runMigrationJob(ctx: StackContext, target: SwarmTarget, file: StackFile, release: string, settings: SwarmSettings): Promise<void> {
  const backend = file.services['backend']
  if (backend === undefined) throw new ToolkitError('the stack file has no backend service: nothing to run the migrations with', { exitCode: ExitCode.invalidConfig })
  const name = migrationJobName(target, release)
  const envPath = join(swarmDir(ctx.varDir), `migrate-${release}.env`)
  const policy = settings.lockPolicy ?? DEFAULT_LOCK_POLICY
  const job = createJob(target, {
    name,
    image: backend.image,
    argv: ['flask', 'db', 'upgrade'],
    network: stackNetwork(target),
    envFile: envPath,
    env: { PGOPTIONS: `-c lock_timeout=${policy.lockTimeoutMs}` },
    labels: { 'com.aiko.job': 'migrate', 'com.aiko.release': release },
    constraints: [],
    registryAuth: settings.registryAuth,
  })
  if (ctx.executor.dryRun) return void (await ctx.executor.run(job))
  await mkdir(swarmDir(ctx.varDir), { recursive: true, mode: 0o700 })
  await writeFileAtomic(envPath, jobEnvFile(backend), { mode: 0o600 })
  // a job left by a killed run of the same release would make the name taken
  await ctx.executor.probe(removeServices(target, [name]))
  try {
    await ctx.executor.run(job)
    const deadline = Date.now() + Math.max(settings.healthTimeoutMs, 5 * 60_000)
    for (;;) {
      const outcome = jobOutcome(parseTaskRows((await ctx.executor.run(serviceTasksAll(target, name))).stdout))
      if (outcome.state === 'complete') return
      if (outcome.state === 'failed' || Date.now() > deadline) {
        const logs = await ctx.executor.probe(serviceLogs(target, name, 20))
        throw new ToolkitError(MIGRATION_FAILURE, {
          exitCode: ExitCode.commandFailed,
          details: [outcome.state === 'failed' ? `job ${name}: ${outcome.detail}` : `job ${name}: not finished in time (${outcome.detail})`, ...maskSecrets(logs.stdout + logs.stderr).trimEnd().split('\n').filter(Boolean).slice(-15)],
          hint: 'fix the migration and deploy again',
        })
      }
      await sleep(settings.pollMs ?? 2_000)
    }
  } finally {
    await rm(envPath, { force: true })
    await ctx.executor.probe(removeServices(target, [name]))
  }
}

/** `docker stack deploy`, again after a few seconds when it raced a rolling update (retryStackDeploy). */
async function runStackDeploy(ctx: StackContext, target: SwarmTarget, path: string, settings: SwarmSettings): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.executor.run(stackDeploy(target, path, { registryAuth: settings.registryAuth, prune: false }))
      return
    } catch (error) {
      if (!(error instanceof ToolkitError) || !retryStackDeploy(error.details, attempt)) throw error
      ctx.output.info(`docker stack deploy met a rolling update Swarm is still doing (update out of sequence): deploying the same file again in 3 s (try ${attempt + 1})`)
      await sleep(3_000)
    }
  }
}

/**
 * Puts a rendered stack on the Swarm and waits for it; when it does not converge, the release's
 * services are rolled back (not on a first deploy: nothing to go back to) and the stack file put
 * back. `beforeDeploy` runs between rendering and `docker stack deploy` (the migrations).
 */
async function deployStack(
  ctx: StackContext,
  target: SwarmTarget,
  stack: RenderedStack,
  settings: SwarmSettings,
  hooks: { beforeDeploy?: () => Promise<void>; afterData?: () => Promise<void>; firstDeploy: boolean },
): Promise<void> {
  const expected = expectedImages(stack.file, target)
  const release = releaseServices(stack.file, target, settings.registry)
  // The managers stamp UpdateStatus.StartedAt with their clock: a little slack for a skew.
  const deployedAt = Date.now() - 2_000
  try {
    if (hooks.beforeDeploy !== undefined) await hooks.beforeDeploy()
    await ctx.output.step('docker stack deploy', () => runStackDeploy(ctx, target, stack.path, settings))
  } catch (error) {
    await restoreStackFile(ctx)
    throw error
  }
  try {
    if (hooks.afterData !== undefined) {
      const data = onlyServices(expected, [stackServiceName(target, 'postgres')])
      await ctx.output.step('wait for PostgreSQL', () => waitUntilConverged(ctx, target, data, deployedAt, settings))
      await hooks.afterData()
    }
    await ctx.output.step(`wait until the ${Object.keys(expected).length} services converged (rolling updates, healthchecks)`, () => waitUntilConverged(ctx, target, expected, deployedAt, settings))
  } catch (error) {
    const rolledBack = hooks.firstDeploy ? [] : await ctx.output.step('roll the release services back (docker service rollback)', () => rollBackRelease(ctx, target, expected, release, deployedAt))
    await restoreStackFile(ctx)
    if (!(error instanceof ToolkitError)) throw error
    throw new ToolkitError(`${error.message}${rolledBack.length > 0 ? `; rolled back: ${rolledBack.join(', ')}` : ''}`, { exitCode: error.exitCode, details: error.details, hint: error.hint, cause: error })
  }
}

export interface SwarmDeployOptions {
  release: string
  sha: string
  /** The release var/current-release names; undefined when nothing was ever deployed. */
  serving: string | undefined
}

/**
 * A deploy in stack mode as a short story: check this engine manages a Swarm, build the
 * release, push it, render the stack file, migrate (a job) and `docker stack deploy` (in that
 * order when the stack runs; the other way round the first time), wait for convergence, record.
 */
export async function deploySwarmRelease(ctx: StackContext, env: AikoEnv, options: SwarmDeployOptions, settings: SwarmSettings): Promise<void> {
  const target = swarmTarget(ctx)
  const next = releaseTarget(ctx, options.release)
  await recorded(ctx, { id: options.release, sha: options.sha, action: 'deploy', previous: options.serving }, async (facts) => {
    await ctx.output.step('check that this Docker engine is a Swarm manager', () => requireManager(ctx, target))
    await ctx.output.step('render Alertmanager config', () => renderAlertmanager(ctx, env))
    await ctx.output.step(`build release ${options.release}`, () => ctx.executor.run({ ...composeBuild(next.target, ['backend', 'frontend']), timeoutMs: 60 * 60_000 }))
    await ctx.output.step(`push the release images to ${settings.registry}`, () => pushRelease(ctx, target, settings.registry, options.release))
    const stack = await ctx.output.step(`render the stack file (${stackFilePath(ctx.varDir)})`, () => writeStackFile(ctx, env, options.release, settings))
    for (const note of [...stack.omitted, ...stack.notes]) ctx.output.info(`stack: ${note.service}: ${note.note}`)
    const running = parseStackReplicas(await readStackServices(ctx, target))
    const migrate = async () => {
      facts.backup = await preMigrationDump(ctx, options.release)
      await ctx.output.step('run the migrations (a replicated-job of the new release)', () => runMigrationJob(ctx, target, stack.file, options.release, settings))
    }
    if (deployOrder(running, stackServiceName(target, 'postgres')) === 'migrate-then-deploy') await deployStack(ctx, target, stack, settings, { beforeDeploy: migrate, firstDeploy: false })
    else {
      ctx.output.info('the stack does not run yet: first deploy (the migrations run once PostgreSQL is up)')
      await deployStack(ctx, target, stack, settings, { afterData: migrate, firstDeploy: true })
    }
    await recordServing(ctx, options.release)
  })
}

/**
 * The dump before the migrations (var/backups/pre-RELEASE.dump), as in compose mode, when
 * PostgreSQL runs on this node (the guide's manager is also the data node); from another node
 * the dump would land on the wrong disk: a warning says to run backup.mts there first.
 */
async function preMigrationDump(ctx: StackContext, release: string): Promise<string | undefined> {
  const running = (await projectContainers(ctx, 'postgres')).some((state) => state.status === 'running')
  if (!running) {
    ctx.output.warn('no pre-migration dump: PostgreSQL does not run on this node (run `npx zx scripts/backup.mts` on the data node before a deploy with migrations)')
    return undefined
  }
  const file = backupFile(ctx.varDir, release)
  await ctx.output.step('back up the database before the migrations (pg_dump on this node)', () => backupDatabase(ctx, file))
  return basename(file)
}

/** Back to a release whose images are in the registry: the stack re-rendered with its tags, no build, no migration. */
export async function rollbackSwarmRelease(ctx: StackContext, env: AikoEnv, options: { target: string; sha: string; serving: string | undefined }, settings: SwarmSettings): Promise<void> {
  const target = swarmTarget(ctx)
  await recorded(ctx, { id: options.target, sha: options.sha, action: 'rollback', previous: options.serving }, async () => {
    await ctx.output.step('check that this Docker engine is a Swarm manager', () => requireManager(ctx, target))
    const stack = await ctx.output.step(`render the stack file of release ${options.target}`, () => writeStackFile(ctx, env, options.target, settings))
    await deployStack(ctx, target, stack, settings, { firstDeploy: false })
    await recordServing(ctx, options.target)
  })
}

/** The services table of `status` in stack mode. */
export async function swarmServices(ctx: StackContext): Promise<{ lines: ServiceLine[]; text: string }> {
  const target = swarmTarget(ctx)
  const lines = serviceLines(parseServiceRows((await ctx.executor.run(listStackServices(target))).stdout), target.stack)
  return { lines, text: formatServiceLines(lines) }
}

/** Replicas of each app service (backend, frontend, celery-worker) in stack mode: one per server that may lose its node. */
export const SWARM_APP_REPLICAS = 2

export function swarmSettings(env: Pick<AikoEnv, 'REGISTRY'>, healthTimeoutMs: number, lockPolicy: LockPolicy = DEFAULT_LOCK_POLICY): SwarmSettings {
  if (env.REGISTRY === undefined)
    throw new ToolkitError('REGISTRY is missing while DEPLOY_TARGET=swarm', { exitCode: ExitCode.invalidConfig, hint: 'set REGISTRY in .env, e.g. registre.mon-ecole.fr:5000/aiko' })
  return { registry: env.REGISTRY, registryAuth: true, appReplicas: SWARM_APP_REPLICAS, healthTimeoutMs, lockPolicy }
}
