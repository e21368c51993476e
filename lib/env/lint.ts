import type { EnvFile } from './dotenv-file.ts'
import { readAmbiguity } from './dotenv-file.ts'
import type { EnvProblem } from './schema.ts'

/**
 * Problems in how the file is written rather than in its values: each one would make Docker
 * Compose read something other than what the toolkit validated.
 */
export function lintEnvFile(file: EnvFile, fileName: string): EnvProblem[] {
  const problems: EnvProblem[] = []
  if (file.hadCrlf)
    problems.push({ name: fileName, message: `${fileName} has Windows (CRLF) line ends: run \`npx zx scripts/init-env.mts\` to convert it, or \`sed -i 's/\\r$//' ${fileName}\`` })
  const firstLine = new Map<string, number>()
  for (const entry of file.entries) {
    const seen = firstLine.get(entry.name)
    if (seen !== undefined)
      problems.push({ name: entry.name, message: `${entry.name} is defined twice (lines ${seen + 1} and ${entry.line + 1}): keep one` })
    else firstLine.set(entry.name, entry.line)
    const ambiguity = readAmbiguity(entry.raw)
    if (ambiguity !== undefined)
      problems.push({ name: entry.name, message: `${entry.name} (line ${entry.line + 1}): ${ambiguity}. Write it in single quotes, NAME='value', without backslashes` })
  }
  return problems
}

/** A .env holds every secret of the server: nobody but its owner may read it. */
export function modeProblem(mode: number, fileName: string): EnvProblem | undefined {
  const permissions = mode & 0o777
  if ((permissions & 0o077) === 0) return undefined
  return { name: fileName, message: `${fileName} is readable by other users (mode ${permissions.toString(8).padStart(4, '0')}): run \`chmod 600 ${fileName}\`` }
}
