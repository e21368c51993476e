import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { z } from 'zod'
import type { Command } from '../exec/executor.ts'
import { PROJECT_DIR } from '../stack/context.ts'
import { REFERENCE_STEPS, type ReferenceData } from './reference-data.ts'
import { serviceRun, type ServiceAt } from '../stack/service-exec.ts'

/** The in-container half of the seed (see db/README.md for the contract). */
export const SEED_SCRIPT = resolve(PROJECT_DIR, 'db', 'seed.py')

/** The only variable through which the admin password reaches the container. */
export const PASSWORD_VARIABLE = 'ADMIN_PASSWORD'

/** The prefix of the report lines db/seed.py prints (the app may print other lines). */
export const REPORT_MARK = 'AIKO_SEED '

export interface SeedOptions {
  email: string
  dryRun: boolean
  resetAdminPassword: boolean
}

/** What db/seed.py receives: the steps in order, with the table and column names of the data file. */
export function seedPayload(data: ReferenceData, options: SeedOptions) {
  return {
    app: data.app,
    dry_run: options.dryRun,
    reset_admin_password: options.resetAdminPassword,
    steps: [
      ...REFERENCE_STEPS.map((step) => ({ step, kind: 'reference' as const, ...data[step] })),
      { step: 'admin', kind: 'admin' as const, email: options.email, ...data.admin },
    ],
  }
}

/** JSON with every non-ASCII character escaped: the stdin text stays ASCII whatever the container's locale. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/**
 * The program `python3 -` reads on stdin: one assignment carrying the payload (a JSON string
 * is a valid Python string literal), then db/seed.py. No secret in it.
 */
export function seedProgram(payload: ReturnType<typeof seedPayload>, script: string): string {
  return `AIKO_SEED_INPUT = ${JSON.stringify(asciiJson(payload))}\n${script}`
}

export async function readSeedScript(): Promise<string> {
  return readFile(SEED_SCRIPT, 'utf8')
}

/**
 * `compose run --rm -T -e ADMIN_PASSWORD --no-deps backend python3 -` (in stack mode `docker exec -i
 * -e ADMIN_PASSWORD` into this node's backend task): the program on stdin, the password only in
 * the environment of the CLI (which hands it to the container). Under
 * --dry-run the command does run (db/seed.py rolls every step back), so it is not `mutates`.
 */
export function seedCommand(at: ServiceAt, program: string, options: { adminPassword: string; dryRun: boolean }): Command {
  const command = serviceRun(at, 'backend', ['python3', '-'], { mutates: !options.dryRun, env: [PASSWORD_VARIABLE], stdin: true })
  return { ...command, input: program, env: { ...command.env, [PASSWORD_VARIABLE]: options.adminPassword } }
}

const key = z.union([z.string(), z.number()])
const referenceReport = z
  .object({
    step: z.string(),
    table: z.string(),
    dry_run: z.boolean(),
    inserted: z.array(key),
    present: z.number().int(),
    total: z.number().int(),
    missing_table: z.boolean().optional(),
  })
  .transform((r) => ({ kind: 'reference' as const, step: r.step, table: r.table, dryRun: r.dry_run, inserted: r.inserted, present: r.present, total: r.total, missingTable: r.missing_table === true }))
const adminReport = z
  .object({
    step: z.literal('admin'),
    table: z.string(),
    email: z.string(),
    dry_run: z.boolean(),
    action: z.enum(['created', 'kept', 'reset']),
    role: z.string().nullable().optional(),
    missing_table: z.boolean().optional(),
  })
  .transform((r) => ({ kind: 'admin' as const, table: r.table, email: r.email, dryRun: r.dry_run, action: r.action, role: r.role ?? undefined, missingTable: r.missing_table === true }))
const failure = z.object({ step: z.string(), error: z.string() }).transform((f) => ({ kind: 'failure' as const, step: f.step, error: f.error }))
const reportLine = z.union([failure, adminReport, referenceReport])

export type ReferenceReport = z.output<typeof referenceReport>
export type AdminReport = z.output<typeof adminReport>
export type StepFailure = z.output<typeof failure>
export type StepReport = ReferenceReport | AdminReport

export interface SeedOutcome {
  reports: StepReport[]
  failure: StepFailure | undefined
  /** Lines with the report mark that could not be read (a bug of seed.py or a mismatched version). */
  unreadable: string[]
}

/** Reads the AIKO_SEED lines of db/seed.py's output; every other line belongs to the app. */
export function parseSeedOutput(stdout: string): SeedOutcome {
  const outcome: SeedOutcome = { reports: [], failure: undefined, unreadable: [] }
  for (const line of stdout.split('\n')) {
    if (!line.startsWith(REPORT_MARK)) continue
    const text = line.slice(REPORT_MARK.length).trim()
    let parsed: ReturnType<typeof reportLine.safeParse>
    try {
      parsed = reportLine.safeParse(JSON.parse(text))
    } catch {
      outcome.unreadable.push(text)
      continue
    }
    if (!parsed.success) outcome.unreadable.push(text)
    else if (parsed.data.kind === 'failure') outcome.failure = parsed.data
    else outcome.reports.push(parsed.data)
  }
  return outcome
}

const keys = (values: readonly (string | number)[], max = 20): string =>
  values.length <= max ? values.join(', ') : `${values.slice(0, max).join(', ')}, … (+${values.length - max})`

/** One line per reference step: "levels: 12 inserted" / "levels: nothing to change (12 present)". */
export function describeReference(report: ReferenceReport): string {
  const { step, inserted, present } = report
  if (report.missingTable) return `${step}: table ${report.table} does not exist yet (migrations pending): would insert ${inserted.length} (${keys(inserted)})`
  if (inserted.length === 0) return `${step}: nothing to change (${present} present)`
  const verb = report.dryRun ? `would insert ${inserted.length}` : `${inserted.length} inserted`
  return `${step}: ${verb} (${keys(inserted)})${present > 0 ? `, ${present} already present` : ''}`
}

/** One line for the admin step; never the password. */
export function describeAdmin(report: AdminReport, options: { passwordSource: 'env' | 'generated'; roleValue: string }): string {
  const source = options.passwordSource === 'env' ? 'ADMIN_PASSWORD from .env' : 'a generated password'
  const would = report.dryRun ? 'would be ' : ''
  if (report.action === 'kept') {
    const role = report.role !== undefined && report.role !== options.roleValue ? ` (role ${report.role}: not changed)` : ''
    return `admin: ${report.email} already exists${role}: nothing to change (password kept; --reset-admin-password resets it)`
  }
  if (report.action === 'reset') return `admin: password of ${report.email} ${would}reset to ${source}`
  return `admin: ${report.email} ${would}created with ${source}`
}
