import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { loadEnv } from '../lib/env/load.ts'
import type { AikoEnv } from '../lib/env/schema.ts'
import { createStackContext, PROJECT_DIR, type StackContext } from '../lib/stack/context.ts'
import { startStack } from '../lib/stack/start.ts'
import { releaseImages } from '../lib/release/images.ts'
import { removeComposeProject, removeReleaseImages } from '../test/e2e/helpers/cleanup.ts'
import { runCommand, runScript } from '../test/e2e/helpers/run.ts'
import { quietOutput } from '../test/e2e/helpers/stack.ts'

/** A stack of its own for benchmarks (project aiko-bench, loopback ports 19080/19443). */
export const BENCH = { project: 'aiko-bench', domain: 'aiko.test', httpPort: 19080, httpsPort: 19443, workDir: join(PROJECT_DIR, 'bench', '.work') }
export const benchEnvFile = join(BENCH.workDir, '.env')

export async function startBenchStack(): Promise<{ ctx: StackContext; env: AikoEnv; stop: () => Promise<void> }> {
  process.env['COMPOSE_FILE'] = ['docker-compose.yml', 'test/e2e/compose.e2e.yml'].join(':')
  process.env['COMPOSE_PROJECT_NAME'] = BENCH.project
  process.env['AIKO_VAR_DIR'] = join(BENCH.workDir, 'var')
  // the stack, then the images it built: each release's, and the seed's `up --build` ('naive')
  const stop = async () => {
    await removeComposeProject(BENCH.project)
    await removeReleaseImages(join(BENCH.workDir, 'var')).catch(() => undefined)
    await runCommand('docker', ['rmi', '-f', ...releaseImages('naive')])
    await rm(BENCH.workDir, { recursive: true, force: true })
  }
  await stop()
  await mkdir(BENCH.workDir, { recursive: true })
  const created = await runScript('init-env', ['--env-path', benchEnvFile, '--yes',
    '--set', `DOMAIN=${BENCH.domain}`, '--set', `LETSENCRYPT_EMAIL=ops@${BENCH.domain}`, '--set', `ADMIN_EMAIL=admin@${BENCH.domain}`,
    '--set', 'HTTP_BIND=127.0.0.1', '--set', 'HTTP_BIND6=[::1]', '--set', `HTTP_PORT=${BENCH.httpPort}`, '--set', `HTTPS_PORT=${BENCH.httpsPort}`,
    '--set', 'ACME_DIRECTORY_URL=https://pebble:14000/dir'])
  if (created.code !== 0) throw new Error(created.stderr)
  const { env } = await loadEnv(benchEnvFile)
  const ctx = await createStackContext(quietOutput(), { envFile: benchEnvFile, dryRun: false, verbose: false })
  await startStack(ctx, env, { timeoutMs: 600_000 })
  return { ctx, env, stop }
}

export function printTable(title: string, header: readonly string[], rows: readonly (readonly (string | number)[])[]): void {
  const widths = header.map((cell, index) => Math.max(cell.length, ...rows.map((row) => String(row[index]).length)))
  const line = (cells: readonly (string | number)[]) => cells.map((cell, index) => String(cell).padEnd(widths[index] ?? 0)).join('  ')
  console.log(`\n${title}\n${line(header)}\n${widths.map((width) => '-'.repeat(width)).join('  ')}`)
  for (const row of rows) console.log(line(row))
}
