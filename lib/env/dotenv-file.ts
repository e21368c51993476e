import { parse } from 'dotenv'

/**
 * A .env file as the toolkit reads it. Values come from the dotenv package (the toolkit's
 * reader); the line structure is kept so that a merge rewrites nothing the operator wrote.
 */
export interface EnvFileEntry {
  name: string
  /** 0-based index in `lines`. */
  line: number
  /** The text after `=`, untouched. */
  raw: string
}

export interface EnvFile {
  lines: string[]
  entries: EnvFileEntry[]
  values: Record<string, string>
  hadCrlf: boolean
}

const ENTRY = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/

export function readEnvText(text: string): EnvFile {
  const hadCrlf = /\r\n?/.test(text)
  const normalized = text.replace(/\r\n?/g, '\n')
  const lines = normalized === '' ? [] : normalized.replace(/\n$/, '').split('\n')
  const entries: EnvFileEntry[] = []
  lines.forEach((text, line) => {
    const match = ENTRY.exec(text)
    if (match !== null) entries.push({ name: match[1] ?? '', line, raw: match[2] ?? '' })
  })
  return { lines, entries, values: parse(normalized), hadCrlf }
}

/** A value that every reader takes as is, without quotes. */
const PLAIN = /^[^\s#$"'`\\]*$/

/**
 * Why Docker Compose (v2 or 1.29) would read this raw value differently from dotenv, or
 * undefined when all readers agree. Checked on what the operator wrote by hand.
 */
export function readAmbiguity(raw: string): string | undefined {
  const value = raw.trim()
  const quote = value[0]
  if (quote === "'") {
    if (!value.endsWith("'") || value.length < 2) return 'its single quote is not closed on the same line'
    if (value.slice(1, -1).includes('\\')) return 'a backslash inside single quotes is kept by dotenv but removed by docker-compose 1.29'
    return undefined
  }
  if (quote === '"') {
    if (!value.endsWith('"') || value.length < 2) return 'its double quote is not closed on the same line'
    const inner = value.slice(1, -1)
    if (inner.includes('$')) return 'Docker Compose expands $ inside double quotes, dotenv does not'
    if (inner.includes('\\')) return 'backslash escapes inside double quotes are read differently by dotenv and Docker Compose'
    return undefined
  }
  if (quote === '`') return 'Docker Compose does not understand backtick quotes'
  const withoutComment = value.replace(/\s+#.*$/, '')
  if (withoutComment.includes('$')) return 'Docker Compose expands $ in an unquoted value, dotenv does not'
  if (withoutComment.includes('#')) return 'dotenv cuts an unquoted value at #, Docker Compose does not'
  if (/["'\\]/.test(withoutComment)) return 'quotes or backslashes inside an unquoted value are read differently by dotenv and Docker Compose'
  return undefined
}

export class UnwritableValueError extends Error {}

/**
 * Writes a value so that dotenv, Docker Compose v2, docker-compose 1.29 and a shell `source`
 * all read it back unchanged; throws when no such spelling exists.
 */
export function formatValue(name: string, value: string): string {
  if (/[\r\n\0]/.test(value)) throw new UnwritableValueError(`${name} contains a line break: a .env value must fit on one line`)
  if (PLAIN.test(value)) return value
  if (!value.includes("'") && !value.includes('\\')) return `'${value}'`
  if (!/[$"\\]/.test(value)) return `"${value}"`
  throw new UnwritableValueError(
    `${name} cannot be written so that Docker Compose and dotenv read it the same: it combines a single quote with $, " or a backslash. Choose a value without one of them.`,
  )
}
