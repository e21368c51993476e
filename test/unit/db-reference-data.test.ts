import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEFAULT_DATA_FILE, readReferenceData, validateReferenceData } from '../../lib/db/reference-data.ts'
import { ToolkitError } from '../../lib/errors.ts'

const shipped = () => readReferenceData(DEFAULT_DATA_FILE)

describe('db/reference-data.json', () => {
  it('is valid: unique keys, non-empty names, tables and columns declared', async () => {
    const data = await shipped()
    expect(data.app).toBe('wsgi:app')
    expect(data.admin).toMatchObject({ table: 'users', email_column: 'email', password_column: 'password_hash', role_column: 'role', role_value: 'admin' })
    for (const step of [data.levels, data.subjects]) {
      const keys = step.rows.map((row) => row[step.key])
      expect(new Set(keys).size).toBe(keys.length)
      for (const row of step.rows) expect(String(row[step.label]).trim()).not.toBe('')
    }
  })

  it('holds the French school levels from CP to Terminale, in order', async () => {
    const { levels } = await shipped()
    expect(levels.rows.map((row) => row['name'])).toEqual([
      'Cours préparatoire', 'Cours élémentaire 1', 'Cours élémentaire 2', 'Cours moyen 1', 'Cours moyen 2',
      'Sixième', 'Cinquième', 'Quatrième', 'Troisième', 'Seconde', 'Première', 'Terminale',
    ])
    expect(levels.rows.map((row) => row['position'])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })

  it('holds the usual subjects', async () => {
    const names = (await shipped()).subjects.rows.map((row) => row['name'])
    for (const name of ['Mathématiques', 'Français', 'Histoire-Géographie', 'Anglais', 'Physique-Chimie', 'Sciences de la vie et de la Terre']) expect(names).toContain(name)
  })
})

describe('validateReferenceData', () => {
  const valid = () => ({
    levels: { table: 'levels', key: 'code', rows: [{ code: 'CP', name: 'Cours préparatoire' }] },
    subjects: { table: 'subjects', key: 'code', rows: [{ code: 'MATH', name: 'Mathématiques' }] },
    admin: { table: 'users', email_column: 'email', password_column: 'password_hash' },
  })

  it('fills the defaults: app wsgi:app, label name, lower-case e-mails, role admin, no extra', () => {
    const result = validateReferenceData(valid())
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.data.app).toBe('wsgi:app')
    expect(result.data.levels.label).toBe('name')
    expect(result.data.admin).toMatchObject({ email_lowercase: true, role_value: 'admin', extra: {} })
  })

  it('reports every problem at once, each with its place', () => {
    const data = valid()
    data.levels.rows.push({ code: 'CP', name: 'again' }, { code: '', name: 'no key' }, { code: 'CE1', name: '  ' })
    const result = validateReferenceData({ ...data, subjects: { ...data.subjects, table: 'drop table;' }, admin: { table: 'users', email_column: 'email' }, extra: 1 })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problems).toEqual(expect.arrayContaining([
      'levels.rows.1.code: code CP appears twice (rows 1 and 2)',
      'levels.rows.2.code: row 3 needs a non-empty code (the key)',
      'levels.rows.3.name: row 4 needs a non-empty name',
      'subjects.table: table must be a SQL identifier (letters, digits, _)',
      'admin.password_column: password_column is missing',
    ]))
    expect(result.problems.some((problem) => problem.includes('extra'))).toBe(true)
  })

  it('refuses an empty table and an app that is not module:attribute', () => {
    const result = validateReferenceData({ ...valid(), app: 'wsgi', levels: { table: 'levels', key: 'code', rows: [] } })
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.problems).toEqual(expect.arrayContaining(['app: app must look like module:attribute, e.g. wsgi:app', 'levels.rows: rows must hold at least one row']))
  })

  it('an unreadable or invalid file is an invalid configuration (exit 3)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'aiko-db-'))
    await writeFile(join(dir, 'broken.json'), '{"levels": [,]}')
    await writeFile(join(dir, 'invalid.json'), JSON.stringify({ levels: {} }))
    for (const name of ['broken.json', 'invalid.json', 'missing.json']) {
      const error = await readReferenceData(join(dir, name)).catch((caught: unknown) => caught)
      expect(error).toBeInstanceOf(ToolkitError)
      expect((error as ToolkitError).exitCode).toBe(3)
    }
  })
})
