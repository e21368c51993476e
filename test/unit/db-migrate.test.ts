import { describe, expect, it } from 'vitest'
import type { ComposeTarget } from '../../lib/compose/commands.ts'
import { currentRevisionCommand, isLockTimeout, unknownRevision, migrateCommand, migrationSqlCommand, pendingRevisions } from '../../lib/db/migrate.ts'
import { formatArgv } from '../../lib/exec/executor.ts'
import { ToolkitError } from '../../lib/errors.ts'

const target: ComposeTarget = { base: ['docker', 'compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: { AIKO_VAR_DIR: '/srv/aiko/var', AIKO_RELEASE: 'r2' } }

describe('migration command builders', () => {
  it('upgrade: one-off backend container, lock timeout through PGOPTIONS by name, its value in the environment only', () => {
    const command = migrateCommand(target, { lockTimeoutMs: 2_000, attempts: 3 })
    expect(formatArgv(command.argv)).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T -e PGOPTIONS --no-deps backend flask db upgrade')
    // The target's variables stay: AIKO_RELEASE picks the new release's image.
    expect(command.env).toEqual({ AIKO_VAR_DIR: '/srv/aiko/var', AIKO_RELEASE: 'r2', PGOPTIONS: '-c lock_timeout=2000' })
    expect(command.mutates).toBe(true)
  })

  it('upgrade with the default policy waits 5 s for a lock', () => {
    expect(migrateCommand(target).env).toEqual({ AIKO_VAR_DIR: '/srv/aiko/var', AIKO_RELEASE: 'r2', PGOPTIONS: '-c lock_timeout=5000' })
  })

  it('offline SQL from the current revision to head: read-only', () => {
    const command = migrationSqlCommand(target, '0001_initial')
    expect(formatArgv(command.argv)).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T --no-deps backend flask db upgrade 0001_initial:head --sql')
    expect(command.mutates).toBe(false)
  })

  it('offline SQL of a database never migrated: the whole history', () => {
    expect(formatArgv(migrationSqlCommand(target, undefined).argv)).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T --no-deps backend flask db upgrade head --sql')
  })

  it('the current revision is read with psql in the postgres container, read-only, and says nothing when alembic_version is missing', () => {
    const command = currentRevisionCommand(target)
    expect(command.argv).toEqual([
      'docker', 'compose', '--project-directory', '/srv/aiko', '--env-file', '/srv/aiko/.env', 'exec', '-T', 'postgres', 'sh', '-c',
      `psql -X -q -tA -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'alembic_version'" | grep -q 1 || exit 0; psql -X -q -tA -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c 'SELECT version_num FROM alembic_version'`,
    ])
    expect(command.mutates).toBe(false)
  })
})

describe('pendingRevisions', () => {
  it('reads the revisions in the order Alembic will run them', () => {
    const sql = [
      'BEGIN;',
      '-- Running upgrade 0001_initial -> 0002_add_nickname',
      'ALTER TABLE users ADD COLUMN nickname VARCHAR(80);',
      "UPDATE alembic_version SET version_num='0002_add_nickname' WHERE alembic_version.version_num = '0001_initial';",
      '-- Running upgrade 0002_add_nickname -> 0003_drop_nickname',
      'ALTER TABLE users DROP COLUMN nickname;',
      'COMMIT;',
    ].join('\n')
    expect(pendingRevisions(sql)).toEqual(['0002_add_nickname', '0003_drop_nickname'])
  })

  it('the first revision of a fresh database runs from nothing', () => {
    expect(pendingRevisions('-- Running upgrade  -> 0001_initial\nCREATE TABLE users (id SERIAL);')).toEqual(['0001_initial'])
  })

  it('nothing pending: an empty list', () => {
    expect(pendingRevisions('BEGIN;\nCOMMIT;\n')).toEqual([])
  })
})

describe('isLockTimeout', () => {
  it('knows PostgreSQL lock timeouts as psycopg reports them', () => {
    expect(isLockTimeout('psycopg2.errors.LockNotAvailable: canceling statement due to lock timeout')).toBe(true)
    expect(isLockTimeout('ERROR:  canceling statement due to lock timeout\nSQLSTATE 55P03')).toBe(true)
  })

  it('other failures are not lock timeouts', () => {
    expect(isLockTimeout('psycopg2.errors.UndefinedTable: relation "users" does not exist')).toBe(false)
    expect(isLockTimeout('canceling statement due to statement timeout')).toBe(false)
  })
})

describe('unknownRevision', () => {
  const failed = (details: string[]) => new ToolkitError('command failed with exit code 1: docker compose run ...', { exitCode: 5, details })

  it("Alembic's \"Can't locate revision\": a precondition error naming the revision and the way out", () => {
    const error = unknownRevision(failed(["ERROR [flask_migrate] Error: Can't locate revision identified by '0004_add_notes'"]), '0004_add_notes')
    expect(error?.message).toBe('the database is at migration 0004_add_notes, which this release does not contain (a newer release migrated it): nothing was changed')
    expect(error?.exitCode).toBe(4)
    expect(error?.hint).toContain('rollback.mts --with-db')
  })

  it('any other failure stays as it was', () => {
    expect(unknownRevision(failed(['ModuleNotFoundError: No module named app']), '0001_initial')).toBeUndefined()
    expect(unknownRevision(new Error("Can't locate revision"), '0001_initial')).toBeUndefined()
    expect(unknownRevision(failed(["Can't locate revision identified by 'x'"]), undefined)).toBeUndefined()
  })
})
