import { afterEach, describe, expect, it } from 'vitest'
import { ToolkitError } from '../../lib/errors.ts'
import { createExecutor, formatArgv, type Command, type Runner } from '../../lib/exec/executor.ts'
import { clearSecrets, registerSecrets } from '../../lib/exec/mask.ts'
import { createOutput, type Output } from '../../lib/ui/output.ts'

afterEach(clearSecrets)

function recordingOutput(): Output & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (message) => lines.push(message),
    success: (message) => lines.push(message),
    warn: (message) => lines.push(message),
    error: (message) => lines.push(message),
    step: (_title, work) => work(),
  }
}

const up: Command = { argv: ['docker', 'compose', 'up', '-d'], mutates: true }
const ps: Command = { argv: ['docker', 'compose', 'ps'], mutates: false }

describe('executor', () => {
  it('under --dry-run prints mutating commands and runs only the read-only ones', async () => {
    const ran: Command[] = []
    const runner: Runner = async (command) => {
      ran.push(command)
      return { stdout: 'state', stderr: '', exitCode: 0, skipped: false }
    }
    const output = recordingOutput()
    const executor = createExecutor({ dryRun: true, verbose: false, output, runner })
    expect(await executor.run(up)).toEqual({ stdout: '', stderr: '', exitCode: 0, skipped: true })
    expect((await executor.run(ps)).stdout).toBe('state')
    expect(ran).toEqual([ps])
    expect(output.lines).toEqual(['[dry-run] would run: docker compose up -d'])
  })

  it('after Ctrl-C, a read-only call the signal killed runs once more; a change never does', async () => {
    const calls: string[] = []
    const killedOnce: Runner = async (command) => {
      calls.push(formatArgv(command.argv))
      return calls.length === 1 ? { stdout: '', stderr: '', exitCode: 1, skipped: false, signal: 'SIGINT' } : { stdout: 'ok', stderr: '', exitCode: 0, skipped: false }
    }
    let interrupted = true
    const executor = createExecutor({ dryRun: false, verbose: false, output: recordingOutput(), runner: killedOnce, interrupted: () => interrupted })
    expect((await executor.run(ps)).stdout).toBe('ok')
    expect(calls).toEqual(['docker compose ps', 'docker compose ps'])

    calls.length = 0
    await expect(executor.run(up)).rejects.toThrow('command failed with exit code 1: docker compose up -d')
    expect(calls).toEqual(['docker compose up -d'])

    // A dropped SSH session (SIGHUP to the group) is the same for a read-only call.
    calls.length = 0
    const hungUp: Runner = async (command) => {
      calls.push(formatArgv(command.argv))
      return calls.length === 1 ? { stdout: '', stderr: '', exitCode: 129, skipped: false } : { stdout: 'nginx-id', stderr: '', exitCode: 0, skipped: false }
    }
    const afterHangUp = createExecutor({ dryRun: false, verbose: false, output: recordingOutput(), runner: hungUp, interrupted: () => true })
    expect((await afterHangUp.probe(ps)).stdout).toBe('nginx-id')
    expect(calls).toEqual(['docker compose ps', 'docker compose ps'])

    calls.length = 0
    interrupted = false
    expect((await executor.probe(ps)).exitCode).toBe(1)
    expect(calls).toEqual(['docker compose ps'])
  })

  it('really runs argv without a shell: metacharacters stay literal', async () => {
    const executor = createExecutor({ dryRun: false, verbose: false, output: recordingOutput() })
    const result = await executor.run({ argv: ['printf', '%s|', 'a b', '$HOME', '; rm -rf /'], mutates: false })
    expect(result.stdout).toBe('a b|$HOME|; rm -rf /|')
  })

  it('turns a failure into a ToolkitError with the masked command and stderr tail', async () => {
    registerSecrets(['hunter2hunter2'])
    const executor = createExecutor({ dryRun: false, verbose: false, output: recordingOutput() })
    const failing = executor.run({ argv: ['sh', '-c', 'echo "bad password hunter2hunter2" >&2; exit 3', 'hunter2hunter2'], mutates: false })
    await expect(failing).rejects.toBeInstanceOf(ToolkitError)
    const error = (await failing.catch((caught: unknown) => caught)) as ToolkitError
    expect(error.exitCode).toBe(5)
    expect(error.message).toContain('exit code 3')
    expect(error.message).not.toContain('hunter2hunter2')
    expect(error.details).toEqual(['bad password ***'])
  })

  it('probe returns a failure instead of throwing', async () => {
    const executor = createExecutor({ dryRun: false, verbose: false, output: recordingOutput() })
    expect((await executor.probe({ argv: ['false'], mutates: false })).exitCode).toBe(1)
  })

  it('--verbose echoes each command with secrets masked', async () => {
    registerSecrets(['topsecretvalue'])
    const written: string[] = []
    const stream = { isTTY: false, write: (chunk: string) => written.push(chunk) > 0 }
    const output = createOutput({ stdout: stream, stderr: stream, env: {} })
    const executor = createExecutor({ dryRun: false, verbose: true, output })
    await executor.run({ argv: ['echo', 'topsecretvalue', 'two words'], mutates: false })
    expect(written).toEqual([expect.stringMatching(/ info  \$ echo \*\*\* 'two words'\n$/)])
  })
})

describe('formatArgv', () => {
  it('quotes words a shell would split or expand', () => {
    expect(formatArgv(['a', 'b c', "it's", '$X'])).toBe(`a 'b c' 'it'\\''s' '$X'`)
  })
})
