import type { AikoEnv } from '../env/schema.ts'
import type { StackContext } from '../stack/context.ts'
import { judgeCertificate, wantedNames } from './certificate.ts'
import { readCertificateState } from './state.ts'

/**
 * The mode nginx can really serve: https only when the certificate files exist, parse and
 * cover every name; otherwise http with a loud warning, never a dead nginx.
 */
export async function servableNginxMode(ctx: StackContext, env: AikoEnv): Promise<'http' | 'https'> {
  if (env.NGINX_MODE === 'http') return 'http'
  const state = await readCertificateState(ctx, env.DOMAIN)
  const verdict = judgeCertificate(state.fullchain, wantedNames(env.DOMAIN, env.DOMAIN_WWW), new Date())
  if (verdict.usable && state.hasKey) return 'https'
  const reason = verdict.usable ? 'the private key is missing' : verdict.reason
  ctx.output.warn(`NGINX_MODE=https but ${reason} for ${env.DOMAIN}: serving HTTP only. Run \`npx zx scripts/init-ssl.mts\` to obtain the certificate.`)
  return 'http'
}
