import { createHash } from 'node:crypto'
import { mkdir, readFile, realpath, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { hostname, userInfo } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { ExitCode, ToolkitError } from '../errors.ts'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import type { Output } from '../ui/output.ts'

/**
 * The stack lock: one process at a time changes the stack (deploy, rollback, restore,
 * init-ssl, init-db).
 *
 * The lock itself is a Linux abstract Unix socket bound by the holder: the kernel owns it,
 * and frees it the moment the holder's process ends, however it ends (SIGKILL, OOM, reboot).
 * So the lock can never go stale and never needs a manual take-over, and of two processes
 * binding at once exactly one wins. The name is derived from the real path of the state
 * folder, so two checkouts with their own var/ do not exclude each other. Abstract names
 * live in the network namespace: every run on one host (not in separate containers) sees
 * the same name.
 *
 * `<varDir>/deploy.lock` only DESCRIBES the holder (who, since when, doing what), written
 * after the bind and removed before the release. When the socket is free but that file is
 * still there, its holder died while holding the lock: the caller is told (`previous`) so it
 * can converge.
 */

export interface LockIntent {
  action: string
  release?: string
}

export interface LockHolder {
  pid: number
  host: string
  user: string
  since: string
  command: string
  intent?: LockIntent
}

export interface HeldLock {
  /** The holder that died without releasing ('unreadable' when its description did not parse); undefined after a clean release. */
  readonly previous: LockHolder | 'unreadable' | undefined
  /** Removes the description, then frees the socket. Idempotent. */
  release(): Promise<void>
}

const holderSchema = z.object({
  pid: z.number().int(),
  host: z.string(),
  user: z.string(),
  since: z.string(),
  command: z.string(),
  intent: z.object({ action: z.string(), release: z.string().optional() }).optional(),
})

export const lockPath = (varDir: string): string => join(varDir, 'deploy.lock')

/** The abstract socket name of a state folder (NUL first: no file on disk). */
export async function lockSocketName(varDir: string): Promise<string> {
  const digest = createHash('sha256').update(await realpath(varDir)).digest('hex')
  return `\0aiko-lock-${digest.slice(0, 24)}`
}

export function describeHolder(holder: LockHolder): string {
  const intent = holder.intent === undefined ? '' : ` [${holder.intent.action}${holder.intent.release === undefined ? '' : ` ${holder.intent.release}`}]`
  return `${holder.command}${intent} by ${holder.user}@${holder.host} (pid ${holder.pid}) since ${holder.since}`
}

/** The line a caller prints when it took over from a holder that died. */
export function describeTakeOver(previous: LockHolder | 'unreadable'): string {
  const who = previous === 'unreadable' ? 'holder (its description in deploy.lock is unreadable)' : `${previous.command}${previous.intent === undefined ? '' : ` (${previous.intent.action}${previous.intent.release === undefined ? '' : ` ${previous.intent.release}`})`} (pid ${previous.pid}, since ${previous.since})`
  return `the previous ${who} ended without releasing the lock: converging`
}

/** Parses a description file's text: a holder, or 'unreadable' (torn, foreign, hand-edited). */
export function parseHolder(text: string): LockHolder | 'unreadable' {
  try {
    const parsed = holderSchema.safeParse(JSON.parse(text))
    if (!parsed.success) return 'unreadable'
    const { intent, ...rest } = parsed.data
    return intent === undefined ? rest : { ...rest, intent: intent.release === undefined ? { action: intent.action } : { action: intent.action, release: intent.release } }
  } catch {
    return 'unreadable'
  }
}

async function readHolder(varDir: string): Promise<LockHolder | 'unreadable' | undefined> {
  let text: string
  try {
    text = await readFile(lockPath(varDir), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    return 'unreadable'
  }
  return parseHolder(text)
}

async function writeHolder(varDir: string, holder: LockHolder): Promise<void> {
  await writeFileAtomic(lockPath(varDir), `${JSON.stringify(holder)}\n`, { mode: 0o644 })
}

/** Binds the abstract socket; false when another process holds it. */
function bind(name: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening)
      if (error.code === 'EADDRINUSE') resolve(undefined)
      else reject(error)
    }
    const onListening = (): void => {
      server.off('error', onError)
      // Held for the life of the lock, but never what keeps the process alive.
      server.unref()
      resolve(server)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ path: name, exclusive: true })
  })
}

/**
 * Takes the lock or throws ToolkitError(locked) naming the holder. A holder that died is
 * taken over on its own and returned as `previous`.
 */
export async function acquireLock(varDir: string, command: string, intent?: LockIntent): Promise<HeldLock> {
  await mkdir(varDir, { recursive: true })
  const server = await bind(await lockSocketName(varDir))
  if (server === undefined) {
    const holder = await readHolder(varDir)
    const who = holder === undefined || holder === 'unreadable' ? 'an unknown process' : describeHolder(holder)
    throw new ToolkitError(`the stack is locked: ${who} is changing it`, {
      exitCode: ExitCode.locked,
      hint: 'wait for it to finish; run this again afterwards',
    })
  }
  const previous = await readHolder(varDir)
  const holder: LockHolder = { pid: process.pid, host: hostname(), user: userInfo().username, since: new Date().toISOString(), command, ...(intent === undefined ? {} : { intent }) }
  try {
    await writeHolder(varDir, holder)
  } catch (error) {
    server.close()
    throw error
  }
  const lock: HeldLock = {
    previous,
    release: async () => {
      if (!server.listening) return
      await rm(lockPath(varDir), { force: true })
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  held.set(lock, { varDir, holder, server })
  return lock
}

/** What setLockIntent needs of each lock this process holds. */
const held = new WeakMap<HeldLock, { varDir: string; holder: LockHolder; server: Server }>()

/** Rewrites the holder's description (what it is doing now), atomically. */
export async function setLockIntent(lock: HeldLock, intent: LockIntent | undefined): Promise<void> {
  const state = held.get(lock)
  if (state === undefined || !state.server.listening) throw new Error('setLockIntent: this lock is not held')
  const { intent: _previousIntent, ...rest } = state.holder
  state.holder = intent === undefined ? rest : { ...rest, intent }
  await writeHolder(state.varDir, state.holder)
}

/**
 * Runs `work` under the lock: acquire, say so when a dead holder is taken over, run,
 * release whatever happens.
 */
export async function withLock<T>(varDir: string, output: Output, command: string, work: (lock: HeldLock) => Promise<T>, intent?: LockIntent): Promise<T> {
  const lock = await acquireLock(varDir, command, intent)
  try {
    if (lock.previous !== undefined) output.warn(describeTakeOver(lock.previous))
    return await work(lock)
  } finally {
    await lock.release()
  }
}

/**
 * Like withLock, but the lock is taken only when `work` starts its first step (output.step):
 * a run that finds nothing to do (init-ssl --renew with no renewal due) never locks, so it
 * stays cheap and is never refused while a deploy runs.
 */
export async function withLockFromFirstStep<T>(varDir: string, output: Output, command: string, work: (output: Output) => Promise<T>): Promise<T> {
  let lock: HeldLock | undefined
  const locking: Output = {
    ...output,
    async step(title, run) {
      if (lock === undefined) {
        lock = await acquireLock(varDir, command)
        if (lock.previous !== undefined) output.warn(describeTakeOver(lock.previous))
      }
      return output.step(title, run)
    },
  }
  try {
    return await work(locking)
  } finally {
    await lock?.release()
  }
}
