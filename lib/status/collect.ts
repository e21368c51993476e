import { alertChannels, describeChannel } from '../alerts/config.ts'
import { composeConfig, composeContainerIds } from '../compose/commands.ts'
import { inspectContainers, parseContainerStates, splitIds, type ContainerState } from '../docker/containers.ts'
import { dockerRootDir } from '../docker/info.ts'
import type { AikoEnv } from '../env/schema.ts'
import { maskSecrets } from '../exec/mask.ts'
import { describeAction, planConvergence } from '../release/converge-plan.ts'
import { readCurrentRelease, readReleaseLog } from '../release/log.ts'
import { observeStack } from '../release/observe.ts'
import { parseStateOutput, readStateInContainer } from '../ssl/state.ts'
import type { StackContext } from '../stack/context.ts'
import { listBackups } from '../backup/files.ts'
import { newestBackup, offsiteFacts } from './backups.ts'
import { readBackupState } from '../backup/state.ts'
import { describeCertificate } from './certificate.ts'
import { readDisk, sameFilesystem } from './disk.ts'
import { lastAction } from './release.ts'
import type { CertificateStatus, StatusFacts } from './report.ts'
import { activeProfiles, expectedServices, parseComposeServices, summariseServices, type ComposeService } from './services.ts'

/** The last meaningful line of a failed command, masked: enough to say why without a wall of text. */
const reason = (stderr: string, fallback: string): string => maskSecrets(stderr.trim().split('\n').filter((line) => line.trim() !== '').at(-1)?.trim() ?? fallback)

interface Containers {
  reachable: boolean
  error: string | null
  states: ContainerState[]
}

/** The project's containers by label; Docker being down is a fact to report, not an error. */
async function readContainers(ctx: StackContext): Promise<Containers> {
  const ps = await ctx.executor.probe(composeContainerIds(ctx.target))
  if (ps.exitCode !== 0) return { reachable: false, error: reason(ps.stderr, `docker ps exited with ${ps.exitCode}`), states: [] }
  const ids = splitIds(ps.stdout)
  if (ids.length === 0) return { reachable: true, error: null, states: [] }
  // A container removed between ps and inspect (a deploy retiring the old release) makes inspect fail for it alone.
  const inspect = await ctx.executor.probe(inspectContainers(ids))
  try {
    return { reachable: true, error: null, states: parseContainerStates(inspect.stdout) }
  } catch {
    return { reachable: true, error: reason(inspect.stderr, 'docker inspect failed'), states: [] }
  }
}

/** Services compose would start, from its resolved model (read in memory only: it holds the .env values). */
async function readExpectedServices(ctx: StackContext, profiles: readonly string[]): Promise<{ services: string[]; error: string | null }> {
  const config = await ctx.executor.probe(composeConfig(ctx.target))
  if (config.exitCode !== 0) return { services: [], error: `compose config failed: ${reason(config.stderr, `exit code ${config.exitCode}`)}` }
  let services: ComposeService[]
  try {
    services = parseComposeServices(config.stdout)
  } catch {
    return { services: [], error: 'compose config printed something that is not YAML' }
  }
  return services.length === 0 ? { services: [], error: 'compose config listed no service' } : { services: expectedServices(services, profiles), error: null }
}

async function readDockerDisk(ctx: StackContext, reachable: boolean, projectDir: string): Promise<{ root: string | null; disk: StatusFacts['disk']['docker'] }> {
  if (!reachable) return { root: null, disk: null }
  const info = await ctx.executor.probe(dockerRootDir())
  const root = info.exitCode === 0 ? info.stdout.trim() : ''
  if (root === '') return { root: null, disk: null }
  const disk = await readDisk(root)
  return { root, disk: disk === undefined ? null : { ...disk, sameFilesystem: await sameFilesystem(root, projectDir) } }
}

/** Through the running nginx only: status never starts a container (a one-off certbot would) to read the files. */
async function readCertificate(ctx: StackContext, nginx: ContainerState | undefined, domain: string, now: Date): Promise<CertificateStatus> {
  if (nginx === undefined) return describeCertificate(domain, undefined, now)
  const result = await ctx.executor.probe(readStateInContainer(nginx.id, domain))
  if (result.exitCode !== 0) return describeCertificate(domain, undefined, now, `not read through nginx: ${reason(result.stderr, 'docker exec failed')}`)
  return describeCertificate(domain, parseStateOutput(result.stdout), now)
}

export interface CollectOptions {
  env: AikoEnv
  /** COMPOSE_PROFILES as compose sees it (environment, then .env). */
  composeProfiles: string | undefined
  now?: Date
}

/** Reads everything status reports; changes nothing and starts no container. */
export async function collectStatus(ctx: StackContext, options: CollectOptions): Promise<StatusFacts> {
  const now = options.now ?? new Date()
  const projectDir = ctx.target.projectDir
  const dockerSide = readContainers(ctx).then(async (containers) => {
    const nginx = containers.states.find((state) => state.service === 'nginx' && state.status === 'running')
    const [certificate, disk] = await Promise.all([readCertificate(ctx, nginx, options.env.DOMAIN, now), readDockerDisk(ctx, containers.reachable, projectDir)])
    return { containers, certificate, dockerDisk: disk }
  })
  const [{ containers, certificate, dockerDisk }, expected, current, log, backups, projectDisk, drift, backupState] = await Promise.all([
    dockerSide,
    readExpectedServices(ctx, activeProfiles(options.composeProfiles)),
    readCurrentRelease(ctx.varDir),
    readReleaseLog(ctx.varDir).catch(() => []),
    listBackups(ctx.varDir),
    readDisk(projectDir),
    readDrift(ctx),
    readBackupState(ctx.varDir),
  ])
  return {
    time: now.toISOString(),
    project: ctx.target.project,
    domain: options.env.DOMAIN,
    nginxMode: options.env.NGINX_MODE,
    release: { current: current ?? null, last: lastAction(log) },
    docker: { reachable: containers.reachable, rootDir: dockerDisk.root, error: containers.error },
    composeError: expected.error,
    services: summariseServices(expected.services, containers.states),
    certificate,
    disk: { project: projectDisk ?? null, docker: dockerDisk.disk },
    backup: newestBackup(backups, now),
    ...offsiteFacts(backupState, options.env.RESTIC_REPOSITORY !== undefined, now),
    drift,
    alerts: { channels: alertChannels(options.env).map(describeChannel) },
  }
}

/** The convergence plan over the observed stack (read-only); Docker down is reported elsewhere, not as drift. */
async function readDrift(ctx: StackContext): Promise<string[]> {
  try {
    return planConvergence(await observeStack(ctx, ctx.target.envFile)).actions.map(describeAction)
  } catch {
    return []
  }
}
