import { X509Certificate } from 'node:crypto'

export interface CertificateInfo {
  names: string[]
  notAfter: Date
  fingerprint: string
  serial: string
  issuer: string
  /** Let's Encrypt's staging CA ("(STAGING)" / "Fake LE"): not trusted by browsers. */
  staging: boolean
}

const STAGING_ISSUER = /\(STAGING\)|Fake LE/i

/** Parses the first certificate of a PEM chain; throws when it is not a certificate. */
export function parseCertificate(pem: string): CertificateInfo {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0]
  if (first === undefined) throw new Error('no PEM certificate found')
  const cert = new X509Certificate(first)
  const names = (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4))
  return {
    names,
    notAfter: new Date(cert.validTo),
    fingerprint: cert.fingerprint256,
    serial: cert.serialNumber,
    issuer: cert.issuer.replace(/\n/g, ', '),
    staging: STAGING_ISSUER.test(cert.issuer),
  }
}

export function daysLeft(info: CertificateInfo, now: Date): number {
  return Math.floor((info.notAfter.getTime() - now.getTime()) / 86_400_000)
}

/** Names the certificate must cover: the domain, and www.domain when configured. */
export function wantedNames(domain: string, www: boolean): string[] {
  return www ? [domain, `www.${domain}`] : [domain]
}

export type CertificateVerdict =
  | { usable: true; info: CertificateInfo }
  | { usable: false; reason: string }

/** Whether nginx can serve HTTPS with this certificate: it parses, covers every name and has not expired. */
export function judgeCertificate(pem: string | undefined, names: readonly string[], now: Date): CertificateVerdict {
  if (pem === undefined || pem.trim() === '') return { usable: false, reason: 'no certificate file' }
  let info: CertificateInfo
  try {
    info = parseCertificate(pem)
  } catch (error) {
    return { usable: false, reason: `the certificate file does not parse (${error instanceof Error ? error.message : String(error)})` }
  }
  const missing = names.filter((name) => !info.names.includes(name))
  if (missing.length > 0) return { usable: false, reason: `the certificate does not cover ${missing.join(', ')}` }
  if (info.notAfter.getTime() <= now.getTime()) return { usable: false, reason: `the certificate expired on ${info.notAfter.toISOString()}` }
  return { usable: true, info }
}
