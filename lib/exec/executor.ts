import { $, type ProcessOutput } from 'zx'
import { ExitCode, ToolkitError } from '../errors.ts'
import { maskSecrets } from './mask.ts'
import type { Output } from '../ui/output.ts'

/** A command as data: built by lib functions, run only by the executor. */
export interface Command {
  argv: readonly string[]
  /** false for read-only probes: they still run under --dry-run. */
  mutates: boolean
  env?: Readonly<Record<string, string>>
  cwd?: string
  input?: string
  /** Killed (SIGTERM, then SIGKILL) after this long; DEFAULT_TIMEOUT_MS when unset: no call holds a deploy, and its lock, forever. */
  timeoutMs?: number
}

/** The bound of any command that sets none: longer than any healthy build or dump on a small VPS. */
export const DEFAULT_TIMEOUT_MS = 30 * 60_000

export interface CommandResult {
  stdout: string
  stderr: string
  exitCode: number
  /** true when --dry-run skipped the command. */
  skipped: boolean
  /** true when the command ran past its timeout and was killed. */
  timedOut?: boolean
  /** The signal that ended the command, when one did. */
  signal?: string
}

export type Runner = (command: Command) => Promise<CommandResult>

export interface Executor {
  readonly dryRun: boolean
  /** Runs the command; a non-zero exit becomes a ToolkitError with the masked command and stderr. */
  run(command: Command): Promise<CommandResult>
  /** Runs the command and returns its result whatever the exit code (for checks that expect failure). */
  probe(command: Command): Promise<CommandResult>
}

export interface ExecutorOptions {
  dryRun: boolean
  verbose: boolean
  output: Output
  runner?: Runner
  /** Whether this process received SIGINT, SIGTERM or SIGHUP (runMain's signal state); never by default. */
  interrupted?: () => boolean
}

/** A child ended by the Ctrl-C, SIGTERM or hang-up its whole process group received, as a shell reports it. */
export function killedByStopSignal(result: CommandResult): boolean {
  return result.signal === 'SIGINT' || result.signal === 'SIGTERM' || result.signal === 'SIGHUP' || [129, 130, 143].includes(result.exitCode)
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/

/** Renders argv for people to read (shell-like quoting); never executed. */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((word) => (SAFE_WORD.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)).join(' ')
}

export const zxRunner: Runner = async (command) => {
  const [file, ...args] = command.argv
  if (file === undefined) throw new Error('empty argv')
  const timeoutMs = command.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const shell = $({
    cwd: command.cwd,
    env: { ...process.env, ...command.env },
    input: command.input,
    quiet: true,
    nothrow: true,
    verbose: false,
    timeout: timeoutMs,
    timeoutSignal: 'SIGKILL',
  })
  const started = Date.now()
  const result: ProcessOutput = await shell`${file} ${args}`
  const timedOut = result.exitCode === null && Date.now() - started >= timeoutMs
  return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? 1, skipped: false, timedOut, ...(result.signal === null ? {} : { signal: result.signal }) }
}

const TAIL_LINES = 15

export function createExecutor(options: ExecutorOptions): Executor {
  const runner = options.runner ?? zxRunner
  const echo = (prefix: string, command: Command): void => {
    options.output.info(`${prefix}${formatArgv(command.argv)}`)
  }

  const execute = async (command: Command): Promise<CommandResult> => {
    if (options.dryRun && command.mutates) {
      echo('[dry-run] would run: ', command)
      return { stdout: '', stderr: '', exitCode: 0, skipped: true }
    }
    if (options.verbose) echo('$ ', command)
    const result = await runner(command)
    // Ctrl-C and a hang-up reach every process of the group: a read-only call they killed is made
    // again, once, so the step under way finishes as promised (a `docker ps` killed by a dropped SSH
    // session must not read as "nginx is not running"); a change is never repeated: it may go on in a container.
    if (!command.mutates && killedByStopSignal(result) && options.interrupted?.() === true) return runner(command)
    return result
  }

  return {
    dryRun: options.dryRun,
    probe: execute,
    async run(command) {
      const result = await execute(command)
      if (result.timedOut === true)
        throw new ToolkitError(`command timed out after ${Math.round((command.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)}s and was killed: ${maskSecrets(formatArgv(command.argv))}`, {
          exitCode: ExitCode.commandFailed,
          hint: 'the step above hung (a stuck container, a full disk, an unanswering daemon); check `docker ps` and `docker compose logs`, then run the same command again',
        })
      if (result.exitCode !== 0) {
        const tail = maskSecrets(result.stderr || result.stdout).trimEnd().split('\n').slice(-TAIL_LINES)
        throw new ToolkitError(`command failed with exit code ${result.exitCode}: ${maskSecrets(formatArgv(command.argv))}`, {
          exitCode: ExitCode.commandFailed,
          details: tail.filter((line) => line.length > 0),
          hint: 'Re-run with --verbose to see every command.',
        })
      }
      return result
    },
  }
}
