import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { z } from 'zod'
import { ExitCode, ToolkitError } from '../errors.ts'
import { PROJECT_DIR } from '../stack/context.ts'

/** The versioned data file; operators edit it (or pass another one with --data). */
export const DEFAULT_DATA_FILE = resolve(PROJECT_DIR, 'db', 'reference-data.json')

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
const identifier = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? `${what} is missing` : `${what} must be a table or column name (text)`) }).regex(IDENTIFIER, `${what} must be a SQL identifier (letters, digits, _)`)
const cell = z.union([z.string(), z.number(), z.boolean(), z.null()], { error: 'a cell must be text, a number, true/false or null' })
const row = z.record(identifier('a column'), cell)

/** A reference table: rows inserted when their key is missing, never updated or deleted. */
const referenceTable = z
  .object({
    table: identifier('table'),
    schema: identifier('schema').optional(),
    key: identifier('key'),
    /** The column holding the human name: must be non-empty on every row. */
    label: identifier('label').default('name'),
    rows: z.array(row).min(1, 'rows must hold at least one row'),
  })
  .strict()
  .superRefine((value, ctx) => {
    const seen = new Map<string, number>()
    value.rows.forEach((candidate, index) => {
      const key = candidate[value.key]
      if (!((typeof key === 'string' && key.trim() !== '') || (typeof key === 'number' && Number.isInteger(key))))
        ctx.addIssue({ code: 'custom', path: ['rows', index, value.key], message: `row ${index + 1} needs a non-empty ${value.key} (the key)` })
      else if (seen.has(String(key)))
        ctx.addIssue({ code: 'custom', path: ['rows', index, value.key], message: `${value.key} ${String(key)} appears twice (rows ${(seen.get(String(key)) ?? 0) + 1} and ${index + 1})` })
      else seen.set(String(key), index)
      const label = candidate[value.label]
      if (typeof label !== 'string' || label.trim() === '')
        ctx.addIssue({ code: 'custom', path: ['rows', index, value.label], message: `row ${index + 1} needs a non-empty ${value.label}` })
    })
  })

/** Where and how the first administrator is stored. */
const adminTable = z
  .object({
    table: identifier('table'),
    schema: identifier('schema').optional(),
    email_column: identifier('email_column'),
    email_lowercase: z.boolean().default(true),
    password_column: identifier('password_column'),
    role_column: identifier('role_column').optional(),
    role_value: z.string().min(1).default('admin'),
    extra: z.record(identifier('a column'), cell).default({}),
  })
  .strict()

export const referenceDataSchema = z
  .object({
    $comment: z.union([z.string(), z.array(z.string())]).optional(),
    /** module:attribute of the Flask app, imported inside the backend container. */
    app: z.string().regex(/^[A-Za-z_][\w.]*:[A-Za-z_]\w*$/, 'app must look like module:attribute, e.g. wsgi:app').default('wsgi:app'),
    levels: referenceTable,
    subjects: referenceTable,
    admin: adminTable,
  })
  .strict()

export type ReferenceData = z.output<typeof referenceDataSchema>
export type ReferenceTable = ReferenceData['levels']
export type AdminTable = ReferenceData['admin']
export type Cell = z.output<typeof cell>

/** The steps of the seed, in order. */
export const REFERENCE_STEPS = ['levels', 'subjects'] as const

export type DataValidation = { ok: true; data: ReferenceData } | { ok: false; problems: string[] }

/** Every problem at once, each with its place in the file. */
export function validateReferenceData(value: unknown): DataValidation {
  const result = referenceDataSchema.safeParse(value)
  if (result.success) return { ok: true, data: result.data }
  return { ok: false, problems: result.error.issues.map((issue) => `${issue.path.length === 0 ? '(file)' : issue.path.join('.')}: ${issue.message}`) }
}

export async function readReferenceData(path: string = DEFAULT_DATA_FILE): Promise<ReferenceData> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'))
  } catch (error) {
    throw new ToolkitError(`cannot read the reference data ${path}: ${error instanceof Error ? error.message : String(error)}`, {
      exitCode: ExitCode.invalidConfig,
      hint: 'fix the JSON (a trailing comma, a missing quote?) or restore it with `git checkout db/reference-data.json`',
    })
  }
  const validation = validateReferenceData(parsed)
  if (!validation.ok)
    throw new ToolkitError(`${path} is not valid: ${validation.problems.length} problem${validation.problems.length === 1 ? '' : 's'}`, {
      exitCode: ExitCode.invalidConfig,
      details: validation.problems.map((problem) => `- ${problem}`),
      hint: 'fix each line above (see db/README.md for the format)',
    })
  return validation.data
}
