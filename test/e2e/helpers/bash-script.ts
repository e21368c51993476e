import { spawn } from 'node:child_process'
import { basename } from 'node:path'
import { PROJECT_DIR } from '../../../lib/stack/context.ts'

/**
 * One bounded run of a test infrastructure script (box/box.sh, swarm/cluster.sh): its
 * progress lines reach our stderr as they come, and on timeout its whole process group is
 * killed (daemons the script starts detached, with setsid, are not in it).
 */
export interface ScriptResult {
  code: number
  stdout: string
  stderr: string
  timedOut: boolean
}

export interface ScriptOptions {
  timeoutMs?: number
  /** Written to the command's stdin (closed right after); stdin is /dev/null otherwise. */
  input?: string
  env?: Record<string, string>
  /** Echo the command's stderr to ours while it runs (default true). */
  echo?: boolean
  cwd?: string
}

/** Runs `bash SCRIPT ARGS...` (default timeout 5 min). */
export function runBashScript(script: string, args: readonly string[], options: ScriptOptions = {}): Promise<ScriptResult> {
  const timeoutMs = options.timeoutMs ?? 300_000
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], {
      cwd: options.cwd ?? PROJECT_DIR,
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: true,
    })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (options.echo !== false) process.stderr.write(chunk)
    })
    if (options.input !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => undefined)
      child.stdin.end(options.input)
    }
    const timer = setTimeout(() => {
      timedOut = true
      stderr += `\n[e2e] ${basename(script)} ${args[0] ?? ''} timed out after ${timeoutMs / 1000} s: killed\n`
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }, timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr, timedOut })
    })
  })
}

/** Like runBashScript(), but a non-zero exit throws with the end of the command's output. */
export async function runBashScriptOk(script: string, args: readonly string[], options: ScriptOptions = {}): Promise<ScriptResult> {
  const result = await runBashScript(script, args, options)
  if (result.code !== 0) {
    throw new Error(`${basename(script)} ${args.join(' ')}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`)
  }
  return result
}

/** Whether `bash -c SCRIPT` exits 0 (a prerequisite check: `command -v X`, `ip netns list`). */
export function bashSucceeds(script: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const child = spawn('bash', ['-c', script], { stdio: 'ignore' })
    child.on('error', () => resolve(false))
    child.on('close', (code) => resolve(code === 0))
  })
}
