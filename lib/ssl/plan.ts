import { daysLeft, judgeCertificate, type CertificateInfo } from './certificate.ts'

export const LETSENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory'
export const LETSENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory'
/** certbot's default: renew when fewer than 30 days are left. */
export const RENEW_BEFORE_DAYS = 30
export const RENEWAL_FORCED = 'renewal forced'

/** What is on disk: the served chain and the ACME server certbot's renewal config points at. */
export interface CertificateState {
  fullchain: string | undefined
  hasKey: boolean
  renewalServer: string | undefined
}

export type CertificateAction =
  | { action: 'issue'; reason: string }
  | { action: 'replace'; reason: string; info: CertificateInfo }
  | { action: 'renew'; reason: string; info: CertificateInfo }
  | { action: 'keep'; info: CertificateInfo; daysLeft: number; renewInDays: number }

export function acmeServer(env: { ACME_DIRECTORY_URL?: string | undefined; LETSENCRYPT_STAGING: boolean }): string {
  return env.ACME_DIRECTORY_URL ?? (env.LETSENCRYPT_STAGING ? LETSENCRYPT_STAGING : LETSENCRYPT_PRODUCTION)
}

/**
 * Decides from local files only (no ACME request): issue when there is no usable
 * certificate, replace when it comes from another ACME server (a staging certificate must
 * not survive the switch to production), renew when due or forced, keep otherwise.
 */
export function planCertificate(state: CertificateState, wanted: { names: readonly string[]; server: string; force: boolean }, now: Date): CertificateAction {
  const verdict = judgeCertificate(state.fullchain, wanted.names, now)
  if (!verdict.usable) return { action: 'issue', reason: verdict.reason }
  if (!state.hasKey) return { action: 'issue', reason: 'the private key is missing' }
  const { info } = verdict
  if (state.renewalServer !== undefined && state.renewalServer !== wanted.server)
    return { action: 'replace', reason: `the certificate comes from ${state.renewalServer}, the configuration asks for ${wanted.server}`, info }
  if (info.staging && wanted.server !== LETSENCRYPT_STAGING) return { action: 'replace', reason: 'the certificate was issued by the staging CA', info }
  const left = daysLeft(info, now)
  if (wanted.force) return { action: 'renew', reason: RENEWAL_FORCED, info }
  if (left < RENEW_BEFORE_DAYS) return { action: 'renew', reason: `${left} days left`, info }
  return { action: 'keep', info, daysLeft: left, renewInDays: left - RENEW_BEFORE_DAYS }
}

/** Reads the `server = ...` line of certbot's renewal config. */
export function parseRenewalServer(conf: string): string | undefined {
  return /^\s*server\s*=\s*(\S+)\s*$/m.exec(conf)?.[1]
}
