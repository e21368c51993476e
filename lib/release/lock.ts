import { hostname, userInfo } from 'node:os'
import { mkdir, open, readFile, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'

export interface LockHolder {
  pid: number
  host: string
  user: string
  since: string
  command: string
}

export const lockPath = (varDir: string) => join(varDir, 'deploy.lock')

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function describeHolder(holder: LockHolder): string {
  return `${holder.command} by ${holder.user}@${holder.host} (pid ${holder.pid}) since ${holder.since}`
}

/**
 * Takes the deploy lock (O_EXCL create: atomic on one host). A lock whose process is gone
 * (killed deploy) is reported as stale and taken over only with `takeOver`.
 */
export async function acquireLock(varDir: string, command: string, options: { takeOver: boolean }): Promise<() => Promise<void>> {
  const path = lockPath(varDir)
  await mkdir(dirname(path), { recursive: true })
  const me: LockHolder = { pid: process.pid, host: hostname(), user: userInfo().username, since: new Date().toISOString(), command }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644)
      await handle.writeFile(JSON.stringify(me))
      await handle.close()
      return async () => {
        const holder = await readHolder(path)
        if (holder?.pid === me.pid) await rm(path, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const holder = await readHolder(path)
    const stale = holder === undefined || (holder.host === me.host && !isAlive(holder.pid))
    if (!stale)
      throw new ToolkitError(`another deploy or rollback is running: ${describeHolder(holder)}`, {
        exitCode: ExitCode.locked,
        hint: 'wait for it to finish; run this again afterwards',
      })
    if (!options.takeOver)
      throw new ToolkitError(`a previous ${holder === undefined ? 'run' : describeHolder(holder)} left its lock and is no longer running (killed?)`, {
        exitCode: ExitCode.locked,
        hint: 're-run with --take-over-lock: the toolkit then checks the stack and brings it to a consistent state',
      })
    await rm(path, { force: true })
  }
  throw new ToolkitError('could not take the deploy lock', { exitCode: ExitCode.locked })
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockHolder
  } catch {
    return undefined
  }
}
