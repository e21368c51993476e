import { ExitCode, ToolkitError, usageError } from '../errors.ts'
import type { Executor } from '../exec/executor.ts'
import { composeVersionProbes, type ComposeFlavorName } from './commands.ts'

export type { ComposeFlavorName }

export interface ComposeFlavor {
  name: ComposeFlavorName
  base: readonly string[]
  version: string
}

const FLAVORS: readonly ComposeFlavorName[] = ['v2', 'v1']
const DESCRIBED: Readonly<Record<ComposeFlavorName, string>> = { v2: '`docker compose` (v2)', v1: '`docker-compose` 1.29' }

/**
 * Which flavours to try, in order, for the value of AIKO_COMPOSE: unset (or empty) tries
 * v2 then 1.29; `v2` or `v1` only that one. Any other value is bad usage (exit 2).
 */
export function composeCandidates(setting: string | undefined): readonly ComposeFlavorName[] {
  if (setting === undefined || setting === '') return FLAVORS
  if (setting === 'v2' || setting === 'v1') return [setting]
  throw usageError(
    `AIKO_COMPOSE=${setting} is not a Docker Compose flavour`,
    'set AIKO_COMPOSE=v2 for `docker compose`, AIKO_COMPOSE=v1 for `docker-compose` 1.29, or unset it (`unset AIKO_COMPOSE`) to use v2 when installed, else 1.29',
  )
}

/** The error when none of the candidates answered `version`: what was asked for, and how to get it. */
export function composeMissing(setting: string | undefined): ToolkitError {
  if (setting === 'v2' || setting === 'v1')
    return new ToolkitError(`AIKO_COMPOSE=${setting} but ${DESCRIBED[setting]} is not installed (\`${composeVersionProbes()[setting].argv.join(' ')}\` does not answer)`, {
      exitCode: ExitCode.precondition,
      hint: 'install it, or unset AIKO_COMPOSE (`unset AIKO_COMPOSE`) to use whichever is installed, v2 first',
    })
  return new ToolkitError('Docker Compose is not installed', {
    exitCode: ExitCode.precondition,
    hint: 'install Docker Engine with the compose plugin (docker compose version must answer), see DEPLOYMENT_VPS_GUIDE.md',
  })
}

/** The flavour a successful `version --short` probe names; its output is "2.26.1" or "v2.x" (v2), "1.29.2" (1.29). */
export function composeFlavorOf(name: ComposeFlavorName, versionOutput: string): ComposeFlavor {
  const probe = composeVersionProbes()[name]
  return { name, base: probe.argv.slice(0, probe.argv.indexOf('version')), version: versionOutput.trim().replace(/^v/, '') }
}

/**
 * Detects once which compose to use: AIKO_COMPOSE=v1|v2 when set (validated), else v2
 * (`docker compose`) when it answers, else docker-compose 1.29.
 */
export async function detectCompose(executor: Executor, environment: Readonly<Record<string, string | undefined>> = process.env): Promise<ComposeFlavor> {
  const setting = environment['AIKO_COMPOSE']
  for (const name of composeCandidates(setting)) {
    const result = await executor.probe(composeVersionProbes()[name]).catch(() => undefined)
    if (result !== undefined && result.exitCode === 0) return composeFlavorOf(name, result.stdout)
  }
  throw composeMissing(setting)
}
