import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { YAML } from 'zx'
import { PROJECT_DIR } from '../../lib/stack/context.ts'
import { Phases } from './box/box.ts'
import { runLoad, type LoadFigures, type LoadTarget } from './helpers/load.ts'
import { runScript, type RunResult } from './helpers/run.ts'
import { cluster, clusterOk, clusterPrerequisites, nodeDocker, type SwarmNode } from './swarm/cluster.ts'

/**
 * The stack mode (DEPLOY_TARGET=swarm, issue 17) through the REAL scripts on the three-node
 * Swarm of test/e2e/swarm/cluster.sh: scripts/deploy.mts builds the release (the fixture apps,
 * through COMPOSE_FILE as in every e2e test), pushes it to the cluster's registry, renders the
 * stack from the production docker-compose.yml, runs the migrations as a job and waits for
 * convergence; a second deploy rolls every app service under load, then scripts/rollback.mts
 * goes back, under load too, with 0 failed requests after one retry.
 *
 * The docker CLI of the scripts talks to node1 (DOCKER_HOST, a manager, edge=true, the
 * registry); node2 is the data node. The production images of docker-compose.yml cannot be
 * pulled here: each node gets the stand-ins (test/e2e/compose.e2e.yml) loaded and tagged with
 * the production names, so the stack file is the one production gets.
 */
const REGISTRY = '10.214.0.11:5000/aiko'
const EDGE = '10.214.0.11'
const DOMAIN = 'aiko-swarm.test'
const PROJECT = 'aikostack'
const WORK = join(PROJECT_DIR, 'test', 'e2e', '.work-swarm')
const NODES: SwarmNode[] = ['node1', 'node2', 'node3']
const phases = new Phases('15-swarm-deploy')
const log = (line: string) => process.stderr.write(`[15-swarm-deploy] ${line}\n`)
const TARGET: LoadTarget = { host: EDGE, port: 80, servername: DOMAIN, path: '/api/version', plain: true }

const skipReason = await clusterPrerequisites()
if (skipReason !== undefined) log(`skipped: ${skipReason}`)

/** Production image name → stand-in, read from the two compose files (services the stack deploys). */
async function standIns(): Promise<Array<[string, string]>> {
  const production = YAML.parse(await readFile(join(PROJECT_DIR, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string; build?: unknown; profiles?: string[] }> }
  const override = YAML.parse(await readFile(join(PROJECT_DIR, 'test', 'e2e', 'compose.e2e.yml'), 'utf8')) as { services: Record<string, { image?: string }> }
  const pairs: Array<[string, string]> = []
  for (const [name, service] of Object.entries(production.services)) {
    const standIn = override.services[name]?.image
    if (service.build !== undefined || service.image === undefined || standIn === undefined || (service.profiles ?? []).length > 0) continue
    pairs.push([service.image, standIn])
  }
  return pairs
}

const secret = () => randomBytes(24).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x')

let scriptEnv: Record<string, string> = {}
const envArgs = () => ['--env-path', join(WORK, '.env'), '--yes']
const script = (name: string, args: readonly string[], timeoutMs = 900_000): Promise<RunResult> => runScript(name, [...envArgs(), ...args], { env: scriptEnv, timeoutMs })

function expectOk(what: string, result: RunResult): void {
  if (result.code !== 0) log(`${what} failed (exit ${result.code}):\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`)
  expect(result.code, what).toBe(0)
}

/** The version /api/version answers through node1's nginx (Host: the domain), or undefined. */
function servedVersion(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: EDGE, port: 80, path: '/api/version', headers: { host: DOMAIN }, timeout: 5_000 }, (res) => {
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

/** The version the site serves, polled until it is `expected` (bounded): what it last saw otherwise. */
async function waitForVersion(expected: string | undefined, timeoutMs = 60_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs
  let seen: string | undefined
  while (Date.now() < deadline) {
    seen = await servedVersion()
    if (seen === expected) return seen
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
  return seen
}

async function underLoad(action: () => Promise<RunResult>): Promise<{ figures: LoadFigures; result: RunResult }> {
  let finish: () => void = () => undefined
  const until = new Promise<void>((resolve) => (finish = resolve))
  const load = runLoad(TARGET, until, { clients: 2, maxRequests: 20_000, maxMs: 900_000, pauseMs: 150 })
  let result: RunResult
  try {
    result = await action()
    await new Promise((resolve) => setTimeout(resolve, 3_000))
  } finally {
    finish()
  }
  const figures = await load
  log(`load: ${figures.sent} sent, ${figures.rawFailed} failed before the retry, ${figures.failedAfterRetry} after; statuses ${JSON.stringify(figures.statuses)}; versions ${JSON.stringify(figures.versions)}${figures.errors.length > 0 ? `; errors ${JSON.stringify(figures.errors.slice(0, 5))}` : ''}`)
  return { figures, result }
}

const releaseOf = (output: string): string | undefined => /release (\d{8}-\d{6}-[0-9a-z]{7})/.exec(output)?.[1]

describe.skipIf(skipReason !== undefined)('15 Swarm: deploy.mts and rollback.mts with DEPLOY_TARGET=swarm on a three-node cluster', () => {
  beforeAll(async () => {
    await phases.run('destroy a leftover cluster', () => clusterOk(['destroy'], { echo: false, timeoutMs: 300_000 }))
    await phases.run('cluster.sh create (3 nodes, registry)', () => clusterOk(['create'], { timeoutMs: 600_000 }))
    const pairs = await standIns()
    log(`stand-ins: ${pairs.map(([p, s]) => `${p} <- ${s}`).join(', ')}`)
    for (const node of NODES) {
      const bases = node === 'node1' ? ['aiko-standin/python-app:test', 'aiko-standin/node:test'] : []
      await phases.run(`load the stand-ins into ${node}`, () => clusterOk(['load', node, ...new Set(pairs.map(([, s]) => s)), ...bases], { timeoutMs: 600_000 }))
      for (const [productionName, standIn] of pairs) await nodeDocker(node, ['tag', standIn, productionName])
    }
    await rm(WORK, { recursive: true, force: true })
    await mkdir(WORK, { recursive: true })
    const env = {
      APP_ENV: 'development', DOMAIN, DOMAIN_WWW: 'false', LETSENCRYPT_EMAIL: `ops@${DOMAIN}`, ADMIN_EMAIL: `admin@${DOMAIN}`, NGINX_MODE: 'http',
      HTTP_BIND: '0.0.0.0', HTTP_BIND6: '0.0.0.0', HTTP_PORT: '80', HTTPS_PORT: '443',
      POSTGRES_PASSWORD: secret(), REDIS_PASSWORD: secret(), SECRET_KEY: secret() + secret(), JWT_SECRET_KEY: secret() + secret(), GRAFANA_ADMIN_PASSWORD: secret(),
      DEPLOY_TARGET: 'swarm', REGISTRY,
    }
    await writeFile(join(WORK, '.env'), Object.entries(env).map(([name, value]) => `${name}=${value}\n`).join(''), { mode: 0o600 })
    const host = (await clusterOk(['host', 'node1'], { echo: false })).stdout.trim()
    scriptEnv = {
      DOCKER_HOST: host,
      AIKO_VAR_DIR: join(WORK, 'var'),
      COMPOSE_FILE: ['docker-compose.yml', 'test/e2e/compose.e2e.yml'].join(':'),
      COMPOSE_PROJECT_NAME: PROJECT,
      // the classic builder: node1 is an Engine 20.10 reached through DOCKER_HOST
      DOCKER_BUILDKIT: '0',
      CI: 'true',
    }
  }, 1_800_000)

  afterAll(async () => {
    process.stderr.write(`${phases.summary()}\n`)
    if (process.env['E2E_KEEP_SWARM'] === '1') return
    await cluster(['destroy'], { timeoutMs: 300_000 })
    await rm(WORK, { recursive: true, force: true })
  })

  let first: string | undefined
  let second: string | undefined

  it('deploy.mts: first deploy in stack mode (build, push, stack, migration job, every service converged), status lists the services', async () => {
    const result = await phases.run('deploy.mts (first, stack mode)', () => script('deploy', ['--health-timeout', '400']))
    expectOk('first deploy', result)
    first = releaseOf(result.stdout + result.stderr)
    expect(first).toBeDefined()
    expect(await waitForVersion(first)).toBe(first)
    const postgresNode = await nodeDocker('node1', ['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}}', `${PROJECT}_postgres`])
    expect(postgresNode).toBe('aiko-swarm-node2')
    const status = await script('status', [], 120_000)
    log(status.stdout)
    expect(status.code).toBe(0)
    expect(status.stdout).toMatch(/backend\s+replicated\s+2\/2/)
    expect(await readFile(join(WORK, 'var', 'current-release'), 'utf8')).toBe(`${first}\n`)
  }, 1_800_000)

  it('deploy.mts again under load: a rolling update of every app service, 0 failed requests after one retry', async () => {
    expect(first).toBeDefined()
    // a new release id needs a new second of the clock
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const { figures, result } = await phases.run('deploy.mts (second) under load', () => underLoad(() => script('deploy', ['--health-timeout', '400'])))
    expectOk('second deploy', result)
    second = releaseOf(result.stdout + result.stderr)
    expect(second).not.toBe(first)
    expect(figures.failedAfterRetry).toBe(0)
    expect(figures.versions[second ?? '']).toBeGreaterThan(0)
    expect(await waitForVersion(second)).toBe(second)
  }, 1_800_000)

  it('rollback.mts under load: back to the first release, 0 failed requests after one retry, logged', async () => {
    expect(second).toBeDefined()
    const { figures, result } = await phases.run('rollback.mts under load', () => underLoad(() => script('rollback', ['--health-timeout', '400'])))
    expectOk('rollback', result)
    expect(figures.failedAfterRetry).toBe(0)
    expect(await waitForVersion(first)).toBe(first)
    const list = await script('rollback', ['--list'], 60_000)
    expect(list.stdout).toMatch(new RegExp(`rollback\\s+ok\\s+${first}`))
  }, 1_800_000)
})
