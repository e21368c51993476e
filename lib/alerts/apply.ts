import { chown, mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { composeContainerIds, type ComposeTarget } from '../compose/commands.ts'
import { dockerExec, splitIds } from '../docker/containers.ts'
import type { Command, Executor } from '../exec/executor.ts'
import { writeFileAtomic } from '../fs/atomic-write.ts'
import type { Output } from '../ui/output.ts'
import { ALERTMANAGER_CONFIG_FILE, renderAlertmanagerConfig, SMTP_PASSWORD_FILE, smtpPasswordFile, type AlertEnv, type AlertTiming, PRODUCTION_TIMING } from './config.ts'

/** The uid/gid Alertmanager runs as (docker-compose.yml: user 65534:65534): it reads the 0640 config through its group. */
export const ALERTMANAGER_GID = 65534

export interface AlertsContext {
  executor: Executor
  output: Output
  target: ComposeTarget
  varDir: string
}

export const alertmanagerDir = (varDir: string): string => join(varDir, 'alertmanager')

/** Asks the running Alertmanager to re-read its configuration (it keeps the old one when the new one is invalid). */
export const alertmanagerReload = (id: string): Command => dockerExec(id, ['wget', '-q', '-O', '/dev/null', '--post-data=', 'http://127.0.0.1:9093/-/reload'], true)

export async function runningAlertmanager(ctx: Pick<AlertsContext, 'executor' | 'target'>): Promise<string | undefined> {
  return splitIds((await ctx.executor.probe(composeContainerIds(ctx.target, 'alertmanager', { runningOnly: true }))).stdout)[0]
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/**
 * Writes $AIKO_VAR_DIR/alertmanager/alertmanager.yml and, with SMTP authentication, the
 * password alone in smtp-password beside it (each atomically, mode 0640, group 65534: the
 * password never appears in the config, an environment variable, a command line or `docker
 * inspect`), then reloads a running Alertmanager when something changed.
 */
export async function writeAlertmanagerConfig(ctx: AlertsContext, env: AlertEnv, timing: AlertTiming = PRODUCTION_TIMING): Promise<'unchanged' | 'written' | 'reloaded' | 'planned'> {
  const dir = alertmanagerDir(ctx.varDir)
  const configPath = join(dir, ALERTMANAGER_CONFIG_FILE)
  const passwordPath = join(dir, SMTP_PASSWORD_FILE)
  const config = renderAlertmanagerConfig(env, timing)
  const password = smtpPasswordFile(env)
  if ((await readIfPresent(configPath)) === config && (await readIfPresent(passwordPath)) === password) return 'unchanged'
  if (ctx.executor.dryRun) {
    ctx.output.info(`[dry-run] would write ${configPath} and reload Alertmanager`)
    return 'planned'
  }
  await mkdir(dir, { recursive: true, mode: 0o750 })
  // The password first: the config that names it must never be read without it.
  if (password === undefined) await rm(passwordPath, { force: true })
  else await writeFileAtomic(passwordPath, password, { mode: 0o640 })
  await writeFileAtomic(configPath, config, { mode: 0o640 })
  // Only root may give the files to Alertmanager's group; any other user must own them with group 65534 already.
  if (process.getuid?.() === 0) {
    await chown(dir, 0, ALERTMANAGER_GID)
    await chown(configPath, 0, ALERTMANAGER_GID)
    if (password !== undefined) await chown(passwordPath, 0, ALERTMANAGER_GID)
  }
  const id = await runningAlertmanager(ctx)
  if (id === undefined) return 'written'
  await ctx.executor.run(alertmanagerReload(id))
  return 'reloaded'
}

/** Posts alerts to Alertmanager's API from inside its own container (nothing is published). */
export const postAlerts = (id: string, payload: string): Command =>
  dockerExec(id, ['wget', '-q', '-O', '-', '--header=Content-Type: application/json', `--post-data=${payload}`, 'http://127.0.0.1:9093/api/v2/alerts'], true)
