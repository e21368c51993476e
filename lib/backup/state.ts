import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { writeFileAtomic } from '../fs/atomic-write.ts'

/**
 * What status reports about backups beyond var/backups: the last off-site copy and the last
 * restore proven by `backup --verify`. One small JSON file, replaced in one rename.
 */
export const backupStatePath = (varDir: string) => join(varDir, 'backup-state.json')

const offsiteSchema = z.object({ time: z.string(), snapshot: z.string(), repository: z.string() })
const verifySchema = z.object({ time: z.string(), ok: z.boolean(), source: z.string(), detail: z.string() })
const stateSchema = z.object({ offsite: offsiteSchema.nullable().default(null), verify: verifySchema.nullable().default(null) })

export type BackupState = z.infer<typeof stateSchema>
export type OffsiteRecord = z.infer<typeof offsiteSchema>
export type VerifyRecord = z.infer<typeof verifySchema>

/** The recorded state; none recorded yet when the file does not exist. A file that does not parse is an error. */
export async function readBackupState(varDir: string): Promise<BackupState> {
  let text: string
  try {
    text = await readFile(backupStatePath(varDir), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { offsite: null, verify: null }
    throw error
  }
  const parsed = stateSchema.safeParse(JSON.parse(text))
  if (!parsed.success) throw new Error(`${backupStatePath(varDir)} is not a backup state file (${parsed.error.issues[0]?.message ?? 'unknown'}): remove it, the next backup writes it again`)
  return parsed.data
}

/** Records one fact, keeping the other. */
export async function recordBackupState(varDir: string, change: Partial<BackupState>): Promise<void> {
  const next = { ...(await readBackupState(varDir)), ...change }
  await mkdir(varDir, { recursive: true })
  await writeFileAtomic(backupStatePath(varDir), `${JSON.stringify(next, null, 2)}\n`, { mode: 0o640 })
}
