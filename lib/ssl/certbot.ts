import { composeRun, type ComposeTarget } from '../compose/commands.ts'
import type { Command } from '../exec/executor.ts'

export const WEBROOT = '/var/www/certbot'
export const LETSENCRYPT_DIR = '/etc/letsencrypt'

export interface CertonlyOptions {
  domain: string
  names: readonly string[]
  email: string
  staging: boolean
  server: string | undefined
  /** Replace a certificate that is not due (staging → production, --force). */
  force: boolean
}

/** `certbot certonly --webroot` for every name in one certificate named after the domain, ECDSA key. */
export function certonly(target: ComposeTarget, options: CertonlyOptions): Command {
  return composeRun(
    target,
    'certbot',
    [
      'certonly', '--webroot', '--webroot-path', WEBROOT,
      '--cert-name', options.domain,
      ...options.names.flatMap((name) => ['-d', name]),
      '--key-type', 'ecdsa', '--elliptic-curve', 'secp384r1',
      '--email', options.email, '--agree-tos', '--no-eff-email', '--non-interactive',
      '--keep-until-expiring',
      ...(options.staging ? ['--staging'] : []),
      ...(options.server === undefined ? [] : ['--server', options.server]),
      ...(options.force ? ['--force-renewal', '--break-my-certs'] : []),
    ],
    { mutates: true, withDeps: true },
  )
}

/** `certbot renew` for our certificate only; certbot decides from its own renewal config. */
export function renew(target: ComposeTarget, domain: string, options: { force: boolean }): Command {
  return composeRun(
    target,
    'certbot',
    ['renew', '--cert-name', domain, '--non-interactive', '--no-random-sleep-on-renew', ...(options.force ? ['--force-renewal'] : [])],
    { mutates: true, withDeps: true },
  )
}

/** Runs a shell snippet in a one-off certbot container (it mounts the webroot and the certificates). */
export function certbotShell(target: ComposeTarget, script: string, args: readonly string[], mutates: boolean): Command {
  return composeRun(target, 'certbot', ['-c', script, 'sh', ...args], { mutates, entrypoint: 'sh' })
}
