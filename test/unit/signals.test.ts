import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { reportError } from '../../lib/cli/main.ts'
import { createSignalState, describeAction, interruptedError, signalExitCode } from '../../lib/cli/signals.ts'
import { ExitCode, ToolkitError } from '../../lib/errors.ts'
import type { Output } from '../../lib/ui/output.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const moduleUrl = (path: string): string => JSON.stringify(pathToFileURL(join(ROOT, path)).href)

function recorder(): Output & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (message) => void lines.push(message),
    success: (message) => void lines.push(message),
    warn: (message) => void lines.push(message),
    error: (message) => void lines.push(message),
    step: async (_title, work) => work(),
  }
}

describe('signal state (pure)', () => {
  it('a first SIGINT or SIGTERM stops at the next step; a second one exits at once with its own code', () => {
    const state = createSignalState()
    expect(() => state.checkBeforeStep('build')).not.toThrow()
    expect(state.receive('SIGINT')).toEqual({ kind: 'stop-at-next-step', signal: 'SIGINT' })
    expect(state.pending).toBe('SIGINT')
    expect(() => state.checkBeforeStep('build')).toThrow('interrupted by SIGINT before step «build»: the steps done so far stand; run the same command again to converge')
    expect(state.receive('SIGTERM')).toEqual({ kind: 'exit-now', signal: 'SIGTERM', exitCode: 143 })
    expect(state.pending).toBe('SIGINT')
  })

  it('SIGHUP detaches once and never stops the run', () => {
    const state = createSignalState()
    expect(state.receive('SIGHUP')).toEqual({ kind: 'detach' })
    expect(state.receive('SIGHUP')).toEqual({ kind: 'ignore' })
    expect(state.hungUp).toBe(true)
    expect(state.pending).toBeUndefined()
    expect(() => state.checkBeforeStep('build')).not.toThrow()
    expect(state.receive('SIGUSR2')).toEqual({ kind: 'ignore' })
  })

  it('maps signals to 130 and 143, and says what happens', () => {
    expect(signalExitCode('SIGINT')).toBe(ExitCode.interrupted)
    expect(signalExitCode('SIGTERM')).toBe(ExitCode.terminated)
    expect(interruptedError('SIGTERM', 'x').exitCode).toBe(143)
    expect(describeAction({ kind: 'stop-at-next-step', signal: 'SIGINT' })).toContain('the current step finishes, then the run stops')
    expect(describeAction({ kind: 'exit-now', signal: 'SIGINT', exitCode: 130 })).toContain('stopping now')
    expect(describeAction({ kind: 'ignore' })).toBeUndefined()
  })

  it('any error while a stop is pending exits with the signal code, the error still shown', () => {
    const output = recorder()
    const failed = new ToolkitError('command failed with exit code 130: docker compose build', { exitCode: ExitCode.commandFailed })
    expect(reportError(failed, output, 'SIGINT')).toBe(130)
    expect(output.lines).toEqual(['command failed with exit code 130: docker compose build', expect.stringContaining('stopped by SIGINT')])
    const plain = recorder()
    expect(reportError(interruptedError('SIGTERM', 'switch'), plain, 'SIGTERM')).toBe(143)
    expect(plain.lines).toHaveLength(1)
    expect(reportError(failed, recorder())).toBe(ExitCode.commandFailed)
  })
})

describe('signals in a real process (runMain + output.step)', () => {
  let base: string
  let script: string

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'aiko-signals-'))
    script = join(base, 'flow.mts')
    // Two steps; the first says so on stderr, then waits (STEP_MS) for the signal to come.
    await writeFile(
      script,
      `import { runMain } from ${moduleUrl('lib/cli/main.ts')}
await runMain(async (out) => {
  out.info('starting')
  await out.step('one', async () => {
    process.stderr.write('IN-STEP-ONE\\n')
    await new Promise((resolve) => setTimeout(resolve, Number(process.env.STEP_MS)))
  })
  await out.step('two', async () => undefined)
  process.stdout.write('raw write after the steps\\n')
  out.success('done')
}, { logName: 'flow' })
`,
    )
  })

  afterAll(async () => {
    await rm(base, { recursive: true, force: true })
  })

  interface Outcome {
    code: number | null
    signal: NodeJS.Signals | null
    stdout: string
    stderr: string
    ms: number
    varDir: string
  }

  /** Runs the flow, sends `signals` once step one started (`gapMs` apart), returns how it ended. */
  async function runFlow(name: string, signals: NodeJS.Signals[], options: { stepMs: number; gapMs?: number; closeStdout?: boolean }): Promise<Outcome> {
    const varDir = join(base, name)
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: { ...process.env, AIKO_VAR_DIR: varDir, STEP_MS: String(options.stepMs), NO_COLOR: '1' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => void (stdout += chunk.toString()))
    const started = new Promise<void>((resolve) =>
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (stderr.includes('IN-STEP-ONE')) resolve()
      }),
    )
    const ended = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])))
    await started
    const sent = Date.now()
    if (options.closeStdout === true) child.stdout.destroy()
    for (const [index, signal] of signals.entries()) {
      if (index > 0) await new Promise((resolve) => setTimeout(resolve, options.gapMs ?? 100))
      child.kill(signal)
    }
    const [code, signal] = await ended
    return { code, signal, stdout, stderr, ms: Date.now() - sent, varDir }
  }

  async function logOf(varDir: string): Promise<string> {
    const files = await readdir(join(varDir, 'logs'))
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(/^flow-\d{8}-\d{6}\.log$/)
    return readFile(join(varDir, 'logs', files[0] ?? ''), 'utf8')
  }

  it('SIGINT during step one: step one finishes, step two never starts, exit 130', async () => {
    const run = await runFlow('sigint', ['SIGINT'], { stepMs: 1500 })
    expect(run.code, run.stderr).toBe(130)
    expect(run.stdout.split('\n')[0]).toMatch(/info {2}log: .*\/logs\/flow-\d{8}-\d{6}\.log$/)
    expect(run.stdout).toMatch(/ok {4}one \(/)
    expect(run.stdout).not.toMatch(/step {2}two/)
    expect(run.stderr).toContain('SIGINT received: the current step finishes, then the run stops')
    expect(run.stderr).toContain('interrupted by SIGINT before step «two»: the steps done so far stand; run the same command again to converge')
    const log = await logOf(run.varDir)
    expect(log).toContain('interrupted by SIGINT before step «two»')
    expect(log).not.toMatch(/step {2}two/)
  }, 30_000)

  it('SIGTERM: exit 143, same stop at the step boundary', async () => {
    const run = await runFlow('sigterm', ['SIGTERM'], { stepMs: 1000 })
    expect(run.code, run.stderr).toBe(143)
    expect(run.stdout).not.toMatch(/step {2}two/)
  }, 30_000)

  it('a second SIGINT while the step runs: exit 130 at once', async () => {
    const run = await runFlow('twice', ['SIGINT', 'SIGINT'], { stepMs: 20_000 })
    expect(run.code, run.stderr).toBe(130)
    expect(run.ms).toBeLessThan(10_000)
    expect(run.stdout).not.toMatch(/ok {4}one/)
    expect(run.stderr).toContain('SIGINT again: stopping now')
  }, 30_000)

  it('SIGHUP: the run completes (exit 0) with its output in the log only, writes to a closed stdout harmless', async () => {
    const run = await runFlow('sighup', ['SIGHUP'], { stepMs: 1000, closeStdout: true })
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toBe('IN-STEP-ONE\n')
    const lines = (await logOf(run.varDir)).trimEnd().split('\n').map((line) => line.replace(/^\S+ /, ''))
    expect(lines).toEqual([
      expect.stringMatching(/^info {2}log: .*flow-\d{8}-\d{6}\.log$/),
      'info  starting',
      'step  one …',
      'warn  SIGHUP (the terminal is gone): the run goes on to its end; its output now goes only to the log file',
      expect.stringMatching(/^ok {4}one \(\d+(\.\d)?m?s\)$/),
      'step  two …',
      expect.stringMatching(/^ok {4}two \(\d+ms\)$/),
      'ok    done',
    ])
  }, 30_000)
})
