import { composeUp } from '../lib/compose/commands.ts'
import { nginxReload, runningNginx } from '../lib/nginx/apply.ts'
import { releaseTarget } from '../lib/release/switch.ts'
import { runMixedLoad, type LoadFigures } from '../test/e2e/helpers/load.ts'
import { cpus } from 'node:os'
import { runScript } from '../test/e2e/helpers/run.ts'
import { dumpFormats, growDatabase } from './data.ts'
import { BENCH, benchEnvFile, printTable, startBenchStack } from './stack.ts'

/**
 * Downtime of three ways to ship a release, in one run, under the same loopback load:
 * (a) the seed's `docker compose up -d --build`, (b) deploy.mts, (c) rollback.mts, and the
 * floor: plain nginx reloads with no deploy at all. Then the database grows to about 1 GB
 * (BENCH_DATA_MB) and deploy runs twice more: (d) with no migration pending (no dump is
 * taken) and (e) with one pending (the pre-migration dump), beside (b) as the baseline; and
 * the pre-migration dump's formats are timed on that data.
 */
const { ctx, stop } = await startBenchStack()
const base = { host: '127.0.0.1', port: BENCH.httpPort, servername: BENCH.domain, plain: true }
const rows: (string | number)[][] = []

async function measure(name: string, work: () => Promise<unknown>): Promise<void> {
  const started = Date.now()
  const running = work()
  const load = await runMixedLoad(base, running, { maxMs: 300_000 })
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const versions = Object.entries(load.api.firstSeenMs).sort(([, a], [, b]) => a - b)
  const switched = versions.length > 1 ? ((versions.at(-1)?.[1] ?? 0) / 1000).toFixed(1) : '-'
  const sum = (pick: (figures: LoadFigures) => number) => pick(load.api) + pick(load.web)
  const fiveXX = (figures: LoadFigures) => Object.entries(figures.statuses).filter(([status]) => Number(status) >= 500).reduce((total, [, count]) => total + count, 0)
  rows.push([name, sum((f) => f.sent), sum((f) => f.rawFailed), sum((f) => f.failedAfterRetry), sum(fiveXX), switched, seconds])
  await running
}

const script = async (name: string, args: string[], env: Record<string, string> = {}) => {
  const result = await runScript(name, ['--env-path', benchEnvFile, '--yes', ...args], { env, timeoutMs: 1_800_000 })
  if (result.code !== 0) throw new Error(`${name} failed: ${result.stderr}`)
}

try {
  await measure('nginx reload x5 (floor)', async () => {
    const nginx = (await runningNginx(ctx)) ?? 'nginx-not-running'
    for (let i = 0; i < 5; i++) {
      await ctx.executor.run(nginxReload(nginx))
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  })
  await measure('(a) compose up -d --build (seed)', () => ctx.executor.run(composeUp(releaseTarget(ctx, 'naive').target, [], { build: true })))
  await script('deploy', [])
  await measure('(b) deploy.mts', () => script('deploy', []))
  await measure('(c) rollback.mts', () => script('rollback', []))
  const dataMb = Number(process.env['BENCH_DATA_MB'] ?? '1024')
  const size = await growDatabase(ctx, dataMb)
  await measure(`(d) deploy.mts at ${size}, no migration pending`, () => script('deploy', []))
  await measure(`(e) deploy.mts at ${size}, one migration pending`, () => script('deploy', [], { FIXTURE_MIGRATIONS: '0002_add_nickname' }))
  printTable('Deploy downtime (loopback load: 1 paced API client + 3 front-end clients, keep-alive)', ['scenario', 'requests', 'failed (raw)', 'failed after 1 retry', '5xx', 'new version after s', 'wall s'], rows)
  printTable(`pg_dump of the database at ${size} (inside the postgres container, ${cpus().length} cores)`, ['format', 'seconds', 'size'], await dumpFormats(ctx))
} finally {
  await stop()
}
