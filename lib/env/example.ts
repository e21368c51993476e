/** One variable declared in env.example, with what its comment block says about it. */
export interface ExampleVariable {
  name: string
  defaultValue: string
  required: boolean
  /** Only a person knows it: asked in a TTY, or given with --set. */
  prompt: boolean
  /** Length of the secret init-env generates; undefined when it is not a generated secret. */
  secretLength: number | undefined
  /** The comment lines just above the assignment, tags included, as written. */
  comment: string[]
}

export interface ExampleFile {
  variables: ExampleVariable[]
  /** The file's lines, to mirror its layout when a fresh .env is written. */
  lines: string[]
}

const ASSIGNMENT = /^([A-Z][A-Z0-9_]*)=(.*)$/
const TAG_LINE = /^#\s*(@.*)$/
const SECRET_TAG = /^@secret(?:=(\d+))?$/

export class ExampleSyntaxError extends Error {}

export function parseExample(text: string): ExampleFile {
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n')
  const variables: ExampleVariable[] = []
  let block: string[] = []
  lines.forEach((line, index) => {
    if (line.trim() === '') {
      block = []
      return
    }
    if (line.startsWith('#')) {
      block.push(line)
      return
    }
    const match = ASSIGNMENT.exec(line)
    if (match === null) throw new ExampleSyntaxError(`env.example line ${index + 1} is neither a comment nor KEY=value: ${line}`)
    variables.push({ name: match[1] ?? '', defaultValue: match[2] ?? '', comment: block, ...parseTags(block, index + 1) })
    block = []
  })
  return { variables, lines }
}

function parseTags(comment: readonly string[], lineNumber: number): Pick<ExampleVariable, 'required' | 'prompt' | 'secretLength'> {
  const tags = comment.flatMap((line) => TAG_LINE.exec(line)?.[1]?.split(/\s+/) ?? [])
  let required = false
  let prompt = false
  let secretLength: number | undefined
  for (const tag of tags) {
    const secret = SECRET_TAG.exec(tag)
    if (tag === '@required') required = true
    else if (tag === '@prompt') prompt = true
    else if (secret !== null) secretLength = Number(secret[1] ?? '32')
    else throw new ExampleSyntaxError(`env.example: unknown tag ${tag} above line ${lineNumber}`)
  }
  return { required, prompt, secretLength }
}
