import { readFile, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Output } from '../ui/output.ts'
import { cronEnvironment, cronMinute, renderCronFile, type CronJob } from './job.ts'

export interface InstallCronOptions {
  cronFile: string
  projectDir: string
  nodeBinDir: string
  envPath: string
  dryRun: boolean
  environment: Readonly<Record<string, string | undefined>>
}

/** Writes the job's cron.d file (mode 0644, as cron requires) unless it is already there as is; shows it either way. */
export async function installCronJob(out: Output, job: CronJob, options: InstallCronOptions): Promise<void> {
  const existing = await readFile(options.cronFile, 'utf8').catch(() => undefined)
  const content = renderCronFile(job, {
    minute: cronMinute(job, existing),
    projectDir: options.projectDir,
    nodeBinDir: options.nodeBinDir,
    envPath: options.envPath,
    logFile: job.logFile,
    environment: cronEnvironment(options.environment),
  })
  if (existing === content) out.info(`${options.cronFile} is already installed: nothing to change`)
  else if (options.dryRun) out.info(`[dry-run] would write ${options.cronFile}`)
  else await writeCronFile(options.cronFile, content)
  out.info(content.trimEnd())
}

async function writeCronFile(file: string, content: string): Promise<void> {
  const folder = dirname(file)
  if ((await stat(folder).catch(() => undefined))?.isDirectory() !== true)
    throw new ToolkitError(`--cron-file ${file}: the folder ${folder} does not exist`, { exitCode: ExitCode.precondition, hint: 'install cron first (apt-get install cron), or give another --cron-file' })
  await writeFile(file, content, { mode: 0o644 }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EACCES') throw error
    throw new ToolkitError(`--cron-file ${file}: permission denied`, { exitCode: ExitCode.precondition, hint: 'run it as root (sudo), as cron.d files belong to root' })
  })
}
