import { describe, expect, it } from 'vitest'
import { formatArgv } from '../../lib/exec/executor.ts'
import { ToolkitError } from '../../lib/errors.ts'
import { certbotContainer, certbotShell, certonly, renew, type CertbotContainer } from '../../lib/ssl/certbot.ts'

/** What `docker compose --profile tools config` (2.26) prints for the certbot service, trimmed to the keys read. */
const CONFIG = `name: aiko
services:
  certbot:
    entrypoint:
      - certbot
    environment:
      REQUESTS_CA_BUNDLE: /etc/ssl/certs/ca-certificates.crt
      TZ: Europe/Paris
    extra_hosts:
      - pebble=10.214.0.12
      - aiko.test:10.214.0.11
    image: certbot/certbot:v2.11.0
    volumes:
      - source: letsencrypt
        target: /etc/letsencrypt
        type: volume
        volume: {}
      - source: certbot-webroot
        target: /var/www/certbot
        type: volume
        volume: {}
      - source: /etc/localtime
        target: /etc/localtime
        type: bind
volumes:
  certbot-webroot:
    name: aiko_certbot-webroot
  letsencrypt:
    name: aiko_letsencrypt
`

const container: CertbotContainer = certbotContainer(CONFIG)
const line = (command: { argv: readonly string[] }) => formatArgv(command.argv)

describe('certbot in stack mode: the compose service as a docker run on the edge node', () => {
  it('certbotContainer reads image, entrypoint, named volumes by their full names, environment, extra hosts', () => {
    expect(container).toEqual({
      image: 'certbot/certbot:v2.11.0',
      entrypoint: ['certbot'],
      volumes: ['aiko_letsencrypt:/etc/letsencrypt', 'aiko_certbot-webroot:/var/www/certbot'],
      environment: { REQUESTS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt', TZ: 'Europe/Paris' },
      hosts: ['pebble:10.214.0.12', 'aiko.test:10.214.0.11'],
    })
  })

  it('the short syntax of compose 1.29 and a list environment', () => {
    const short = certbotContainer('services:\n  certbot:\n    image: c:1\n    environment: ["TZ=UTC", "EMPTY"]\n    volumes: ["letsencrypt:/etc/letsencrypt:rw", "./x:/x"]\nvolumes:\n  letsencrypt:\n    name: p_letsencrypt\n')
    expect(short).toEqual({ image: 'c:1', entrypoint: [], volumes: ['p_letsencrypt:/etc/letsencrypt:rw'], environment: { TZ: 'UTC' }, hosts: [] })
  })

  it('no certbot service: exit 3 naming it', () => {
    let caught: unknown
    try {
      certbotContainer('services:\n  nginx:\n    image: n\n')
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(ToolkitError)
    expect(`${(caught as ToolkitError).exitCode} ${(caught as ToolkitError).message}`).toBe('3 the compose files have no usable certbot service (image, volumes): init-ssl cannot run certbot')
  })

  it('certonly, renew and the shell snippet', () => {
    const at = { certbot: container }
    const run = 'docker run --rm --entrypoint certbot -v aiko_letsencrypt:/etc/letsencrypt -v aiko_certbot-webroot:/var/www/certbot -e REQUESTS_CA_BUNDLE -e TZ --add-host pebble:10.214.0.12 --add-host aiko.test:10.214.0.11 certbot/certbot:v2.11.0'
    expect(line(certonly(at, { domain: 'aiko.test', names: ['aiko.test'], email: 'ops@aiko.test', staging: false, server: 'https://pebble:14000/dir', force: false }))).toBe(
      `${run} certonly --webroot --webroot-path /var/www/certbot --cert-name aiko.test -d aiko.test --key-type ecdsa --elliptic-curve secp384r1 --email ops@aiko.test --agree-tos --no-eff-email --non-interactive --keep-until-expiring --server https://pebble:14000/dir`,
    )
    expect(certonly(at, { domain: 'aiko.test', names: ['aiko.test'], email: 'e@aiko.test', staging: false, server: undefined, force: false }).env).toEqual({ REQUESTS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt', TZ: 'Europe/Paris' })
    expect(line(renew(at, 'aiko.test', { force: true }))).toBe(`${run} renew --cert-name aiko.test --non-interactive --no-random-sleep-on-renew --force-renewal`)
    expect(line(certbotShell(at, 'echo "$1"', ['x'], false))).toBe(run.replace('--entrypoint certbot', '--entrypoint sh') + ` -c 'echo "$1"' sh x`)
  })
})
