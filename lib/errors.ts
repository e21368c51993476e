/** Exit codes shared by every script; each script's --help lists them. */
export const ExitCode = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  invalidConfig: 3,
  precondition: 4,
  commandFailed: 5,
  locked: 6,
  interrupted: 130,
  terminated: 143,
} as const

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export const exitCodeHelp = `Exit codes:
  0  success
  1  unexpected error (a bug: please report it with the output)
  2  bad usage (unknown flag, missing value)
  3  invalid configuration (.env): every problem is listed
  4  a precondition is not met (docker missing, service down, ...)
  5  a command failed (its step and output are shown)
  6  another deploy or rollback holds the lock (or a restore, init-ssl, init-db)
  130 interrupted (SIGINT): stopped before a step, the steps done stand; run it again
  143 terminated (SIGTERM): the same`

/** An error the operator can act on: it carries its exit code and a hint saying how to fix it. */
export class ToolkitError extends Error {
  readonly exitCode: ExitCodeValue
  readonly hint: string | undefined
  readonly details: readonly string[]

  constructor(message: string, options: { exitCode: ExitCodeValue; hint?: string; details?: readonly string[]; cause?: unknown }) {
    super(message, { cause: options.cause })
    this.name = 'ToolkitError'
    this.exitCode = options.exitCode
    this.hint = options.hint
    this.details = options.details ?? []
  }
}

export function usageError(message: string, hint = 'Run with --help to see the accepted flags.'): ToolkitError {
  return new ToolkitError(message, { exitCode: ExitCode.usage, hint })
}
