import type { Command } from '../exec/executor.ts'

/**
 * A throwaway PostgreSQL for proving a dump restorable: the stack's own image, no network at
 * all, trust authentication (so no password exists to leak into `docker inspect`), labelled so
 * a run killed half-way has its container removed by the next one.
 */
export const SCRATCH_LABEL = 'io.aiko.scratch=verify'
export const SCRATCH_USER = 'verify'

const QUICK_MS = 60_000

export function startScratchPostgres(image: string, name: string): Command {
  return {
    argv: ['docker', 'run', '--detach', '--name', name, '--label', SCRATCH_LABEL, '--network', 'none', '--env', 'POSTGRES_HOST_AUTH_METHOD=trust', '--env', `POSTGRES_USER=${SCRATCH_USER}`, '--env', `POSTGRES_DB=${SCRATCH_USER}`, image],
    mutates: true,
    timeoutMs: QUICK_MS,
  }
}

/** Leftovers of a killed verify (by label): removed with their anonymous volumes. */
export const listScratch = (): Command => ({ argv: ['docker', 'ps', '--all', '--quiet', '--filter', `label=${SCRATCH_LABEL}`], mutates: false, timeoutMs: QUICK_MS })

/** SQL sent on stdin, over TCP to 127.0.0.1 (so the entrypoint's temporary init server, socket only, never answers). */
export function scratchSql(name: string, sql: string): Command {
  return { argv: ['docker', 'exec', '-i', name, 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-U', SCRATCH_USER, '-d', SCRATCH_USER, '-f', '-'], mutates: false, input: sql, timeoutMs: QUICK_MS }
}

/** Replays a dump in the scratch database; the first error stops it. */
export function scratchRestore(name: string, inContainer: string): Command {
  return { argv: ['docker', 'exec', name, 'pg_restore', '--no-owner', '--exit-on-error', '-h', '127.0.0.1', '-U', SCRATCH_USER, '-d', SCRATCH_USER, inContainer], mutates: true }
}

/** Every table of the public schema with its exact row count, one "name|count" line each. */
export const ROW_COUNTS_SQL = `SELECT table_name || '|' || (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM public.%I', table_name), false, true, '')))[1]::text
FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name;
`

export const MIGRATION_HEAD_SQL = 'SELECT version_num FROM alembic_version;\n'

/** How many rows of the tables with an email column hold this address (the admin's): a string literal, quotes doubled. */
export function adminRowsSql(email: string): string {
  const literal = `'${email.replaceAll("'", "''")}'`
  return `SELECT coalesce(sum((xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM public.%I WHERE email = %L', table_name, ${literal}), false, true, '')))[1]::text::int), 0)
FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'email';
`
}

/** "name|count" lines into a record; a line of another shape is an error. */
export function parseRowCounts(stdout: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const line of stdout.split('\n').filter((item) => item.trim() !== '')) {
    const match = /^([^|]+)\|(\d+)$/.exec(line.trim())
    if (match === null) throw new Error(`unexpected row count line: ${line}`)
    counts[match[1] ?? ''] = Number(match[2])
  }
  return counts
}
