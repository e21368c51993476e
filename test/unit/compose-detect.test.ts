import { describe, expect, it } from 'vitest'
import { composeCandidates, composeFlavorOf, composeMissing, detectCompose } from '../../lib/compose/detect.ts'
import { ExitCode, ToolkitError } from '../../lib/errors.ts'
import { formatArgv, type Command, type CommandResult, type Executor } from '../../lib/exec/executor.ts'

/** An executor whose `version` probes answer as the table says (absent: command not found). */
function fakeExecutor(answers: Readonly<Record<string, string>>): Executor & { asked: string[] } {
  const asked: string[] = []
  const probe = async (command: Command): Promise<CommandResult> => {
    const line = formatArgv(command.argv)
    asked.push(line)
    const stdout = answers[line]
    return stdout === undefined ? { stdout: '', stderr: 'not found', exitCode: 127, skipped: false } : { stdout, stderr: '', exitCode: 0, skipped: false }
  }
  return { dryRun: false, asked, probe, run: probe }
}

const V2 = 'docker compose version --short'
const V1 = 'docker-compose version --short'

function thrown(work: () => unknown): ToolkitError {
  try {
    work()
  } catch (error) {
    if (error instanceof ToolkitError) return error
    throw error
  }
  throw new Error('did not throw')
}

describe('AIKO_COMPOSE: which compose flavours to try, in order', () => {
  it('unset or empty: v2 first, then docker-compose 1.29', () => {
    expect(composeCandidates(undefined).join(' ')).toBe('v2 v1')
    expect(composeCandidates('').join(' ')).toBe('v2 v1')
  })

  it('v1 or v2: that flavour only', () => {
    expect(composeCandidates('v1').join(' ')).toBe('v1')
    expect(composeCandidates('v2').join(' ')).toBe('v2')
  })

  it('any other value is bad usage (exit 2), naming the variable and the accepted values', () => {
    for (const value of ['V2', '2', 'v3', 'docker-compose', ' v1']) {
      const error = thrown(() => composeCandidates(value))
      expect(error.exitCode).toBe(ExitCode.usage)
      expect(error.message).toBe(`AIKO_COMPOSE=${value} is not a Docker Compose flavour`)
      expect(error.hint).toBe('set AIKO_COMPOSE=v2 for `docker compose`, AIKO_COMPOSE=v1 for `docker-compose` 1.29, or unset it (`unset AIKO_COMPOSE`) to use v2 when installed, else 1.29')
    }
  })
})

describe('the flavour a version probe names', () => {
  it('v2 is `docker compose`, with its version as printed (a leading v dropped)', () => {
    expect(composeFlavorOf('v2', '2.26.1-4\n')).toEqual({ name: 'v2', base: ['docker', 'compose'], version: '2.26.1-4' })
    expect(composeFlavorOf('v2', 'v2.29.7\n')).toEqual({ name: 'v2', base: ['docker', 'compose'], version: '2.29.7' })
  })

  it('v1 is `docker-compose`', () => {
    expect(composeFlavorOf('v1', '1.29.2\n')).toEqual({ name: 'v1', base: ['docker-compose'], version: '1.29.2' })
  })
})

describe('when the chosen compose does not answer', () => {
  it('forced: names the variable, the missing command and the way out (exit 4)', () => {
    const v1 = composeMissing('v1')
    expect(v1.exitCode).toBe(ExitCode.precondition)
    expect(v1.message).toBe('AIKO_COMPOSE=v1 but `docker-compose` 1.29 is not installed (`docker-compose version --short` does not answer)')
    expect(v1.hint).toBe('install it, or unset AIKO_COMPOSE (`unset AIKO_COMPOSE`) to use whichever is installed, v2 first')
    expect(composeMissing('v2').message).toBe('AIKO_COMPOSE=v2 but `docker compose` (v2) is not installed (`docker compose version --short` does not answer)')
  })

  it('detected: compose is not installed (exit 4)', () => {
    const error = composeMissing(undefined)
    expect(error.exitCode).toBe(ExitCode.precondition)
    expect(error.message).toBe('Docker Compose is not installed')
  })
})

describe('detectCompose', () => {
  const both = { [V2]: '2.26.1-4\n', [V1]: '1.29.2\n' }

  it('prefers v2 and never starts docker-compose when v2 answers', async () => {
    const executor = fakeExecutor(both)
    expect(await detectCompose(executor, {})).toEqual({ name: 'v2', base: ['docker', 'compose'], version: '2.26.1-4' })
    expect(executor.asked.join(' | ')).toBe(V2)
  })

  it('falls back to docker-compose 1.29 when the plugin is missing', async () => {
    const executor = fakeExecutor({ [V1]: '1.29.2\n' })
    expect((await detectCompose(executor, {})).name).toBe('v1')
    expect(executor.asked.join(' | ')).toBe(`${V2} | ${V1}`)
  })

  it('AIKO_COMPOSE=v1 uses 1.29 even when v2 is installed, and asks v2 nothing', async () => {
    const executor = fakeExecutor(both)
    expect(await detectCompose(executor, { AIKO_COMPOSE: 'v1' })).toEqual({ name: 'v1', base: ['docker-compose'], version: '1.29.2' })
    expect(executor.asked.join(' | ')).toBe(V1)
  })

  it('AIKO_COMPOSE=v2 with no plugin fails (exit 4) rather than falling back', async () => {
    const executor = fakeExecutor({ [V1]: '1.29.2\n' })
    await expect(detectCompose(executor, { AIKO_COMPOSE: 'v2' })).rejects.toMatchObject({ exitCode: ExitCode.precondition, message: expect.stringMatching(/^AIKO_COMPOSE=v2 but/) })
    expect(executor.asked.join(' | ')).toBe(V2)
  })

  it('a bad AIKO_COMPOSE fails (exit 2) before any probe', async () => {
    const executor = fakeExecutor(both)
    await expect(detectCompose(executor, { AIKO_COMPOSE: 'compose' })).rejects.toMatchObject({ exitCode: ExitCode.usage })
    expect(executor.asked).toEqual([])
  })

  it('neither installed: compose is not installed (exit 4)', async () => {
    await expect(detectCompose(fakeExecutor({}), {})).rejects.toMatchObject({ exitCode: ExitCode.precondition, message: 'Docker Compose is not installed' })
  })
})
