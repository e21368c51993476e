import { composeUp } from '../lib/compose/commands.ts'
import { nginxReload, runningNginx } from '../lib/nginx/apply.ts'
import { releaseTarget } from '../lib/release/switch.ts'
import { runMixedLoad, type LoadFigures } from '../test/e2e/helpers/load.ts'
import { cpus } from 'node:os'
import { runScript } from '../test/e2e/helpers/run.ts'
import { dumpFormats, growDatabase } from './data.ts'
import { BENCH, benchEnvFile, printTable, startBenchStack } from './stack.ts'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { PROJECT_DIR } from '../lib/stack/context.ts'
import { Phases } from '../test/e2e/box/box.ts'
import { cluster, clusterPrerequisites } from '../test/e2e/swarm/cluster.ts'
import { prepareStackMode, SWARM_DOMAIN, SWARM_EDGE } from '../test/e2e/swarm/stack-mode.ts'

/**
 * Downtime of three ways to ship a release, in one run, under the same loopback load:
 * (a) the seed's `docker compose up -d --build`, (b) deploy.mts, (c) rollback.mts, and the
 * floor: plain nginx reloads with no deploy at all. Then the database grows to about 1 GB
 * (BENCH_DATA_MB) and deploy runs twice more: (d) with no migration pending (no dump is
 * taken) and (e) with one pending (the pre-migration dump), beside (b) as the baseline; and
 * the pre-migration dump's formats are timed on that data. Last, the stack mode
 * (DEPLOY_TARGET=swarm) on the three-node Swarm of test/e2e/swarm/cluster.sh, under the same
 * load through the edge node's nginx: (f) deploy.mts, a rolling update, and (g) rollback.mts
 * (BENCH_SWARM=0 leaves them out).
 */
const { ctx, stop } = await startBenchStack()
const local = { host: '127.0.0.1', port: BENCH.httpPort, servername: BENCH.domain, plain: true }
const rows: (string | number)[][] = []
let dumped: { size: string; formats: Awaited<ReturnType<typeof dumpFormats>> } | undefined

async function measure(name: string, work: () => Promise<unknown>, base = local): Promise<void> {
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

const script = async (name: string, args: string[], env: Record<string, string> = {}, envPath = benchEnvFile) => {
  const result = await runScript(name, ['--env-path', envPath, '--yes', ...args], { env, timeoutMs: 1_800_000 })
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
  dumped = { size, formats: await dumpFormats(ctx) }
} finally {
  await stop()
}

const swarmSkip = process.env['BENCH_SWARM'] === '0' ? 'BENCH_SWARM=0' : await clusterPrerequisites()
if (swarmSkip === undefined) {
  const workDir = join(PROJECT_DIR, 'bench', '.work-swarm')
  const phases = new Phases('bench-swarm')
  try {
    const env = await prepareStackMode({ workDir, project: 'aikobench', phases, log: (line) => process.stderr.write(`[bench-swarm] ${line}\n`) })
    const edge = { host: SWARM_EDGE, port: 80, servername: SWARM_DOMAIN, plain: true }
    const swarmScript = (name: string) => script(name, ['--health-timeout', '400'], env, join(workDir, '.env'))
    await swarmScript('deploy')
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    await measure('(f) deploy.mts, stack mode (3-node Swarm)', () => swarmScript('deploy'), edge)
    await measure('(g) rollback.mts, stack mode (3-node Swarm)', () => swarmScript('rollback'), edge)
  } finally {
    process.stderr.write(`${phases.summary()}\n`)
    await cluster(['destroy'], { timeoutMs: 300_000 })
    await rm(workDir, { recursive: true, force: true })
  }
} else process.stderr.write(`stack-mode rows left out: ${swarmSkip}\n`)

printTable('Deploy downtime (1 paced API client + 3 front-end clients, keep-alive; a-e on loopback, f-g through the Swarm edge node)', ['scenario', 'requests', 'failed (raw)', 'failed after 1 retry', '5xx', 'new version after s', 'wall s'], rows)
printTable(`pg_dump of the database at ${dumped.size} (inside the postgres container, ${cpus().length} cores)`, ['format', 'seconds', 'size'], dumped.formats)
