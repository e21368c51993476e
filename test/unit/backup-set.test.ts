import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { compareUploads, freshSetFolder, readManifest, setProblems, writeManifest } from '../../lib/backup/set.ts'
import { readBackupState, recordBackupState } from '../../lib/backup/state.ts'
import { adminRowsSql, parseRowCounts } from '../../lib/db/scratch.ts'

describe('backup sets', () => {
  it('a staged set gets a manifest; a changed, missing or extra file is named', async () => {
    const root = await mkdtemp(join(tmpdir(), 'aiko-set-'))
    await writeFile(join(root, 'db.dump'), 'PGDMP fake dump')
    await writeFile(join(root, '.env'), 'DOMAIN=aiko.fr\n')
    const set = join(root, 'set')
    await freshSetFolder(set, join(root, '.env'), join(root, 'db.dump'))
    await mkdir(join(set, 'uploads', 'cours'), { recursive: true })
    await writeFile(join(set, 'uploads', 'cours', 'a.pdf'), 'pdf')
    await writeFile(join(set, 'uploads', 'b.txt'), 'b')
    const manifest = await writeManifest(set, { domain: 'aiko.fr', release: '20261201-020000-abc1234', now: new Date('2026-12-01T02:00:00Z') })
    expect(manifest.uploads.count).toBe(2)
    expect(manifest.uploads.bytes).toBe(4)
    expect(Object.keys(manifest.uploads.files)).toEqual(['b.txt', 'cours/a.pdf'])
    expect(await readManifest(set)).toEqual(manifest)
    expect(await setProblems(set, manifest)).toEqual([])

    await writeFile(join(set, 'uploads', 'b.txt'), 'B')
    await writeFile(join(set, 'uploads', 'extra'), 'x')
    await writeFile(join(set, 'database.dump'), 'truncated')
    expect(await setProblems(set, manifest)).toEqual([
      'database.dump is missing or differs from its checksum',
      'uploads/b.txt differs from its checksum',
      'uploads/extra is not in the manifest',
    ])
  })

  it('compares uploads as pure data', () => {
    const recorded = { count: 2, bytes: 2, files: { a: '0'.repeat(64), b: '1'.repeat(64) } }
    expect(compareUploads(recorded, { count: 1, bytes: 1, files: { a: '0'.repeat(64) } })).toEqual(['uploads/b is missing'])
    expect(compareUploads(recorded, recorded)).toEqual([])
  })

  it('a manifest of another shape is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aiko-set-'))
    await writeFile(join(dir, 'manifest.json'), '{"format":2}')
    await expect(readManifest(dir)).rejects.toThrow(/does not describe a backup set/)
  })
})

describe('backup state', () => {
  it('none recorded, then each fact kept beside the other; a broken file is an error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aiko-state-'))
    expect(await readBackupState(dir)).toEqual({ offsite: null, verify: null })
    await recordBackupState(dir, { offsite: { time: '2026-12-01T02:00:00.000Z', snapshot: '00ff55e3', repository: 'sftp:r@h:/x' } })
    await recordBackupState(dir, { verify: { time: '2026-12-01T04:00:00.000Z', ok: true, source: 'off-site set 00ff55e3', detail: 'head 0004' } })
    expect((await readBackupState(dir)).offsite?.snapshot).toBe('00ff55e3')
    expect((await readBackupState(dir)).verify?.ok).toBe(true)
    await writeFile(join(dir, 'backup-state.json'), '{"offsite": 3}')
    await expect(readBackupState(dir)).rejects.toThrow(/is not a backup state file/)
  })
})

describe('scratch database checks', () => {
  it('reads row counts and refuses another shape', () => {
    expect(parseRowCounts('levels|3\nusers|12\n\n')).toEqual({ levels: 3, users: 12 })
    expect(() => parseRowCounts('users 12')).toThrow(/unexpected row count line/)
  })

  it("quotes the admin's address as a literal", () => {
    expect(adminRowsSql("o'neil@aiko.fr")).toContain("'o''neil@aiko.fr'")
  })
})
