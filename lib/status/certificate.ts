import { daysLeft, parseCertificate } from '../ssl/certificate.ts'
import { LETSENCRYPT_STAGING, type CertificateState } from '../ssl/plan.ts'
import type { CertificateStatus } from './report.ts'

/** CN and O of an issuer as node prints it ("C=US\nO=Let's Encrypt\nCN=E5", or joined with ", "). */
export function parseIssuer(issuer: string): { cn: string | null; o: string | null } {
  const field = (name: string): string | null => new RegExp(`(?:^|[\\n,]\\s*)${name}=([^\\n,]+)`).exec(issuer)?.[1]?.trim() ?? null
  return { cn: field('CN'), o: field('O') }
}

const unknown = (domain: string, note: string, checked: boolean): CertificateStatus => ({
  domain, checked, present: checked ? false : null, names: [], notAfter: null, daysLeft: null, issuer: null, ca: null, note,
})

/**
 * What the operator needs to know of the served certificate; `state` is undefined when the
 * files could not be read. Staging comes from the issuer (lib/ssl's detection) or from
 * certbot's renewal config pointing at the staging CA.
 */
export function describeCertificate(domain: string, state: CertificateState | undefined, now: Date, unreadable = 'not read (nginx is not running)'): CertificateStatus {
  if (state === undefined) return unknown(domain, unreadable, false)
  if (state.fullchain === undefined) return unknown(domain, 'no certificate file', true)
  try {
    const info = parseCertificate(state.fullchain)
    return {
      domain,
      checked: true,
      present: true,
      names: info.names,
      notAfter: info.notAfter.toISOString(),
      daysLeft: daysLeft(info, now),
      issuer: parseIssuer(info.issuer),
      ca: info.staging || state.renewalServer === LETSENCRYPT_STAGING ? 'staging' : 'production',
      note: state.hasKey ? null : 'the private key is missing',
    }
  } catch (error) {
    return { ...unknown(domain, `the certificate file does not parse (${error instanceof Error ? error.message : String(error)})`, true), present: true }
  }
}
