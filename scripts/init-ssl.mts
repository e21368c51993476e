import { dirname } from 'node:path'
import { commonHelp, commonOptions, parseFlags, scriptArgs } from '../lib/cli/args.ts'
import { runMain } from '../lib/cli/main.ts'
import { exitCodeHelp } from '../lib/errors.ts'
import { loadEnv } from '../lib/env/load.ts'
import { createStackContext, PROJECT_DIR } from '../lib/stack/context.ts'
import { withLock, withLockFromFirstStep } from '../lib/stack/lock.ts'
import { installCronJob } from '../lib/cron/install.ts'
import { DEFAULT_CRON_FILE, SSL_RENEW_JOB } from '../lib/ssl/cron.ts'
import { obtainCertificate, renewCertificate } from '../lib/ssl/flows.ts'

const HELP = `Usage: npx zx scripts/init-ssl.mts [options]

Obtains the Let's Encrypt certificate for DOMAIN (and www.DOMAIN when DOMAIN_WWW=true)
with certbot's webroot challenge through the running nginx, then switches nginx to HTTPS
(308 redirect, HSTS, TLS 1.2/1.3). Before any request to Let's Encrypt it proves that every
name reaches this server's nginx, so rate limits are never spent on a name that cannot pass.

Options:
  --renew          for cron: renew when due (fewer than 30 days left), reload nginx only
                   when the certificate changed; one line when nothing is due
  --force          renew or re-issue now even if not due
  --staging        use Let's Encrypt's staging CA (same as LETSENCRYPT_STAGING=true)
  --install-cron   install the twice-a-day renewal job (idempotent) and show it
  --cron-file PATH where --install-cron writes (default ${DEFAULT_CRON_FILE})
${commonHelp}

ACME_DIRECTORY_URL in .env points certbot at another ACME server (tests use Pebble).
Every run but --renew also writes its output to $AIKO_VAR_DIR/logs/init-ssl-*.log (the first
line names the file). Ctrl-C (SIGINT) or SIGTERM stops before the next step; a dropped SSH
session (SIGHUP) does not stop the run.

${exitCodeHelp}`

await runMain(async (out) => {
  const { values: flags } = parseFlags(scriptArgs(import.meta.url), {
    ...commonOptions,
    renew: { type: 'boolean', default: false },
    force: { type: 'boolean', default: false },
    staging: { type: 'boolean', default: false },
    'install-cron': { type: 'boolean', default: false },
    'cron-file': { type: 'string', default: DEFAULT_CRON_FILE },
  })
  if (flags.help) return void console.log(HELP)
  const envPath = flags['env-path']
  const { env } = await loadEnv(envPath)

  if (flags['install-cron']) {
    await installCronJob(out, SSL_RENEW_JOB, { cronFile: flags['cron-file'], projectDir: PROJECT_DIR, nodeBinDir: dirname(process.execPath), envPath, dryRun: flags['dry-run'], environment: process.env })
    return
  }

  const ctx = await createStackContext(out, { envFile: envPath, dryRun: flags['dry-run'], verbose: flags.verbose })
  const effective = flags.staging ? { ...env, LETSENCRYPT_STAGING: true } : env
  const options = { envPath, force: flags.force }
  // Certificates, nginx config and reloads change the stack: under the stack lock (never in a
  // dry run). --renew takes it only once something is due (its first step), so the twice-a-day
  // cron run that finds nothing to do stays cheap and is never refused while a deploy runs.
  if (flags['dry-run']) await (flags.renew ? renewCertificate : obtainCertificate)(ctx, effective, options)
  else if (flags.renew) await withLockFromFirstStep(ctx.varDir, out, 'init-ssl --renew', (output) => renewCertificate({ ...ctx, output }, effective, options))
  else await withLock(ctx.varDir, out, 'init-ssl', () => obtainCertificate(ctx, effective, options))
}, {
  // A log file of every run that changes certificates by hand; --renew (cron) already appends
  // to its own log (/var/log/aiko-ssl-renew.log) and keeps its one line when nothing is due.
  logName: scriptArgs(import.meta.url).includes('--renew') ? undefined : 'init-ssl',
})
