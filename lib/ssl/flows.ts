import type { AikoEnv } from '../env/schema.ts'
import { setEnvVariable } from '../env/update.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import { runningNginx, testAndReloadNginx } from '../nginx/apply.ts'
import type { StackContext } from '../stack/context.ts'
import { serviceAt } from '../stack/service-exec.ts'
import { renderAndApplyNginx } from '../stack/start.ts'
import { daysLeft, judgeCertificate, wantedNames, type CertificateInfo } from './certificate.ts'
import { certbotAt, certonly, renew } from './certbot.ts'
import { recordOperation, writeMetricFile } from '../alerts/metrics.ts'
import { METRIC_FILE, renderExpiryMetric } from './metric.ts'
import { acmeServer, planCertificate, RENEWAL_FORCED, type CertificateAction } from './plan.ts'
import { aaaaProblems, observeIpv6 } from './ipv6.ts'
import { checkReachability } from './reachability.ts'
import { readCertificateState } from './state.ts'

export interface SslOptions {
  envPath: string
  force: boolean
}

/** init-ssl: obtain (or replace) the certificate when needed, then serve HTTPS with it. */
export async function obtainCertificate(ctx: StackContext, env: AikoEnv, options: SslOptions): Promise<void> {
  await requireNginx(ctx)
  const plan = await planFor(ctx, env, options.force)
  if (plan.action === 'keep') ctx.output.info(`certificate for ${env.DOMAIN} valid ${plan.daysLeft} more days: nothing to request`)
  else await request(ctx, env, plan)
  if (ctx.executor.dryRun) return
  const info = await usableCertificate(ctx, env)
  await ctx.output.step('switch nginx to HTTPS (nginx -t, graceful reload)', () => renderAndApplyNginx(ctx, env, 'https'))
  if (await setEnvVariable(options.envPath, 'NGINX_MODE', 'https')) ctx.output.info(`NGINX_MODE=https written to ${options.envPath}`)
  await writeExpiryMetric(ctx, env.DOMAIN, info)
  ctx.output.success(describe(env.DOMAIN, info))
}

/**
 * init-ssl --renew (cron): local check first; ACME and nginx are touched only when something is
 * due. Every run, nothing due included, is recorded for Prometheus (CertificateRenewalFailing
 * fires after two failed runs in a row).
 */
export async function renewCertificate(ctx: StackContext, env: AikoEnv, options: SslOptions): Promise<void> {
  try {
    await renewOnce(ctx, env, options)
  } catch (error) {
    await recordOperation(ctx, 'renew', { ok: false, time: new Date() })
    throw error
  }
  await recordOperation(ctx, 'renew', { ok: true, time: new Date() })
}

async function renewOnce(ctx: StackContext, env: AikoEnv, options: SslOptions): Promise<void> {
  const plan = await planFor(ctx, env, options.force)
  if (plan.action === 'keep') {
    ctx.output.info(`${describe(env.DOMAIN, plan.info)}; renewal due in ${plan.renewInDays} days: nothing to do`)
    if (!ctx.executor.dryRun) await writeExpiryMetric(ctx, env.DOMAIN, plan.info)
    return
  }
  if (plan.action === 'issue')
    throw new ToolkitError(`no usable certificate for ${env.DOMAIN} (${plan.reason})`, {
      exitCode: ExitCode.precondition,
      hint: 'obtain one first with `npx zx scripts/init-ssl.mts`',
    })
  await request(ctx, env, plan)
  if (ctx.executor.dryRun) return
  const info = await usableCertificate(ctx, env)
  if (info.fingerprint === plan.info.fingerprint) {
    ctx.output.warn(`certbot ran but the certificate did not change; ${describe(env.DOMAIN, info)}`)
    return
  }
  await ctx.output.step('reload nginx with the new certificate', () => testAndReloadNginx(ctx))
  await writeExpiryMetric(ctx, env.DOMAIN, info)
  ctx.output.success(`renewed: ${describe(env.DOMAIN, info)}`)
}

async function planFor(ctx: StackContext, env: AikoEnv, force: boolean): Promise<CertificateAction> {
  const state = await readCertificateState(ctx, env.DOMAIN)
  return planCertificate(state, { names: wantedNames(env.DOMAIN, env.DOMAIN_WWW), server: acmeServer(env), force }, new Date())
}

/** The only place that talks to the ACME server, always after the reachability check. */
async function request(ctx: StackContext, env: AikoEnv, plan: Exclude<CertificateAction, { action: 'keep' }>): Promise<void> {
  const names = wantedNames(env.DOMAIN, env.DOMAIN_WWW)
  const server = acmeServer(env)
  ctx.output.info(`${plan.action} the certificate: ${plan.reason}`)
  const certbot = await certbotAt(ctx)
  await ctx.output.step(`check that ${names.join(' and ')} reach this nginx`, async () => {
    const failures = [...aaaaProblems(await observeIpv6(names)), ...(await checkReachability(ctx, certbot, names)).filter((result) => !result.ok)]
    if (failures.length > 0)
      throw new ToolkitError(`${[...new Set(failures.map((f) => f.name))].join(' and ')} do${new Set(failures.map((f) => f.name)).size === 1 ? 'es' : ''} not reach this server's nginx: no request was sent to the ACME server`, {
        exitCode: ExitCode.precondition,
        details: failures.map((failure) => `- ${failure.name}: ${failure.reason}`),
        hint: `check that the DNS A/AAAA records of ${failures.map((f) => f.name).join(', ')} point to this server's public IP (dig +short NAME), that the firewall lets port 80 in, and that no other program holds port 80`,
      })
  })
  const command =
    plan.action === 'renew'
      ? renew(certbot, env.DOMAIN, { force: plan.reason === RENEWAL_FORCED })
      : certonly(certbot, { domain: env.DOMAIN, names, email: env.LETSENCRYPT_EMAIL, staging: env.LETSENCRYPT_STAGING, server: env.ACME_DIRECTORY_URL, force: plan.action !== 'issue' })
  try {
    await ctx.output.step(`request the certificate from ${server}`, () => ctx.executor.run(command))
  } catch (error) {
    if (!(error instanceof ToolkitError)) throw error
    throw new ToolkitError(`the ACME server did not issue the certificate; nginx keeps serving as before`, {
      exitCode: ExitCode.commandFailed,
      details: error.details,
      hint: `read certbot's message above; check that ${server} is reachable from this server and that Let's Encrypt's rate limits are not reached (use LETSENCRYPT_STAGING=true to test)`,
    })
  }
}

async function usableCertificate(ctx: StackContext, env: AikoEnv): Promise<CertificateInfo> {
  const state = await readCertificateState(ctx, env.DOMAIN)
  const verdict = judgeCertificate(state.fullchain, wantedNames(env.DOMAIN, env.DOMAIN_WWW), new Date())
  if (verdict.usable && state.hasKey) return verdict.info
  throw new ToolkitError(`the certificate for ${env.DOMAIN} is not usable (${verdict.usable ? 'no private key' : verdict.reason}): nginx stays in HTTP mode`, {
    exitCode: ExitCode.commandFailed,
    hint: 'run init-ssl again with --verbose and read certbot\'s output',
  })
}

async function requireNginx(ctx: StackContext): Promise<void> {
  if ((await runningNginx(ctx)) !== undefined) return
  // stack mode: the certificate volume is the edge node's, so is the nginx that serves the challenge
  if (ctx.swarm !== undefined) await serviceAt(ctx, 'nginx')
  throw new ToolkitError('nginx is not running: the ACME challenge is served by it', {
    exitCode: ExitCode.precondition,
    hint: 'start the stack first (see DEPLOYMENT_VPS_GUIDE.md), then run init-ssl again',
  })
}

/** $AIKO_VAR_DIR/metrics/aiko_ssl.prom, read by node-exporter's textfile collector. */
async function writeExpiryMetric(ctx: StackContext, domain: string, info: CertificateInfo): Promise<void> {
  await writeMetricFile(ctx.varDir, METRIC_FILE, renderExpiryMetric(domain, info))
}

function describe(domain: string, info: CertificateInfo): string {
  const issuer = info.staging ? 'STAGING (not trusted by browsers)' : info.issuer.split(', ').find((part) => part.startsWith('CN='))?.slice(3) ?? info.issuer
  return `certificate for ${info.names.join(', ')} valid ${daysLeft(info, new Date())} more days (until ${info.notAfter.toISOString().slice(0, 10)}), issuer ${issuer}`
}
