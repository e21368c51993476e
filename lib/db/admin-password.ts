import { chmod, mkdir, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { registerSecrets } from '../exec/mask.ts'
import { generateSecret } from '../env/secrets.ts'
import { writeFileAtomic } from '../fs/atomic-write.ts'

export const GENERATED_PASSWORD_LENGTH = 24

export interface AdminPassword {
  value: string
  /** env: ADMIN_PASSWORD of .env; generated: made here, shown once and stored only when used. */
  source: 'env' | 'generated'
}

/** The operator's ADMIN_PASSWORD, or a fresh candidate; either way masked from every output. */
export function chooseAdminPassword(fromEnv: string | undefined): AdminPassword {
  const password: AdminPassword =
    fromEnv !== undefined && fromEnv !== '' ? { value: fromEnv, source: 'env' } : { value: generateSecret(GENERATED_PASSWORD_LENGTH), source: 'generated' }
  registerSecrets([password.value])
  return password
}

/** Where a generated password is kept (mode 0600, in a 0700 folder of the state directory). */
export function adminPasswordFile(varDir: string): string {
  return join(varDir, 'secrets', 'admin-initial-password')
}

const pending = (file: string): string => `${file}.pending`

/**
 * Writes the candidate before the database can use it, so a crash between the two never
 * loses a password in use. It becomes the file only when the admin was created or reset.
 */
export async function stageGeneratedPassword(file: string, value: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  await chmod(dirname(file), 0o700)
  await writeFileAtomic(pending(file), `${value}\n`, { mode: 0o600 })
}

export async function keepGeneratedPassword(file: string): Promise<void> {
  await rename(pending(file), file)
}

export async function discardGeneratedPassword(file: string): Promise<void> {
  await rm(pending(file), { force: true })
}

/** After a reset to ADMIN_PASSWORD, a password file from an earlier run no longer opens anything. */
export async function removeStalePasswordFile(file: string): Promise<boolean> {
  try {
    await rm(file)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}
