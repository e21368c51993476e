import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import { formatValue } from './dotenv-file.ts'

/**
 * Sets one toolkit-managed variable (such as NGINX_MODE) in the .env file, in place, keeping
 * every other line as written. Returns false when it already had that value.
 */
export async function setEnvVariable(path: string, name: string, value: string): Promise<boolean> {
  const text = await readFile(path, 'utf8')
  const line = `${name}=${formatValue(name, value)}`
  const pattern = new RegExp(`^${name}=.*$`, 'm')
  if (pattern.exec(text)?.[0] === line) return false
  const next = pattern.test(text) ? text.replace(pattern, () => line) : `${text.replace(/\n?$/, '\n')}${line}\n`
  await writeFileAtomic(path, next, { mode: 0o600, backupPath: `${path}.bak` })
  return true
}
