import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { usageError } from '../errors.ts'

type Options = NonNullable<ParseArgsConfig['options']>

/** Flags every script accepts. */
export const commonOptions = {
  help: { type: 'boolean', short: 'h', default: false },
  'env-path': { type: 'string', default: '.env' },
  yes: { type: 'boolean', short: 'y', default: false },
  'dry-run': { type: 'boolean', default: false },
  verbose: { type: 'boolean', short: 'v', default: false },
} as const satisfies Options

export const commonHelp = `Common options:
  --env-path PATH  the .env file to use (default: .env)
  -y, --yes        never prompt (cron, CI); missing answers are errors
  --dry-run        print the plan, change nothing
  -v, --verbose    echo every command (secrets masked)
  -h, --help       show this help`

/** Strict flag parsing: an unknown flag or a missing value is a usage error (exit 2) naming the flag. */
export function parseFlags<O extends Options>(argv: readonly string[], options: O) {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    throw usageError(message.replace(/\. To specify a positional argument.*$/s, ''))
  }
}

/** The arguments after the script itself, whether it runs under `zx`, `node` or `tsx`. */
export function scriptArgs(scriptUrl: string, argv: readonly string[] = process.argv): string[] {
  const scriptPath = fileURLToPath(scriptUrl)
  const index = argv.findIndex((arg) => resolve(arg) === scriptPath)
  return index === -1 ? argv.slice(2) : argv.slice(index + 1)
}

/**
 * A flag that takes a whole number of at least `min` ("1e3", " 5" and "" are refused).
 * `what` says what the number counts, e.g. "seconds" or "scheduled backups to keep".
 */
export function wholeNumberFlag(flag: string, value: string, min: number, what: string): number {
  if (/^\d+$/.test(value) && Number(value) >= min) return Number(value)
  throw usageError(`--${flag} ${value} must be a whole number of at least ${min} (${what})`, `pass a whole number, for example --${flag} ${Math.max(min, 1) * 5}`)
}
