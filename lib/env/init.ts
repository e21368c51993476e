import { ExitCode, ToolkitError, usageError } from '../errors.ts'
import { registerSecrets } from '../exec/mask.ts'
import { UnwritableValueError, readEnvText, type EnvFile } from './dotenv-file.ts'
import type { ExampleFile } from './example.ts'
import { lintEnvFile } from './lint.ts'
import { planEnv, type EnvChange, type EnvPlan } from './plan.ts'
import { validateEnv, type EnvProblem } from './schema.ts'
import { generateSecret } from './secrets.ts'

/** Parses repeated `--set KEY=VALUE` flags; every key must be a variable of env.example. */
export function parseSetFlags(values: readonly string[], example: ExampleFile): Record<string, string> {
  const known = new Set(example.variables.map((variable) => variable.name))
  const sets: Record<string, string> = {}
  for (const item of values) {
    const separator = item.indexOf('=')
    const name = separator === -1 ? item : item.slice(0, separator)
    if (separator <= 0) throw usageError(`--set ${name} has no value`, 'write it as --set KEY=VALUE, e.g. --set DOMAIN=aiko.your-domain.fr')
    if (!known.has(name)) throw usageError(`--set ${name}: ${name} is not a variable of env.example`, 'check the spelling; env.example lists every variable')
    if (name in sets) throw usageError(`--set ${name} is given twice`, 'give each variable once')
    sets[name] = item.slice(separator + 1)
  }
  return sets
}

/** The prompt variables that still have no value and were not given with --set. */
export function missingAnswers(example: ExampleFile, current: EnvFile | undefined, sets: Readonly<Record<string, string>>): string[] {
  return example.variables
    .filter((variable) => variable.prompt && !(variable.name in sets) && (current?.values[variable.name] ?? '') === '')
    .map((variable) => variable.name)
}

export interface InitEnvInput {
  example: ExampleFile
  current: EnvFile | undefined
  sets: Readonly<Record<string, string>>
  answers: Readonly<Record<string, string>>
  today: string
}

/** Plans the new .env and proves it valid before anything is written. */
export function prepareEnv(input: InitEnvInput): EnvPlan {
  registerSecrets(secretValues(input))
  let plan: EnvPlan
  try {
    plan = planEnv({ ...input, flags: input.sets, generateSecret })
  } catch (error) {
    if (error instanceof UnwritableValueError) throw new ToolkitError(error.message, { exitCode: ExitCode.invalidConfig, hint: 'nothing was written' })
    throw error
  }
  registerSecrets(plan.changes.filter((change) => change.secret).map((change) => change.value))
  if (plan.conflicts.length > 0)
    throw new ToolkitError('init-env would overwrite a value you set; nothing was written', {
      exitCode: ExitCode.usage,
      details: plan.conflicts.map((conflict) => `- ${conflict.reason}`),
      hint: 'drop the --set flag for that variable, or edit the .env file by hand',
    })
  const written = readEnvText(plan.text)
  const validation = validateEnv(written.values)
  const problems: EnvProblem[] = [...lintEnvFile(written, '.env'), ...(validation.ok ? [] : validation.problems)]
  if (problems.length > 0)
    throw new ToolkitError(`the .env file would not be valid: ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was written`, {
      exitCode: ExitCode.invalidConfig,
      details: problems.map((problem) => `- ${problem.message}`),
      hint: 'give the missing values with --set KEY=VALUE (or answer the prompts in a terminal), fix the lines you wrote by hand, then run init-env again',
    })
  return plan
}

function secretValues(input: InitEnvInput): string[] {
  const secretNames = input.example.variables.filter((variable) => variable.secretLength !== undefined).map((variable) => variable.name)
  secretNames.push('ADMIN_PASSWORD')
  return secretNames.flatMap((name) => [input.current?.values[name], input.sets[name], input.answers[name]].filter((value): value is string => value !== undefined))
}

const SOURCES: Record<EnvChange['source'], string> = {
  flag: 'from --set',
  answer: 'from your answer',
  generated: 'generated',
  default: 'default',
}

/** One line per change; secrets are described, never shown. */
export function describeChange(change: EnvChange, secretNames: ReadonlySet<string>): string {
  const source = SOURCES[change.source]
  if (change.secret || secretNames.has(change.name)) {
    return change.value === '' ? `${change.name} (empty, optional)` : `${change.name} = ******** (secret, ${change.value.length} characters, ${source})`
  }
  return change.value === '' ? `${change.name} (empty, optional)` : `${change.name} = ${change.value} (${source})`
}
