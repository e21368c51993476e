import { describe, expect, it } from 'vitest'
import { certonly, renew } from '../../lib/ssl/certbot.ts'
import { daysLeft, judgeCertificate, parseCertificate, wantedNames } from '../../lib/ssl/certificate.ts'
import { cronMinute, renderCronFile } from '../../lib/cron/job.ts'
import { SSL_RENEW_JOB } from '../../lib/ssl/cron.ts'
import { renderExpiryMetric } from '../../lib/ssl/metric.ts'
import { acmeServer, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING, parseRenewalServer, planCertificate } from '../../lib/ssl/plan.ts'
import { aaaaProblems } from '../../lib/ssl/ipv6.ts'
import { parseReachability } from '../../lib/ssl/reachability.ts'
import { parseStateOutput } from '../../lib/ssl/state.ts'
import { makeCertificate } from './helpers/certificates.ts'
import type { ComposeTarget } from '../../lib/compose/commands.ts'

const now = new Date()
const names = wantedNames('aiko.fr', true)
const fresh = makeCertificate({ names, days: 90 })
const due = makeCertificate({ names, days: 20 })
const apexOnly = makeCertificate({ names: ['aiko.fr'], days: 90 })
const staging = makeCertificate({ names, days: 90, issuerCN: '(STAGING) Ersatz Edamame E1' })
const target: ComposeTarget = { base: ['docker-compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: {} }

describe('certificates', () => {
  it('parses names, expiry and fingerprint of a real certificate', () => {
    const info = parseCertificate(fresh)
    expect(info.names).toEqual(['aiko.fr', 'www.aiko.fr'])
    expect(daysLeft(info, now)).toBeGreaterThanOrEqual(89)
    expect(info.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
    expect(info.staging).toBe(false)
    expect(parseCertificate(staging).staging).toBe(true)
  })

  it('judges a missing, broken, incomplete or expired certificate unusable, with the reason', () => {
    expect(judgeCertificate(undefined, names, now)).toEqual({ usable: false, reason: 'no certificate file' })
    expect(judgeCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', names, now)).toMatchObject({ usable: false, reason: expect.stringContaining('does not parse') })
    expect(judgeCertificate(apexOnly, names, now)).toEqual({ usable: false, reason: 'the certificate does not cover www.aiko.fr' })
    expect(judgeCertificate(fresh, names, new Date(now.getTime() + 100 * 86_400_000))).toMatchObject({ usable: false, reason: expect.stringContaining('expired') })
    expect(judgeCertificate(fresh, names, now).usable).toBe(true)
  })
})

describe('planCertificate', () => {
  const wanted = { names, server: LETSENCRYPT_PRODUCTION, force: false }
  const state = (fullchain: string | undefined, renewalServer: string | undefined = LETSENCRYPT_PRODUCTION) => ({ fullchain, hasKey: true, renewalServer })

  it('issues when nothing usable exists', () => {
    expect(planCertificate(state(undefined), wanted, now).action).toBe('issue')
    expect(planCertificate(state(apexOnly), wanted, now).action).toBe('issue')
    expect(planCertificate({ ...state(fresh), hasKey: false }, wanted, now).action).toBe('issue')
  })

  it('keeps a fresh certificate without any ACME call, renews one that is due or forced', () => {
    expect(planCertificate(state(fresh), wanted, now)).toMatchObject({ action: 'keep', renewInDays: expect.any(Number) })
    expect(planCertificate(state(due), wanted, now)).toMatchObject({ action: 'renew', reason: expect.stringContaining('days left') })
    expect(planCertificate(state(fresh), { ...wanted, force: true }, now)).toMatchObject({ action: 'renew', reason: 'renewal forced' })
  })

  it('replaces a staging certificate when production is wanted, even when it is not due', () => {
    expect(planCertificate(state(staging, LETSENCRYPT_STAGING), wanted, now).action).toBe('replace')
    expect(planCertificate(state(staging, undefined), wanted, now).action).toBe('replace')
    expect(planCertificate(state(fresh, LETSENCRYPT_STAGING), { ...wanted, server: LETSENCRYPT_STAGING }, now).action).toBe('keep')
  })

  it('chooses the ACME server from the env', () => {
    expect(acmeServer({ LETSENCRYPT_STAGING: false })).toBe(LETSENCRYPT_PRODUCTION)
    expect(acmeServer({ LETSENCRYPT_STAGING: true })).toBe(LETSENCRYPT_STAGING)
    expect(acmeServer({ LETSENCRYPT_STAGING: true, ACME_DIRECTORY_URL: 'https://pebble:14000/dir' })).toBe('https://pebble:14000/dir')
  })
})

describe('certbot commands', () => {
  it('certonly: webroot, both names, ECDSA, non-interactive, staging and server switches', () => {
    const argv = certonly(target, { domain: 'aiko.fr', names, email: 'ops@aiko.fr', staging: true, server: 'https://pebble:14000/dir', force: false }).argv
    expect(argv.slice(0, 7)).toEqual(['docker-compose', '--project-directory', '/srv/aiko', '--env-file', '/srv/aiko/.env', 'run', '--rm'])
    expect(argv.join(' ')).toContain('certbot certonly --webroot --webroot-path /var/www/certbot --cert-name aiko.fr -d aiko.fr -d www.aiko.fr --key-type ecdsa')
    expect(argv.join(' ')).toContain('--email ops@aiko.fr --agree-tos --no-eff-email --non-interactive')
    expect(argv.slice(-3)).toEqual(['--staging', '--server', 'https://pebble:14000/dir'])
    expect(argv).not.toContain('--force-renewal')
    expect(certonly(target, { domain: 'aiko.fr', names, email: 'e@aiko.fr', staging: false, server: undefined, force: true }).argv.slice(-2)).toEqual(['--force-renewal', '--break-my-certs'])
  })

  it('renew touches only our certificate and forces only when asked', () => {
    expect(renew(target, 'aiko.fr', { force: false }).argv.slice(-6)).toEqual(['certbot', 'renew', '--cert-name', 'aiko.fr', '--non-interactive', '--no-random-sleep-on-renew'])
    expect(renew(target, 'aiko.fr', { force: true }).argv.at(-1)).toBe('--force-renewal')
  })
})

describe('parsers and renderers', () => {
  it('reads the state printed by the certificate probe', () => {
    const parsed = parseStateOutput(`${fresh}@@aiko-key@@\npresent\n@@aiko-renewal@@\nversion = 2.1.0\nserver = https://pebble:14000/dir\n`)
    expect(parsed).toEqual({ fullchain: fresh, hasKey: true, renewalServer: 'https://pebble:14000/dir' })
    expect(parseStateOutput('@@aiko-key@@\n@@aiko-renewal@@\n')).toEqual({ fullchain: undefined, hasKey: false, renewalServer: undefined })
    expect(parseRenewalServer('[renewalparams]\nserver = https://x/dir\n')).toBe('https://x/dir')
  })

  it('reads the reachability answers, a missing line is a failure', () => {
    expect(parseReachability('aiko.fr OK\nwww.aiko.fr FAIL <urlopen error [Errno -2] Name does not resolve>\n', ['aiko.fr', 'www.aiko.fr', 'x.fr'])).toEqual([
      { name: 'aiko.fr', ok: true, reason: '' },
      { name: 'www.aiko.fr', ok: false, reason: '<urlopen error [Errno -2] Name does not resolve>' },
      { name: 'x.fr', ok: false, reason: 'no answer from the check' },
    ])
  })

  it('renders the expiry metric in the textfile format', () => {
    const info = parseCertificate(fresh)
    expect(renderExpiryMetric('aiko.fr', info)).toContain(`aiko_ssl_certificate_expiry_seconds{domain="aiko.fr",staging="false"} ${Math.floor(info.notAfter.getTime() / 1000)}\n`)
  })

  it('renders a cron file twice a day that keeps its minute on reinstall', () => {
    const file = renderCronFile(SSL_RENEW_JOB, { minute: 17, projectDir: "/srv/it's", nodeBinDir: '/usr/local/bin', envPath: '.env', logFile: '/var/log/aiko-ssl-renew.log' })
    expect(file).toContain(`17 3,15 * * * root cd '/srv/it'\\''s' && npx zx scripts/init-ssl.mts --renew --yes --env-path '.env' >> '/var/log/aiko-ssl-renew.log' 2>&1`)
    expect(file).toContain('PATH=/usr/local/bin:')
    expect(cronMinute(SSL_RENEW_JOB, file)).toBe(17)
    const minute = cronMinute(SSL_RENEW_JOB, undefined)
    expect(minute).toBeGreaterThanOrEqual(0)
    expect(minute).toBeLessThan(60)
  })
})

describe('AAAA records', () => {
  it('names each AAAA record that is not an address of this server; no AAAA, or our own, is fine', () => {
    expect(aaaaProblems({ aaaa: { 'aiko.fr': [], 'www.aiko.fr': ['2001:db8::7'] }, own: ['2001:DB8::7'] })).toEqual([])
    expect(aaaaProblems({ aaaa: { 'aiko.fr': ['2001:db8::7'], 'www.aiko.fr': ['2001:db8:ffff::1', '2001:db8::7'] }, own: ['2001:db8::7'] })).toEqual([
      { name: 'www.aiko.fr', ok: false, reason: "its AAAA record 2001:db8:ffff::1 is not an address of this server (its IPv6: 2001:db8::7); Let's Encrypt tries IPv6 first: delete the record at your DNS provider, or point it to this server" },
    ])
    expect(aaaaProblems({ aaaa: { 'aiko.fr': ['2001:db8::1', '2001:db8::2'] }, own: [] })[0]?.reason).toBe(
      "its AAAA records 2001:db8::1, 2001:db8::2 are not an address of this server (it has no public IPv6); Let's Encrypt tries IPv6 first: delete the record at your DNS provider, or point it to this server",
    )
  })
})
