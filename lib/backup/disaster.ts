import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { confirmLoss, type ConfirmOptions } from '../cli/confirm.ts'
import { readEnvText } from '../env/dotenv-file.ts'
import type { AikoEnv } from '../env/schema.ts'
import { ExitCode, ToolkitError, usageError } from '../errors.ts'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import { convergeStack } from '../release/converge.ts'
import type { StackContext } from '../stack/context.ts'
import { withLock } from '../stack/lock.ts'
import { fetchSet, restoreUploadsCommands, type RestoredSet } from './offsite.ts'
import { RESTIC_VARIABLES, resticRepo, type ResticRepo } from './restic.ts'
import { restoreSafely } from './restore.ts'
import { SET_FILES } from './set.ts'

/**
 * On a new server there is no .env yet: the repository comes from the environment (the operator
 * exports the RESTIC_* values kept off the server). Missing ones are named.
 */
export function repoFromEnvironment(environment: Readonly<Record<string, string | undefined>>): ResticRepo {
  const value = (name: (typeof RESTIC_VARIABLES)[number]) => (environment[name] === '' ? undefined : environment[name])
  const missing = (['RESTIC_REPOSITORY', 'RESTIC_PASSWORD'] as const).filter((name) => value(name) === undefined)
  if (missing.length > 0)
    throw usageError(`${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} not set, and there is no .env yet to read ${missing.length === 1 ? 'it' : 'them'} from`, 'export the values you kept off the server, e.g. `export RESTIC_REPOSITORY=sftp:... RESTIC_PASSWORD=...` (a space before `export` keeps them out of the shell history), then run this again')
  const repo = resticRepo({ RESTIC_REPOSITORY: value('RESTIC_REPOSITORY'), RESTIC_PASSWORD: value('RESTIC_PASSWORD'), RESTIC_SFTP_COMMAND: value('RESTIC_SFTP_COMMAND'), AWS_ACCESS_KEY_ID: value('AWS_ACCESS_KEY_ID'), AWS_SECRET_ACCESS_KEY: value('AWS_SECRET_ACCESS_KEY') })
  if (repo === undefined) throw usageError('RESTIC_REPOSITORY and RESTIC_PASSWORD are needed', 'export them')
  return repo
}

/** Step 1 on a new server: the set's .env becomes this server's (0600). The caller made sure there is none. */
export async function installEnvFromSet(ctx: StackContext, repo: ResticRepo, wanted: string, envPath: string): Promise<RestoredSet['snapshot']> {
  const set = await fetchSet(ctx, repo, wanted, undefined)
  try {
    const text = await readFile(join(set.dir, SET_FILES.env), 'utf8')
    if (!ctx.executor.dryRun) await ctx.output.step(`write ${envPath} from set ${set.snapshot.short_id} (mode 0600)`, () => writeFileAtomic(envPath, text, { mode: 0o600 }))
    return set.snapshot
  } finally {
    await set.dispose()
  }
}

/** Names (never values) of the variables whose values differ between two .env texts. */
export function differingNames(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((name) => a[name] !== b[name]).sort()
}

/**
 * Step 2 (the stack serves): the set's database and uploads go into the running stack the way
 * `backup --restore` restores a dump (maintenance page, writers stopped, safety dump first, any
 * failure puts it back), the uploads copied in while the writers are stopped.
 */
export async function restoreSetIntoStack(
  ctx: StackContext,
  env: AikoEnv,
  repo: ResticRepo,
  options: { wanted: string; envPath: string; healthTimeoutMs: number; now: Date; confirm: ConfirmOptions },
): Promise<{ snapshot: string; safety: string; release: string }> {
  const set = await fetchSet(ctx, repo, options.wanted, env.DOMAIN)
  try {
    const setEnv = readEnvText(await readFile(join(set.dir, SET_FILES.env), 'utf8')).values
    const localEnv = readEnvText(await readFile(options.envPath, 'utf8')).values
    const differ = differingNames(setEnv, localEnv)
    if (differ.length > 0) ctx.output.warn(`the set's .env differs from ${options.envPath} in ${differ.join(', ')}: yours is kept (the set's is in the repository)`)
    await confirmLoss(`Restore the database and the uploads from off-site set ${set.snapshot.short_id}`, [
      `the database is replaced by the set's dump, taken ${set.manifest.createdAt} on ${set.snapshot.hostname} (release ${set.manifest.release ?? 'unknown'})`,
      'every write made to the database since then is lost (a safety dump of the current database is taken first: restoring it undoes this)',
      `${set.manifest.uploads.count} uploaded files are put back; files added since are kept`,
      'the site shows a maintenance page meanwhile',
    ], options.confirm)
    const work = async () => {
      const { target: serving } = await convergeStack(ctx, env, { healthTimeoutMs: options.healthTimeoutMs })
      if (serving === undefined)
        throw new ToolkitError('no release serves on this server yet', { exitCode: ExitCode.precondition, hint: 'start one with `npx zx scripts/deploy.mts`, then run this again' })
      const uploads = join(set.dir, SET_FILES.uploads)
      const safety = await restoreSafely(ctx, env, {
        file: join(set.dir, SET_FILES.database),
        release: serving,
        serving,
        healthTimeoutMs: options.healthTimeoutMs,
        now: options.now,
        files: {
          label: `put the set's ${set.manifest.uploads.count} uploaded files back into the uploads volume`,
          restore: async (writers) => {
            const backend = writers.find((state) => state.service === 'backend')
            if (backend === undefined) throw new ToolkitError('no backend container to reach the uploads volume through', { exitCode: ExitCode.precondition })
            for (const command of restoreUploadsCommands(backend, uploads)) await ctx.executor.run(command)
          },
        },
      })
      return { snapshot: set.snapshot.short_id, safety, release: serving }
    }
    // --dry-run changes nothing, the lock file included.
    if (ctx.executor.dryRun) return await work()
    return await withLock(ctx.varDir, ctx.output, `restore off-site set ${set.snapshot.short_id}`, work, { action: 'restore', release: set.snapshot.short_id })
  } finally {
    await set.dispose()
  }
}
