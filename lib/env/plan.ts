import type { EnvFile } from './dotenv-file.ts'
import { formatValue } from './dotenv-file.ts'
import type { ExampleFile, ExampleVariable } from './example.ts'

export type ChangeSource = 'flag' | 'answer' | 'generated' | 'default'

export interface EnvChange {
  name: string
  value: string
  source: ChangeSource
  secret: boolean
}

export interface Conflict {
  name: string
  reason: string
}

export interface EnvPlan {
  /** The complete new file. */
  text: string
  changes: EnvChange[]
  /** Variables that already had a value: never touched. */
  kept: string[]
  conflicts: Conflict[]
  /** True when the new text differs from the file on disk (CRLF line ends count as a difference). */
  changed: boolean
}

export interface PlanInput {
  example: ExampleFile
  current: EnvFile | undefined
  /** Values given with --set. */
  flags: Readonly<Record<string, string>>
  /** Values typed at a prompt. */
  answers: Readonly<Record<string, string>>
  generateSecret: (length: number) => string
  today: string
}

/**
 * What init-env would write: every variable of env.example gets a value, a value the operator
 * already set is never changed, new variables are appended with their comments.
 */
export function planEnv(input: PlanInput): EnvPlan {
  const existing = input.current?.values ?? {}
  const changes: EnvChange[] = []
  const kept: string[] = []
  const conflicts: Conflict[] = []

  for (const variable of input.example.variables) {
    const current = existing[variable.name]
    const given = input.flags[variable.name]
    if (current !== undefined && current !== '') {
      kept.push(variable.name)
      if (given !== undefined && given !== current)
        conflicts.push({ name: variable.name, reason: `${variable.name} is already set in the .env file to another value; init-env never overwrites a value: edit the file by hand if you mean to change it` })
      continue
    }
    const change = newValue(variable, given, input)
    if (change.value !== '' || current === undefined) changes.push(change)
  }

  const formatted = new Map(changes.map((change) => [change.name, `${change.name}=${formatValue(change.name, change.value)}`]))
  const text = input.current === undefined ? renderFromExample(input.example, formatted) : mergeInto(input.current, input.example, formatted, input.today)
  const before = input.current === undefined ? undefined : input.current.lines.join('\n') + '\n'
  const changed = before === undefined || before !== text || input.current?.hadCrlf === true
  return { text, changes, kept, conflicts, changed }
}

function newValue(variable: ExampleVariable, given: string | undefined, input: PlanInput): EnvChange {
  const secret = variable.secretLength !== undefined
  if (given !== undefined) return { name: variable.name, value: given, source: 'flag', secret }
  const answer = input.answers[variable.name]
  if (answer !== undefined) return { name: variable.name, value: answer, source: 'answer', secret }
  if (variable.secretLength !== undefined) return { name: variable.name, value: input.generateSecret(variable.secretLength), source: 'generated', secret }
  return { name: variable.name, value: variable.defaultValue, source: 'default', secret }
}

function renderFromExample(example: ExampleFile, assignments: ReadonlyMap<string, string>): string {
  const lines = example.lines.map((line) => {
    const name = /^([A-Z][A-Z0-9_]*)=/.exec(line)?.[1]
    return name === undefined ? line : (assignments.get(name) ?? line)
  })
  return lines.join('\n') + '\n'
}

function mergeInto(current: EnvFile, example: ExampleFile, assignments: ReadonlyMap<string, string>, today: string): string {
  const lines = [...current.lines]
  const present = new Set(current.entries.map((entry) => entry.name))
  for (const entry of current.entries) {
    const assignment = assignments.get(entry.name)
    if (assignment !== undefined) lines[entry.line] = assignment
  }
  const appended = example.variables.filter((variable) => !present.has(variable.name) && assignments.has(variable.name))
  if (appended.length > 0) {
    lines.push('', `# Ajouté par init-env le ${today}`)
    for (const variable of appended) lines.push('', ...variable.comment, assignments.get(variable.name) ?? '')
  }
  return lines.join('\n') + '\n'
}
