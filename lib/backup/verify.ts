import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { copyToContainer, removeContainers, splitIds } from '../docker/containers.ts'
import { adminRowsSql, listScratch, MIGRATION_HEAD_SQL, parseRowCounts, ROW_COUNTS_SQL, scratchRestore, scratchSql, startScratchPostgres } from '../db/scratch.ts'
import { readEnvText } from '../env/dotenv-file.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { StackContext } from '../stack/context.ts'
import { projectContainers } from '../stack/health.ts'
import { waitUntil } from '../util/wait.ts'
import { listBackups } from './files.ts'
import { fetchSet } from './offsite.ts'
import { resticCheck, type ResticRepo } from './restic.ts'
import { SET_FILES } from './set.ts'
import { recordBackupState } from './state.ts'

export interface VerifyReport {
  /** What was restored: an off-site set or a local dump. */
  source: string
  /** The Alembic revision the restored database is at. */
  head: string
  tables: Record<string, number>
  adminRows: number
  /** The uploads checked against the manifest (off-site sets only). */
  uploads: { count: number; bytes: number } | undefined
}

/**
 * `backup --verify`: the newest backup restored for real, never into the live database. With an
 * off-site repository: its structure checked, the newest set of this server restored (every
 * file read back, then compared with the manifest's checksums: uploads and .env included).
 * Without one: the newest dump of var/backups. The dump then goes into a throwaway PostgreSQL
 * (the stack's own image, no network), where the migration head, the row counts and the admin
 * are checked. The result, good or bad, is recorded for `status`.
 */
export async function verifyLatestBackup(ctx: StackContext, env: AikoEnv, repo: ResticRepo | undefined, now: Date): Promise<VerifyReport | undefined> {
  if (ctx.executor.dryRun) {
    ctx.output.info(`[dry-run] would restore the newest ${repo === undefined ? 'dump of var/backups' : 'off-site set'} into a throwaway PostgreSQL and check it`)
    return undefined
  }
  let source = 'no backup'
  try {
    if (repo === undefined) {
      const newest = (await listBackups(ctx.varDir))[0]
      if (newest === undefined) throw new ToolkitError(`there is no backup in ${join(ctx.varDir, 'backups')} to verify`, { exitCode: ExitCode.precondition, hint: 'take one with `npx zx scripts/backup.mts`' })
      source = `local dump ${newest.name}`
      const report = await proveDumpRestorable(ctx, newest.path, env.ADMIN_EMAIL)
      return await finish({ source, ...report, uploads: undefined })
    }
    await ctx.output.step('check the structure of the off-site repository (restic check)', () => ctx.executor.run(resticCheck(repo)))
    const set = await fetchSet(ctx, repo, 'latest', env.DOMAIN)
    source = `off-site set ${set.snapshot.short_id} of ${set.snapshot.time}`
    try {
      const setEnv = readEnvText(await readFile(join(set.dir, SET_FILES.env), 'utf8')).values
      const report = await proveDumpRestorable(ctx, join(set.dir, SET_FILES.database), setEnv['ADMIN_EMAIL'] ?? env.ADMIN_EMAIL)
      return await finish({ source, ...report, uploads: { count: set.manifest.uploads.count, bytes: set.manifest.uploads.bytes } })
    } finally {
      await set.dispose()
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    await recordBackupState(ctx.varDir, { verify: { time: now.toISOString(), ok: false, source, detail: message } })
    throw error
  }

  async function finish(report: VerifyReport): Promise<VerifyReport> {
    const rows = Object.values(report.tables).reduce((sum, count) => sum + count, 0)
    const detail = `head ${report.head}, ${Object.keys(report.tables).length} tables, ${rows} rows${report.uploads === undefined ? '' : `, ${report.uploads.count} uploaded files`}`
    await recordBackupState(ctx.varDir, { verify: { time: now.toISOString(), ok: true, source: report.source, detail } })
    return report
  }
}

/** Restores `dump` into a throwaway PostgreSQL and checks it; the container goes whatever the result. */
async function proveDumpRestorable(ctx: StackContext, dump: string, adminEmail: string): Promise<Omit<VerifyReport, 'source' | 'uploads'>> {
  const postgres = (await projectContainers(ctx, 'postgres'))[0]
  if (postgres === undefined) throw new ToolkitError('PostgreSQL has no container: its image is the one the backup is restored with', { exitCode: ExitCode.precondition, hint: 'start the stack first' })
  const leftovers = splitIds((await ctx.executor.probe(listScratch())).stdout)
  if (leftovers.length > 0) await ctx.executor.run(removeContainers(leftovers))
  const name = `aiko-verify-${randomBytes(4).toString('hex')}`
  await ctx.output.step(`start a throwaway PostgreSQL (${name}, no network)`, () => ctx.executor.run(startScratchPostgres(postgres.image, name)))
  try {
    await waitUntil(
      async () => ((await ctx.executor.probe(scratchSql(name, 'SELECT 1;\n'))).exitCode === 0 ? { done: true, value: undefined } : { done: false, waitingFor: `${name} to accept connections` }),
      { timeoutMs: 120_000, maxDelayMs: 1000 },
    )
    const inContainer = '/tmp/verify.dump'
    await ctx.output.step(`restore ${basename(dump)} into it (pg_restore, stops at the first error)`, async () => {
      await ctx.executor.run(copyToContainer(dump, name, inContainer))
      await ctx.executor.run(scratchRestore(name, inContainer))
    })
    return await ctx.output.step('check the restored database (migration head, row counts, admin)', async () => {
      const head = (await ctx.executor.run(scratchSql(name, MIGRATION_HEAD_SQL))).stdout.trim()
      const tables = parseRowCounts((await ctx.executor.run(scratchSql(name, ROW_COUNTS_SQL))).stdout)
      const adminRows = Number((await ctx.executor.run(scratchSql(name, adminRowsSql(adminEmail)))).stdout.trim())
      const problems = [
        ...(head === '' ? ['alembic_version is empty: the migration head is missing'] : []),
        ...(Object.keys(tables).length === 0 ? ['the public schema has no table'] : []),
        ...(adminRows > 0 ? [] : [`no row holds the admin's e-mail (${adminEmail})`]),
      ]
      if (problems.length > 0)
        throw new ToolkitError(`${basename(dump)} restores, but not into a working database`, { exitCode: ExitCode.commandFailed, details: problems, hint: 'take a new backup now and verify it; keep the older ones until one verifies' })
      return { head, tables, adminRows }
    })
  } finally {
    await ctx.executor.probe(removeContainers([name]))
  }
}
