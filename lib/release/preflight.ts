import { readFile, statfs } from 'node:fs/promises'
import { freemem } from 'node:os'
import { createServer } from 'node:net'
import type { ComposeFlavor } from '../compose/detect.ts'
import type { AikoEnv } from '../env/schema.ts'

export interface Check {
  name: string
  ok: boolean
  detail: string
}

export const MIN_FREE_DISK_BYTES = 2 * 1024 ** 3
export const MIN_FREE_MEMORY_BYTES = 256 * 1024 ** 2

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(1)} GiB`

export function diskCheck(freeBytes: number): Check {
  return { name: 'disk', ok: freeBytes >= MIN_FREE_DISK_BYTES, detail: `${gib(freeBytes)} free${freeBytes >= MIN_FREE_DISK_BYTES ? '' : ` (at least ${gib(MIN_FREE_DISK_BYTES)} needed for images and backups: docker image prune, or free space)`}` }
}

export interface MemoryFacts {
  /** MemAvailable of /proc/meminfo: what can be had without swapping (page cache included). */
  availableBytes: number
  swapFreeBytes: number
}

/** /proc/meminfo's MemAvailable and SwapFree (kB); a file without MemAvailable is an error. */
export function parseMeminfo(text: string): MemoryFacts {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text)
    return match === null ? undefined : Number(match[1]) * 1024
  }
  const available = field('MemAvailable')
  if (available === undefined) throw new Error('/proc/meminfo has no MemAvailable line')
  return { availableBytes: available, swapFreeBytes: field('SwapFree') ?? 0 }
}

const COMPOSE_SIZE = /^(\d+)([bkmg]?)$/i
const UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }

/**
 * The `mem_limit` of each service of a compose file (the toolkit's own: two-space service
 * indentation under `services:`); services without one are left out.
 */
export function memLimits(composeText: string): Record<string, number> {
  const limits: Record<string, number> = {}
  let inServices = false
  let service: string | undefined
  for (const line of composeText.split('\n')) {
    if (/^\S/.test(line)) {
      inServices = /^services:\s*$/.test(line)
      service = undefined
      continue
    }
    if (!inServices) continue
    const name = /^ {2}([A-Za-z0-9_.-]+):\s*$/.exec(line)?.[1]
    if (name !== undefined) service = name
    const limit = /^ {4}mem_limit:\s*["']?([^"'\s#]+)/.exec(line)?.[1]
    const size = limit === undefined ? null : COMPOSE_SIZE.exec(limit)
    if (service !== undefined && size !== null && size !== undefined) limits[service] = Number(size[1]) * (UNIT[(size[2] ?? '').toLowerCase()] ?? 1)
  }
  return limits
}

/**
 * A blue/green switch runs the new web services beside the old ones: their memory limits must
 * fit in what is available now plus free swap; the shortfall is named with the fix.
 */
export function memoryCheck(memory: MemoryFacts, need: Readonly<Record<string, number>>): Check {
  const needed = Object.values(need).reduce((sum, bytes) => sum + bytes, 0)
  const have = memory.availableBytes + memory.swapFreeBytes
  const mib = (bytes: number) => `${Math.round(bytes / 1024 ** 2)} MiB`
  const parts = Object.entries(need).map(([service, bytes]) => `${service} ${mib(bytes)}`).join(' + ')
  const detail = `${mib(memory.availableBytes)} available + ${mib(memory.swapFreeBytes)} free swap; the new release beside the old one may take ${mib(needed)} (${parts || 'no limit set'})`
  if (have >= Math.max(needed, MIN_FREE_MEMORY_BYTES)) return { name: 'memory', ok: true, detail }
  return { name: 'memory', ok: false, detail: `${detail}: short by ${mib(Math.max(needed, MIN_FREE_MEMORY_BYTES) - have)}; add swap (guide, section 1) or stop what else runs on the server` }
}

/** A port is fine when our nginx publishes it, or when nothing holds it. */
export async function portCheck(bind: string, port: number, ownedByOurNginx: boolean): Promise<Check> {
  if (ownedByOurNginx) return { name: `port ${port}`, ok: true, detail: 'served by this stack\'s nginx' }
  const free = await new Promise<boolean>((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, bind, () => server.close(() => resolve(true)))
  })
  return { name: `port ${port}`, ok: free, detail: free ? 'free' : `held by another program (find it with: ss -ltnp 'sport = :${port}')` }
}

export async function freeDiskBytes(path: string): Promise<number> {
  const stats = await statfs(path)
  return stats.bavail * stats.bsize
}

/** /proc/meminfo, or (another system) the free memory Node sees and no swap. */
export async function readMemory(): Promise<MemoryFacts> {
  const text = await readFile('/proc/meminfo', 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  return text === undefined ? { availableBytes: freemem(), swapFreeBytes: 0 } : parseMeminfo(text)
}

export function composeCheck(flavor: ComposeFlavor): Check {
  return { name: 'docker compose', ok: true, detail: `${flavor.base.join(' ')} ${flavor.version}` }
}

export function certificateCheck(env: AikoEnv, servable: 'http' | 'https'): Check {
  if (env.NGINX_MODE === 'http') return { name: 'certificate', ok: true, detail: 'http mode: no certificate used (run init-ssl for HTTPS)' }
  return servable === 'https'
    ? { name: 'certificate', ok: true, detail: 'https mode with a valid certificate' }
    : { name: 'certificate', ok: false, detail: 'NGINX_MODE=https but no valid certificate: run `npx zx scripts/init-ssl.mts`' }
}
