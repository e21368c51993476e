import { readdir, readFile, rm, stat } from 'node:fs/promises'
import { get as httpsGet } from 'node:https'
import { basename, join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROJECT_DIR } from '../../lib/stack/context.ts'
import { Phases } from './box/box.ts'
import { runAndSignalAtStep } from './helpers/crash.ts'
import { runLoad, runMixedLoad, type LoadFigures, type LoadTarget } from './helpers/load.ts'
import { runScript, type RunResult } from './helpers/run.ts'
import { cluster, clusterOk, clusterPrerequisites, nodeDocker } from './swarm/cluster.ts'
import { prepareStackMode, releaseOf, startSwarmPebble, SWARM_DOMAIN, SWARM_EDGE, swarmPebbleRoot, swarmServedVersion } from './swarm/stack-mode.ts'

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
const PROJECT = 'aikostack'
const WORK = join(PROJECT_DIR, 'test', 'e2e', '.work-swarm')
const phases = new Phases('15-swarm-deploy')
const log = (line: string) => process.stderr.write(`[15-swarm-deploy] ${line}\n`)
/** Set once init-ssl switched the stack's nginx to HTTPS: every later check and load goes over TLS. */
let https = false
const edge = () => ({ host: SWARM_EDGE, port: https ? 443 : 80, servername: SWARM_DOMAIN, plain: !https })
const target = (): LoadTarget => ({ ...edge(), path: '/api/version' })

const skipReason = await clusterPrerequisites()
if (skipReason !== undefined) log(`skipped: ${skipReason}`)

let scriptEnv: Record<string, string> = {}
const envArgs = () => ['--env-path', join(WORK, '.env'), '--yes']
const script = (name: string, args: readonly string[], timeoutMs = 900_000): Promise<RunResult> => runScript(name, [...envArgs(), ...args], { env: scriptEnv, timeoutMs })

async function envValues(): Promise<Record<string, string>> {
  return Object.fromEntries((await readFile(join(WORK, '.env'), 'utf8')).split('\n').flatMap((line) => {
    const at = line.indexOf('=')
    return at > 0 ? [[line.slice(0, at), line.slice(at + 1)]] : []
  }))
}

/** The environment of a script run on node2, the data node (DOCKER_HOST of its daemon). */
async function dataNodeEnv(): Promise<Record<string, string>> {
  return { ...scriptEnv, DOCKER_HOST: (await clusterOk(['host', 'node2'], { echo: false })).stdout.trim() }
}

const onDataNode = async (name: string, args: readonly string[]): Promise<RunResult> => runScript(name, [...envArgs(), ...args], { env: await dataNodeEnv(), timeoutMs: 600_000 })

/** The id of the stack's PostgreSQL task container on node2. */
const postgresTask = async (): Promise<string> => (await nodeDocker('node2', ['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${PROJECT}_postgres`])).split('\n')[0] ?? ''

/** One SQL statement through psql in that task; its output, trimmed. */
const psqlOnData = async (sql: string): Promise<string> => nodeDocker('node2', ['exec', await postgresTask(), 'sh', '-c', 'psql -X -q -tA -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"', 'psql', sql])

function expectOk(what: string, result: RunResult): void {
  if (result.code !== 0) log(`${what} failed (exit ${result.code}):\n${result.stdout.slice(-4000)}\n${result.stderr.slice(-4000)}`)
  expect(result.code, what).toBe(0)
}

/** The version the site serves, polled until it is `expected` (bounded): what it last saw otherwise. */
async function waitForVersion(expected: string | undefined, timeoutMs = 60_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs
  let seen: string | undefined
  while (Date.now() < deadline) {
    seen = await swarmServedVersion({ https })
    if (seen === expected) return seen
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
  return seen
}

async function underLoad<T extends RunResult>(action: () => Promise<T>): Promise<{ figures: LoadFigures; result: T }> {
  let finish: () => void = () => undefined
  const until = new Promise<void>((resolve) => (finish = resolve))
  const load = runLoad(target(), until, { clients: 2, maxRequests: 20_000, maxMs: 900_000, pauseMs: 150 })
  let result: T
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

/** Under load: `name`.mts SIGKILLed when step `step` starts, then the same script run plainly; the load's figures and that second run. */
function killedThenAgain(name: 'deploy' | 'rollback', step: string): Promise<{ figures: LoadFigures; result: RunResult }> {
  return phases.run(`SIGKILL of ${name} at '${step}', then ${name}.mts`, () =>
    underLoad(async () => {
      const killed = await runAndSignalAtStep(name, [...envArgs(), '--health-timeout', '400'], { step, signal: 'SIGKILL', timeoutMs: 900_000, env: scriptEnv })
      expect(killed.signalled, `the ${name} reached '${step}': ${killed.stdout.slice(-10).join('\n')}`).toBe(true)
      return script(name, ['--health-timeout', '400'])
    }),
  )
}

/** Replicated services of the stack whose running tasks are short of their desired count, as "name r/d". */
async function shortServices(): Promise<string[]> {
  const out = await nodeDocker('node1', ['service', 'ls', '--filter', `label=com.docker.stack.namespace=${PROJECT}`, '--format', '{{.Name}} {{.Mode}} {{.Replicas}}'])
  return out.split('\n').filter((line) => {
    const [, mode, replicas = ''] = line.split(' ')
    const [running, desired] = replicas.split('/').map(Number)
    return mode === 'replicated' && running !== desired
  })
}

/** Polls `check` every second until it returns '' (bounded); its last answer otherwise. */
async function until(what: string, check: () => Promise<string>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    last = await check()
    if (last === '') return
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s (${last})`)
}

/** Tasks meant to run on a node, as "service.slot". */
const tasksOn = async (node: string) => (await nodeDocker('node1', ['node', 'ps', node, '--filter', 'desired-state=running', '--format', '{{.Name}}'])).split('\n').filter(Boolean)

/** The API and the front end through the edge node while `action` runs: failures after one retry, summed. */
async function mixedUnderLoad(what: string, action: () => Promise<unknown>): Promise<number> {
  const running = action()
  const load = await runMixedLoad(edge(), running.then(() => new Promise((resolve) => setTimeout(resolve, 3_000))), { maxMs: 400_000 })
  await running
  log(`${what}: API ${load.api.sent} sent, ${load.api.failedAfterRetry} failed after one retry; front end ${load.web.sent} sent, ${load.web.failedAfterRetry} failed${[...load.api.errors, ...load.web.errors].length > 0 ? `; errors ${JSON.stringify([...load.api.errors, ...load.web.errors].slice(0, 5))}` : ''}`)
  return load.api.failedAfterRetry + load.web.failedAfterRetry
}

describe.skipIf(skipReason !== undefined)('15 Swarm: deploy.mts and rollback.mts with DEPLOY_TARGET=swarm on a three-node cluster', () => {
  beforeAll(async () => {
    scriptEnv = await prepareStackMode({ workDir: WORK, project: PROJECT, phases, log })
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

  it('init-db, backup.mts and status --write-metrics in stack mode: refused off the data node (exit 4, says where), done on it by docker exec into its tasks', async () => {
    expect(first).toBeDefined()
    const secrets = Object.entries(await envValues()).filter(([name]) => /PASSWORD|SECRET/.test(name)).map(([, value]) => value)
    const noSecret = (result: RunResult) => { for (const value of secrets) expect(result.stdout + result.stderr).not.toContain(value) }
    // node1 is the edge node: no PostgreSQL task there
    const wrong = await script('init-db', [], 300_000)
    expect(wrong.code, wrong.stdout + wrong.stderr).toBe(4)
    expect(wrong.stderr).toContain(`no running task of ${PROJECT}_postgres on this node`)
    expect(wrong.stderr).toContain(`docker service ps ${PROJECT}_postgres`)
    const wrongBackup = await script('backup', [], 300_000)
    expect(wrongBackup.code).toBe(4)

    const onData = onDataNode
    const init = await phases.run('init-db on the data node', () => onData('init-db', []))
    expectOk('init-db on the data node', init)
    expect(init.stdout).toContain('levels: 12 inserted (CP, CE1, CE2, CM1, CM2, 6E, 5E, 4E, 3E, 2NDE, 1RE, TLE)')
    expect(init.stdout).toContain(`admin password for admin@${SWARM_DOMAIN} (shown once`)
    const again = await onData('init-db', ['--verbose'])
    expectOk('init-db again', again)
    expect(again.stdout).toContain('levels: nothing to change (12 present)')
    expect(again.stdout).toMatch(/docker exec -i -e ADMIN_PASSWORD [0-9a-f]{64} python3 -/)
    noSecret(again)

    const backup = await phases.run('backup.mts on the data node', () => onData('backup', ['--keep', '3']))
    expectOk('backup on the data node', backup)
    noSecret(backup)
    const file = /wrote (\S+\.dump)/.exec(backup.stdout)?.[1] ?? ''
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    // the image id of node2's postgres task: pg_restore of the same version, no pull
    const image = await nodeDocker('node2', ['inspect', '--format', '{{.Image}}', await postgresTask()])
    const toc = await nodeDocker('node2', ['run', '--rm', '--network', 'none', '-v', `${file}:/backup.dump:ro`, '--entrypoint', 'pg_restore', image, '--list', '/backup.dump'])
    expect(toc).toMatch(/TABLE DATA public levels/)
    expect(toc).toMatch(/TABLE DATA public alembic_version/)

    const metrics = await script('status', ['--write-metrics'], 120_000)
    expectOk('status --write-metrics', metrics)
    const health = await readFile(join(WORK, 'var', 'metrics', 'aiko_services.prom'), 'utf8')
    expect(health).toMatch(/^aiko_service_healthy\{service="backend"\} 1$/m)
    expect(health).toMatch(/^aiko_service_healthy\{service="postgres"\} 1$/m)
  }, 1_800_000)

  it('backup.mts --restore in stack mode on the data node: writers scaled to 0, safety dump, restore, writers back; a row written after the backup is gone and kept in the safety dump', async () => {
    const onData = onDataNode
    const psql = psqlOnData
    const backup = await onData('backup', ['--keep', '3'])
    expectOk('backup before the restore', backup)
    const file = /wrote (\S+\.dump)/.exec(backup.stdout)?.[1] ?? ''
    await psql("INSERT INTO levels (code, name, position) VALUES ('AFTER', 'written after the backup', 99)")
    expect(await psql("SELECT count(*) FROM levels WHERE code = 'AFTER'")).toBe('1')

    const restored = await phases.run('backup.mts --restore on the data node', () => onData('backup', ['--restore', basename(file)]))
    expectOk('restore in stack mode', restored)
    expect(await psql("SELECT count(*) FROM levels WHERE code = 'AFTER'")).toBe('0')
    expect(await psql('SELECT count(*) FROM levels')).toBe('12')
    const safety = /in (\S+pre-restore-\S+\.dump);/.exec(restored.stdout)?.[1] ?? ''
    const image = await nodeDocker('node2', ['inspect', '--format', '{{.Image}}', await postgresTask()])
    const rows = await nodeDocker('node2', ['run', '--rm', '--network', 'none', '-v', `${safety}:/safety.dump:ro`, '--entrypoint', 'pg_restore', image, '--data-only', '--table', 'levels', '-f', '-', '/safety.dump'])
    expect(rows).toContain('written after the backup')
    await until('the writers back at their replicas', async () => (await shortServices()).join(', '))
    expect(await waitForVersion(first)).toBe(first)
  }, 1_800_000)

  // The stack-mode restore killed at each of its steps (writers at 0, safety dump, restore,
  // writers back): the next plain run of the same restore converges (writers back, the data
  // is the backup's).
  for (const step of ['scale the writers to 0', 'safety dump of the current database', 'restore scheduled-', 'scale the writers back']) {
    it(`backup.mts --restore SIGKILLed at '${step}' on the data node: the same restore run again converges`, async () => {
      const env = await dataNodeEnv()
      const newest = (await readdir(join(WORK, 'var', 'backups'))).filter((name) => name.startsWith('scheduled-')).sort().at(-1) ?? ''
      const psql = psqlOnData
      await psql("INSERT INTO levels (code, name, position) VALUES ('KILLED', 'written before the killed restore', 98) ON CONFLICT DO NOTHING")
      const killed = await runAndSignalAtStep('backup', [...envArgs(), '--restore', newest], { step, signal: 'SIGKILL', timeoutMs: 600_000, env })
      expect(killed.signalled, `the restore reached '${step}': ${killed.stdout.slice(-10).join('\n')}`).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 1_100))
      const again = await runScript('backup', [...envArgs(), '--restore', newest], { env, timeoutMs: 600_000 })
      expectOk(`restore after SIGKILL at '${step}'`, again)
      expect(await psql("SELECT count(*) FROM levels WHERE code = 'KILLED'")).toBe('0')
      await until('the writers back at their replicas', async () => (await shortServices()).join(', '))
      expect(await waitForVersion(first)).toBe(first)
    }, 1_800_000)
  }

  it('init-ssl in stack mode: refused off the edge node; on it, a certificate from Pebble through the stack\'s nginx, then HTTPS with a chain the CA\'s root verifies', async () => {
    expect(first).toBeDefined()
    await phases.run('start Pebble on node2', () => startSwarmPebble())
    const wrong = await onDataNode('init-ssl', [])
    expect(wrong.code, wrong.stdout + wrong.stderr).toBe(4)
    expect(wrong.stderr).toContain(`no running task of ${PROJECT}_nginx on this node`)
    expect(wrong.stderr).toContain('(the node labelled edge=true)')

    const ssl = await phases.run('init-ssl on the edge node', () => script('init-ssl', [], 600_000))
    expectOk('init-ssl in stack mode', ssl)
    expect(ssl.stdout).toContain(`certificate for ${SWARM_DOMAIN} valid`)
    expect(await readFile(join(WORK, '.env'), 'utf8')).toMatch(/^NGINX_MODE=https$/m)
    const root = await swarmPebbleRoot()
    const verified = await new Promise<{ authorized: boolean; body: string }>((resolve, reject) => {
      const req = httpsGet({ host: SWARM_EDGE, port: 443, path: '/api/version', servername: SWARM_DOMAIN, headers: { host: SWARM_DOMAIN }, ca: root, timeout: 10_000 }, (res) => {
        // read now: a keep-alive agent hands the socket back before 'end'
        const authorized = (res.socket as TLSSocket).authorized
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ authorized, body: Buffer.concat(chunks).toString() }))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', reject)
    })
    expect(verified.authorized).toBe(true)
    expect(verified.body).toContain(`"version":"${first}"`)
    https = true
    expect(await waitForVersion(first)).toBe(first)
    // the cron's renewal, forced: certbot renew on this node, the stack's nginx reloaded
    const renewed = await phases.run('init-ssl --renew --force (stack mode)', () => script('init-ssl', ['--renew', '--force'], 600_000))
    expectOk('init-ssl --renew --force in stack mode', renewed)
    expect(renewed.stdout).toContain(`renewed: certificate for ${SWARM_DOMAIN}`)
    expect(await waitForVersion(first)).toBe(first)
    // plain HTTP now only redirects (and serves the ACME challenge)
    expect(await swarmServedVersion()).toBeUndefined()
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

  // Each step of a stack-mode deploy that changes the Swarm or the registry, killed with
  // SIGKILL (a power cut, the OOM killer) under load; the next plain deploy converges.
  for (const step of ['push the release images', 'render the stack file', 'run the migrations', 'docker stack deploy', 'wait until the']) {
    it(`SIGKILL at '${step}' under load: the site keeps serving; the next plain deploy converges, no migration job left`, async () => {
      expect(first).toBeDefined()
      await new Promise((resolve) => setTimeout(resolve, 1_100))
      const { figures, result } = await killedThenAgain('deploy', step)
      expectOk(`deploy after SIGKILL at '${step}'`, result)
      expect(figures.failedAfterRetry).toBe(0)
      const release = releaseOf(result.stdout + result.stderr)
      expect(await waitForVersion(release)).toBe(release)
      expect(await readFile(join(WORK, 'var', 'current-release'), 'utf8')).toBe(`${release}\n`)
      expect(await nodeDocker('node1', ['service', 'ls', '-q', '--filter', 'label=com.aiko.job=migrate'])).toBe('')
    }, 1_800_000)
  }

  // The stack-mode rollback killed at each step that changes the Swarm or var/, under load; the
  // next plain rollback converges (on the release the log then says to go back to).
  for (const step of ['render the stack file of release', 'docker stack deploy', 'wait until the']) {
    it(`rollback.mts SIGKILLed at '${step}' under load: the site keeps serving; the next plain rollback converges`, async () => {
      expect(first).toBeDefined()
      const { figures, result } = await killedThenAgain('rollback', step)
      expectOk(`rollback after SIGKILL at '${step}'`, result)
      expect(figures.failedAfterRetry).toBe(0)
      const serving = (await readFile(join(WORK, 'var', 'current-release'), 'utf8')).trim()
      expect(await waitForVersion(serving)).toBe(serving)
      await until('every replicated service of the stack at its count', async () => (await shortServices()).join(', '))
    }, 1_800_000)
  }

  it("node3 drained, then its daemon stopped, under load (API and front end): its tasks move, the site keeps serving; node3 comes back", async () => {
    expect(first).toBeDefined()
    const node3 = 'aiko-swarm-node3'
    log(`tasks on node3 before: ${(await tasksOn(node3)).join(', ')}`)
    const drained = await phases.run('drain node3 under load', () =>
      mixedUnderLoad('drain node3', async () => {
        await nodeDocker('node1', ['node', 'update', '--availability', 'drain', node3])
        await until('node3 empty and every service at its count', async () => [...(await tasksOn(node3)), ...(await shortServices())].join(', '))
      }),
    )
    expect(drained).toBe(0)
    await nodeDocker('node1', ['node', 'update', '--availability', 'active', node3])
    // something on node3 again before its daemon stops: the front end spread over the nodes
    await nodeDocker('node1', ['service', 'update', '--detach=false', '--quiet', '--force', `${PROJECT}_frontend`], { timeoutMs: 300_000 })
    log(`tasks on node3 before its daemon stops: ${(await tasksOn(node3)).join(', ')}`)
    const stopped = await phases.run("stop node3's daemon under load", () =>
      mixedUnderLoad("node3's daemon stopped", async () => {
        await clusterOk(['stop-node', 'node3'], { timeoutMs: 180_000 })
        await until('node3 down and every service at its count elsewhere', async () => {
          const state = await nodeDocker('node1', ['node', 'inspect', '--format', '{{.Status.State}}', node3])
          return [...(state === 'down' ? [] : [`node3 ${state}`]), ...(await shortServices())].join(', ')
        })
      }),
    )
    expect(stopped).toBe(0)
    await phases.run('start node3, ready again', async () => {
      await clusterOk(['start-node', 'node3'], { timeoutMs: 180_000 })
      await until('node3 ready', async () => {
        const state = await nodeDocker('node1', ['node', 'inspect', '--format', '{{.Status.State}} {{.Spec.Availability}}', node3])
        return state === 'ready active' ? '' : state
      })
    })
    const current = (await readFile(join(WORK, 'var', 'current-release'), 'utf8')).trim()
    expect(await waitForVersion(current)).toBe(current)
  }, 1_800_000)
})
