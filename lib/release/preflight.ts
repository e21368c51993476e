import { statfs } from 'node:fs/promises'
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

export function memoryCheck(freeBytes: number): Check {
  const mib = Math.round(freeBytes / 1024 ** 2)
  return { name: 'memory', ok: freeBytes >= MIN_FREE_MEMORY_BYTES, detail: `${mib} MiB free${freeBytes >= MIN_FREE_MEMORY_BYTES ? '' : ' (the new release runs beside the old one for a moment: free some memory)'}` }
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

export const freeMemoryBytes = (): number => freemem()

export function composeCheck(flavor: ComposeFlavor): Check {
  return { name: 'docker compose', ok: true, detail: `${flavor.base.join(' ')} ${flavor.version}` }
}

export function certificateCheck(env: AikoEnv, servable: 'http' | 'https'): Check {
  if (env.NGINX_MODE === 'http') return { name: 'certificate', ok: true, detail: 'http mode: no certificate used (run init-ssl for HTTPS)' }
  return servable === 'https'
    ? { name: 'certificate', ok: true, detail: 'https mode with a valid certificate' }
    : { name: 'certificate', ok: false, detail: 'NGINX_MODE=https but no valid certificate: run `npx zx scripts/init-ssl.mts`' }
}
