import { ExitCode, ToolkitError } from '../errors.ts'
import type { Executor } from '../exec/executor.ts'
import { composeVersionProbes } from './commands.ts'

export interface ComposeFlavor {
  base: readonly string[]
  version: string
}

/** Detects once which compose is installed: v2 (`docker compose`) first, then docker-compose 1.29. */
export async function detectCompose(executor: Executor): Promise<ComposeFlavor> {
  for (const probe of composeVersionProbes()) {
    const result = await executor.probe(probe).catch(() => undefined)
    if (result !== undefined && result.exitCode === 0) {
      const base = probe.argv.slice(0, probe.argv.indexOf('version'))
      return { base, version: result.stdout.trim().replace(/^v/, '') }
    }
  }
  throw new ToolkitError('Docker Compose is not installed', {
    exitCode: ExitCode.precondition,
    hint: 'install Docker Engine with the compose plugin (docker compose version must answer), see DEPLOYMENT_VPS_GUIDE.md',
  })
}
