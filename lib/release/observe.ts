import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { composeConfig, composeOneOffIds } from '../compose/commands.ts'
import { imageExists, splitIds, type ContainerState } from '../docker/containers.ts'
import { readEnvFile } from '../env/load.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { runningNginx } from '../nginx/apply.ts'
import { parseServedState, parseUpstreamsMaintenance, parseUpstreamsRelease, readServedRelease } from '../nginx/served.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers } from '../stack/health.ts'
import { expectedServices, parseComposeServices } from '../status/services.ts'
import type { ObservedContainer, ObservedStack } from './converge-plan.ts'
import { releaseImages, releaseOfImage } from './images.ts'
import { readCurrentRelease } from './log.ts'
import { pidAlive } from '../util/pid.ts'

export function observedContainer(state: ContainerState): ObservedContainer {
  return { id: state.id, name: state.name, service: state.service ?? '', release: releaseOfImage(state.image), status: state.status, health: state.health }
}

/** A temp file of the toolkit (`NAME.tmp-PID`, `.NAME.partial-PID`) whose writer is gone. */
export function abandonedTempFile(name: string, alive: (pid: number) => boolean): boolean {
  const match = /\.(?:tmp|partial)-(\d+)$/.exec(name)
  return match !== null && !alive(Number(match[1]))
}

async function findAbandonedFiles(dir: string): Promise<string[]> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const found: string[] = []
  for (const entry of entries) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) found.push(...(await findAbandonedFiles(path)))
    else if (entry.isFile() && abandonedTempFile(entry.name, pidAlive)) found.push(path)
  }
  return found
}

async function readFileIfAny(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Services a plain `compose up` starts: the toolkit reads compose's own resolved model. */
export async function readExpectedServices(ctx: StackContext): Promise<string[]> {
  const config = await ctx.executor.run(composeConfig(ctx.target))
  const services = parseComposeServices(config.stdout)
  if (services.length === 0) throw new ToolkitError('compose config listed no service', { exitCode: ExitCode.precondition, hint: 'check docker-compose.yml and COMPOSE_FILE' })
  return expectedServices(services, [])
}

async function imagesPresent(ctx: StackContext, release: string): Promise<boolean> {
  for (const image of releaseImages(release)) if ((await ctx.executor.probe(imageExists(image))).exitCode !== 0) return false
  return true
}

/** Reads the whole state once: containers, nginx (file and running config), state files, leftovers. */
export async function observeStack(ctx: StackContext, envFile: string): Promise<ObservedStack> {
  const [states, oneOffs, recorded, envValues, upstreams, partialFiles, expected, nginx] = await Promise.all([
    projectContainers(ctx),
    ctx.executor.run(composeOneOffIds(ctx.target)).then((result) => splitIds(result.stdout)),
    readCurrentRelease(ctx.varDir),
    readEnvFile(envFile),
    readFileIfAny(join(ctx.nginxConfDir, 'upstreams.conf')),
    findAbandonedFiles(ctx.varDir),
    readExpectedServices(ctx),
    runningNginx(ctx),
  ])
  const served = nginx === undefined ? undefined : parseServedState((await ctx.executor.probe(readServedRelease(nginx))).stdout)
  const envRelease = envValues?.values['AIKO_RELEASE']
  const candidates = [...new Set([recorded, envRelease].filter((release): release is string => release !== undefined && release !== 'latest'))]
  const startable: string[] = []
  for (const release of candidates) if (await imagesPresent(ctx, release)) startable.push(release)
  return {
    recorded,
    envRelease: envRelease === '' ? undefined : envRelease,
    nginxFile: upstreams === undefined ? undefined : parseUpstreamsRelease(upstreams),
    nginxServing: served?.release,
    maintenance: served?.maintenance === true || (upstreams !== undefined && parseUpstreamsMaintenance(upstreams) === true),
    containers: states.map(observedContainer),
    oneOffs,
    partialFiles,
    expectedServices: expected,
    startable,
  }
}
