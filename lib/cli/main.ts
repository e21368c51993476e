import { basename, extname, join } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'
import { maskSecrets } from '../exec/mask.ts'
import { varDirOf } from '../stack/context.ts'
import { createOutput, openLogFile, type LogFile, type Output } from '../ui/output.ts'
import { guardStandardStreams, installSignalHandlers, processSignals, signalExitCode, type SignalState, type StopSignal } from './signals.ts'

export interface RunOptions {
  /**
   * Also write every line to `<varDir>/logs/<logName>-<UTC stamp>.log` (0600, the newest 50
   * kept); the first line printed names the file. Without it, a log is opened only if SIGHUP
   * takes the terminal away, named after the script.
   */
  logName?: string
  /** An output of the caller's own (no log file then). */
  output?: Output
  /** Where the state folder is read from (AIKO_VAR_DIR). */
  environment?: Readonly<Record<string, string | undefined>>
  signals?: SignalState
}

/**
 * The one top-level handler of every script: runs the flow, maps errors to exit codes,
 * prints them masked. Sets process.exitCode instead of exiting, so pending writes finish.
 * SIGINT/SIGTERM stop the flow at the next step (exit 130/143), SIGHUP lets it finish with
 * its output in the log file (see signals.ts).
 */
export async function runMain(flow: (output: Output) => Promise<void>, options: RunOptions | Output = {}): Promise<void> {
  const run: RunOptions = isOutput(options) ? { output: options } : options
  const signals = run.signals ?? processSignals
  const log = lazyLog(run.output === undefined ? run.logName : undefined, signals, run.environment ?? process.env)
  const output = run.output ?? createOutput({ log: log.get, signals })
  guardStandardStreams()
  const uninstall = installSignalHandlers(signals, {
    notify: (message) => output.warn(message),
    exit: (code) => {
      log.close()
      process.exit(code)
    },
  })
  try {
    await flow(output)
    if (signals.pending !== undefined) output.warn(`${signals.pending} came during the last step: the run completed anyway`)
  } catch (error) {
    process.exitCode = reportError(error, output, signals.pending)
  } finally {
    uninstall()
    log.close()
  }
}

function isOutput(value: RunOptions | Output): value is Output {
  return 'step' in value && typeof value.step === 'function'
}

/**
 * Prints the error (masked) and returns the exit code. While a SIGINT/SIGTERM is pending any
 * failure is the interruption's (a child killed by the same Ctrl-C fails its step).
 */
export function reportError(error: unknown, output: Output, pending?: StopSignal): number {
  const code = describeError(error, output)
  if (pending === undefined || code === signalExitCode(pending)) return code
  output.error(`stopped by ${pending} (received during the run): the steps done so far stand; run the same command again to converge`)
  return signalExitCode(pending)
}

function describeError(error: unknown, output: Output): number {
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

/** The name a log gets when only SIGHUP asked for one: the script's (deploy.mts → deploy). */
function scriptLogName(): string {
  const script = process.argv[1]
  const name = script === undefined ? '' : basename(script, extname(script)).replace(/[^A-Za-z0-9_-]/g, '')
  return name === '' ? 'run' : name
}

/** The log file, opened at the first line that needs it; a log that cannot be opened is said once and skipped. */
function lazyLog(logName: string | undefined, signals: SignalState, environment: Readonly<Record<string, string | undefined>>): { get: () => LogFile | undefined; close: () => void } {
  let file: LogFile | undefined
  let failed = false
  return {
    get: () => {
      if (file !== undefined || failed) return file
      const name = logName ?? (signals.hungUp ? scriptLogName() : undefined)
      if (name === undefined) return undefined
      try {
        file = openLogFile(join(varDirOf(environment), 'logs'), name, new Date())
      } catch (error) {
        failed = true
        if (!signals.hungUp) {
          try {
            process.stderr.write(`cannot open the log file in ${join(varDirOf(environment), 'logs')}: ${(error as Error).message}; going on without it\n`)
          } catch {
            // stderr gone too: nothing more to do.
          }
        }
      }
      return file
    },
    close: () => file?.close(),
  }
}
