import { mkdir, rm } from 'node:fs/promises'
import { loadEnv } from '../../lib/env/load.ts'
import { PROJECT_DIR } from '../../lib/stack/context.ts'
import { startStack } from '../../lib/stack/start.ts'
import { removeComposeProject, removeReleaseImages } from './helpers/cleanup.ts'
import { E2E, e2eContext } from './helpers/stack.ts'

/**
 * One stack for the whole e2e suite: a fresh .env written by the real init-env, then the
 * toolkit's own start flow. Teardown removes containers and volumes, also after a failure.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const ctx = await e2eContext()
  const teardown = async (): Promise<void> => {
    if (process.env['E2E_KEEP'] === '1') return
    await removeComposeProject(E2E.project)
    await removeReleaseImages(E2E.varDir)
    await rm(E2E.workDir, { recursive: true, force: true })
  }
  await teardown()
  await mkdir(E2E.workDir, { recursive: true })
  try {
    await ctx.executor.run({
      argv: ['npx', 'zx', 'scripts/init-env.mts', '--env-path', E2E.envFile, '--yes',
        '--set', `DOMAIN=${E2E.domain}`, '--set', `LETSENCRYPT_EMAIL=ops@${E2E.domain}`, '--set', `ADMIN_EMAIL=admin@${E2E.domain}`,
        '--set', `ADMIN_PASSWORD=${E2E.operatorValue}`, '--set', 'HTTP_BIND=127.0.0.1', '--set', 'HTTP_BIND6=[::1]', '--set', `ACME_DIRECTORY_URL=${E2E.acmeDirectory}`,
        '--set', `HTTP_PORT=${E2E.httpPort}`, '--set', `HTTPS_PORT=${E2E.httpsPort}`],
      mutates: true,
      cwd: PROJECT_DIR,
    })
    const { env } = await loadEnv(E2E.envFile)
    const started = Date.now()
    const services = await startStack(ctx, env, { timeoutMs: 600_000 })
    process.stderr.write(`e2e stack up in ${((Date.now() - started) / 1000).toFixed(1)}s: ${services.join(', ')}\n`)
  } catch (error) {
    await teardown()
    throw error
  }
  return teardown
}
