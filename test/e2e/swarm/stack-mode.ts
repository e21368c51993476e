import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { YAML } from 'zx'
import { z } from 'zod'
import { PROJECT_DIR } from '../../../lib/stack/context.ts'
import type { Phases } from '../box/box.ts'
import { clusterOk, nodeDocker, type SwarmNode } from './cluster.ts'

/**
 * The stack mode (DEPLOY_TARGET=swarm) on cluster.sh's three-node Swarm, as e2e 15 and the
 * deploy benchmark use it: the cluster made, the stand-ins loaded on every node under the
 * production image names, and a .env whose scripts talk to node1 (a manager, edge=true, the
 * registry); node2 is the data node.
 */
export const SWARM_REGISTRY = '10.214.0.11:5000/aiko'
export const SWARM_EDGE = '10.214.0.11'
export const SWARM_DOMAIN = 'aiko-swarm.test'
const NODES: SwarmNode[] = ['node1', 'node2', 'node3']

const ComposeImages = z.object({
  services: z.record(z.string(), z.object({ image: z.string().optional(), build: z.unknown().optional(), profiles: z.array(z.string()).optional() })),
})

/** Production image name → stand-in, for each service the stack deploys from a published image. */
export async function standIns(): Promise<Array<[string, string]>> {
  const read = async (...path: string[]) => ComposeImages.parse(YAML.parse(await readFile(join(PROJECT_DIR, ...path), 'utf8')))
  const production = await read('docker-compose.yml')
  const override = await read('test', 'e2e', 'compose.e2e.yml')
  const pairs: Array<[string, string]> = []
  for (const [name, service] of Object.entries(production.services)) {
    const standIn = override.services[name]?.image
    if (service.build !== undefined || service.image === undefined || standIn === undefined || (service.profiles ?? []).length > 0) continue
    pairs.push([service.image, standIn])
  }
  return pairs
}

const secret = () => randomBytes(24).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')

/**
 * A fresh cluster ready for deploy.mts in stack mode, and the environment its scripts run
 * with (DOCKER_HOST of node1, the work folder's var/, the e2e compose override for the
 * fixture builds). The .env is written to `workDir`/.env.
 */
export async function prepareStackMode(options: { workDir: string; project: string; phases: Phases; log: (line: string) => void }): Promise<Record<string, string>> {
  const { workDir, project, phases, log } = options
  await phases.run('destroy a leftover cluster', () => clusterOk(['destroy'], { echo: false, timeoutMs: 300_000 }))
  await phases.run('cluster.sh create (3 nodes, registry)', () => clusterOk(['create'], { timeoutMs: 600_000 }))
  const pairs = await standIns()
  log(`stand-ins: ${pairs.map(([production, standIn]) => `${production} <- ${standIn}`).join(', ')}`)
  for (const node of NODES) {
    // node1 builds the release and runs certbot; node2 runs Pebble
    const bases = node === 'node1' ? ['aiko-standin/python-app:test', 'aiko-standin/node:test', 'aiko-standin/certbot:test'] : node === 'node2' ? ['aiko-standin/pebble:test'] : []
    await phases.run(`load the stand-ins into ${node}`, () => clusterOk(['load', node, ...new Set(pairs.map(([, standIn]) => standIn)), ...bases], { timeoutMs: 600_000 }))
    for (const [productionName, standIn] of pairs) await nodeDocker(node, ['tag', standIn, productionName])
  }
  await rm(workDir, { recursive: true, force: true })
  await mkdir(workDir, { recursive: true })
  const env = {
    APP_ENV: 'development', DOMAIN: SWARM_DOMAIN, DOMAIN_WWW: 'false', LETSENCRYPT_EMAIL: `ops@${SWARM_DOMAIN}`, ADMIN_EMAIL: `admin@${SWARM_DOMAIN}`, NGINX_MODE: 'http',
    HTTP_BIND: '0.0.0.0', HTTP_BIND6: '0.0.0.0', HTTP_PORT: '80', HTTPS_PORT: '443',
    POSTGRES_PASSWORD: secret(), REDIS_PASSWORD: secret(), SECRET_KEY: secret() + secret(), JWT_SECRET_KEY: secret() + secret(), GRAFANA_ADMIN_PASSWORD: secret(),
    DEPLOY_TARGET: 'swarm', REGISTRY: SWARM_REGISTRY, ACME_DIRECTORY_URL: 'https://pebble:14000/dir',
  }
  await writeFile(join(workDir, '.env'), Object.entries(env).map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 })
  const host = (await clusterOk(['host', 'node1'], { echo: false })).stdout.trim()
  return {
    DOCKER_HOST: host,
    AIKO_VAR_DIR: join(workDir, 'var'),
    COMPOSE_FILE: ['docker-compose.yml', 'test/e2e/compose.e2e.yml', 'test/e2e/swarm/certbot.e2e.yml'].join(':'),
    COMPOSE_PROJECT_NAME: project,
    // the classic builder: node1 is an Engine 20.10 reached through DOCKER_HOST
    DOCKER_BUILDKIT: '0',
    CI: 'true',
  }
}

export const PEBBLE_NODE: SwarmNode = 'node2'
const PEBBLE_CONTAINER = 'aiko-pebble'

/** Pebble on node2 (published on its address), resolving the domain to the edge node like public DNS would. */
export async function startSwarmPebble(): Promise<void> {
  await nodeDocker(PEBBLE_NODE, ['rm', '-f', PEBBLE_CONTAINER]).catch(() => '')
  await nodeDocker(PEBBLE_NODE, ['run', '-d', '--name', PEBBLE_CONTAINER, '--add-host', `${SWARM_DOMAIN}:${SWARM_EDGE}`, '-p', '14000:14000', '-p', '15000:15000', 'aiko-standin/pebble:test'])
}

/** Pebble's root certificate (PEM): what a browser would trust. */
export async function swarmPebbleRoot(): Promise<string> {
  return nodeDocker(PEBBLE_NODE, ['exec', PEBBLE_CONTAINER, 'wget', '-q', '-O', '-', '--no-check-certificate', 'https://127.0.0.1:15000/roots/0'])
}

/** The version /api/version answers through node1's nginx (Host: the domain; over HTTPS once init-ssl ran), or undefined. */
export function swarmServedVersion(options: { https?: boolean } = {}): Promise<string | undefined> {
  return new Promise((resolve) => {
    const request = options.https === true ? httpsRequest : httpRequest
    const tls = options.https === true ? { servername: SWARM_DOMAIN, rejectUnauthorized: false } : {}
    const req = request({ host: SWARM_EDGE, port: options.https === true ? 443 : 80, path: '/api/version', headers: { host: SWARM_DOMAIN }, timeout: 5_000, ...tls }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve(res.statusCode === 200 ? /"version"\s*:\s*"([^"]*)"/.exec(Buffer.concat(chunks).toString())?.[1] : undefined))
      res.on('error', () => resolve(undefined))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

/** The release id a deploy or rollback printed. */
export const releaseOf = (output: string): string | undefined => /release (\d{8}-\d{6}-[0-9a-z]{7})/.exec(output)?.[1]
