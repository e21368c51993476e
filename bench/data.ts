import { composeExec } from '../lib/compose/commands.ts'
import type { StackContext } from '../lib/stack/context.ts'
import { formatBytes } from '../lib/ui/output.ts'

const inPostgres = (ctx: StackContext, script: string) =>
  ctx.executor.run({ ...composeExec(ctx.target, 'postgres', ['sh', '-c', script], { mutates: true }), timeoutMs: 1_800_000 })

const psql = (sql: string) => `psql -X -q -tA -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "${sql}"`

/**
 * Grows the bench database to about `megabytes` of table data in two tables (so a parallel dump
 * has something to share), of rows that compress like real text (random hex); returns its size.
 */
export async function growDatabase(ctx: StackContext, megabytes: number): Promise<string> {
  const rowsPerTable = Math.round((megabytes * 1024 * 1024) / 2 / 620)
  const body = Array.from({ length: 16 }, () => 'md5(random()::text)').join(' || ')
  for (const table of ['bench_data_a', 'bench_data_b'])
    await inPostgres(ctx, psql(`CREATE TABLE ${table} AS SELECT g AS id, now() AS created_at, ${body} AS body FROM generate_series(1, ${rowsPerTable}) g`))
  const bytes = Number((await inPostgres(ctx, psql('SELECT pg_database_size(current_database())'))).stdout.trim())
  return formatBytes(bytes)
}

/** The dump formats a pre-migration dump could use, each timed on the same data (the files removed after). */
export async function dumpFormats(ctx: StackContext): Promise<(string | number)[][]> {
  const variants: [string, string][] = [
    ['custom, default compression (the toolkit today)', '--format=custom -f /tmp/bench.dump'],
    ['custom, --compress=1', '--format=custom --compress=1 -f /tmp/bench.dump'],
    ['custom, --compress=0', '--format=custom --compress=0 -f /tmp/bench.dump'],
    ['directory, --jobs=2', '--format=directory --jobs=2 -f /tmp/bench.dump'],
    ['directory, --jobs=2 --compress=1', '--format=directory --jobs=2 --compress=1 -f /tmp/bench.dump'],
  ]
  const rows: (string | number)[][] = []
  for (const [name, flags] of variants) {
    const started = Date.now()
    await inPostgres(ctx, `pg_dump --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB" ${flags}`)
    const seconds = ((Date.now() - started) / 1000).toFixed(1)
    const size = Number((await inPostgres(ctx, 'du -sb /tmp/bench.dump | cut -f1')).stdout.trim())
    await inPostgres(ctx, 'rm -rf /tmp/bench.dump')
    rows.push([name, seconds, formatBytes(size)])
  }
  return rows
}
