import { rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { backupDatabase } from '../db/dump.ts'
import type { StackContext } from '../stack/context.ts'
import { backupDir, listBackups, newBackupPath } from './files.ts'
import { scheduledName, scheduledToPrune } from './names.ts'

export interface ScheduledBackup {
  file: string
  /** undefined under --dry-run: nothing was written. */
  size: number | undefined
  /** Names of the scheduled backups deleted (or, under --dry-run, that would be). */
  pruned: string[]
}

/** A checked pg_dump to var/backups/scheduled-STAMP.dump, then only the newest `keep` scheduled backups stay. */
export async function takeScheduledBackup(ctx: StackContext, options: { keep: number; now: Date }): Promise<ScheduledBackup> {
  const file = await newBackupPath(ctx.varDir, scheduledName(options.now))
  await ctx.output.step(`back up the database to ${basename(file)} (pg_dump, checked with pg_restore --list)`, () => backupDatabase(ctx, file))
  const names = (await listBackups(ctx.varDir)).map((entry) => entry.name)
  const pruned = scheduledToPrune(ctx.executor.dryRun ? [...names, basename(file)] : names, options.keep)
  if (!ctx.executor.dryRun) for (const name of pruned) await rm(join(backupDir(ctx.varDir), name), { force: true })
  return { file, size: ctx.executor.dryRun ? undefined : (await stat(file)).size, pruned }
}
