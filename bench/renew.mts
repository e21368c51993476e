import { renew } from '../lib/ssl/certbot.ts'
import { runScript } from '../test/e2e/helpers/run.ts'
import { BENCH, benchEnvFile, printTable, startBenchStack } from './stack.ts'

/** Wall time of the cron job when nothing is due, next to a plain `certbot renew` run the same way. */
const RUNS = 3
const { ctx, stop } = await startBenchStack()
const timed = async (work: () => Promise<void>): Promise<number> => {
  const started = process.hrtime.bigint()
  await work()
  return Number(process.hrtime.bigint() - started) / 1e9
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

try {
  const issued = await runScript('init-ssl', ['--env-path', benchEnvFile, '--yes'])
  if (issued.code !== 0) throw new Error(issued.stderr)
  const toolkit: number[] = []
  const certbot: number[] = []
  for (let run = 0; run < RUNS; run++) {
    toolkit.push(await timed(async () => {
      const result = await runScript('init-ssl', ['--env-path', benchEnvFile, '--yes', '--renew'])
      if (result.code !== 0) throw new Error(result.stderr)
    }))
    certbot.push(await timed(async () => void (await ctx.executor.run(renew(ctx.target, BENCH.domain, { force: false })))))
  }
  const format = (values: number[]) => values.map((value) => value.toFixed(2)).join(' / ')
  printTable(`Renewal when nothing is due (${RUNS} runs, goal <= 3 s for the toolkit)`, ['command', 'runs (s)', 'median (s)'], [
    ['npx zx scripts/init-ssl.mts --renew', format(toolkit), median(toolkit).toFixed(2)],
    ['docker compose run --rm certbot renew', format(certbot), median(certbot).toFixed(2)],
  ])
} finally {
  await stop()
}
