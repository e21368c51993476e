import { readFile, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'
import { registerSecrets } from '../exec/mask.ts'
import { readEnvText, type EnvFile } from './dotenv-file.ts'
import { lintEnvFile, modeProblem } from './lint.ts'
import { SECRET_NAMES, validateEnv, type AikoEnv, type EnvProblem } from './schema.ts'

export interface LoadedEnv {
  env: AikoEnv
  file: EnvFile
}

export async function readEnvFile(path: string): Promise<EnvFile | undefined> {
  try {
    return readEnvText(await readFile(path, 'utf8'))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Registers the file's secrets with the masker before anything can print them. */
export function registerFileSecrets(file: EnvFile): void {
  registerSecrets(SECRET_NAMES.map((name) => file.values[name]))
}

/** Every problem of the file: its spelling, its mode and its values. */
export async function checkEnvFile(path: string, file: EnvFile): Promise<EnvProblem[]> {
  const name = basename(path)
  const validation = validateEnv(file.values)
  const mode = modeProblem((await stat(path)).mode, name)
  return [...lintEnvFile(file, name), ...(mode === undefined ? [] : [mode]), ...(validation.ok ? [] : validation.problems)]
}

export function invalidEnvError(path: string, problems: readonly EnvProblem[]): ToolkitError {
  return new ToolkitError(`${path} is not valid: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, {
    exitCode: ExitCode.invalidConfig,
    details: problems.map((problem) => `- ${problem.message}`),
    hint: 'fix each line above, then check again with `npx zx scripts/init-env.mts --check`',
  })
}

/** What every script does first: read the .env, mask its secrets, refuse to go on when it is not valid. */
export async function loadEnv(path: string): Promise<LoadedEnv> {
  const file = await readEnvFile(path)
  if (file === undefined)
    throw new ToolkitError(`${path} does not exist`, { exitCode: ExitCode.invalidConfig, hint: 'create it with `npx zx scripts/init-env.mts`' })
  registerFileSecrets(file)
  const problems = await checkEnvFile(path, file)
  const validation = validateEnv(file.values)
  if (problems.length > 0 || !validation.ok) throw invalidEnvError(path, problems)
  return { env: validation.env, file }
}
