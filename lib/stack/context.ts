import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { projectName, type ComposeTarget } from '../compose/commands.ts'
import { readEnvFile } from '../env/load.ts'
import { detectCompose } from '../compose/detect.ts'
import { processSignals } from '../cli/signals.ts'
import { createExecutor, type Executor } from '../exec/executor.ts'
import { readCurrentRelease } from '../release/log.ts'
import type { SwarmTarget } from '../swarm/commands.ts'
import type { Output } from '../ui/output.ts'

/** The repository root: compose's project directory, home of nginx/ and env.example. */
export const PROJECT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface StackContext {
  executor: Executor
  output: Output
  target: ComposeTarget
  /** Host state folder (AIKO_VAR_DIR): rendered nginx config, release log, backups. */
  varDir: string
  nginxConfDir: string
  nginxDir: string
  /** Set in stack mode (DEPLOY_TARGET=swarm): the stack's containers on this node are its Swarm tasks. */
  swarm?: SwarmTarget
}

export interface StackOptions {
  envFile: string
  dryRun: boolean
  verbose: boolean
  release?: string
  environment?: Readonly<Record<string, string | undefined>>
}

/** The host state folder: AIKO_VAR_DIR (relative to the project folder) or var/. */
export function varDirOf(environment: Readonly<Record<string, string | undefined>> = process.env): string {
  return resolve(PROJECT_DIR, environment['AIKO_VAR_DIR'] ?? 'var')
}

export async function createStackContext(output: Output, options: StackOptions): Promise<StackContext> {
  const environment = options.environment ?? process.env
  const executor = createExecutor({ dryRun: options.dryRun, verbose: options.verbose, output, interrupted: () => processSignals.pending !== undefined || processSignals.hungUp })
  const compose = await detectCompose(executor)
  const varDir = varDirOf(environment)
  const envValues = (await readEnvFile(options.envFile))?.values ?? {}
  const target: ComposeTarget = {
    base: compose.base,
    envFile: resolve(options.envFile),
    projectDir: PROJECT_DIR,
    project: projectName(environment['COMPOSE_PROJECT_NAME'] ?? envValues['COMPOSE_PROJECT_NAME'], PROJECT_DIR),
    // The serving release, so that every compose call sees the containers' own config and never recreates them.
    env: { AIKO_VAR_DIR: varDir, AIKO_RELEASE: options.release ?? environment['AIKO_RELEASE'] ?? (await readCurrentRelease(varDir)) ?? 'latest' },
  }
  const stackMode = (environment['DEPLOY_TARGET'] ?? envValues['DEPLOY_TARGET']) === 'swarm'
  return { executor, output, target, varDir, nginxConfDir: resolve(varDir, 'nginx', 'conf.d'), nginxDir: resolve(PROJECT_DIR, 'nginx'), ...(stackMode ? { swarm: { stack: target.project } } : {}) }
}
