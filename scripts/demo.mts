import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { commonHelp, commonOptions, parseFlags, scriptArgs } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { composeDown } from '../lib/compose/commands.ts'
import { exitCodeHelp, usageError } from '../lib/errors.ts'
import { loadEnv, readEnvFile } from '../lib/env/load.ts'
import { createStackContext, PROJECT_DIR } from '../lib/stack/context.ts'
import { startStack } from '../lib/stack/start.ts'

const HELP = `Usage: npm run demo [-- options]

Brings the whole AI-KO stack up on this machine with the sample apps of test/e2e/fixtures
and stand-in images (no registry needed), in http mode on 127.0.0.1, and prints where to
open it. Its .env and state live in .demo/, never in your own .env.

Options:
  --down           stop the demo and remove its containers, volumes and .demo/
  --port N         HTTP port on 127.0.0.1 (default 8080; HTTPS uses N+363)
${commonHelp.replace(/\n\s+--env-path[^\n]*/, '')}

${exitCodeHelp}`

const DEMO_DIR = join(PROJECT_DIR, '.demo')

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    down: { type: 'boolean', default: false },
    port: { type: 'string', default: '8080' },
  })
  if (flags.help) return void console.log(HELP)
  const envFile = join(DEMO_DIR, '.env')
  process.env['COMPOSE_FILE'] = ['docker-compose.yml', 'test/e2e/compose.e2e.yml'].join(':')
  process.env['COMPOSE_PROJECT_NAME'] = 'aiko-demo'
  process.env['AIKO_VAR_DIR'] = join(DEMO_DIR, 'var')
  const ctx = await createStackContext(out, { envFile, dryRun: flags['dry-run'], verbose: flags.verbose })

  if (flags.down) {
    if ((await readEnvFile(envFile)) === undefined) return void out.info('no demo to remove (.demo/.env does not exist)')
    await out.step('remove the demo stack and its volumes', () => ctx.executor.run(composeDown(ctx.target, { volumes: true })))
    if (!flags['dry-run']) await rm(DEMO_DIR, { recursive: true, force: true })
    out.success('demo removed')
    return
  }

  const httpPort = Number(flags.port)
  if (!Number.isInteger(httpPort) || httpPort < 1024 || httpPort > 65_000) throw usageError(`--port ${flags.port} is not a port number from 1024 to 65000`)
  if ((await readEnvFile(envFile)) === undefined) {
    await mkdir(DEMO_DIR, { recursive: true })
    await out.step('create the demo .env with init-env', () =>
      ctx.executor.run({
        argv: ['npx', 'zx', 'scripts/init-env.mts', '--env-path', envFile, '--yes',
          '--set', 'DOMAIN=aiko.localhost', '--set', 'LETSENCRYPT_EMAIL=ops@aiko.localhost', '--set', 'ADMIN_EMAIL=admin@aiko.localhost',
          '--set', 'HTTP_BIND=127.0.0.1', '--set', 'HTTP_BIND6=[::1]', '--set', `HTTP_PORT=${httpPort}`, '--set', `HTTPS_PORT=${httpPort + 363}`],
        mutates: true,
        cwd: PROJECT_DIR,
      }),
    )
  }
  const { env } = await loadEnv(envFile)
  const services = await startStack(ctx, env, { timeoutMs: 300_000 })
  if (flags['dry-run']) return
  out.success(`${services.length} services healthy: ${services.join(', ')}`)
  await out.step('initialise the database (migrations, levels, subjects, first admin)', () =>
    ctx.executor.run({ argv: ['npx', 'zx', 'scripts/init-db.mts', '--env-path', envFile, '--yes'], mutates: true, cwd: PROJECT_DIR }),
  )
  out.info(`admin: ${env.ADMIN_EMAIL}, initial password in ${join(DEMO_DIR, 'var', 'secrets', 'admin-initial-password')} (0600)`)
  out.info(`open http://127.0.0.1:${env.HTTP_PORT}/ (front end) and http://127.0.0.1:${env.HTTP_PORT}/api/health (API)`)
  out.info('remove it with: npm run demo -- --down')
})
