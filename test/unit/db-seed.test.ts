import { describe, expect, it } from 'vitest'
import type { ComposeTarget } from '../../lib/compose/commands.ts'
import { migrateCommand } from '../../lib/db/migrate.ts'
import { DEFAULT_DATA_FILE, readReferenceData } from '../../lib/db/reference-data.ts'
import { asciiJson, describeAdmin, describeReference, parseSeedOutput, readSeedScript, seedCommand, seedPayload, seedProgram } from '../../lib/db/seed.ts'
import { judgePgIsReady, pgIsReady } from '../../lib/db/wait.ts'

const target: ComposeTarget = { base: ['docker', 'compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: { AIKO_VAR_DIR: '/srv/aiko/var', AIKO_RELEASE: 'r1' } }
const compose = ['docker', 'compose', '--project-directory', '/srv/aiko', '--env-file', '/srv/aiko/.env']
const password = `a "quoted" pa$$ #1 with spaces é`

describe('command builders', () => {
  it('migrations: flask db upgrade in a one-off backend container, without its dependencies', () => {
    expect(migrateCommand(target)).toMatchObject({ argv: [...compose, 'run', '--rm', '-T', '-e', 'PGOPTIONS', '--no-deps', 'backend', 'flask', 'db', 'upgrade'], mutates: true })
  })

  it('the PostgreSQL probe is read-only pg_isready over TCP in the postgres container', () => {
    expect(pgIsReady(target, { POSTGRES_USER: 'aiko', POSTGRES_DB: 'aiko_db' })).toMatchObject({
      argv: [...compose, 'exec', '-T', 'postgres', 'pg_isready', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'aiko', '-d', 'aiko_db'],
      mutates: false,
    })
  })

  it('the seed: the program on stdin, ADMIN_PASSWORD by name in argv and by value in the environment only', () => {
    const command = seedCommand(target, 'PROGRAM', { adminPassword: password, dryRun: false })
    expect(command.argv).toEqual([...compose, 'run', '--rm', '-T', '-e', 'ADMIN_PASSWORD', '--no-deps', 'backend', 'python3', '-'])
    expect(command.argv.join(' ')).not.toContain(password)
    expect(command.argv.some((word) => word.includes('ADMIN_PASSWORD='))).toBe(false)
    expect(command.input).toBe('PROGRAM')
    expect(command.env).toEqual({ AIKO_VAR_DIR: '/srv/aiko/var', AIKO_RELEASE: 'r1', ADMIN_PASSWORD: password })
    expect(command.mutates).toBe(true)
    expect(command.cwd).toBe('/srv/aiko')
  })

  it('works with compose 1.29 too', () => {
    const command = seedCommand({ ...target, base: ['docker-compose'] }, 'P', { adminPassword: password, dryRun: false })
    expect(command.argv.slice(0, 10)).toEqual(['docker-compose', '--project-directory', '/srv/aiko', '--env-file', '/srv/aiko/.env', 'run', '--rm', '-T', '-e', 'ADMIN_PASSWORD'])
  })

  it('under --dry-run the seed still runs (it rolls back): it is not a mutating command', () => {
    expect(seedCommand(target, 'P', { adminPassword: password, dryRun: true }).mutates).toBe(false)
  })
})

describe('the seed program', () => {
  it('carries the steps in order with the table names of the data file, and no password', async () => {
    const data = await readReferenceData(DEFAULT_DATA_FILE)
    const payload = seedPayload(data, { email: 'admin@mon-ecole.fr', dryRun: true, resetAdminPassword: false })
    expect(payload.steps.map((step) => [step.step, step.kind, step.table])).toEqual([['levels', 'reference', 'levels'], ['subjects', 'reference', 'subjects'], ['admin', 'admin', 'users']])
    expect(payload).toMatchObject({ app: 'wsgi:app', dry_run: true, reset_admin_password: false })
    const program = seedProgram(payload, await readSeedScript())
    expect(program).not.toContain('ADMIN_PASSWORD=')
    expect(program.split('\n')[0]).toMatch(/^AIKO_SEED_INPUT = "\{.*\}"$/)
    // ASCII only, whatever the locale of the container; JSON keeps every character.
    expect(program).toMatch(/^[\x00-\x7f]*$/)
    const literal = JSON.parse((program.split('\n')[0] ?? '').slice('AIKO_SEED_INPUT = '.length)) as string
    expect(JSON.parse(literal)).toEqual(payload)
  })

  it('asciiJson escapes every non-ASCII character', () => {
    expect(asciiJson({ name: 'Éducation — é' })).toBe('{"name":"\\u00c9ducation \\u2014 \\u00e9"}')
    expect(JSON.parse(asciiJson({ name: 'Éducation — é' }))).toEqual({ name: 'Éducation — é' })
  })
})

describe('parseSeedOutput', () => {
  const lines = [
    'INFO  [alembic] something the app printed',
    'AIKO_SEED {"dry_run": false, "inserted": ["CP", "CE1"], "present": 10, "step": "levels", "table": "levels", "total": 12}',
    'AIKO_SEED {"dry_run": false, "inserted": [], "present": 16, "step": "subjects", "table": "subjects", "total": 16}',
    'AIKO_SEED {"action": "kept", "dry_run": false, "email": "admin@x.fr", "role": "admin", "step": "admin", "table": "users"}',
  ]

  it('reads one report per step and ignores the app\'s own lines', () => {
    const outcome = parseSeedOutput(lines.join('\n'))
    expect(outcome.failure).toBeUndefined()
    expect(outcome.unreadable).toEqual([])
    expect(outcome.reports).toEqual([
      { kind: 'reference', step: 'levels', table: 'levels', dryRun: false, inserted: ['CP', 'CE1'], present: 10, total: 12, missingTable: false },
      { kind: 'reference', step: 'subjects', table: 'subjects', dryRun: false, inserted: [], present: 16, total: 16, missingTable: false },
      { kind: 'admin', table: 'users', email: 'admin@x.fr', dryRun: false, action: 'kept', role: 'admin', missingTable: false },
    ])
  })

  it('reads a failed step and keeps the steps reported before it', () => {
    const outcome = parseSeedOutput([lines[1], 'AIKO_SEED {"step": "subjects", "error": "table subjects has no column colour"}', ''].join('\n'))
    expect(outcome.reports).toHaveLength(1)
    expect(outcome.failure).toEqual({ kind: 'failure', step: 'subjects', error: 'table subjects has no column colour' })
  })

  it('sets aside report lines it cannot read', () => {
    const outcome = parseSeedOutput('AIKO_SEED {not json\nAIKO_SEED {"step": "levels"}')
    expect(outcome.reports).toEqual([])
    expect(outcome.unreadable).toEqual(['{not json', '{"step": "levels"}'])
  })
})

describe('per-step lines', () => {
  const reference = { kind: 'reference' as const, step: 'levels', table: 'levels', dryRun: false, inserted: [] as string[], present: 12, total: 12, missingTable: false }

  it('says when nothing changes, what was inserted, and what a dry run would insert', () => {
    expect(describeReference(reference)).toBe('levels: nothing to change (12 present)')
    expect(describeReference({ ...reference, inserted: ['CP', 'CE1'], present: 0 })).toBe('levels: 2 inserted (CP, CE1)')
    expect(describeReference({ ...reference, inserted: ['BTS1'] })).toBe('levels: 1 inserted (BTS1), 12 already present')
    expect(describeReference({ ...reference, dryRun: true, inserted: ['BTS1'] })).toBe('levels: would insert 1 (BTS1), 12 already present')
    expect(describeReference({ ...reference, dryRun: true, missingTable: true, inserted: ['CP'], present: 0 })).toBe('levels: table levels does not exist yet (migrations pending): would insert 1 (CP)')
  })

  it('names the admin and the source of its password, never the password', () => {
    const admin = { kind: 'admin' as const, table: 'users', email: 'admin@x.fr', dryRun: false, action: 'created' as const, role: undefined, missingTable: false }
    const options = { passwordSource: 'env' as const, roleValue: 'admin' }
    expect(describeAdmin(admin, options)).toBe('admin: admin@x.fr created with ADMIN_PASSWORD from .env')
    expect(describeAdmin({ ...admin, dryRun: true }, { ...options, passwordSource: 'generated' })).toBe('admin: admin@x.fr would be created with a generated password')
    expect(describeAdmin({ ...admin, action: 'kept', role: 'admin' }, options)).toBe('admin: admin@x.fr already exists: nothing to change (password kept; --reset-admin-password resets it)')
    expect(describeAdmin({ ...admin, action: 'kept', role: 'teacher' }, options)).toContain('(role teacher: not changed)')
    expect(describeAdmin({ ...admin, action: 'reset' }, options)).toBe('admin: password of admin@x.fr reset to ADMIN_PASSWORD from .env')
  })
})

describe('judgePgIsReady', () => {
  const running = [{ status: 'running' }]
  it('is done when pg_isready says so', () => {
    expect(judgePgIsReady({ exitCode: 0, stderr: '' }, running)).toEqual({ done: true, value: true })
  })
  it('keeps waiting, with a reason, for a stopped or missing container and a starting server', () => {
    expect(judgePgIsReady({ exitCode: 1, stderr: '' }, [{ status: 'exited' }])).toEqual({ done: false, waitingFor: 'no running postgres container (exited)' })
    expect(judgePgIsReady({ exitCode: 1, stderr: 'service "postgres" is not running\n' }, [])).toEqual({ done: false, waitingFor: 'no running postgres container' })
    expect(judgePgIsReady({ exitCode: 1, stderr: '' }, running)).toEqual({ done: false, waitingFor: 'PostgreSQL is starting up (rejecting connections)' })
    expect(judgePgIsReady({ exitCode: 2, stderr: '' }, running)).toEqual({ done: false, waitingFor: 'PostgreSQL does not answer' })
    expect(judgePgIsReady({ exitCode: 126, stderr: 'ERROR: exec failed\n' }, running)).toEqual({ done: false, waitingFor: 'the postgres container (exec failed)' })
  })
})
