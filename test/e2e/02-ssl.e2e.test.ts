import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { composeContainerIds, composeRun } from '../../lib/compose/commands.ts'
import { splitIds } from '../../lib/docker/containers.ts'
import { PROJECT_DIR, type StackContext } from '../../lib/stack/context.ts'
import { runLoad } from './helpers/load.ts'
import { runCommand, runScript } from './helpers/run.ts'
import { runWithStaleAaaa, STALE_AAAA } from './helpers/stale-aaaa.ts'
import { baseUrl, E2E, e2eContext, execIn } from './helpers/stack.ts'

let ctx: StackContext
let workDir: string
let rootCa: string
const https = `https://${E2E.domain}:${E2E.httpsPort}`
const resolveFlags = [`${E2E.domain}:${E2E.httpsPort}:127.0.0.1`, `www.${E2E.domain}:${E2E.httpsPort}:127.0.0.1`].flatMap((entry) => ['--resolve', entry])

beforeAll(async () => {
  ctx = await e2eContext()
  workDir = await mkdtemp(join(tmpdir(), 'aiko-ssl-'))
  rootCa = join(workDir, 'pebble-root.pem')
})

async function pebbleOrders(): Promise<number> {
  const [id] = splitIds((await ctx.executor.run(composeContainerIds(ctx.target, 'pebble'))).stdout)
  const logs = await runCommand('docker', ['logs', id ?? 'missing'])
  return (logs.stdout + logs.stderr).split('\n').filter((line) => line.includes('order-plz')).length
}

/** PIDs of nginx's worker processes: a graceful reload replaces them, nothing else does. */
async function nginxWorkers(): Promise<string> {
  const script = 'm=$(cat /run/nginx.pid 2>/dev/null || cat /var/run/nginx.pid); for d in /proc/[0-9]*; do set -- $(cat "$d/stat" 2>/dev/null); [ "$4" = "$m" ] && echo "$1"; done; true'
  return (await execIn(ctx, 'nginx', ['sh', '-c', script])).split('\n').filter(Boolean).sort().join(' ')
}

async function servedSerial(name: string): Promise<string> {
  const chain = await runCommand('sh', ['-c', `openssl s_client -connect 127.0.0.1:${E2E.httpsPort} -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -serial`, 'sh', name])
  return chain.stdout.trim()
}

async function envWith(overrides: Record<string, string>): Promise<string> {
  let text = await readFile(E2E.envFile, 'utf8')
  for (const [name, value] of Object.entries(overrides)) text = text.replace(new RegExp(`^${name}=.*$`, 'm'), `${name}=${value}`)
  const path = join(workDir, `env-${Object.keys(overrides).join('-')}`)
  await writeFile(path, text, { mode: 0o600 })
  return path
}

const initSsl = (args: string[], envPath = E2E.envFile) => runScript('init-ssl', ['--env-path', envPath, '--yes', ...args])

describe('init-ssl against Pebble with the real certbot and nginx', () => {
  it('obtains one certificate for both names and switches nginx to HTTPS', async () => {
    const ordersBefore = await pebbleOrders()
    const result = await initSsl([])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/check that aiko\.test and www\.aiko\.test reach this nginx/)
    expect(result.stdout).toMatch(/certificate for aiko\.test, www\.aiko\.test valid \d+ more days/)
    expect(await pebbleOrders()).toBeGreaterThan(ordersBefore)
    expect(await readFile(E2E.envFile, 'utf8')).toMatch(/^NGINX_MODE=https$/m)

    const root = await execIn(ctx, 'pebble', ['wget', '-q', '-O', '-', '--no-check-certificate', 'https://127.0.0.1:15000/roots/0'])
    expect(root).toContain('BEGIN CERTIFICATE')
    await writeFile(rootCa, root)
    for (const name of [E2E.domain, `www.${E2E.domain}`]) {
      const verify = await runCommand('sh', ['-c', `openssl s_client -connect 127.0.0.1:${E2E.httpsPort} -servername "$1" -CAfile "$2" -verify_return_error -verify_hostname "$1" </dev/null`, 'sh', name, rootCa])
      expect(verify.code, verify.stderr).toBe(0)
      expect(verify.stdout + verify.stderr).toContain('Verify return code: 0 (ok)')
    }
  })

  it('serves HTTPS with HSTS and redirects HTTP with 308, except the ACME challenge path', async () => {
    const page = await runCommand('curl', ['-sS', '--cacert', rootCa, ...resolveFlags, '-D', '-', '-o', '/dev/null', `${https}/api/health`])
    expect(page.code, page.stderr).toBe(0)
    expect(page.stdout).toMatch(/^HTTP\/2 200/m)
    expect(page.stdout).toMatch(/^strict-transport-security: max-age=\d+/im)
    const redirect = await runCommand('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '-H', `Host: ${E2E.domain}`, `${baseUrl}/api/health?x=1`])
    expect(redirect.stdout).toBe(`308 https://${E2E.domain}/api/health?x=1`)
    const token = `ssl-${Date.now()}`
    await ctx.executor.run(composeRun(ctx.target, 'certbot', ['-c', `mkdir -p /var/www/certbot/.well-known/acme-challenge && printf %s "$0" > /var/www/certbot/.well-known/acme-challenge/${token}`, token], { mutates: true, entrypoint: 'sh' }))
    const challenge = await runCommand('curl', ['-sS', '-w', ' %{http_code}', '-H', `Host: ${E2E.domain}`, `${baseUrl}/.well-known/acme-challenge/${token}`])
    expect(challenge.stdout).toBe(`${token} 200`)
  })

  it('answers no other name: no TLS handshake without the site\'s server name, HTTP closed for another host', async () => {
    // curl to the IP address sends no server name; --resolve sends the foreign one.
    const byAddress = await runCommand('curl', ['-sS', '-k', '-o', '/dev/null', `https://127.0.0.1:${E2E.httpsPort}/api/health`])
    const foreign = await runCommand('curl', ['-sS', '-k', '-o', '/dev/null', '--resolve', `other.example:${E2E.httpsPort}:127.0.0.1`, `https://other.example:${E2E.httpsPort}/api/health`])
    for (const refused of [byAddress, foreign]) {
      // 35: the TLS handshake failed (nginx's ssl_reject_handshake: an "unrecognized name" alert).
      expect(refused.code, refused.stderr).toBe(35)
    }
    const plain = await runCommand('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: other.example', `${baseUrl}/api/health`])
    // 52: empty reply (444 closes the connection); no redirect to https://other.example.
    expect(plain.code, plain.stderr).toBe(52)
    const own = await runCommand('curl', ['-sS', '--cacert', rootCa, ...resolveFlags, '-o', '/dev/null', '-w', '%{http_code}', `${https}/api/health`])
    expect(own.stdout).toBe('200')
  })

  it('refuses a domain that does not reach this nginx before any ACME request', async () => {
    const orders = await pebbleOrders()
    const result = await initSsl(['--force'], await envWith({ DOMAIN: 'elsewhere.test' }))
    expect(result.code).toBe(4)
    expect(result.stderr).toContain('elsewhere.test and www.elsewhere.test do not reach this server\'s nginx: no request was sent to the ACME server')
    expect(result.stderr).toContain('DNS A/AAAA records')
    expect(await pebbleOrders()).toBe(orders)
  })

  it('refuses a name whose AAAA record points to another machine, naming the record, before any ACME request', async () => {
    const orders = await pebbleOrders()
    const result = await runWithStaleAaaa('init-ssl', ['--env-path', E2E.envFile, '--yes', '--force'])
    expect(result.code, result.stdout + result.stderr).toBe(4)
    expect(result.stderr).toContain(`www.${E2E.domain} does not reach this server's nginx: no request was sent to the ACME server`)
    expect(result.stderr).toContain(`- www.${E2E.domain}: its AAAA record ${STALE_AAAA} is not an address of this server`)
    expect(result.stderr).toContain("Let's Encrypt tries IPv6 first: delete the record at your DNS provider, or point it to this server")
    expect(await pebbleOrders()).toBe(orders)
  })

  it('fails clearly when the ACME server is down, and nginx keeps serving', async () => {
    const workers = await nginxWorkers()
    const result = await initSsl(['--force'], await envWith({ ACME_DIRECTORY_URL: 'https://pebble:14999/dir' }))
    expect(result.code).toBe(5)
    expect(result.stderr).toContain('the ACME server did not issue the certificate; nginx keeps serving as before')
    expect(await nginxWorkers()).toBe(workers)
    expect((await runCommand('curl', ['-sS', '--cacert', rootCa, ...resolveFlags, '-o', '/dev/null', '-w', '%{http_code}', `${https}/`])).stdout).toBe('200')
  })

  it('--renew with nothing due: one line, no ACME request, no nginx reload', async () => {
    const workers = await nginxWorkers()
    const orders = await pebbleOrders()
    const result = await initSsl(['--renew'])
    expect(result.code).toBe(0)
    expect(result.stderr).toBe('')
    expect(result.stdout.trim().split('\n')).toHaveLength(1)
    expect(result.stdout).toMatch(/valid \d+ more days .*: nothing to do/)
    expect(await nginxWorkers()).toBe(workers)
    expect(await pebbleOrders()).toBe(orders)
  })

  it('a forced renewal serves a new serial after a graceful reload, with no failed request', async () => {
    const serial = await servedSerial(E2E.domain)
    const workers = await nginxWorkers()
    const renewal = initSsl(['--renew', '--force'])
    const load = await runLoad({ host: '127.0.0.1', port: E2E.httpsPort, servername: E2E.domain, path: '/version' }, renewal, { clients: 3, maxRequests: 50_000, maxMs: 120_000, pauseMs: 10 })
    const result = await renewal
    expect(result.code, result.stderr).toBe(0)
    process.stderr.write(`forced renewal under load: ${JSON.stringify(load)}\n`)
    expect(load.sent).toBeGreaterThan(10)
    // A reload may reset an idle keep-alive connection at the instant it is reused: a browser
    // retries such a GET once, and so does the load generator (raw figures are printed).
    expect(load.failedAfterRetry).toBe(0)
    expect(await servedSerial(E2E.domain)).not.toBe(serial)
    expect(await nginxWorkers()).not.toBe(workers)
  })

  it('accepts TLS 1.2 and 1.3 only', async () => {
    const attempt = (flag: string) =>
      runCommand('sh', ['-c', `openssl s_client -connect 127.0.0.1:${E2E.httpsPort} -servername aiko.test ${flag} -cipher 'DEFAULT:@SECLEVEL=0' </dev/null`])
    expect((await attempt('-tls1_3')).code).toBe(0)
    expect((await attempt('-tls1_2')).code).toBe(0)
    expect((await attempt('-tls1_1')).code).not.toBe(0)
    expect((await attempt('-tls1')).code).not.toBe(0)
  })

  it('testssl.sh finds nothing rated HIGH or CRITICAL', async () => {
    const report = join(workDir, 'testssl.json')
    await runCommand('testssl', ['--quiet', '--warnings', 'off', '--ip', '127.0.0.1', '--add-ca', rootCa, '--jsonfile', report, `https://${E2E.domain}:${E2E.httpsPort}`], { timeoutMs: 600_000 })
    const findings = JSON.parse(await readFile(report, 'utf8')) as { id: string; severity: string; finding: string }[]
    // The whole scan ran: protocols, ciphers, certificate and vulnerability checks all reported.
    expect(findings.length).toBeGreaterThan(80)
    expect(findings.map((finding) => finding.id)).toEqual(expect.arrayContaining(['TLS1_3', 'TLS1_1', 'heartbleed', 'cert_chain_of_trust']))
    // Pebble's certificates carry neither a CRL nor an OCSP URL; Let's Encrypt's carry a CRL URL.
    const serious = findings.filter((finding) => ['HIGH', 'CRITICAL'].includes(finding.severity) && finding.id !== 'cert_revocation')
    expect(serious).toEqual([])
  }, 600_000)

  it('publishes the certificate expiry to Prometheus', async () => {
    const query = 'http://127.0.0.1:9090/api/v1/query?query=aiko_ssl_certificate_expiry_seconds'
    let value = ''
    for (let attempt = 0; attempt < 20 && value === ''; attempt++) {
      const body = JSON.parse(await execIn(ctx, 'prometheus', ['wget', '-q', '-O', '-', query])) as { data: { result: { metric: { domain: string }; value: [number, string] }[] } }
      value = body.data.result.find((sample) => sample.metric.domain === E2E.domain)?.value[1] ?? ''
      if (value === '') await new Promise((resolve) => setTimeout(resolve, 3000))
    }
    expect(Number(value) * 1000).toBeGreaterThan(Date.now() + 14 * 86_400_000)
  })

  it('the CertificateExpiringSoon alert fires under 14 days (promtool test rules)', async () => {
    const rules = join(PROJECT_DIR, 'monitoring', 'prometheus')
    const result = await runCommand('docker', ['run', '--rm', '--entrypoint', 'promtool', '-v', `${rules}:/rules:ro`, '-w', '/rules', 'aiko-standin/prometheus:test', 'test', 'rules', 'alerts.test.yml'])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toContain('SUCCESS')
  })

  it('--install-cron writes the twice-a-day job once', async () => {
    const cronFile = join(workDir, 'aiko-ssl-renew')
    const first = await initSsl(['--install-cron', '--cron-file', cronFile])
    expect(first.code).toBe(0)
    const content = await readFile(cronFile, 'utf8')
    expect(content).toMatch(/^\d{1,2} 3,15 \* \* \* root cd .* && npx zx scripts\/init-ssl\.mts --renew --yes/m)
    const second = await initSsl(['--install-cron', '--cron-file', cronFile])
    expect(second.stdout).toContain('already installed: nothing to change')
    expect(await readFile(cronFile, 'utf8')).toBe(content)
  })
})
