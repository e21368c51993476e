import { join, resolve } from 'node:path'
import { request as httpRequest } from 'node:http'
import { composeExec, type ComposeTarget } from '../../../lib/compose/commands.ts'
import { createStackContext, PROJECT_DIR, type StackContext } from '../../../lib/stack/context.ts'
import { createOutput } from '../../../lib/ui/output.ts'

/** A whole-number port from the environment (a second e2e stack beside the shared one), else the default. */
export function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`${name}=${raw} is not a TCP port`)
  return port
}

/**
 * The e2e stack: its own compose project, ports and state folder, never the demo's or an
 * operator's. E2E_PROJECT, E2E_HTTP_PORT, E2E_HTTPS_PORT and E2E_WORK_DIR run a second one
 * beside it (e.g. one test file while the suite's stack is in use).
 */
export const E2E = {
  project: process.env['E2E_PROJECT'] || 'aiko-e2e',
  domain: 'aiko.test',
  httpPort: portFromEnv('E2E_HTTP_PORT', 18080),
  httpsPort: portFromEnv('E2E_HTTPS_PORT', 18443),
  workDir: resolve(PROJECT_DIR, process.env['E2E_WORK_DIR'] || join('test', 'e2e', '.work')),
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

/**
 * One plain-HTTP request to the e2e nginx as a visitor of the site: to 127.0.0.1, with the
 * site's Host (nginx closes requests for any other host without an answer). Node's fetch
 * cannot set Host, hence node:http; the answer comes back as a standard Response.
 */
export function siteRequest(path: string, init: { method?: string; headers?: Record<string, string>; body?: string; host?: string; address?: string; port?: number } = {}): Promise<Response> {
  return new Promise((resolveResponse, reject) => {
    const request = httpRequest(
      { host: init.address ?? '127.0.0.1', port: init.port ?? E2E.httpPort, path, method: init.method ?? 'GET', headers: { ...init.headers, host: init.host ?? E2E.domain }, timeout: 15_000 },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('error', reject)
        response.on('end', () => {
          const headers = new Headers()
          for (const [name, value] of Object.entries(response.headers)) {
            for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, item)
          }
          resolveResponse(new Response(Buffer.concat(chunks), { status: response.statusCode ?? 0, headers }))
        })
      },
    )
    request.on('timeout', () => request.destroy(new Error(`no answer to ${path} within 15 s`)))
    request.on('error', reject)
    request.end(init.body)
  })
}
