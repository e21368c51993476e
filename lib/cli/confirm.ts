import { question } from 'zx'
import { ExitCode, ToolkitError } from '../errors.ts'

export interface ConfirmOptions {
  /** --yes: confirmed on the command line. */
  yes: boolean
  /** --dry-run changes nothing: nothing to confirm. */
  dryRun: boolean
  /** Whether a person can answer (stdin is a terminal). */
  interactive: boolean
}

/** Whether an action that loses data must still be confirmed; without a terminal that is an error naming --yes, before anything changes. */
export function mustConfirm(what: string, options: ConfirmOptions, facts: readonly string[] = []): boolean {
  if (options.yes || options.dryRun) return false
  if (!options.interactive)
    throw new ToolkitError(`${what} needs a confirmation and no one can answer (stdin is not a terminal)`, { exitCode: ExitCode.usage, details: [...facts], hint: 'read what it changes with --dry-run, then add --yes to confirm' })
  return true
}

/**
 * The one prompt for actions that lose data: it says what is lost, and only a typed "yes"
 * goes on; anything else stops with `cancelled` and nothing changed.
 */
export async function confirmLoss(what: string, facts: readonly string[], options: ConfirmOptions, ask: (prompt: string) => Promise<string> = question): Promise<void> {
  if (!mustConfirm(what, options, facts)) return
  const answer = await ask(`${[`${what}:`, ...facts.map((fact) => `  ${fact}`)].join('\n')}\nType "yes" to go on:\n> `)
  if (answer.trim() !== 'yes') throw new ToolkitError(`${what}: cancelled, nothing was changed`, { exitCode: ExitCode.usage })
}
