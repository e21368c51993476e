import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composeExec } from '../../lib/compose/commands.ts'
import { readCurrentRelease, readReleaseLog, RELEASE_ID_PATTERN } from '../../lib/release/log.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { deploy, expectNoFailure, loadBase, psql as psqlIn, servedVersion as servedVersionOf, underLoad } from './helpers/deploy.ts'
import { runLoad } from './helpers/load.ts'
import { runCommand, type RunResult } from './helpers/run.ts'
import { E2E, e2eContext } from './helpers/stack.ts'

/**
 * Migration safety on the real stack (lib/release/deploy.ts, lib/db/migrate.ts): the deploys
 * bring the fixture's extra migrations with the build argument FIXTURE_MIGRATIONS
 * (test/e2e/fixtures/README.md). Shares the suite's stack like 04-deploy; run alone, it
 * deploys a first release before its cases. Leaves the database at 0001_initial, as found.
 */

let ctx: StackContext
const psql = (sql: string) => psqlIn(ctx, sql)
const servedVersion = async () => (await servedVersionOf(ctx)).version
const revision = async () => (await psql('SELECT version_num FROM alembic_version')).trim()
const hasNickname = async () => (await psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'")).trim() === '1'
const backups = async () => (await readdir(join(E2E.varDir, 'backups')).catch(() => [] as string[])).filter((name) => name.endsWith('.dump')).sort()
const lastLogLine = async () => (await readReleaseLog(E2E.varDir)).at(-1)
const output = (result: RunResult) => `${result.stdout}\n${result.stderr}`

/** The id the deploy printed (`info  release <id>`), also when it failed or was a dry run. */
function releaseOf(result: RunResult): string {
  const id = /\binfo\s+release (\S+)$/m.exec(result.stdout)?.[1] ?? ''
  expect(id, result.stdout).toMatch(RELEASE_ID_PATTERN)
  return id
}

/** Seconds between the first line containing `from` and the first one containing `to` after it (the plain output's timestamps). */
function secondsBetween(result: RunResult, from: string, to: string): number {
  const lines = output(result).split('\n').map((line) => ({ line, time: Date.parse(line.split(' ')[0] ?? '') })).filter((entry) => !Number.isNaN(entry.time)).sort((a, b) => a.time - b.time)
  const start = lines.find((entry) => entry.line.includes(from))
  const end = lines.find((entry) => entry.time >= (start?.time ?? Infinity) && entry.line.includes(to))
  expect(start, `a line with "${from}"`).toBeDefined()
  expect(end, `a line with "${to}"`).toBeDefined()
  return ((end?.time ?? 0) - (start?.time ?? 0)) / 1000
}

/** Releases whose images a dry run built: in no release log, so the suite's teardown would not remove them. */
const dryRunReleases: string[] = []

/**
 * A psql session in the postgres container holding ACCESS SHARE on users (what a long report
 * query holds) for up to `seconds`: an ALTER TABLE users, which needs ACCESS EXCLUSIVE, waits
 * behind it. Its application_name finds it in pg_stat_activity to end it.
 */
const HOLDER = 'aiko-e2e-lock-holder'
let holder: ChildProcess | undefined

async function holdUsersLock(seconds: number): Promise<void> {
  const command = composeExec(ctx.target, 'postgres', ['sh', '-c', `PGAPPNAME=${HOLDER} psql -X -q -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "BEGIN; LOCK TABLE users IN ACCESS SHARE MODE; SELECT pg_sleep(${seconds}); COMMIT"`], { mutates: true })
  const [file = 'docker', ...args] = command.argv
  const child = spawn(file, args, { cwd: command.cwd, env: { ...process.env, ...command.env }, detached: true, stdio: 'ignore' })
  holder = child
  const granted = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE a.application_name = 'aiko-e2e-lock-holder' AND l.relation = 'users'::regclass AND l.mode = 'AccessShareLock' AND l.granted"
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`the lock holder exited (${child.exitCode}) before taking its lock`)
    if ((await psql(granted)).trim() === '1') return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error('the lock holder did not get its lock on users within 30s')
}

/** Ends the holder's session (its transaction rolls back, the lock goes) and its docker exec client; safe to call when none runs. */
async function releaseUsersLock(): Promise<void> {
  await psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${HOLDER}'`).catch(() => undefined)
  const child = holder
  holder = undefined
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const waited = await Promise.race([exited.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 15_000))])
  if (!waited) {
    try {
      process.kill(-(child.pid ?? 0), 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
}

beforeAll(async () => {
  ctx = await e2eContext()
  if ((await readCurrentRelease(E2E.varDir)) === undefined) {
    // Run alone: the stack was just started, nothing deployed. The cases deploy over a serving release.
    const first = await deploy()
    expect(first.code, first.stderr).toBe(0)
  }
  expect(await revision()).toBe('0001_initial')
})

afterAll(async () => {
  await releaseUsersLock()
  // Back to the fixture's baseline, so a later deploy without FIXTURE_MIGRATIONS can plan
  // (an image that does not know the database's revision cannot). The serving image keeps its files.
  await psql("BEGIN; ALTER TABLE users DROP COLUMN IF EXISTS nickname; UPDATE alembic_version SET version_num = '0001_initial'; COMMIT").catch((error: unknown) => {
    process.stderr.write(`08-migrations: could not bring the database back to 0001_initial: ${String(error)}\n`)
  })
  const current = await readCurrentRelease(E2E.varDir)
  const images = dryRunReleases.filter((id) => id !== current).flatMap((id) => [`aiko-backend:${id}`, `aiko-frontend:${id}`])
  if (images.length > 0) await runCommand('docker', ['rmi', '-f', ...images])
})

describe('deploys read the pending migrations first', () => {
  it('no pending migration: no pre-migration dump, and the log line says so', async () => {
    const before = await backups()
    const { result, load } = await underLoad(deploy())
    expect(result.code, result.stderr).toBe(0)
    const release = releaseOf(result)
    expect(await readCurrentRelease(E2E.varDir)).toBe(release)
    expect(await servedVersion()).toBe(release)
    expect(result.stdout).toContain('no migration pending: no pre-migration dump needed')
    expect(result.stdout).not.toContain('back up the database (pg_dump)')
    expect(existsSync(join(E2E.varDir, 'backups', `pre-${release}.dump`))).toBe(false)
    expect((await backups()).filter((name) => !before.includes(name))).toEqual([])
    const line = await lastLogLine()
    expect(line).toMatchObject({ id: release, action: 'deploy', result: 'ok', migrations: [] })
    expect(line?.backup).toBeUndefined()
    expect(await revision()).toBe('0001_initial')
    expectNoFailure(load)
  })

  it('--dry-run prints the pending revision and its SQL; the database and the serving release stay', async () => {
    const serving = await readCurrentRelease(E2E.varDir)
    const before = await backups()
    const logLines = (await readReleaseLog(E2E.varDir)).length
    const result = await deploy(['--dry-run'], { FIXTURE_MIGRATIONS: '0002_add_nickname' })
    dryRunReleases.push(releaseOf(result))
    expect(result.code, output(result)).toBe(0)
    expect(result.stdout).toContain('pending migrations (database at 0001_initial): 0002_add_nickname')
    expect(result.stdout).toMatch(/info\s+ -- Running upgrade 0001_initial -> 0002_add_nickname$/m)
    expect(result.stdout).toMatch(/info\s+ ALTER TABLE users ADD COLUMN nickname VARCHAR\(80\);$/m)
    expect(result.stdout).toContain('[dry-run] would run: ')
    expect(result.stdout).toMatch(/dry-run: release \S+ planned, nothing changed/)
    expect(await revision()).toBe('0001_initial')
    expect(await hasNickname()).toBe(false)
    expect(await readCurrentRelease(E2E.varDir)).toBe(serving)
    expect(await servedVersion()).toBe(serving)
    expect(await backups()).toEqual(before)
    expect((await readReleaseLog(E2E.varDir)).length).toBe(logLines)
  })

  it('a migration behind a long transaction gives up on its lock (3 tries) while other reads answer; once the lock goes, it runs', async () => {
    const serving = await readCurrentRelease(E2E.varDir)
    await holdUsersLock(600)
    let blocked: RunResult
    try {
      const started = Date.now()
      const work = deploy(['--lock-timeout', '1'], { FIXTURE_MIGRATIONS: '0002_add_nickname' })
      // Plain reads of another table through nginx, paced under the API's rate limit, for the whole deploy.
      const reads = await runLoad({ ...(await loadBase()), path: '/api/levels' }, work, { clients: 1, maxRequests: 5_000, maxMs: 240_000, pauseMs: 80 })
      blocked = await work
      const total = (Date.now() - started) / 1000
      const migrating = secondsBetween(blocked, 'step  run the migrations with the new release', 'fail  run the migrations with the new release')
      process.stderr.write(`lock timeout: the deploy gave up ${migrating.toFixed(1)}s after its migration step started (3 tries of --lock-timeout 1), ${total.toFixed(1)}s in all\n`)
      process.stderr.write(`reads during it: ${JSON.stringify(reads)}\n`)
      expect(blocked.code, output(blocked)).toBe(5)
      expect(blocked.stderr).toMatch(/warn\s+a migration waited more than 1s for a table lock \(another transaction holds it\): try 2 of 3/)
      expect(blocked.stderr).toMatch(/try 3 of 3/)
      expect(blocked.stderr).toContain('the migrations gave up 3 times on a table lock held by another transaction (lock timeout 1s): nothing was migrated')
      expect(blocked.stderr).toContain('pg_stat_activity')
      // PostgreSQL's own words, from the last try's output.
      expect(blocked.stderr).toMatch(/LockNotAvailable|canceling statement due to lock timeout/)
      // Three tries of one second each plus two pauses (2 s, 4 s) and three one-off containers: well under a minute.
      expect(migrating).toBeGreaterThanOrEqual(3 + 6)
      expect(migrating).toBeLessThan(90)
      expect(reads.sent).toBeGreaterThan(20)
      expect(reads.failedAfterRetry, JSON.stringify(reads)).toBe(0)
      expect(Object.keys(reads.statuses)).toEqual(['200'])
    } finally {
      await releaseUsersLock()
    }
    expect(await revision()).toBe('0001_initial')
    expect(await hasNickname()).toBe(false)
    expect(await readCurrentRelease(E2E.varDir)).toBe(serving)
    expect(await servedVersion()).toBe(serving)
    // The pre-migration dump was taken before the tries: the log line names it.
    expect(await lastLogLine()).toMatchObject({ id: releaseOf(blocked), action: 'deploy', result: 'failed', backup: `pre-${releaseOf(blocked)}.dump` })

    const { result, load } = await underLoad(deploy([], { FIXTURE_MIGRATIONS: '0002_add_nickname' }))
    expect(result.code, output(result)).toBe(0)
    const release = releaseOf(result)
    expect(await servedVersion()).toBe(release)
    expect(await revision()).toBe('0002_add_nickname')
    expect(await hasNickname()).toBe(true)
    expect(await lastLogLine()).toMatchObject({ id: release, result: 'ok', migrations: ['0002_add_nickname'], backup: `pre-${release}.dump` })
    expect(existsSync(join(E2E.varDir, 'backups', `pre-${release}.dump`))).toBe(true)
    expectNoFailure(load)
  })

  it('a destructive migration stops the deploy before anything changes; --allow-destructive-migrations runs it', async () => {
    const serving = await readCurrentRelease(E2E.varDir)
    const before = await backups()
    const both = { FIXTURE_MIGRATIONS: '0002_add_nickname 0003_drop_nickname' }
    const refused = await deploy([], both)
    expect(refused.code, output(refused)).toBe(4)
    expect(refused.stdout).toContain('pending migrations (database at 0002_add_nickname): 0003_drop_nickname')
    expect(refused.stderr).toContain('the pending migrations are destructive or lock tables for long: the deploy stopped before the backup and the migrations, nothing changed')
    expect(refused.stderr).toContain('destructive drop-column: ALTER TABLE users DROP COLUMN nickname')
    expect(refused.stderr).toContain('expand/contract')
    expect(refused.stderr).toContain('--allow-destructive-migrations')
    expect(refused.stdout).not.toContain('back up the database (pg_dump)')
    expect(await revision()).toBe('0002_add_nickname')
    expect(await hasNickname()).toBe(true)
    expect(await readCurrentRelease(E2E.varDir)).toBe(serving)
    expect(await servedVersion()).toBe(serving)
    expect(await backups()).toEqual(before)
    expect(await lastLogLine()).toMatchObject({ id: releaseOf(refused), result: 'failed' })

    const { result, load } = await underLoad(deploy(['--allow-destructive-migrations'], both))
    expect(result.code, output(result)).toBe(0)
    const release = releaseOf(result)
    expect(result.stderr).toContain('running migrations that break the running release or lock tables (--allow-destructive-migrations)')
    expect(await servedVersion()).toBe(release)
    expect(await revision()).toBe('0003_drop_nickname')
    expect(await hasNickname()).toBe(false)
    expect(await lastLogLine()).toMatchObject({ id: release, result: 'ok', migrations: ['0003_drop_nickname'], backup: `pre-${release}.dump` })
    expect(existsSync(join(E2E.varDir, 'backups', `pre-${release}.dump`))).toBe(true)
    expectNoFailure(load)
  })
})
