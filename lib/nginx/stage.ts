import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import { nginxReload, nginxTest, runningNginx, type NginxApplyContext } from './apply.ts'

/** The files of conf.d/ before a change: undefined for a file that did not exist. */
export type PreviousFiles = Readonly<Record<string, string | undefined>>

export async function readConfFiles(dir: string, names: readonly string[]): Promise<PreviousFiles> {
  const read = async (name: string): Promise<readonly [string, string | undefined]> => {
    try {
      return [name, await readFile(join(dir, name), 'utf8')]
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [name, undefined]
      throw error
    }
  }
  return Object.fromEntries(await Promise.all(names.map(read)))
}

/** Writes each file atomically (temp + fsync + rename); an undefined content removes the file. */
export async function writeConfFiles(dir: string, files: PreviousFiles): Promise<void> {
  await mkdir(dir, { recursive: true })
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name)
    if (content === undefined) await rm(path, { force: true })
    else await writeFileAtomic(path, content, { mode: 0o644 })
  }
}

/** Stage: the rendered files go to disk; nginx still serves its loaded configuration. Returns what was there. */
export async function stageNginxFiles(confDir: string, files: Readonly<Record<string, string>>): Promise<PreviousFiles> {
  const previous = await readConfFiles(confDir, Object.keys(files))
  await writeConfFiles(confDir, files)
  return previous
}

/**
 * Activate: the running nginx tests the staged files and reloads gracefully. When `nginx -t`
 * refuses them, `previous` is put back and nginx keeps serving. False when nginx is not running
 * (the files are read when it starts).
 */
export async function activateNginxFiles(ctx: Pick<NginxApplyContext, 'executor' | 'target' | 'confDir' | 'swarm'>, previous: PreviousFiles): Promise<boolean> {
  const nginx = await runningNginx(ctx)
  if (nginx === undefined) return false
  const test = await ctx.executor.probe(nginxTest(nginx))
  if (test.exitCode !== 0) {
    await writeConfFiles(ctx.confDir, previous)
    throw new ToolkitError('nginx -t refused the new configuration: the previous files are back and nginx keeps serving', {
      exitCode: ExitCode.commandFailed,
      details: (test.stderr || test.stdout).trim().split('\n').filter((line) => !/test is successful|syntax is ok/.test(line)),
      hint: 'the lines above name the file and line nginx refused; fix the template under nginx/templates/',
    })
  }
  await ctx.executor.run(nginxReload(nginx))
  return true
}
