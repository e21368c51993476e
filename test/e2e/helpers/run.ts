import { execFile } from 'node:child_process'
import { PROJECT_DIR } from '../../../lib/stack/context.ts'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to completion (never through a shell) and returns its exit code and output. */
export function runCommand(file: string, args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number; input?: string; inheritEnv?: boolean } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(file, [...args], { cwd: PROJECT_DIR, env: options.inheritEnv === false ? options.env : { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, stdout, stderr })
    })
    child.stdin?.on('error', () => undefined)
    child.stdin?.end(options.input ?? '')
  })
}

/** A toolkit script as operators run it: `npx zx scripts/NAME.mts ...`. */
export function runScript(name: string, args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  return runCommand('npx', ['zx', `scripts/${name}.mts`, ...args], options)
}
