import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Phases } from './box/box.ts'
import { runLoad, type LoadFigures, type LoadTarget } from './helpers/load.ts'
import { cluster, clusterOk, clusterPrerequisites, nodeDocker, SWARM_DIR, type SwarmNode } from './swarm/cluster.ts'

/**
 * The stack design of issue 17 proven on a real three-node Swarm on this machine
 * (test/e2e/swarm/cluster.sh: three dockerds in network namespaces of their own on the
 * bridge aikosw0, three managers, node1 edge=true with the registry, node2 data=true).
 * Only the addresses of that bridge are ever targeted (10.214.0.0/24).
 *
 * This kernel has no IPVS (test/e2e/swarm/README.md): no ingress routing mesh, no virtual
 * IPs. The stack (test/e2e/swarm/stack.yml) is built for that, as in production: nginx on
 * the edge node publishes port 80 in host mode, the app runs two replicas with
 * endpoint_mode dnsrr, and nginx resolves `app` through Docker's DNS at request time.
 *
 * The test: deploy; both replicas answer through node1; a rolling update (start-first,
 * rollback on failure) and a rollback under a bounded load, with 0 failed requests after one
 * retry; node3 drained (its task moves, the site keeps serving); node3's daemon stopped (the
 * same) and started again. E2E_KEEP_SWARM=1 keeps the cluster afterwards.
 */
const REGISTRY = '10.214.0.11:5000'
const EDGE = '10.214.0.11'
const STACK = 'aikosw'
const APP = `${STACK}_app`
const TARGET: LoadTarget = { host: EDGE, port: 80, servername: 'aiko.test', path: '/', plain: true }
const phases = new Phases('14-swarm-cluster')
const log = (line: string) => process.stderr.write(`[14-swarm-cluster] ${line}\n`)

const skipReason = await clusterPrerequisites()
if (skipReason !== undefined) log(`skipped: ${skipReason}`)

interface Answer {
  version: string
  host: string
}

async function getOnce(): Promise<Answer | undefined> {
  try {
    const response = await fetch(`http://${EDGE}/`, { signal: AbortSignal.timeout(5_000) })
    if (response.status !== 200) return undefined
    return (await response.json()) as Answer
  } catch {
    return undefined
  }
}

/** Polls the site until `accept` holds for what it saw (bounded). */
async function waitForSite(what: string, accept: (seen: Answer[]) => boolean, timeoutMs = 120_000): Promise<Answer[]> {
  const deadline = Date.now() + timeoutMs
  const seen: Answer[] = []
  while (Date.now() < deadline) {
    const answer = await getOnce()
    if (answer !== undefined) {
      seen.push(answer)
      if (seen.length > 40) seen.shift()
      if (accept(seen)) return seen
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`${what}: not seen within ${timeoutMs / 1000} s; last answers: ${JSON.stringify(seen.slice(-5))}`)
}

/** Node hostname of each running task of a service. */
async function runningNodes(service: string): Promise<string[]> {
  const out = await nodeDocker('node1', ['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}', service])
  return out.split('\n').filter((line) => / Running /.test(` ${line} `)).map((line) => line.split(' ')[0] ?? '').sort()
}

async function waitForTasks(service: string, accept: (nodes: string[]) => boolean, timeoutMs = 120_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs
  let nodes: string[] = []
  while (Date.now() < deadline) {
    nodes = await runningNodes(service)
    if (accept(nodes)) return nodes
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
  throw new Error(`${service}: tasks did not converge within ${timeoutMs / 1000} s (running on: ${nodes.join(', ') || 'none'})`)
}

/** A bounded load (count and time) on node1's port 80 while `action` runs. */
async function underLoad(action: () => Promise<unknown>): Promise<LoadFigures> {
  let finish: () => void = () => undefined
  const until = new Promise<void>((resolve) => (finish = resolve))
  const load = runLoad(TARGET, until, { clients: 2, maxRequests: 6_000, maxMs: 240_000, pauseMs: 20 })
  try {
    await action()
    // a few more seconds of traffic after the action: what it left behind must serve too
    await new Promise((resolve) => setTimeout(resolve, 3_000))
  } finally {
    finish()
  }
  const figures = await load
  log(`load: ${figures.sent} sent, ${figures.rawFailed} failed before the retry, ${figures.failedAfterRetry} after; versions ${JSON.stringify(figures.versions)}; first seen (ms) ${JSON.stringify(figures.firstSeenMs)}${figures.errors.length > 0 ? `; errors ${JSON.stringify(figures.errors.slice(0, 5))}` : ''}`)
  return figures
}

const hostOf = (node: SwarmNode) => `aiko-swarm-${node}`

describe.skipIf(skipReason !== undefined)('14 Swarm: the stack on a three-node cluster (dnsrr, host-mode ports)', () => {
  beforeAll(async () => {
    await phases.run('destroy a leftover cluster', () => clusterOk(['destroy'], { echo: false, timeoutMs: 300_000 }))
    await phases.run('cluster.sh create (3 nodes, registry)', () => clusterOk(['create'], { timeoutMs: 600_000 }))
    await phases.run('push nginx and python-app stand-ins to the registry', () =>
      clusterOk(['push', 'aiko-standin/nginx:test', 'aiko-standin/python-app:test'], { timeoutMs: 600_000 }))
    for (const version of ['v1', 'v2']) {
      await phases.run(`build and push app ${version} on node1`, async () => {
        const image = `${REGISTRY}/aiko-swarm-probe/app:${version}`
        await nodeDocker('node1', ['build', '-q', '--build-arg', `BASE=${REGISTRY}/aiko-standin/python-app:test`, '--build-arg', `VERSION=${version}`, '-t', image, 'probe-app'], {
          cwd: SWARM_DIR,
          env: { DOCKER_BUILDKIT: '0' },
          timeoutMs: 300_000,
        })
        await nodeDocker('node1', ['push', '-q', image], { timeoutMs: 300_000 })
      })
    }
  })

  afterAll(async () => {
    process.stderr.write(`${phases.summary()}\n`)
    if (process.env['E2E_KEEP_SWARM'] === '1') return
    await cluster(['destroy'], { timeoutMs: 300_000 })
  })

  it('an image pushed through node1 is pulled on node3', async () => {
    await nodeDocker('node3', ['pull', '-q', `${REGISTRY}/aiko-standin/nginx:test`], { timeoutMs: 300_000 })
    const id = await nodeDocker('node3', ['image', 'inspect', '--format', '{{.Id}}', `${REGISTRY}/aiko-standin/nginx:test`])
    expect(id).toMatch(/^sha256:/)
  }, 300_000)

  it('deploys the stack: nginx on the edge node, the app on node2 and node3, both replicas answer through node1', async () => {
    await phases.run('docker stack deploy', () =>
      nodeDocker('node1', ['stack', 'deploy', '-c', 'stack.yml', STACK], { cwd: SWARM_DIR, env: { REGISTRY, APP_TAG: 'v1' }, timeoutMs: 120_000 }))
    expect(await waitForTasks(`${STACK}_nginx`, (nodes) => nodes.length === 1)).toEqual([hostOf('node1')])
    expect(await waitForTasks(APP, (nodes) => nodes.length === 2, 180_000)).toEqual([hostOf('node2'), hostOf('node3')])
    const seen = await phases.run('both replicas answer', () => waitForSite('two app hosts', (answers) => new Set(answers.map((a) => a.host)).size === 2))
    expect(new Set(seen.map((a) => a.version))).toEqual(new Set(['v1']))
  }, 420_000)

  it('rolls the app to v2 (start-first) under load: 0 failed requests after one retry', async () => {
    const figures = await phases.run('service update --image v2 under load', () =>
      underLoad(() =>
        nodeDocker('node1', ['service', 'update', '--detach=false', '--quiet', '--image', `${REGISTRY}/aiko-swarm-probe/app:v2`, APP], { timeoutMs: 300_000 })))
    expect(figures.failedAfterRetry).toBe(0)
    expect(figures.versions['v2']).toBeGreaterThan(0)
    await waitForSite('only v2', (answers) => answers.length >= 10 && answers.slice(-10).every((a) => a.version === 'v2'))
  }, 420_000)

  it('rolls back to v1 under load: 0 failed requests after one retry', async () => {
    const figures = await phases.run('service rollback under load', () =>
      underLoad(() => nodeDocker('node1', ['service', 'rollback', '--detach=false', '--quiet', APP], { timeoutMs: 300_000 })))
    expect(figures.failedAfterRetry).toBe(0)
    await waitForSite('only v1', (answers) => answers.length >= 10 && answers.slice(-10).every((a) => a.version === 'v1'))
  }, 420_000)

  it('drains node3: its task moves to node2 and the site keeps serving', async () => {
    const figures = await phases.run('node update --availability drain node3 under load', () =>
      underLoad(async () => {
        await nodeDocker('node1', ['node', 'update', '--availability', 'drain', hostOf('node3')])
        await waitForTasks(APP, (nodes) => nodes.length === 2 && nodes.every((n) => n === hostOf('node2')))
      }))
    expect(figures.failedAfterRetry).toBe(0)
    await nodeDocker('node1', ['node', 'update', '--availability', 'active', hostOf('node3')])
    // spread the replicas again (Swarm does not move running tasks back by itself)
    await phases.run('service update --force: one replica back on node3', () =>
      nodeDocker('node1', ['service', 'update', '--detach=false', '--quiet', '--force', APP], { timeoutMs: 300_000 }))
    expect(await waitForTasks(APP, (nodes) => nodes.length === 2 && nodes.includes(hostOf('node3')))).toEqual([hostOf('node2'), hostOf('node3')])
  }, 600_000)

  it("stops node3's daemon: its task is replaced on node2 and the site keeps serving; node3 comes back", async () => {
    const figures = await phases.run('stop node3 under load, until the app runs twice on node2', () =>
      underLoad(async () => {
        await clusterOk(['stop-node', 'node3'], { timeoutMs: 180_000 })
        await waitForTasks(APP, (nodes) => nodes.length === 2 && nodes.every((n) => n === hostOf('node2')), 180_000)
      }))
    expect(figures.failedAfterRetry).toBe(0)
    await phases.run('start node3, Ready again', async () => {
      await clusterOk(['start-node', 'node3'], { timeoutMs: 180_000 })
      const deadline = Date.now() + 120_000
      let state = ''
      while (Date.now() < deadline) {
        state = await nodeDocker('node1', ['node', 'inspect', '--format', '{{.Status.State}} {{.Spec.Availability}}', hostOf('node3')])
        if (state === 'ready active') return
        await new Promise((resolve) => setTimeout(resolve, 1_000))
      }
      throw new Error(`node3 not ready within 120 s: ${state}`)
    })
    await waitForSite('the site after node3 is back', (answers) => answers.length >= 5)
  }, 600_000)
})
