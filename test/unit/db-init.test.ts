import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { ComposeTarget } from '../../lib/compose/commands.ts'
import { adminPasswordFile } from '../../lib/db/admin-password.ts'
import { initDatabase } from '../../lib/db/init.ts'
import { DEFAULT_DATA_FILE, readReferenceData } from '../../lib/db/reference-data.ts'
import { validateEnv, type AikoEnv } from '../../lib/env/schema.ts'
import { ToolkitError } from '../../lib/errors.ts'
import { createExecutor, type Command, type Runner } from '../../lib/exec/executor.ts'
import { clearSecrets, maskSecrets } from '../../lib/exec/mask.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import type { Output } from '../../lib/ui/output.ts'
import { validEnv } from './helpers/valid-env.ts'

afterEach(clearSecrets)

const target: ComposeTarget = { base: ['docker', 'compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: { AIKO_VAR_DIR: '/srv/aiko/var', AIKO_RELEASE: 'r1' } }

function env(overrides: Record<string, string | undefined> = {}): AikoEnv {
  const result = validateEnv(validEnv(overrides))
  if (!result.ok) throw new Error(JSON.stringify(result.problems))
  return result.env
}

interface Fake {
  ctx: StackContext
  lines: string[]
  ran: Command[]
}

/** A stack whose docker answers from a script: pg_isready, the migration and the seed. */
async function fakeStack(options: { dryRun?: boolean; migrationFails?: boolean; adminAction?: 'created' | 'kept' | 'reset'; notReadyProbes?: number } = {}): Promise<Fake> {
  const lines: string[] = []
  const ran: Command[] = []
  let notReady = options.notReadyProbes ?? 0
  const output: Output = {
    info: (message) => lines.push(maskSecrets(message)),
    success: (message) => lines.push(maskSecrets(message)),
    warn: (message) => lines.push(maskSecrets(message)),
    error: (message) => lines.push(maskSecrets(message)),
    step: (title, work) => (lines.push(title), work()),
  }
  const ok = (stdout = '') => ({ stdout, stderr: '', exitCode: 0, skipped: false })
  const runner: Runner = async (command) => {
    ran.push(command)
    const argv = command.argv.join(' ')
    if (argv.includes('pg_isready')) return notReady-- > 0 ? { ...ok(), exitCode: 1 } : ok()
    if (argv.includes(' ps -q')) return ok('c0ffee\n')
    if (argv.startsWith('docker inspect')) return ok(JSON.stringify([{ Id: 'c0ffee', State: { Status: 'exited' } }]))
    if (argv.includes('flask db upgrade')) return options.migrationFails === true ? { stdout: '', stderr: 'alembic: division by zero\n', exitCode: 1, skipped: false } : ok()
    if (argv.endsWith('python3 -')) {
      const payload = JSON.parse(JSON.parse((command.input ?? '').split('\n')[0]?.replace('AIKO_SEED_INPUT = ', '') ?? '""') as string) as { dry_run: boolean; steps: { step: string; table: string; email?: string; rows?: { code: string }[] }[] }
      return ok(payload.steps.map((step) => `AIKO_SEED ${JSON.stringify(step.rows === undefined
        ? { step: 'admin', table: step.table, email: step.email, action: options.adminAction ?? 'created', role: 'admin', dry_run: payload.dry_run }
        : { step: step.step, table: step.table, inserted: step.rows.map((row) => row.code), present: 0, total: step.rows.length, dry_run: payload.dry_run })}`).join('\n'))
    }
    throw new Error(`unexpected command ${argv}`)
  }
  const varDir = await mkdtemp(join(tmpdir(), 'aiko-initdb-'))
  const executor = createExecutor({ dryRun: options.dryRun ?? false, verbose: false, output, runner })
  return { ctx: { executor, output, target, varDir, nginxConfDir: '', nginxDir: '' }, lines, ran }
}

const options = { data: await readReferenceData(DEFAULT_DATA_FILE), timeoutMs: 10_000, resetAdminPassword: false }
const seedRuns = (ran: Command[]) => ran.filter((command) => command.argv.at(-1) === '-')

describe('initDatabase', () => {
  it('waits, migrates, seeds, and reports each step; the operator password goes only through the environment', async () => {
    const { ctx, lines, ran } = await fakeStack({ notReadyProbes: 1 })
    const operator = `a "quoted" pa$$ #1 with spaces é`
    const result = await initDatabase(ctx, env({ ADMIN_PASSWORD: operator }), options)
    expect(result.generatedPassword).toBeUndefined()
    expect(lines.filter((line) => /^waiting for PostgreSQL: no running postgres container \(exited\) \(\d+ms of 10\.0s\)$/.test(line))).toHaveLength(1)
    expect(lines).toEqual(expect.arrayContaining([
      'PostgreSQL accepts connections',
      'levels: 12 inserted (CP, CE1, CE2, CM1, CM2, 6E, 5E, 4E, 3E, 2NDE, 1RE, TLE)',
      'admin: admin@mon-ecole.fr created with ADMIN_PASSWORD from .env',
    ]))
    const [seed] = seedRuns(ran)
    expect(seed?.env?.['ADMIN_PASSWORD']).toBe(operator)
    for (const command of ran) expect(`${command.argv.join(' ')} ${command.input ?? ''}`).not.toContain(operator)
    expect(await readdir(ctx.varDir)).toEqual([])
  })

  it('a generated password is kept (0600) only when the admin was created with it', async () => {
    const { ctx } = await fakeStack({ adminAction: 'created' })
    const result = await initDatabase(ctx, env({ ADMIN_PASSWORD: undefined }), options)
    expect(result.generatedPassword?.value).toMatch(/^[A-Za-z0-9]{24}$/)
    const file = adminPasswordFile(ctx.varDir)
    expect(result.generatedPassword?.file).toBe(file)
    expect(await readFile(file, 'utf8')).toBe(`${result.generatedPassword?.value}\n`)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await stat(join(ctx.varDir, 'secrets'))).mode & 0o777).toBe(0o700)
    expect(await readdir(join(ctx.varDir, 'secrets'))).toEqual(['admin-initial-password'])
  })

  it('an existing admin keeps its password: the candidate is neither shown nor stored', async () => {
    const { ctx, lines } = await fakeStack({ adminAction: 'kept' })
    const result = await initDatabase(ctx, env({ ADMIN_PASSWORD: undefined }), options)
    expect(result.generatedPassword).toBeUndefined()
    expect(await readdir(join(ctx.varDir, 'secrets'))).toEqual([])
    expect(lines).toContain('admin: admin@mon-ecole.fr already exists: nothing to change (password kept; --reset-admin-password resets it)')
  })

  it('--dry-run: no migration, the seed runs and rolls back, no file is written', async () => {
    const { ctx, lines, ran } = await fakeStack({ dryRun: true })
    const result = await initDatabase(ctx, env({ ADMIN_PASSWORD: undefined }), options)
    expect(result.generatedPassword).toBeUndefined()
    expect(ran.some((command) => command.argv.includes('flask'))).toBe(false)
    expect(lines).toContain('[dry-run] would run: docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T -e PGOPTIONS --no-deps backend flask db upgrade')
    expect(seedRuns(ran)).toHaveLength(1)
    expect(seedRuns(ran)[0]?.input).toContain('\\"dry_run\\":true')
    expect(lines).toEqual(expect.arrayContaining([
      'levels: would insert 12 (CP, CE1, CE2, CM1, CM2, 6E, 5E, 4E, 3E, 2NDE, 1RE, TLE)',
      'admin: admin@mon-ecole.fr would be created with a generated password',
      'dry run: nothing was changed',
    ]))
    expect(await readdir(ctx.varDir)).toEqual([])
  })

  it('a failing migration stops before any seed, with exit code 5 and the migration\'s message', async () => {
    const { ctx, ran } = await fakeStack({ migrationFails: true })
    const error = (await initDatabase(ctx, env({ ADMIN_PASSWORD: undefined }), options).catch((caught: unknown) => caught)) as ToolkitError
    expect(error).toBeInstanceOf(ToolkitError)
    expect(error.exitCode).toBe(5)
    expect(error.message).toBe('the migrations failed (flask db upgrade): nothing was seeded')
    expect(error.details).toEqual(['alembic: division by zero'])
    expect(seedRuns(ran)).toHaveLength(0)
    expect(await readdir(ctx.varDir)).toEqual([])
  })

  it('PostgreSQL that never answers is a precondition failure (exit 4) after the timeout', async () => {
    const { ctx, ran } = await fakeStack({ notReadyProbes: 1000 })
    const error = (await initDatabase(ctx, env(), { ...options, timeoutMs: 1200 }).catch((caught: unknown) => caught)) as ToolkitError
    expect(error.exitCode).toBe(4)
    expect(error.message).toContain('PostgreSQL did not accept connections within 1.2s')
    expect(ran.some((command) => command.argv.includes('flask'))).toBe(false)
  })
})
