import { ExitCode, ToolkitError } from '../errors.ts'
import { maskSecrets } from '../exec/mask.ts'
import { createOutput, type Output } from '../ui/output.ts'

/**
 * The one top-level handler of every script: runs the flow, maps errors to exit codes,
 * prints them masked. Sets process.exitCode instead of exiting, so pending writes finish.
 */
export async function runMain(flow: (output: Output) => Promise<void>, output: Output = createOutput()): Promise<void> {
  try {
    await flow(output)
  } catch (error) {
    process.exitCode = reportError(error, output)
  }
}

export function reportError(error: unknown, output: Output): number {
  if (error instanceof ToolkitError) {
    output.error(error.message)
    for (const detail of error.details) output.error(`  ${detail}`)
    if (error.hint !== undefined) output.error(`fix: ${error.hint}`)
    return error.exitCode
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error)
  output.error(`unexpected error: ${maskSecrets(text)}`)
  return ExitCode.unexpected
}
