import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import ora from 'ora'
import { processSignals, type SignalState } from '../cli/signals.ts'
import { maskSecrets } from '../exec/mask.ts'
import { utcStamp } from '../util/stamp.ts'

export interface Output {
  info(message: string): void
  success(message: string): void
  warn(message: string): void
  error(message: string): void
  /**
   * Runs `work` under a spinner (TTY) or between two timestamped lines (logs), with its
   * duration. Throws the interruption (exit 130/143) instead when SIGINT/SIGTERM came before.
   */
  step<T>(title: string, work: () => Promise<T>): Promise<T>
}

interface Stream {
  write(chunk: string): boolean
  isTTY?: boolean
}

export interface OutputOptions {
  stdout?: Stream
  stderr?: Stream
  env?: Record<string, string | undefined>
  now?: () => Date
  /** The run's log file, asked for at every line (opened lazily); undefined: no log. */
  log?: () => LogFile | undefined
  /** Signals to honour: a pending stop before each step, SIGHUP to write to the log only. */
  signals?: Pick<SignalState, 'hungUp' | 'checkBeforeStep'>
}

/** Plain lines when output goes to a file or a pipe, or when CI / NO_COLOR say so: cron logs stay readable. */
export function wantsPlainOutput(stream: Stream, env: Record<string, string | undefined>): boolean {
  return stream.isTTY !== true || Boolean(env['CI']) || env['NO_COLOR'] !== undefined
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`
}

/** A moment as the toolkit prints it everywhere: UTC to the second, 2026-12-01 10:00:00 UTC. */
export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`
}

/** How long ago, as people say it: 45 s, 12 min, 3 h 05 min, 2 d 4 h. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000))
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 24) return `${hours} h ${String(minutes % 60).padStart(2, '0')} min`
  return `${Math.floor(hours / 24)} d ${hours % 24} h`
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** Sizes as people read them: 512 B, 1.5 KiB, 5.0 MiB. */
export function formatBytes(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024
    unit += 1
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${BYTE_UNITS[unit]}`
}

export function createOutput(options: OutputOptions = {}): Output {
  const stdout = options.stdout ?? process.stdout
  const stderr = options.stderr ?? process.stderr
  const env = options.env ?? process.env
  const now = options.now ?? (() => new Date())
  const signals = options.signals ?? processSignals
  const log = options.log ?? (() => undefined)
  const plain = wantsPlainOutput(stdout, env)
  let announced = false

  // After SIGHUP the terminal is gone: only the log file is written.
  const terminal = (stream: Stream, chunk: string): void => {
    if (signals.hungUp) return
    try {
      stream.write(chunk)
    } catch {
      // A closed pipe or a dead terminal must not end the run.
    }
  }

  const plainLine = (level: string, text: string): string => `${now().toISOString()} ${level.padEnd(5)} ${text}\n`

  /** Writes to the log file only; the first time, names the file on the terminal and in the log. */
  const toLog = (level: string, text: string): void => {
    const file = log()
    if (file === undefined) return
    if (!announced) {
      announced = true
      const naming = `log: ${file.path}`
      file.write(plainLine('info', naming))
      terminal(stdout, plain ? plainLine('info', naming) : `${naming}\n`)
    }
    file.write(plainLine(level, text))
  }

  const line = (stream: Stream, level: string, message: string, decorated: string = message): void => {
    const text = maskSecrets(message)
    toLog(level, text)
    terminal(stream, plain ? plainLine(level, text) : `${maskSecrets(decorated)}\n`)
  }

  return {
    info: (message) => line(stdout, 'info', message),
    success: (message) => line(stdout, 'ok', message, `✔ ${message}`),
    warn: (message) => line(stderr, 'warn', message, `⚠ ${message}`),
    error: (message) => line(stderr, 'error', message, `✖ ${message}`),
    async step(title, work) {
      signals.checkBeforeStep(title)
      const started = Date.now()
      const elapsed = (): string => formatDuration(Date.now() - started)
      if (plain || signals.hungUp) {
        line(stdout, 'step', `${title} …`)
        try {
          const result = await work()
          line(stdout, 'ok', `${title} (${elapsed()})`)
          return result
        } catch (error) {
          line(stderr, 'fail', `${title} (${elapsed()})`)
          throw error
        }
      }
      toLog('step', maskSecrets(`${title} …`))
      const spinner = ora({ text: maskSecrets(title), stream: stdout as NodeJS.WritableStream }).start()
      const end = (level: 'ok' | 'fail'): void => {
        const text = maskSecrets(`${title} (${elapsed()})`)
        toLog(level, text)
        if (signals.hungUp) spinner.stop()
        else if (level === 'ok') spinner.succeed(text)
        else spinner.fail(text)
      }
      try {
        const result = await work()
        end('ok')
        return result
      } catch (error) {
        end('fail')
        throw error
      }
    },
  }
}

/** A run's log file: every line, plain and timestamped, written synchronously. */
export interface LogFile {
  readonly path: string
  write(text: string): void
  close(): void
}

export const KEEP_LOG_FILES = 50

/** `NAME-YYYYMMDD-HHMMSS.log`, or `-N` before `.log` for a second run in the same second. */
function logFilePattern(name: string): RegExp {
  return new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d{8}-\\d{6})(?:-(\\d+))?\\.log$`)
}

/** The log files of `name` to delete so that the newest `keep` stay (oldest first). */
export function logFilesToPrune(files: readonly string[], name: string, keep: number): string[] {
  const pattern = logFilePattern(name)
  const runs = files.flatMap((file) => {
    const match = pattern.exec(file)
    return match === null ? [] : [{ file, stamp: match[1] ?? '', counter: Number(match[2] ?? '1') }]
  })
  runs.sort((a, b) => (a.stamp === b.stamp ? a.counter - b.counter : a.stamp < b.stamp ? -1 : 1))
  return runs.slice(0, Math.max(0, runs.length - keep)).map((run) => run.file)
}

/**
 * Creates `dir/NAME-STAMP.log` (mode 0600, append, never an existing file), then deletes the
 * oldest of NAME's files beyond `keep`. Writes are synchronous: a SIGKILL loses nothing
 * already printed. A failed write (disk full) is dropped rather than ending the run.
 */
export function openLogFile(dir: string, name: string, now: Date, keep: number = KEEP_LOG_FILES): LogFile {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const stamp = utcStamp(now)
  let fd: number | undefined
  let path = ''
  for (let counter = 1; fd === undefined; counter++) {
    path = join(dir, counter === 1 ? `${name}-${stamp}.log` : `${name}-${stamp}-${counter}.log`)
    try {
      fd = openSync(path, 'ax', 0o600)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || counter > 1000) throw error
    }
  }
  for (const old of logFilesToPrune(readdirSync(dir), name, keep)) rmSync(join(dir, old), { force: true })
  let open: number | undefined = fd
  return {
    path,
    write(text) {
      if (open === undefined) return
      try {
        writeSync(open, text)
      } catch {
        // The run matters more than its log.
      }
    },
    close() {
      if (open !== undefined) closeSync(open)
      open = undefined
    },
  }
}
