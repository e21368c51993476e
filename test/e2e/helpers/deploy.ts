import { expect } from 'vitest'
import { loadEnv } from '../../../lib/env/load.ts'
import type { StackContext } from '../../../lib/stack/context.ts'
import { runMixedLoad, type LoadFigures, type LoadTarget } from './load.ts'
import { runScript, type RunResult } from './run.ts'
import { E2E, execIn } from './stack.ts'

/**
 * Deploys and rollbacks of the shared e2e stack, as 04-deploy and 08-migrations run them:
 * the real scripts as operators type them, on the working tree's commit. No new commit is
 * needed per release: a release id is the UTC second it started plus the commit
 * (lib/release/log.ts releaseId), and no deploy of this stack ends within one second.
 */

export const envArgs = ['--env-path', E2E.envFile, '--yes']

/** `npx zx scripts/deploy.mts` on the e2e .env; `env` reaches compose (FIXTURE_* knobs). */
export const deploy = (extra: string[] = [], env: Record<string, string> = {}): Promise<RunResult> =>
  runScript('deploy', [...envArgs, '--health-timeout', '60', ...extra], { env })

export const rollback = (extra: string[] = []): Promise<RunResult> => runScript('rollback', [...envArgs, '--health-timeout', '60', ...extra])

/** 02-ssl leaves nginx in https mode; a file run alone finds it in http mode. */
export const httpsMode = async (): Promise<boolean> => (await loadEnv(E2E.envFile)).env.NGINX_MODE === 'https'

/** Where load goes: nginx's published port in the mode it serves. */
export const loadBase = async (): Promise<Omit<LoadTarget, 'path'>> =>
  (await httpsMode()) ? { host: '127.0.0.1', port: E2E.httpsPort, servername: E2E.domain } : { host: '127.0.0.1', port: E2E.httpPort, servername: E2E.domain, plain: true }

/**
 * The release the API answers with, asked from inside the nginx container on the site's
 * unpublished plain port (lib/nginx/served.ts): over TLS to 127.0.0.1, wget would send no
 * server name and the default server's ssl_reject_handshake would refuse it.
 */
export const servedVersion = async (ctx: StackContext): Promise<{ version: string }> => {
  const answer: unknown = JSON.parse(await execIn(ctx, 'nginx', ['wget', '-q', '-O', '-', '--header', `Host: ${E2E.domain}`, 'http://127.0.0.1:8081/api/version']))
  const version = typeof answer === 'object' && answer !== null && 'version' in answer ? answer.version : undefined
  if (typeof version !== 'string') throw new Error(`/api/version answered no version: ${JSON.stringify(answer)}`)
  return { version }
}

/** One SQL string run by psql in the postgres container (unaligned, tuples only). */
export const psql = (ctx: StackContext, sql: string): Promise<string> =>
  execIn(ctx, 'postgres', ['sh', '-c', 'psql -X -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$1"', 'psql', sql])

export function expectNoFailure(load: { api: LoadFigures; web: LoadFigures }): void {
  for (const figures of [load.api, load.web]) {
    expect(figures.sent).toBeGreaterThan(20)
    expect(figures.failedAfterRetry, JSON.stringify(figures)).toBe(0)
  }
}

/** Runs `work` (a deploy or rollback) under the mixed load of helpers/load.ts and prints the figures. */
export async function underLoad(work: Promise<RunResult>): Promise<{ result: RunResult; load: { api: LoadFigures; web: LoadFigures } }> {
  const load = await runMixedLoad(await loadBase(), work, { maxMs: 240_000 })
  const result = await work
  process.stderr.write(`load: api ${JSON.stringify(load.api)} web ${JSON.stringify(load.web)}\n`)
  return { result, load }
}
