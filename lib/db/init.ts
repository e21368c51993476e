import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { maskSecrets } from '../exec/mask.ts'
import type { StackContext } from '../stack/context.ts'
import { serviceAt } from '../stack/service-exec.ts'
import {
  adminPasswordFile,
  chooseAdminPassword,
  discardGeneratedPassword,
  keepGeneratedPassword,
  removeStalePasswordFile,
  stageGeneratedPassword,
  type AdminPassword,
} from './admin-password.ts'
import { runMigrations } from './migrate.ts'
import { REFERENCE_STEPS, type ReferenceData } from './reference-data.ts'
import { describeAdmin, describeReference, parseSeedOutput, readSeedScript, seedCommand, seedPayload, seedProgram, type SeedOutcome } from './seed.ts'
import { waitForPostgres } from './wait.ts'

export interface InitDbOptions {
  /** db/reference-data.json, read and validated by the caller before any docker call. */
  data: ReferenceData
  timeoutMs: number
  resetAdminPassword: boolean
}

export interface InitDbResult {
  /** Set when the admin was created or reset with a generated password: show it once. */
  generatedPassword: { value: string; file: string; email: string } | undefined
}

/**
 * init-db: wait for PostgreSQL, migrate, then seed levels, subjects and the first admin, one
 * transaction per step, inserting only what is missing. A second run changes nothing.
 */
export async function initDatabase(ctx: StackContext, env: AikoEnv, options: InitDbOptions): Promise<InitDbResult> {
  const dryRun = ctx.executor.dryRun
  const { data } = options
  const password = chooseAdminPassword(env.ADMIN_PASSWORD)
  const passwordFile = adminPasswordFile(ctx.varDir)
  const program = seedProgram(seedPayload(data, { email: env.ADMIN_EMAIL, dryRun, resetAdminPassword: options.resetAdminPassword }), await readSeedScript())

  await waitForPostgres(ctx, env, { timeoutMs: options.timeoutMs })
  ctx.output.info('PostgreSQL accepts connections')
  await ctx.output.step('run the migrations (flask db upgrade)', () => runMigrations(ctx))

  const staged = password.source === 'generated' && !dryRun
  if (staged) await stageGeneratedPassword(passwordFile, password.value)
  const seeded = await ctx.output.step(`seed ${dryRun ? '(dry run: every step rolled back) ' : ''}levels, subjects and the first admin`, async () => {
    const result = await ctx.executor.probe(seedCommand(await serviceAt(ctx, 'backend'), program, { adminPassword: password.value, dryRun }))
    return { outcome: parseSeedOutput(result.stdout), exitCode: result.exitCode, stderr: result.stderr }
  }).catch(async (error: unknown) => {
    if (staged) await discardGeneratedPassword(passwordFile)
    throw error
  })
  const { outcome } = seeded
  report(ctx, data, outcome, password, passwordFile)

  const admin = outcome.reports.find((step) => step.kind === 'admin')
  const used = admin !== undefined && admin.action !== 'kept' && !dryRun
  if (staged) await settleGeneratedPassword(ctx, passwordFile, { used, known: admin !== undefined || outcome.failure !== undefined })
  if (used && password.source === 'env' && admin?.action === 'reset' && (await removeStalePasswordFile(passwordFile)))
    ctx.output.info(`removed ${passwordFile}: it held a password that no longer works`)
  failOn(seeded)
  if (dryRun) ctx.output.info('dry run: nothing was changed')
  return { generatedPassword: used && password.source === 'generated' ? { value: password.value, file: passwordFile, email: admin.email } : undefined }
}

/** One line per step that ran, before any failure is raised: the operator sees what was committed. */
function report(ctx: StackContext, data: ReferenceData, outcome: SeedOutcome, password: AdminPassword, passwordFile: string): void {
  for (const step of outcome.reports) {
    if (step.kind === 'reference') ctx.output.info(describeReference(step))
    else {
      ctx.output.info(describeAdmin(step, { passwordSource: password.source, roleValue: data.admin.role_value }))
      if (step.dryRun && step.action !== 'kept' && password.source === 'generated') ctx.output.info(`  the generated password would be shown once and stored in ${passwordFile} (0600)`)
    }
  }
}

/** The staged password becomes the file only when the database uses it. */
async function settleGeneratedPassword(ctx: StackContext, file: string, state: { used: boolean; known: boolean }): Promise<void> {
  if (state.used) await keepGeneratedPassword(file)
  else if (state.known) await discardGeneratedPassword(file)
  else ctx.output.warn(`the seed stopped without saying whether the admin was created: its generated password is kept in ${file}.pending`)
}

const TAIL_LINES = 15

function failOn({ outcome, exitCode, stderr }: { outcome: SeedOutcome; exitCode: number; stderr: string }): void {
  if (outcome.failure !== undefined)
    throw new ToolkitError(`seeding failed at step ${outcome.failure.step}: ${maskSecrets(outcome.failure.error)}`, {
      exitCode: ExitCode.commandFailed,
      details: outcome.reports.length > 0 ? [`the steps before it are committed (one transaction per step); ${outcome.failure.step} was rolled back`] : [`${outcome.failure.step} was rolled back; nothing was seeded`],
      hint: 'fix the cause (db/reference-data.json must match the application\'s tables: see db/README.md), then run init-db again: it only inserts what is missing',
    })
  if (exitCode !== 0 || outcome.unreadable.length > 0 || outcome.reports.length < REFERENCE_STEPS.length + 1)
    throw new ToolkitError(`the seed did not report every step (exit code ${exitCode})`, {
      exitCode: ExitCode.commandFailed,
      details: [
        ...outcome.unreadable.map((line) => `unreadable report: ${maskSecrets(line)}`),
        ...maskSecrets(stderr).trimEnd().split('\n').slice(-TAIL_LINES).filter((line) => line.trim() !== ''),
      ],
      hint: 'run init-db again with --verbose; the backend image must have python3 and the app importable from its working directory',
    })
}
