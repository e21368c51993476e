import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ExitCode, ToolkitError } from '../../lib/errors.ts'
import { acquireLock, describeTakeOver, lockPath, parseHolder, setLockIntent, withLock, withLockFromFirstStep, type HeldLock } from '../../lib/stack/lock.ts'
import type { Output } from '../../lib/ui/output.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const LOCK_MODULE = pathToFileURL(join(ROOT, 'lib/stack/lock.ts')).href

let base: string
let childScript: string
let counter = 0
const freshVarDir = async (): Promise<string> => {
  const dir = join(base, `var-${++counter}`)
  await mkdir(dir)
  return dir
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'aiko-lock-'))
  childScript = join(base, 'child.mts')
  // A process that takes the lock and keeps it until its stdin closes (or it is killed).
  // In "race" mode it says "ready" and waits for a line on stdin before trying.
  await writeFile(
    childScript,
    `import { createInterface } from 'node:readline'
import { acquireLock } from ${JSON.stringify(LOCK_MODULE)}
const [dir, mode] = process.argv.slice(2)
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
if (mode === 'race') { console.log('ready'); await lines.next() }
try {
  const lock = await acquireLock(dir, 'child ' + process.pid, { action: 'deploy', release: 'r1' })
  console.log('won')
  await lines.next()
  await lock.release()
} catch (error) {
  console.log('refused ' + error.exitCode + ' ' + error.message)
}
`,
  )
})

afterAll(async () => {
  await rm(base, { recursive: true, force: true })
})

interface Child {
  process: ChildProcessWithoutNullStreams
  /** Resolves with the next line the child prints. */
  line(): Promise<string>
}

function startChild(varDir: string, mode: 'hold' | 'race'): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, varDir, mode], { cwd: ROOT })
  const lines: string[] = []
  const waiting: ((line: string) => void)[] = []
  let buffer = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => {
    buffer += chunk
    for (let index = buffer.indexOf('\n'); index >= 0; index = buffer.indexOf('\n')) {
      const line = buffer.slice(0, index)
      buffer = buffer.slice(index + 1)
      const next = waiting.shift()
      if (next === undefined) lines.push(line)
      else next(line)
    }
  })
  return {
    process: child,
    line: () => {
      const ready = lines.shift()
      return ready === undefined ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve(ready)
    },
  }
}

const exited = (child: Child): Promise<number | null> =>
  child.process.exitCode !== null || child.process.signalCode !== null ? Promise.resolve(child.process.exitCode) : new Promise((resolve) => child.process.once('exit', (code) => resolve(code)))

function recorder(): Output & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (message) => void lines.push(`info ${message}`),
    success: (message) => void lines.push(`ok ${message}`),
    warn: (message) => void lines.push(`warn ${message}`),
    error: (message) => void lines.push(`error ${message}`),
    step: async (title, work) => {
      lines.push(`step ${title}`)
      return work()
    },
  }
}

async function refusal(promise: Promise<unknown>): Promise<ToolkitError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  )
  expect(error).toBeInstanceOf(ToolkitError)
  return error as ToolkitError
}

describe('stack lock (abstract Unix socket)', () => {
  it('is taken, refused to a second taker while held, and free again after release', async () => {
    const varDir = await freshVarDir()
    const lock = await acquireLock(varDir, 'deploy r1', { action: 'deploy', release: 'r1' })
    expect(lock.previous).toBeUndefined()
    const holder = JSON.parse(await readFile(lockPath(varDir), 'utf8')) as unknown
    expect(holder).toMatchObject({ pid: process.pid, command: 'deploy r1', intent: { action: 'deploy', release: 'r1' } })

    const error = await refusal(acquireLock(varDir, 'rollback'))
    expect(error.exitCode).toBe(ExitCode.locked)
    expect(error.message).toContain(`deploy r1 [deploy r1] by`)
    expect(error.message).toContain(`(pid ${process.pid})`)
    expect(error.hint).toBe('wait for it to finish; run this again afterwards')

    await lock.release()
    await expect(readFile(lockPath(varDir))).rejects.toMatchObject({ code: 'ENOENT' })
    const again = await acquireLock(varDir, 'rollback')
    expect(again.previous).toBeUndefined()
    await again.release()
    await again.release()
  })

  it('names "an unknown process" when the holder is alive but its description is missing', async () => {
    const varDir = await freshVarDir()
    const lock = await acquireLock(varDir, 'deploy')
    await rm(lockPath(varDir))
    const error = await refusal(acquireLock(varDir, 'restore'))
    expect(error.message).toBe('the stack is locked: an unknown process is changing it')
    await lock.release()
  })

  it('takes over from a description whose holder is gone, reporting a torn one as unreadable', async () => {
    const varDir = await freshVarDir()
    await writeFile(lockPath(varDir), '{"pid": 12')
    const lock = await acquireLock(varDir, 'deploy')
    expect(lock.previous).toBe('unreadable')
    expect(describeTakeOver('unreadable')).toContain('unreadable')
    expect(parseHolder(await readFile(lockPath(varDir), 'utf8'))).toMatchObject({ pid: process.pid, command: 'deploy' })
    await lock.release()
    expect(parseHolder('{"pid":"x"}')).toBe('unreadable')
    expect(parseHolder('')).toBe('unreadable')
  })

  it('setLockIntent rewrites the description; withLock prints the take-over and releases even on failure', async () => {
    const varDir = await freshVarDir()
    const output = recorder()
    await writeFile(lockPath(varDir), JSON.stringify({ pid: 4242, host: 'vps', user: 'root', since: '2026-12-01T08:15:00Z', command: 'deploy', intent: { action: 'switch', release: 'r7' } }))
    const failure = withLock(varDir, output, 'rollback', async (lock: HeldLock) => {
      expect(lock.previous).toMatchObject({ pid: 4242 })
      await setLockIntent(lock, { action: 'switch', release: 'r6' })
      expect(parseHolder(await readFile(lockPath(varDir), 'utf8'))).toMatchObject({ command: 'rollback', intent: { action: 'switch', release: 'r6' } })
      throw new Error('boom')
    })
    await expect(failure).rejects.toThrow('boom')
    expect(output.lines).toEqual(['warn the previous deploy (switch r7) (pid 4242, since 2026-12-01T08:15:00Z) ended without releasing the lock: converging'])
    await expect(readFile(lockPath(varDir))).rejects.toMatchObject({ code: 'ENOENT' })
    await (await acquireLock(varDir, 'again')).release()
  })

  it('withLockFromFirstStep locks only when a step starts', async () => {
    const varDir = await freshVarDir()
    const output = recorder()
    await withLockFromFirstStep(varDir, output, 'renew', async (out) => {
      out.info('nothing due')
      const other = await acquireLock(varDir, 'deploy')
      await other.release()
    })
    await withLockFromFirstStep(varDir, output, 'renew', async (out) => {
      await out.step('renew', async () => {
        const error = await refusal(acquireLock(varDir, 'deploy'))
        expect(error.message).toContain('renew by')
      })
    })
    expect(output.lines).toEqual(['info nothing due', 'step renew'])
    await (await acquireLock(varDir, 'again')).release()
  })

  it('a holder killed with SIGKILL frees the lock at once; the next taker gets its description as previous', async () => {
    const varDir = await freshVarDir()
    const child = startChild(varDir, 'hold')
    expect(await child.line()).toBe('won')
    const error = await refusal(acquireLock(varDir, 'deploy'))
    expect(error.message).toContain(`(pid ${child.process.pid})`)
    child.process.kill('SIGKILL')
    await exited(child)
    const lock = await acquireLock(varDir, 'deploy')
    expect(lock.previous).toMatchObject({ pid: child.process.pid, command: `child ${child.process.pid}`, intent: { action: 'deploy', release: 'r1' } })
    expect(describeTakeOver(lock.previous ?? 'unreadable')).toMatch(/^the previous child \d+ \(deploy r1\) \(pid \d+, since .+\) ended without releasing the lock: converging$/)
    await lock.release()
  }, 30_000)

  it('of ten processes racing for it, exactly one wins', async () => {
    const varDir = await freshVarDir()
    const children = Array.from({ length: 10 }, () => startChild(varDir, 'race'))
    for (const child of children) expect(await child.line()).toBe('ready')
    for (const child of children) child.process.stdin.write('go\n')
    const results = await Promise.all(children.map((child) => child.line()))
    expect(results.filter((result) => result === 'won')).toHaveLength(1)
    expect(results.filter((result) => result.startsWith(`refused ${ExitCode.locked} the stack is locked`))).toHaveLength(9)
    for (const child of children) child.process.stdin.end()
    expect(await Promise.all(children.map(exited))).toEqual(Array(10).fill(0))
    const lock = await acquireLock(varDir, 'after')
    expect(lock.previous).toBeUndefined()
    await lock.release()
  }, 60_000)
})
