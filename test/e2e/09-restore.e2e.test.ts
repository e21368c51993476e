import { existsSync } from 'node:fs'
import { readdir, rename } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { readCurrentRelease, readReleaseLog } from '../../lib/release/log.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { convergedProblems, runAndSignalAtStep } from './helpers/crash.ts'
import { envArgs, loadBase, psql as psqlIn } from './helpers/deploy.ts'
import { runMixedLoad, type LoadFigures } from './helpers/load.ts'
import { runScript, type RunResult } from './helpers/run.ts'
import { E2E, e2eContext } from './helpers/stack.ts'

/**
 * Restores that lose nothing (issue 14): rollback --with-db and backup --restore on the shared
 * stack, under load, with real dumps; a restore whose data breaks the app puts the safety dump
 * back; a restore or a migrating deploy killed (SIGKILL) at its steps converges on the next
 * plain run. Every release here carries the fixture migrations 0002 and 0003 (the schema 08
 * leaves); NOTES adds 0004 (a new table, safe).
 */
let ctx: StackContext
const BASE = { FIXTURE_MIGRATIONS: '0002_add_nickname 0003_drop_nickname' }
const NOTES = { FIXTURE_MIGRATIONS: '0002_add_nickname 0003_drop_nickname 0004_add_notes' }
const HEALTH = ['--health-timeout', '60']
const run = (name: string, extra: string[], env: Record<string, string> = BASE) => runScript(name, [...envArgs, ...HEALTH, ...extra], { env, timeoutMs: 600_000 })
const psql = async (sql: string) => (await psqlIn(ctx, sql)).trim()
const revision = async () => (await psql('SELECT version_num FROM alembic_version')).trim()
const tableExists = async (name: string) => (await psql(`SELECT to_regclass('public.${name}') IS NOT NULL`)).trim() === 't'
const backups = async () => (await readdir(join(E2E.varDir, 'backups')).catch(() => [])).sort()
const served = async () => (await readCurrentRelease(E2E.varDir)) ?? ''

/** What a client saw of the maintenance page while `until` ran: one request every 100 ms (at most 3000), API and site in turn. */
interface MaintenanceSeen {
  statuses: Record<string, number>
  errors: string[]
  first503Ms: number | undefined
  last503Ms: number | undefined
  retryAfter: Set<string>
  cacheControl: Set<string>
  htmlFrench: boolean
  apiJson: boolean
}

async function watchMaintenance(until: Promise<unknown>): Promise<MaintenanceSeen> {
  const base = await loadBase()
  const seen: MaintenanceSeen = { statuses: {}, errors: [], first503Ms: undefined, last503Ms: undefined, retryAfter: new Set(), cacheControl: new Set(), htmlFrench: false, apiJson: false }
  let done = false
  void until.finally(() => (done = true))
  const started = Date.now()
  for (let i = 0; i < 3000 && !done && Date.now() - started < 600_000; i++) {
    const path = i % 2 === 0 ? '/api/version' : '/'
    const answer = await new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string } | { error: string }>((resolve) => {
      // agent: false, one connection per request: Node's global agent keeps connections alive, and an
      // nginx reload closing an idle one as a request goes out is the keep-alive race browsers retry.
      const options = { host: base.host, port: base.port, path, headers: { host: base.servername }, timeout: 10_000, agent: false }
      const onResponse = (res: import('node:http').IncomingMessage) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }))
        res.on('error', (error) => resolve({ error: error.message }))
      }
      const req = 'plain' in base && base.plain === true ? httpRequest(options, onResponse) : httpsRequest({ ...options, servername: base.servername, rejectUnauthorized: false }, onResponse)
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (error) => resolve({ error: error.message }))
      req.end()
    })
    if ('error' in answer) {
      if (seen.errors.length < 10) seen.errors.push(answer.error)
    } else {
      seen.statuses[answer.status] = (seen.statuses[answer.status] ?? 0) + 1
      if (answer.status === 503) {
        const at = Date.now() - started
        seen.first503Ms ??= at
        seen.last503Ms = at
        seen.retryAfter.add(String(answer.headers['retry-after']))
        seen.cacheControl.add(String(answer.headers['cache-control']))
        if (path === '/' && /maintenance/i.test(answer.body) && /lang="fr"/.test(answer.body)) seen.htmlFrench = true
        if (path === '/api/version' && /^application\/json/.test(String(answer.headers['content-type'])) && /^\s*\{/.test(answer.body)) seen.apiJson = true
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return seen
}

/** Runs a restore under the mixed load and the maintenance watcher; prints the figures. */
async function restoreUnderLoad(work: Promise<RunResult>, label: string) {
  const [load, seen] = await Promise.all([runMixedLoad(await loadBase(), work, { maxMs: 600_000 }), watchMaintenance(work)])
  const result = await work
  const window = seen.first503Ms === undefined ? 'none' : `${(((seen.last503Ms ?? 0) - seen.first503Ms) / 1000).toFixed(1)}s`
  process.stderr.write(`${label}: maintenance window ${window}; watcher ${JSON.stringify(seen.statuses)}; load api ${JSON.stringify(load.api.statuses)} errors ${load.api.errors.length}, web ${JSON.stringify(load.web.statuses)} errors ${load.web.errors.length}\n`)
  return { result, load, seen }
}

/** Under a restore the only answers are the app's own and the maintenance page: no 502/504, no reset connection. */
function expectOnlyMaintenance(load: { api: LoadFigures; web: LoadFigures }, seen: MaintenanceSeen): void {
  for (const figures of [load.api, load.web]) {
    expect(figures.sent).toBeGreaterThan(20)
    expect(figures.errors, JSON.stringify(figures)).toEqual([])
    expect(Object.keys(figures.statuses).filter((status) => status !== '200' && status !== '503'), JSON.stringify(figures.statuses)).toEqual([])
  }
  expect(seen.errors).toEqual([])
  expect(Object.keys(seen.statuses).filter((status) => status !== '200' && status !== '503')).toEqual([])
}

beforeAll(async () => {
  ctx = await e2eContext()
  // A release with the base schema serves (08 leaves one; run alone, this deploys it).
  const first = await run('deploy', ['--allow-destructive-migrations'])
  expect(first.code, first.stderr).toBe(0)
  expect(await revision()).toBe('0003_drop_nickname')
}, 900_000)

describe('rollback --with-db', () => {
  let a = ''
  let b = ''

  it('restores the dump the next migrating deploy took, behind a maintenance page, losing only what it said', async () => {
    a = await served()
    const deployed = await run('deploy', [], NOTES)
    expect(deployed.code, deployed.stderr).toBe(0)
    b = await served()
    expect(await revision()).toBe('0004_add_notes')
    expect(await backups()).toContain(`pre-${b}.dump`)
    await psql("INSERT INTO notes (id, body) VALUES (1, 'written under B')")
    const usersBefore = await psql('SELECT count(*) FROM users')
    await psql("INSERT INTO users (email, password_hash) VALUES ('under-b@example.test', 'x')")
    const safetyBefore = (await backups()).filter((name) => name.startsWith('pre-restore-'))

    const { result, load, seen } = await restoreUnderLoad(run('rollback', ['--to', a, '--with-db']), 'rollback --with-db')
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain(`pre-${b}.dump`)
    expect(await served()).toBe(a)
    expect(await revision()).toBe('0003_drop_nickname')
    expect(await tableExists('notes')).toBe(false)
    expect(await psql('SELECT count(*) FROM users')).toBe(usersBefore)
    const safety = (await backups()).filter((name) => name.startsWith('pre-restore-') && !safetyBefore.includes(name))
    expect(safety).toHaveLength(1)
    expect(result.stdout).toContain(safety[0])
    const line = (await readReleaseLog(E2E.varDir)).at(-1)
    expect(line).toMatchObject({ id: a, action: 'rollback', result: 'ok', backup: `pre-${b}.dump` })

    expectOnlyMaintenance(load, seen)
    expect(seen.first503Ms, 'the maintenance page was never seen').toBeDefined()
    expect([...seen.retryAfter]).toEqual(['30'])
    expect([...seen.cacheControl]).toEqual(['no-store'])
    expect(seen.htmlFrench || seen.apiJson).toBe(true)
    const state = await convergedProblems(ctx)
    expect(state.problems).toEqual([])
  }, 1_200_000)

  it('a missing dump is refused by name before anything changes', async () => {
    const deployed = await run('deploy', [], NOTES)
    expect(deployed.code, deployed.stderr).toBe(0)
    const c = await served()
    const dump = join(E2E.varDir, 'backups', `pre-${c}.dump`)
    await rename(dump, `${dump}.aside`)
    try {
      const refused = await run('rollback', ['--to', a, '--with-db'], NOTES)
      expect(refused.code).toBe(4)
      expect(refused.stderr).toContain(`the dump pre-${c}.dump (taken by the deploy of ${c} before its migrations) is missing`)
      expect(await served()).toBe(c)
      expect(await revision()).toBe('0004_add_notes')
    } finally {
      await rename(`${dump}.aside`, dump)
    }
  }, 900_000)
})

describe('backup --restore', () => {
  it('restores a backup under load behind the maintenance page: what was written after it is gone, nothing else', async () => {
    const taken = await run('backup', [])
    expect(taken.code, taken.stderr).toBe(0)
    const file = /wrote (\S+\.dump)/.exec(taken.stdout)?.[1] ?? ''
    expect(existsSync(file)).toBe(true)
    await psql("INSERT INTO notes (id, body) VALUES (2, 'after the backup')")
    const release = await served()
    const { result, load, seen } = await restoreUnderLoad(run('backup', ['--restore', file]), 'backup --restore')
    expect(result.code, result.stderr).toBe(0)
    expect(await psql('SELECT count(*) FROM notes WHERE id = 2')).toBe('0')
    expect(await served()).toBe(release)
    expectOnlyMaintenance(load, seen)
    expect(seen.first503Ms).toBeDefined()
    expect((await convergedProblems(ctx)).problems).toEqual([])
  }, 900_000)

  it('a restored backup that leaves the app unhealthy: the safety dump is put back, nothing written is lost', async () => {
    await psql('CREATE TABLE fixture_unhealthy (id integer)')
    const taken = await run('backup', [])
    expect(taken.code, taken.stderr).toBe(0)
    const poisoned = /wrote (\S+\.dump)/.exec(taken.stdout)?.[1] ?? ''
    await psql('DROP TABLE fixture_unhealthy')
    await psql("INSERT INTO notes (id, body) VALUES (3, 'must survive')")
    const release = await served()
    const failed = await runScript('backup', [...envArgs, '--health-timeout', '20', '--restore', poisoned], { env: NOTES, timeoutMs: 600_000 })
    expect(failed.code).toBe(5)
    expect(failed.stderr).toContain('the safety dump is back')
    expect(await psql('SELECT body FROM notes WHERE id = 3')).toBe('must survive')
    expect(await tableExists('fixture_unhealthy')).toBe(false)
    expect(await served()).toBe(release)
    expect((await convergedProblems(ctx)).problems).toEqual([])
  }, 900_000)
})

describe('killed (SIGKILL) under load: the next plain run converges and nothing is lost', () => {
  /**
   * Each case costs two restores or two deploys under load (3-4 min here): by default the
   * restore killed inside its transaction and the deploy killed inside its migration;
   * E2E_RESTORE_STEPS=REGEX picks others ("." for all six).
   */
  const selected = new RegExp(process.env['E2E_RESTORE_STEPS'] || '^(restore scheduled-|run the migrations)')
  const restoreSteps = ['stop the writers', 'safety dump of the current database', 'restore scheduled-', 'start the writers of release'].filter((step) => selected.test(step))
  const deploySteps = ['back up the database (pg_dump)', 'run the migrations with the new release'].filter((step) => selected.test(step))
  for (const step of restoreSteps) {
    it(`backup --restore killed at "${step}": the same command again restores and serves`, async () => {
      const taken = await run('backup', [])
      const file = /wrote (\S+\.dump)/.exec(taken.stdout)?.[1] ?? ''
      await psql("DELETE FROM notes WHERE id = 9; INSERT INTO notes (id, body) VALUES (9, 'after the backup')")
      const work = (async () => {
        const killed = await runAndSignalAtStep('backup', [...envArgs, ...HEALTH, '--restore', file], { step, signal: 'SIGKILL', timeoutMs: 360_000, env: NOTES })
        const rerun = killed.signalled ? await run('backup', ['--restore', file], NOTES) : undefined
        return { killed, rerun }
      })()
      const [load, seen] = await Promise.all([runMixedLoad(await loadBase(), work, { maxMs: 900_000 }), watchMaintenance(work)])
      const { killed, rerun } = await work
      process.stderr.write(`restore killed at "${step}": watcher ${JSON.stringify(seen.statuses)}, api ${JSON.stringify(load.api.statuses)}, web ${JSON.stringify(load.web.statuses)}\n`)
      expect(killed.signalled, killed.stdout.slice(-8).join('\n')).toBe(true)
      expect(rerun?.code, rerun?.stderr).toBe(0)
      expect(await psql('SELECT count(*) FROM notes WHERE id = 9')).toBe('0')
      expectOnlyMaintenance(load, seen)
      expect((await convergedProblems(ctx)).problems).toEqual([])
    }, 1_500_000)
  }

  for (const step of deploySteps) {
    it(`a migrating deploy killed at "${step}": a plain deploy migrates and serves, zero failed requests`, async () => {
      // Back to the base schema so that 0004 is pending again.
      const previous = await served()
      await psql('DROP TABLE IF EXISTS notes')
      await psql("UPDATE alembic_version SET version_num = '0003_drop_nickname'")
      const work = (async () => {
        const killed = await runAndSignalAtStep('deploy', [...envArgs, ...HEALTH], { step, signal: 'SIGKILL', timeoutMs: 600_000, env: NOTES })
        const rerun = killed.signalled ? await run('deploy', [], NOTES) : undefined
        return { killed, rerun }
      })()
      const load = await runMixedLoad(await loadBase(), work, { maxMs: 1_200_000 })
      const { killed, rerun } = await work
      process.stderr.write(`deploy killed at "${step}": api ${JSON.stringify(load.api.statuses)}, web ${JSON.stringify(load.web.statuses)}\n`)
      expect(killed.signalled, killed.stdout.slice(-8).join('\n')).toBe(true)
      expect(rerun?.code, rerun?.stderr).toBe(0)
      expect(await served()).not.toBe(previous)
      expect(await revision()).toBe('0004_add_notes')
      for (const figures of [load.api, load.web]) expect(figures.failedAfterRetry, JSON.stringify(figures)).toBe(0)
      expect((await convergedProblems(ctx)).problems).toEqual([])
    }, 1_800_000)
  }
})
