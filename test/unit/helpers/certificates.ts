import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A real self-signed certificate made by openssl, for parser tests. */
export function makeCertificate(options: { names: string[]; days: number; issuerCN?: string }): string {
  const dir = mkdtempSync(join(tmpdir(), 'aiko-cert-'))
  try {
    const out = join(dir, 'cert.pem')
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', out, '-days', String(options.days),
      '-subj', `/CN=${options.issuerCN ?? options.names[0]}`,
      '-addext', `subjectAltName=${options.names.map((name) => `DNS:${name}`).join(',')}`,
    ], { stdio: 'pipe' })
    return readFileSync(out, 'utf8')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
