import { join } from 'node:path'
import { composeExec, type ComposeTarget } from '../../../lib/compose/commands.ts'
import { createStackContext, PROJECT_DIR, type StackContext } from '../../../lib/stack/context.ts'
import { createOutput } from '../../../lib/ui/output.ts'

/** The e2e stack: its own compose project, ports and state folder, never the demo's or an operator's. */
export const E2E = {
  project: 'aiko-e2e',
  domain: 'aiko.test',
  httpPort: 18080,
  httpsPort: 18443,
  workDir: join(PROJECT_DIR, 'test', 'e2e', '.work'),
  get envFile() {
    return join(this.workDir, '.env')
  },
  get varDir() {
    return join(this.workDir, 'var')
  },
  /** An operator value every .env reader must agree on: quotes, $, # and spaces. */
  operatorValue: 'a "quoted" pa$$ #1 with spaces é',
  acmeDirectory: 'https://pebble:14000/dir',
} as const

export const baseUrl = `http://127.0.0.1:${E2E.httpPort}`

/** What compose and the toolkit read from the environment for the e2e project. */
export function useE2eEnvironment(): void {
  process.env['COMPOSE_FILE'] = ['docker-compose.yml', 'test/e2e/compose.e2e.yml'].join(':')
  process.env['COMPOSE_PROJECT_NAME'] = E2E.project
  process.env['AIKO_VAR_DIR'] = E2E.varDir
  process.env['CI'] ??= 'true'
}

export function quietOutput() {
  const sink = { isTTY: false, write: () => true }
  return createOutput({ stdout: sink, stderr: process.stderr, env: { CI: 'true' } })
}

export async function e2eContext(): Promise<StackContext> {
  useE2eEnvironment()
  return createStackContext(quietOutput(), { envFile: E2E.envFile, dryRun: false, verbose: false })
}

/** Runs a command in a running service container and returns its stdout. */
export async function execIn(ctx: StackContext, service: string, argv: readonly string[], user?: string): Promise<string> {
  return (await ctx.executor.run(composeExec(ctx.target, service, argv, { mutates: true, user }))).stdout
}

export type { ComposeTarget }
