import ora from 'ora'
import { maskSecrets } from '../exec/mask.ts'

export interface Output {
  info(message: string): void
  success(message: string): void
  warn(message: string): void
  error(message: string): void
  /** Runs `work` under a spinner (TTY) or between two timestamped lines (logs), with its duration. */
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
}

/** Plain lines when output goes to a file or a pipe, or when CI / NO_COLOR say so: cron logs stay readable. */
export function wantsPlainOutput(stream: Stream, env: Record<string, string | undefined>): boolean {
  return stream.isTTY !== true || Boolean(env['CI']) || env['NO_COLOR'] !== undefined
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(1)}s`
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
  const plain = wantsPlainOutput(stdout, env)

  const line = (stream: Stream, level: string, message: string): void => {
    const text = maskSecrets(message)
    stream.write(plain ? `${now().toISOString()} ${level.padEnd(5)} ${text}\n` : `${text}\n`)
  }

  return {
    info: (message) => line(stdout, 'info', message),
    success: (message) => line(stdout, 'ok', plain ? message : `✔ ${message}`),
    warn: (message) => line(stderr, 'warn', plain ? message : `⚠ ${message}`),
    error: (message) => line(stderr, 'error', plain ? message : `✖ ${message}`),
    async step(title, work) {
      const started = Date.now()
      const elapsed = (): string => formatDuration(Date.now() - started)
      if (plain) {
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
      const spinner = ora({ text: maskSecrets(title), stream: stdout as NodeJS.WritableStream }).start()
      try {
        const result = await work()
        spinner.succeed(maskSecrets(`${title} (${elapsed()})`))
        return result
      } catch (error) {
        spinner.fail(maskSecrets(`${title} (${elapsed()})`))
        throw error
      }
    },
  }
}
