import { readFile, writeFile } from 'node:fs/promises'
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
  else await writeFile(options.cronFile, content, { mode: 0o644 })
  out.info(content.trimEnd())
}
