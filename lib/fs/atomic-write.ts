import { chmod, open, readFile, rename, rm } from 'node:fs/promises'

/**
 * Replaces `path` in one rename: a crash leaves either the old or the new file, never half of
 * one. Files are created with `mode` so the content is never readable by others, and the
 * previous content is kept in `backupPath` when given.
 */
export async function writeFileAtomic(path: string, content: string, options: { mode: number; backupPath?: string }): Promise<void> {
  if (options.backupPath !== undefined) {
    const previous = await readIfExists(path)
    if (previous !== undefined) await writePrivate(options.backupPath, previous, options.mode, 'w')
  }
  const temporary = `${path}.tmp-${process.pid}`
  try {
    await writePrivate(temporary, content, options.mode, 'wx')
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
}

async function writePrivate(path: string, content: string | Buffer, mode: number, flags: 'w' | 'wx'): Promise<void> {
  await chmod(path, mode).catch(() => undefined)
  const handle = await open(path, flags, mode)
  try {
    await handle.chmod(mode)
    await handle.writeFile(content)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
