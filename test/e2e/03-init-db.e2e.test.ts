import { spawn } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { composeContainerIds } from '../../lib/compose/commands.ts'
import { adminPasswordFile } from '../../lib/db/admin-password.ts'
import { DEFAULT_DATA_FILE } from '../../lib/db/reference-data.ts'
import { splitIds } from '../../lib/docker/containers.ts'
import { readEnvFile } from '../../lib/env/load.ts'
import { SECRET_NAMES } from '../../lib/env/schema.ts'
import { PROJECT_DIR, type StackContext } from '../../lib/stack/context.ts'
import { waitForHealthy } from '../../lib/stack/health.ts'
import { runCommand, runScript, type RunResult } from './helpers/run.ts'
import { E2E, e2eContext, execIn } from './helpers/stack.ts'

let ctx: StackContext
let workDir: string
const admin = `admin@${E2E.domain}`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const initDb = (args: string[] = [], options: { envPath?: string; env?: Record<string, string> } = {}) =>
  runScript('init-db', ['--env-path', options.envPath ?? E2E.envFile, '--yes', ...args], { env: options.env })

/** SQL as the database owner, inside the postgres container (the test's own checks, not the toolkit's). */
const psql = async (sql: string): Promise<string> =>
  (await execIn(ctx, 'postgres', ['sh', '-c', 'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -v ON_ERROR_STOP=1 -tAc "$1"', 'psql', sql])).trim()

/** The API through nginx: HTTPS once 02-ssl has switched it (plain HTTP then answers 308). */
async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const https = /^NGINX_MODE=https$/m.test(await readFile(E2E.envFile, 'utf8'))
  const port = https ? E2E.httpsPort : E2E.httpPort
  const url = `${https ? 'https' : 'http'}://${E2E.domain}:${port}${path}`
  const args = ['-sS', '-k', '--resolve', `${E2E.domain}:${port}:127.0.0.1`, '-X', method, '-w', '\n%{http_code}']
  if (body !== undefined) {
    const file = join(workDir, 'body.json')
    await writeFile(file, JSON.stringify(body), { mode: 0o600 })
    args.push('-H', 'content-type: application/json', '--data-binary', `@${file}`)
  }
  const result = await runCommand('curl', [...args, url])
  expect(result.code, result.stderr).toBe(0)
  const cut = result.stdout.lastIndexOf('\n')
  const text = result.stdout.slice(0, cut)
  return { status: Number(result.stdout.slice(cut + 1)), json: text === '' ? undefined : JSON.parse(text) }
}

/** A script run whose output can be watched while it runs (runScript only returns at the end). */
function startScript(name: string, args: readonly string[]): { seen: (pattern: RegExp) => Promise<void>; done: Promise<RunResult> } {
  const child = spawn('npx', ['zx', `scripts/${name}.mts`, ...args], { cwd: PROJECT_DIR, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const watchers: { pattern: RegExp; resolve: () => void }[] = []
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    for (const watcher of watchers) if (watcher.pattern.test(stdout)) watcher.resolve()
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const done = new Promise<RunResult>((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })))
  const seen = (pattern: RegExp) =>
    Promise.race([
      new Promise<void>((resolve) => (pattern.test(stdout) ? resolve() : watchers.push({ pattern, resolve }))),
      done.then((result) => Promise.reject(new Error(`${name} ended (exit ${result.code}) before printing ${pattern}: ${result.stdout}${result.stderr}`))),
    ])
  return { seen, done }
}

const login = (email: string, password: string) => api('POST', '/api/auth/login', { email, password })

/** Every secret of the given .env files: none may appear in what init-db printed. */
async function secretsOf(...envFiles: string[]): Promise<string[]> {
  const values: string[] = []
  for (const file of envFiles) {
    const parsed = await readEnvFile(file)
    for (const name of SECRET_NAMES) {
      const value = parsed?.values[name]
      if (value !== undefined && value !== '') values.push(value)
    }
  }
  return values
}

function expectNoSecret(result: RunResult, secrets: readonly string[]): void {
  for (const secret of secrets) expect(`${result.stdout}\n${result.stderr}`.includes(secret), 'a secret appears in the output').toBe(false)
}

async function envWith(name: string, overrides: Record<string, string>): Promise<string> {
  let text = await readFile(E2E.envFile, 'utf8')
  for (const [key, value] of Object.entries(overrides)) text = text.replace(new RegExp(`^${key}=.*$`, 'm'), `${key}=${value}`)
  const path = join(workDir, name)
  await writeFile(path, text, { mode: 0o600 })
  await chmod(path, 0o600)
  return path
}

async function dataWith(name: string, extraLevel: Record<string, string | number>): Promise<string> {
  const data = JSON.parse(await readFile(DEFAULT_DATA_FILE, 'utf8')) as { levels: { rows: unknown[] } }
  data.levels.rows.push(extraLevel)
  const path = join(workDir, name)
  await writeFile(path, JSON.stringify(data, null, 2))
  return path
}

const snapshot = async () => ({
  levels: await psql('SELECT code, created_at FROM levels ORDER BY code'),
  subjects: await psql('SELECT code, created_at FROM subjects ORDER BY code'),
  users: await psql('SELECT email, role, password_hash, created_at FROM users ORDER BY email'),
})

beforeAll(async () => {
  ctx = await e2eContext()
  workDir = await mkdtemp(join(tmpdir(), 'aiko-initdb-'))
  // A fresh database for the application (01-stack's own e2e_persist table stays).
  await psql('DROP TABLE IF EXISTS alembic_version, users, levels, subjects CASCADE')
  // The admin's generated password only: secrets/ also holds Redis's config, which compose needs.
  await rm(adminPasswordFile(E2E.varDir), { force: true })
})

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true })
})

describe('init-db on the real stack', () => {
  it('on a fresh database: migrates, seeds levels and subjects, creates the admin, who logs in through nginx', async () => {
    expect(await psql("SELECT to_regclass('public.alembic_version') IS NULL")).toBe('t')
    const result = await initDb()
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toBe('')
    expect(result.stdout).toContain('levels: 12 inserted (CP, CE1, CE2, CM1, CM2, 6E, 5E, 4E, 3E, 2NDE, 1RE, TLE)')
    expect(result.stdout).toMatch(/subjects: 16 inserted \(MATH, FR, HG/)
    expect(result.stdout).toContain(`admin: ${admin} created with ADMIN_PASSWORD from .env`)
    expectNoSecret(result, await secretsOf(E2E.envFile))

    const levels = await api('GET', '/api/levels')
    expect(levels.status).toBe(200)
    expect((levels.json as { code: string; name: string }[]).map((level) => level.name)).toEqual([
      'Cours préparatoire', 'Cours élémentaire 1', 'Cours élémentaire 2', 'Cours moyen 1', 'Cours moyen 2',
      'Sixième', 'Cinquième', 'Quatrième', 'Troisième', 'Seconde', 'Première', 'Terminale',
    ])
    const subjects = await api('GET', '/api/subjects')
    expect(subjects.status).toBe(200)
    expect((subjects.json as { name: string }[]).map((subject) => subject.name)).toEqual(expect.arrayContaining(['Mathématiques', 'Français', 'Histoire-Géographie', 'Anglais', 'Physique-Chimie']))

    // ADMIN_PASSWORD holds quotes, $, #, spaces and a non-ASCII character.
    const ok = await login(admin, E2E.operatorValue)
    expect(ok.status).toBe(200)
    expect(ok.json).toMatchObject({ role: 'admin' })
    expect((await login(admin, `${E2E.operatorValue}x`)).status).toBe(401)
  })

  it('a second run changes nothing and says so per step (also with --verbose, secrets masked)', async () => {
    const before = await snapshot()
    const result = await initDb(['--verbose'])
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain('levels: nothing to change (12 present)')
    expect(result.stdout).toContain('subjects: nothing to change (16 present)')
    expect(result.stdout).toContain(`admin: ${admin} already exists: nothing to change (password kept`)
    expect(result.stdout).toContain('run --rm -T -e ADMIN_PASSWORD --no-deps backend python3 -')
    expectNoSecret(result, await secretsOf(E2E.envFile))
    expect(await snapshot()).toEqual(before)
  })

  it('--dry-run shows the level added to the data file and changes nothing; the real run adds exactly that level', async () => {
    const data = await dataWith('one-more-level.json', { code: 'BTS1', name: 'BTS première année', position: 13 })
    const before = await snapshot()
    const dry = await initDb(['--dry-run', '--data', data])
    expect(dry.code, dry.stderr).toBe(0)
    expect(dry.stdout).toMatch(/\[dry-run\] would run: .* run --rm -T -e PGOPTIONS --no-deps backend flask db upgrade/)
    expect(dry.stdout).toContain('levels: would insert 1 (BTS1), 12 already present')
    expect(dry.stdout).toContain('dry run: nothing was changed')
    expect(await snapshot()).toEqual(before)

    const real = await initDb(['--data', data])
    expect(real.code, real.stderr).toBe(0)
    expect(real.stdout).toContain('levels: 1 inserted (BTS1), 12 already present')
    expect(real.stdout).toContain('subjects: nothing to change (16 present)')
    const after = await snapshot()
    expect(after.subjects).toBe(before.subjects)
    expect(after.users).toBe(before.users)
    const added = after.levels.split('\n').filter((line) => !before.levels.split('\n').includes(line))
    expect(added).toHaveLength(1)
    expect(added[0]).toMatch(/^BTS1\|/)
    await psql("DELETE FROM levels WHERE code = 'BTS1'")
  })

  it('waits for a PostgreSQL that is stopped at start and started a few seconds later', async () => {
    const [postgres] = splitIds((await ctx.executor.run(composeContainerIds(ctx.target, 'postgres'))).stdout)
    expect(postgres).toBeDefined()
    const id = postgres ?? ''
    expect((await runCommand('docker', ['stop', id])).code).toBe(0)
    try {
      const running = startScript('init-db', ['--env-path', E2E.envFile, '--yes', '--timeout', '120'])
      // Started only once init-db has seen it stopped, and a few seconds later: a slow machine
      // (npx, compose detection) cannot turn this into a run that never waited.
      await running.seen(/waiting for PostgreSQL: no running postgres container/)
      await sleep(4000)
      expect((await runCommand('docker', ['start', id])).code).toBe(0)
      const result = await running.done
      expect(result.code, result.stderr).toBe(0)
      expect(result.stdout).toContain('PostgreSQL accepts connections')
      expect(result.stdout).toContain('levels: nothing to change (12 present)')
    } finally {
      await runCommand('docker', ['start', id])
      await waitForHealthy(ctx, { timeoutMs: 120_000 })
    }
  })

  it('a failing migration: exit 5, a clear message, nothing seeded', async () => {
    // The fixture's knob (migrations/env.py): the migration creates a table, then fails.
    const data = await dataWith('broken-level.json', { code: 'E2E_BROKEN', name: 'never seeded', position: 99 })
    const head = await psql('SELECT version_num FROM alembic_version')
    const before = await snapshot()
    const result = await initDb(['--data', data], { env: { FIXTURE_FAIL_MIGRATION: '1' } })
    expect(result.code).toBe(5)
    expect(result.stderr).toContain('the migrations failed (flask db upgrade): nothing was seeded')
    expect(result.stderr).toContain('this migration fails on purpose')
    expect(result.stdout).not.toContain('levels:')
    expect(await snapshot()).toEqual(before)
    expect(await psql("SELECT count(*) FROM levels WHERE code = 'E2E_BROKEN'")).toBe('0')
    expect(await psql('SELECT version_num FROM alembic_version')).toBe(head)
    expect(await psql("SELECT to_regclass('public.fixture_half_done') IS NULL")).toBe('t')
    expectNoSecret(result, await secretsOf(E2E.envFile))
  })

  it('with no ADMIN_PASSWORD: a generated one is shown once, stored 0600, works, and is kept until --reset-admin-password', async () => {
    const email = `first-admin@${E2E.domain}`
    const envPath = await envWith('generated.env', { ADMIN_EMAIL: email, ADMIN_PASSWORD: '' })
    const file = adminPasswordFile(E2E.varDir)
    const secrets = await secretsOf(E2E.envFile, envPath)

    const created = await initDb([], { envPath })
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toContain(`admin: ${email} created with a generated password`)
    const password = (await readFile(file, 'utf8')).trim()
    expect(password).toMatch(/^[A-Za-z0-9]{24}$/)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(created.stdout.split(password)).toHaveLength(2)
    expect(created.stderr).not.toContain(password)
    expectNoSecret(created, secrets)
    expect((await login(email, password)).status).toBe(200)

    const again = await initDb([], { envPath })
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain(`admin: ${email} already exists: nothing to change (password kept`)
    expect(`${again.stdout}${again.stderr}`).not.toContain(password)
    expect((await readFile(file, 'utf8')).trim()).toBe(password)
    expect((await login(email, password)).status).toBe(200)

    const reset = await initDb(['--reset-admin-password'], { envPath })
    expect(reset.code, reset.stderr).toBe(0)
    expect(reset.stdout).toContain(`admin: password of ${email} reset to a generated password`)
    const renewed = (await readFile(file, 'utf8')).trim()
    expect(renewed).not.toBe(password)
    expect(reset.stdout.split(renewed)).toHaveLength(2)
    expect(reset.stdout).not.toContain(password)
    expectNoSecret(reset, secrets)
    expect((await login(email, password)).status).toBe(401)
    expect((await login(email, renewed)).status).toBe(200)
    // The operator's admin was never touched by the runs above.
    expect((await login(admin, E2E.operatorValue)).status).toBe(200)
  })
})
