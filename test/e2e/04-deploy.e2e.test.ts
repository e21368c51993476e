import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readCurrentRelease, readReleaseLog } from '../../lib/release/log.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { projectContainers } from '../../lib/stack/health.ts'
import { deploy, envArgs, expectNoFailure, psql as psqlIn, rollback, servedVersion as servedVersionOf, underLoad } from './helpers/deploy.ts'
import { runCommand, runScript } from './helpers/run.ts'
import { E2E, e2eContext } from './helpers/stack.ts'

let ctx: StackContext
const servedVersion = () => servedVersionOf(ctx)
const psql = (sql: string) => psqlIn(ctx, sql)

/** Polls the running celery-beat containers for the whole file: there must never be two. */
let maxBeats = 0
let watching = true
let beatWatch: Promise<void> = Promise.resolve()

beforeAll(async () => {
  ctx = await e2eContext()
  beatWatch = (async () => {
    while (watching) {
      const beats = await runCommand('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${E2E.project}`, '--filter', 'label=com.docker.compose.service=celery-beat'])
      maxBeats = Math.max(maxBeats, beats.stdout.split('\n').filter(Boolean).length)
      await new Promise((resolve) => setTimeout(resolve, 150))
    }
  })()
})

afterAll(async () => {
  watching = false
  await beatWatch
})

describe('deploy and rollback with zero downtime', () => {
  let first = ''
  let second = ''

  it('deploys a first release under load: served, nothing failed', async () => {
    const { result, load } = await underLoad(deploy())
    expect(result.code, result.stderr).toBe(0)
    first = (await readCurrentRelease(E2E.varDir)) ?? ''
    expect(first).toMatch(/^\d{8}-\d{6}-[0-9a-f]{7}$/)
    expect((await servedVersion()).version).toBe(first)
    expectNoFailure(load)
    expect(result.stdout).toContain('ok   .env: valid')
    // A dump only when the database was touched: a first start over existing data, or pending migrations.
    const line = (await readReleaseLog(E2E.varDir)).at(-1)
    if (line?.backup === undefined) expect(result.stdout).toContain('no migration pending: no pre-migration dump needed')
    else expect(existsSync(join(E2E.varDir, 'backups', line.backup))).toBe(true)
    expect(existsSync(join(E2E.varDir, 'backups', `pre-${first}.dump`))).toBe(line?.backup !== undefined)
  })

  it('deploys version 2 under load: version 2 served, zero failed requests', async () => {
    await psql("CREATE TABLE IF NOT EXISTS e2e_notes (note text); INSERT INTO e2e_notes VALUES ('written under release 1')")
    const { result, load } = await underLoad(deploy())
    expect(result.code, result.stderr).toBe(0)
    second = (await readCurrentRelease(E2E.varDir)) ?? ''
    expect(second).not.toBe(first)
    expect((await servedVersion()).version).toBe(second)
    expectNoFailure(load)
    expect(Object.keys(load.web.versions)).toEqual(expect.arrayContaining([second]))
    const running = (await projectContainers(ctx)).filter((state) => ['backend', 'frontend', 'celery-worker', 'celery-beat'].includes(state.service ?? ''))
    expect(running.map((state) => `${state.service} ${state.image}`).sort()).toEqual(
      ['backend', 'celery-beat', 'celery-worker'].map((service) => `${service} aiko-backend:${second}`).concat([`frontend aiko-frontend:${second}`]).sort(),
    )
  })

  it('a release whose health never passes leaves version 2 serving, with zero failed requests', async () => {
    const { result, load } = await underLoad(deploy(['--health-timeout', '20'], { FIXTURE_UNHEALTHY: '1' }))
    expect(result.code).toBe(5)
    expect(result.stderr).toMatch(/unhealthy|not healthy/)
    expect((await servedVersion()).version).toBe(second)
    expect(await readCurrentRelease(E2E.varDir)).toBe(second)
    expectNoFailure(load)
    expect((await projectContainers(ctx, 'backend')).map((state) => state.image)).toEqual([`aiko-backend:${second}`])
    expect((await readReleaseLog(E2E.varDir)).at(-1)).toMatchObject({ action: 'deploy', result: 'failed' })
  })

  it('a release whose migration fails leaves the database as before and version 2 serving', async () => {
    const before = await psql('SELECT version_num FROM alembic_version')
    // A migration runs only when one is pending: the release brings 0002_add_nickname, which fails half-way.
    const result = await deploy([], { FIXTURE_MIGRATIONS: '0002_add_nickname', FIXTURE_FAIL_MIGRATION: '1' })
    expect(result.code).toBe(5)
    expect(result.stdout).toContain('pending migrations (database at 0001_initial): 0002_add_nickname')
    expect(result.stderr).toContain('the migrations of the new release failed: the old release keeps serving, the database is as before')
    expect(await psql('SELECT version_num FROM alembic_version')).toBe(before)
    expect((await psql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'fixture_half_done'")).trim()).toBe('0')
    expect((await psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'")).trim()).toBe('0')
    expect((await servedVersion()).version).toBe(second)
  })

  it('refuses a second deploy while one runs, naming the holder', async () => {
    const running = deploy()
    const lock = join(E2E.varDir, 'deploy.lock')
    for (let i = 0; i < 200 && !existsSync(lock); i++) await new Promise((resolve) => setTimeout(resolve, 100))
    const refused = await deploy()
    expect(refused.code).toBe(6)
    expect(refused.stderr).toMatch(/the stack is locked: deploy .*by \S+@\S+ \(pid \d+\) since \d{4}-/)
    const finished = await running
    expect(finished.code, finished.stderr).toBe(0)
    second = (await readCurrentRelease(E2E.varDir)) ?? ''
  })

  it('rolls back under load: the previous version served, zero failed requests', async () => {
    const previous = (await readReleaseLog(E2E.varDir)).filter((entry) => entry.result === 'ok' && entry.id !== second).at(-1)?.id ?? ''
    const started = Date.now()
    const { result, load } = await underLoad(rollback())
    const seconds = (Date.now() - started) / 1000
    process.stderr.write(`rollback took ${seconds.toFixed(1)}s\n`)
    expect(result.code, result.stderr).toBe(0)
    expect((await servedVersion()).version).toBe(previous)
    expectNoFailure(load)
    const list = await rollback(['--list'])
    expect(list.stdout).toMatch(new RegExp(`\\* \\S+\\s+rollback ok\\s+${previous}`))
  })

  it('rollback --with-db when no deploy since ran a migration: refused by name, nothing changes, the rows stay', async () => {
    const deployed = await deploy()
    expect(deployed.code, deployed.stderr).toBe(0)
    const serving = await readCurrentRelease(E2E.varDir)
    await psql("INSERT INTO e2e_notes VALUES ('written after the last deploy')")
    const unconfirmed = await runScript('rollback', ['--env-path', E2E.envFile, '--with-db'])
    expect(unconfirmed.code).toBe(2)
    expect(unconfirmed.stderr).toContain('rollback --with-db needs a confirmation and no one can answer')
    const refused = await rollback(['--with-db'])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain('ran a migration, so its database schema is the current one and there is no dump to restore')
    expect(await readCurrentRelease(E2E.varDir)).toBe(serving)
    expect((await psql('SELECT note FROM e2e_notes ORDER BY note')).trim().split('\n')).toContain('written after the last deploy')
  })

  it('a deploy killed with SIGKILL mid-way is taken over by the next plain deploy, which converges and prunes its images', async () => {
    const backendTags = async () => (await runCommand('docker', ['images', 'aiko-backend', '--format', '{{.Tag}}'])).stdout.split('\n').filter(Boolean)
    const tagsBefore = await backendTags()
    const child = spawn('npx', ['zx', 'scripts/deploy.mts', ...envArgs], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: process.env })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    for (let i = 0; i < 600 && !output.includes('start the new release beside'); i++) await new Promise((resolve) => setTimeout(resolve, 100))
    expect(output).toContain('start the new release beside')
    process.kill(-(child.pid ?? 0), 'SIGKILL')
    await new Promise((resolve) => child.on('close', resolve))
    const killedTags = (await backendTags()).filter((tag) => !tagsBefore.includes(tag))
    expect(killedTags).toHaveLength(1)
    // No flag: the lock's holder is gone, so the next plain deploy takes over, says so and converges first.
    const recovered = await deploy()
    expect(recovered.code, recovered.stderr).toBe(0)
    expect(recovered.stderr).toMatch(/ended without releasing the lock/)
    const current = await readCurrentRelease(E2E.varDir)
    expect((await servedVersion()).version).toBe(current)
    const running = (await projectContainers(ctx)).filter((state) => state.status === 'running')
    for (const service of ['backend', 'frontend', 'celery-worker', 'celery-beat'])
      expect(running.filter((state) => state.service === service).map((state) => state.image), service).toHaveLength(1)
    // The killed release built its images and never served: the next deploy removed them.
    expect(await backendTags()).not.toContain(killedTags[0])
  })

  it('never ran two celery beat containers at the same moment', async () => {
    expect(maxBeats).toBe(1)
    const log = await readFile(join(E2E.varDir, 'releases.log'), 'utf8')
    expect(log.trim().split('\n').length).toBeGreaterThanOrEqual(8)
  })
})
