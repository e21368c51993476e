import { basename } from 'node:path'
import { backupDatabase, restoreDatabase } from '../release/backup.ts'
import type { StackContext } from '../stack/context.ts'
import { newBackupPath } from './files.ts'
import { preRestoreName } from './names.ts'

/**
 * Restores `file` after a safety backup of the current database (pre-restore-STAMP.dump), so
 * nothing is lost: restoring that one undoes this. Returns the safety backup's path.
 * The caller holds the deploy lock and has the operator's confirmation.
 */
export async function restoreWithSafetyBackup(ctx: StackContext, file: string, now: Date): Promise<string> {
  const safety = await newBackupPath(ctx.varDir, preRestoreName(now))
  await ctx.output.step(`safety backup of the current database to ${basename(safety)}`, () => backupDatabase(ctx, safety))
  await ctx.output.step(`restore ${basename(file)} (one transaction)`, () => restoreDatabase(ctx, file))
  return safety
}
