import { mkdtemp, readdir, stat, utimes, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { listBackups, resolveBackup } from '../../lib/backup/files.ts'
import { formatBackupLine } from '../../lib/backup/format.ts'
import { formatBytes } from '../../lib/ui/output.ts'
import { backupKind, latestBackup, preRestoreName, scheduledName, scheduledToPrune, type BackupEntry } from '../../lib/backup/names.ts'
import { restoreWithSafetyBackup } from '../../lib/backup/restore.ts'
import { takeScheduledBackup } from '../../lib/backup/scheduled.ts'
import type { ComposeTarget } from '../../lib/compose/commands.ts'
import { ToolkitError } from '../../lib/errors.ts'
import { createExecutor, type Command, type Runner } from '../../lib/exec/executor.ts'
import { pruneBackups } from '../../lib/backup/files.ts'
import { backupDatabase, dumpCommand, removeDumpCommand, RESET_SQL, restoreCommand, verifyDumpCommand } from '../../lib/db/dump.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import type { Output } from '../../lib/ui/output.ts'

const target: ComposeTarget = { base: ['docker', 'compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: {} }
const at = (iso: string) => new Date(iso)
const entry = (name: string, mtime: string): BackupEntry => ({ name, path: `/v/backups/${name}`, kind: backupKind(name) ?? 'scheduled', size: 1, mtime: at(mtime) })

describe('backup names and choices', () => {
  it('names backups by UTC second', () => {
    expect(scheduledName(at('2026-03-05T01:02:03.456Z'))).toBe('scheduled-20260305-010203.dump')
    expect(preRestoreName(at('2026-12-31T23:59:59Z'))).toBe('pre-restore-20261231-235959.dump')
  })

  it('tells the three kinds apart and ignores anything else', () => {
    expect(backupKind('scheduled-20260305-010203.dump')).toBe('scheduled')
    expect(backupKind('pre-restore-20260305-010203.dump')).toBe('pre-restore')
    expect(backupKind('pre-20260305-010203-abc1234.dump')).toBe('release')
    expect(backupKind('.scheduled-20260305-010203.dump.partial')).toBeUndefined()
    expect(backupKind('scheduled-today.dump')).toBeUndefined()
    expect(backupKind('notes.txt')).toBeUndefined()
  })

  it('prunes only the scheduled backups beyond the newest N', () => {
    const names = ['scheduled-20260103-020000.dump', 'pre-20260101-120000-abc1234.dump', 'scheduled-20260101-020000.dump', 'pre-restore-20260101-000000.dump', 'scheduled-20260102-020000.dump']
    expect(scheduledToPrune(names, 2)).toEqual(['scheduled-20260101-020000.dump'])
    expect(scheduledToPrune(names, 1)).toEqual(['scheduled-20260102-020000.dump', 'scheduled-20260101-020000.dump'])
    expect(scheduledToPrune(names, 14)).toEqual([])
  })

  it('takes the newest backup of any kind as latest, by modification time', () => {
    const entries = [entry('scheduled-20260103-020000.dump', '2026-01-03T02:00:00Z'), entry('pre-restore-20260104-090000.dump', '2026-01-04T09:00:00Z'), entry('pre-r1.dump', '2026-01-02T00:00:00Z')]
    expect(latestBackup(entries)?.name).toBe('pre-restore-20260104-090000.dump')
    expect(latestBackup([])).toBeUndefined()
  })

  it('formats sizes and list lines', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB')
    expect(formatBackupLine({ ...entry('scheduled-20260103-020000.dump', '2026-01-03T02:00:00.123Z'), size: 2048 })).toBe('2026-01-03T02:00:00Z     2.0 KiB  scheduled    scheduled-20260103-020000.dump')
  })
})

describe('database command builders', () => {
  it('dumps in custom format with the container credentials, never a password in argv', () => {
    expect(dumpCommand(target, '/tmp/aiko-backup-x.dump').argv.slice(6)).toEqual([
      'exec', '-T', 'postgres', 'sh', '-c', 'pg_dump --format=custom --compress=1 --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f /tmp/aiko-backup-x.dump',
    ])
  })

  it('checks the dump with pg_restore --list inside the container', () => {
    expect(verifyDumpCommand(target, '/tmp/aiko-backup-x.dump').argv.slice(6)).toEqual(['exec', '-T', 'postgres', 'pg_restore', '--list', '/tmp/aiko-backup-x.dump'])
    expect(removeDumpCommand(target, '/tmp/aiko-backup-x.dump').argv.slice(6)).toEqual(['exec', '-T', 'postgres', 'rm', '-f', '/tmp/aiko-backup-x.dump'])
  })

  it('restores in one transaction: the dump becomes SQL, then one psql empties the database and replays it', () => {
    const command = restoreCommand(target, '/tmp/aiko-backup-x.dump')
    expect(command.argv.slice(6)).toEqual([
      'exec', '-T', 'postgres', 'sh', '-c',
      'pg_restore --no-owner --file=/tmp/aiko-backup-x.sql /tmp/aiko-backup-x.dump && psql -X -q -v ON_ERROR_STOP=1 --single-transaction -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f - -f /tmp/aiko-backup-x.sql; status=$?; rm -f /tmp/aiko-backup-x.dump /tmp/aiko-backup-x.sql; exit $status',
    ])
    expect(command.input).toBe(RESET_SQL)
    expect(RESET_SQL).toContain("EXECUTE format('DROP SCHEMA %I CASCADE', schema_name)")
    expect(RESET_SQL).toContain("nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'")
    expect(RESET_SQL).toContain('CREATE SCHEMA public AUTHORIZATION pg_database_owner;')
  })
})

interface Fake {
  ctx: StackContext
  ran: Command[]
  lines: string[]
  varDir: string
}

/** A stack whose postgres container answers from a script; `docker cp` out writes a small dump. */
async function fakeStack(options: { dryRun?: boolean; fail?: 'dump' | 'verify' | 'copy' } = {}): Promise<Fake> {
  const varDir = await mkdtemp(join(tmpdir(), 'aiko-backup-'))
  const ran: Command[] = []
  const lines: string[] = []
  const output: Output = {
    info: (message) => lines.push(message),
    success: (message) => lines.push(message),
    warn: (message) => lines.push(message),
    error: (message) => lines.push(message),
    step: (title, work) => (lines.push(title), work()),
  }
  const ok = (stdout = '') => ({ stdout, stderr: '', exitCode: 0, skipped: false })
  const failed = { stdout: '', stderr: 'pg_restore: error: input file is too short\n', exitCode: 1, skipped: false }
  const runner: Runner = async (command) => {
    ran.push(command)
    const argv = command.argv.join(' ')
    if (argv.includes(' ps -q')) return ok('c0ffee\n')
    if (argv.startsWith('docker inspect')) return ok(JSON.stringify([{ Id: 'c0ffee', State: { Status: 'running' }, Config: { Labels: { 'com.docker.compose.service': 'postgres' } } }]))
    if (argv.includes('pg_dump')) return options.fail === 'dump' ? failed : ok()
    if (argv.includes('pg_restore --list')) return options.fail === 'verify' ? failed : ok()
    if (argv.startsWith('docker cp c0ffee:')) {
      const destination = command.argv[3] ?? ''
      await writeFile(destination, 'PGDMP fake dump')
      return options.fail === 'copy' ? failed : ok()
    }
    return ok()
  }
  const executor = createExecutor({ dryRun: options.dryRun ?? false, verbose: false, output, runner })
  return { ctx: { executor, output, target, varDir, nginxConfDir: join(varDir, 'nginx'), nginxDir: '/srv/aiko/nginx' }, ran, lines, varDir }
}

const words = (commands: readonly Command[]) => commands.map((command) => command.argv.join(' '))

describe('backupDatabase', () => {
  it('checks the dump before copying it out, then writes it 0600 in a 0700 folder', async () => {
    const { ctx, ran, varDir } = await fakeStack()
    const file = join(varDir, 'backups', 'scheduled-20260103-020000.dump')
    await backupDatabase(ctx, file)
    const order = words(ran).map((argv) => (argv.includes('pg_dump') ? 'dump' : argv.includes('pg_restore --list') ? 'verify' : argv.startsWith('docker cp') ? 'copy' : argv.includes(' rm -f ') ? 'rm' : 'read'))
    expect(order.filter((step) => step !== 'read')).toEqual(['dump', 'verify', 'copy', 'rm'])
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await stat(join(varDir, 'backups'))).mode & 0o777).toBe(0o700)
    expect(await readdir(join(varDir, 'backups'))).toEqual(['scheduled-20260103-020000.dump'])
  })

  for (const fail of ['dump', 'verify', 'copy'] as const) {
    it(`leaves no file in var/backups when the ${fail} fails, and cleans the container`, async () => {
      const { ctx, ran, varDir } = await fakeStack({ fail })
      await expect(backupDatabase(ctx, join(varDir, 'backups', 'scheduled-20260103-020000.dump'))).rejects.toBeInstanceOf(ToolkitError)
      expect(await readdir(join(varDir, 'backups'))).toEqual([])
      expect(words(ran).at(-1)).toMatch(/exec -T postgres rm -f \/tmp\/aiko-backup-[0-9a-f]+\.dump$/)
      if (fail === 'verify') expect(words(ran).some((argv) => argv.startsWith('docker cp'))).toBe(false)
    })
  }

  it('says a dump that pg_restore cannot read was not written', async () => {
    const { ctx, varDir } = await fakeStack({ fail: 'verify' })
    const error = await backupDatabase(ctx, join(varDir, 'backups', 'x.dump')).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ToolkitError)
    expect((error as ToolkitError).message).toContain('not readable')
    expect((error as ToolkitError).details).toEqual(['pg_restore: error: input file is too short'])
  })
})

async function seed(varDir: string, names: Readonly<Record<string, string>>): Promise<void> {
  await mkdir(join(varDir, 'backups'), { recursive: true })
  for (const [name, mtime] of Object.entries(names)) {
    await writeFile(join(varDir, 'backups', name), name)
    await utimes(join(varDir, 'backups', name), at(mtime), at(mtime))
  }
}

describe('scheduled backups, restore and deploy pruning', () => {
  it('writes a stamped backup and prunes the oldest scheduled ones only', async () => {
    const { ctx, varDir } = await fakeStack()
    await seed(varDir, { 'scheduled-20260101-020000.dump': '2026-01-01T02:00:00Z', 'scheduled-20260102-020000.dump': '2026-01-02T02:00:00Z', 'pre-r1.dump': '2025-12-01T00:00:00Z', 'pre-restore-20251201-000000.dump': '2025-12-01T00:00:00Z' })
    const result = await takeScheduledBackup(ctx, { keep: 2, now: at('2026-01-03T02:00:00Z') })
    expect(result.file).toBe(join(varDir, 'backups', 'scheduled-20260103-020000.dump'))
    expect(result.size).toBe('PGDMP fake dump'.length)
    expect(result.pruned).toEqual(['scheduled-20260101-020000.dump'])
    expect((await readdir(join(varDir, 'backups'))).sort()).toEqual(['pre-r1.dump', 'pre-restore-20251201-000000.dump', 'scheduled-20260102-020000.dump', 'scheduled-20260103-020000.dump'])
  })

  it('--dry-run writes and deletes nothing and runs no mutating command', async () => {
    const { ctx, ran, varDir } = await fakeStack({ dryRun: true })
    await seed(varDir, { 'scheduled-20260101-020000.dump': '2026-01-01T02:00:00Z' })
    const result = await takeScheduledBackup(ctx, { keep: 1, now: at('2026-01-03T02:00:00Z') })
    expect(result).toEqual({ file: join(varDir, 'backups', 'scheduled-20260103-020000.dump'), size: undefined, pruned: ['scheduled-20260101-020000.dump'] })
    expect(await readdir(join(varDir, 'backups'))).toEqual(['scheduled-20260101-020000.dump'])
    expect(ran.every((command) => !command.mutates)).toBe(true)
  })

  it('never overwrites a backup taken the same second', async () => {
    const { ctx, varDir } = await fakeStack()
    await seed(varDir, { 'scheduled-20260103-020000.dump': '2026-01-03T02:00:00Z' })
    await expect(takeScheduledBackup(ctx, { keep: 2, now: at('2026-01-03T02:00:00Z') })).rejects.toMatchObject({ exitCode: 4 })
  })

  it('takes a safety backup of the current database before restoring', async () => {
    const { ctx, ran, varDir } = await fakeStack()
    await seed(varDir, { 'scheduled-20260101-020000.dump': '2026-01-01T02:00:00Z' })
    const safety = await restoreWithSafetyBackup(ctx, join(varDir, 'backups', 'scheduled-20260101-020000.dump'), at('2026-01-05T10:00:00Z'))
    expect(safety).toBe(join(varDir, 'backups', 'pre-restore-20260105-100000.dump'))
    const mutating = words(ran.filter((command) => command.mutates))
    const copiedOut = mutating.findIndex((argv) => argv.startsWith('docker cp c0ffee:'))
    const copiedIn = mutating.findIndex((argv) => argv.startsWith(`docker cp ${join(varDir, 'backups', 'scheduled-20260101-020000.dump')} c0ffee:`))
    expect(copiedOut).toBeGreaterThanOrEqual(0)
    expect(copiedIn).toBeGreaterThan(copiedOut)
    expect(mutating.at(-1)).toContain('--single-transaction')
  })

  it('resolves latest, a bare name and a path; a missing file names the path and --list', async () => {
    const varDir = await mkdtemp(join(tmpdir(), 'aiko-backup-'))
    await seed(varDir, { 'scheduled-20260101-020000.dump': '2026-01-01T02:00:00Z', 'pre-20260102-000000-abc1234.dump': '2026-01-02T00:00:00Z', '.scheduled-20260103-020000.dump.partial': '2026-01-03T00:00:00Z' })
    expect((await listBackups(varDir)).map((backup) => backup.name)).toEqual(['pre-20260102-000000-abc1234.dump', 'scheduled-20260101-020000.dump'])
    expect(await resolveBackup(varDir, 'latest')).toBe(join(varDir, 'backups', 'pre-20260102-000000-abc1234.dump'))
    expect(await resolveBackup(varDir, 'scheduled-20260101-020000.dump')).toBe(join(varDir, 'backups', 'scheduled-20260101-020000.dump'))
    expect(await resolveBackup(varDir, join(varDir, 'backups', 'pre-20260102-000000-abc1234.dump'))).toBe(join(varDir, 'backups', 'pre-20260102-000000-abc1234.dump'))
    const missing = await resolveBackup(varDir, '/nowhere/nope.dump').catch((caught: unknown) => caught)
    expect(missing).toMatchObject({ exitCode: 4, message: 'no backup at /nowhere/nope.dump' })
    expect((missing as ToolkitError).hint).toContain('--list')
    await expect(resolveBackup(await mkdtemp(join(tmpdir(), 'aiko-empty-')), 'latest')).rejects.toMatchObject({ exitCode: 4 })
  })

  it("deploy's pruning keeps scheduled and pre-restore backups, and any file the toolkit did not name", async () => {
    const varDir = await mkdtemp(join(tmpdir(), 'aiko-backup-'))
    const r1 = '20260101-000000-abc1234'
    const r2 = '20260102-000000-abc1234'
    await seed(varDir, { [`pre-${r1}.dump`]: '2026-01-01T00:00:00Z', [`pre-${r2}.dump`]: '2026-01-02T00:00:00Z', 'pre-migration-by-hand.dump': '2025-12-01T00:00:00Z', 'pre-restore-20260101-000000.dump': '2026-01-01T00:00:00Z', 'scheduled-20260101-020000.dump': '2026-01-01T02:00:00Z' })
    expect(await pruneBackups(varDir, [r2])).toEqual([`pre-${r1}.dump`])
    expect((await readdir(join(varDir, 'backups'))).sort()).toEqual([`pre-${r2}.dump`, 'pre-migration-by-hand.dump', 'pre-restore-20260101-000000.dump', 'scheduled-20260101-020000.dump'])
  })
})
