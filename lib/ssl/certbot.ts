import { YAML } from 'zx'
import { z } from 'zod'
import { composeConfig, composeRun, type ComposeTarget } from '../compose/commands.ts'
import { ExitCode, ToolkitError } from '../errors.ts'
import type { Command } from '../exec/executor.ts'
import type { StackContext } from '../stack/context.ts'

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

/**
 * The certbot service of the compose files as a plain `docker run` (stack mode: the stack has no
 * certbot service; its one-off runs on the edge node, with the stack's certificate and webroot
 * volumes, which carry the same names as in compose mode).
 */
export interface CertbotContainer {
  image: string
  entrypoint: readonly string[]
  /** `volume-name:/path` */
  volumes: readonly string[]
  /** The service's environment (TZ, a CA bundle path), handed over by name. */
  environment: Readonly<Record<string, string>>
  /** `name:address` */
  hosts: readonly string[]
}

/** Where certbot runs: a `compose run` of its service, or that service as a `docker run` (stack mode). */
export type CertbotAt = ComposeTarget | { certbot: CertbotContainer }

const stringList = z.union([z.string().transform((value) => [value]), z.array(z.string())])
const ComposeCertbot = z.object({
  services: z.record(z.string(), z.unknown()),
  volumes: z.record(z.string(), z.object({ name: z.string().optional() }).nullable()).optional(),
})
const CertbotService = z.object({
  image: z.string(),
  entrypoint: stringList.optional(),
  environment: z.union([z.record(z.string(), z.union([z.string(), z.number(), z.null()])), z.array(z.string())]).optional(),
  volumes: z.array(z.union([z.string(), z.object({ type: z.string(), source: z.string().optional(), target: z.string() })])).optional(),
  extra_hosts: z.union([z.array(z.string()), z.record(z.string(), z.union([z.string(), z.array(z.string())]))]).optional(),
})

/**
 * Reads the certbot service from `compose --profile tools config` (COMPOSE_FILE honoured, .env
 * interpolated): image, entrypoint, named volumes under their full names, environment, extra hosts.
 */
export function certbotContainer(configYaml: string): CertbotContainer {
  const config = ComposeCertbot.safeParse(YAML.parse(configYaml))
  const service = config.success ? CertbotService.safeParse(config.data.services['certbot']) : undefined
  if (!config.success || service === undefined || !service.success)
    throw new ToolkitError('the compose files have no usable certbot service (image, volumes): init-ssl cannot run certbot', {
      exitCode: ExitCode.invalidConfig,
      details: [(service?.success === false ? service.error : config.error)?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ') ?? 'services.certbot: missing'],
      hint: 'keep the certbot service of docker-compose.yml (profile tools) as shipped',
    })
  const { image, entrypoint, environment, volumes, extra_hosts: extraHosts } = service.data
  const volumeName = (key: string): string => config.data.volumes?.[key]?.name ?? key
  return {
    image,
    entrypoint: entrypoint ?? [],
    volumes: (volumes ?? []).flatMap((volume) => {
      if (typeof volume === 'string') {
        const [source = '', target = '', mode] = volume.split(':')
        return source.startsWith('/') || source.startsWith('.') ? [] : [[volumeName(source), target, ...(mode === undefined ? [] : [mode])].join(':')]
      }
      return volume.type === 'volume' && volume.source !== undefined ? [`${volumeName(volume.source)}:${volume.target}`] : []
    }),
    environment: Object.fromEntries(
      (Array.isArray(environment) ? environment.map((entry) => entry.split(/=(.*)/s, 2)) : Object.entries(environment ?? {}))
        .flatMap(([name, value]) => (name === undefined || value === undefined || value === null ? [] : [[name, String(value)]])),
    ),
    hosts: Array.isArray(extraHosts)
      ? extraHosts.map((entry) => entry.replace(/^([^=:]+)[=:]/, '$1:'))
      : Object.entries(extraHosts ?? {}).flatMap(([name, addresses]) => (Array.isArray(addresses) ? addresses : [addresses]).map((address) => `${name}:${address}`)),
  }
}

/** Where this run's certbot goes: compose mode runs the service; stack mode reads its definition first (the run is on this node: the edge node). */
export async function certbotAt(ctx: StackContext): Promise<CertbotAt> {
  if (ctx.swarm === undefined) return ctx.target
  return { certbot: certbotContainer((await ctx.executor.run(composeConfig(ctx.target, { profiles: ['tools'] }))).stdout) }
}

/** certbot in a one-off container: `compose run --rm` of the service, or its `docker run --rm` equivalent. */
function certbotRun(at: CertbotAt, argv: readonly string[], options: { mutates: boolean; withDeps?: boolean; entrypoint?: string }): Command {
  if (!('certbot' in at)) return composeRun(at, 'certbot', argv, options)
  const { image, entrypoint, volumes, environment, hosts } = at.certbot
  const [command, ...entryArgs] = options.entrypoint === undefined ? entrypoint : [options.entrypoint]
  return {
    argv: [
      'docker', 'run', '--rm',
      ...(command === undefined ? [] : ['--entrypoint', command]),
      ...volumes.flatMap((volume) => ['-v', volume]),
      // names only: the values reach the container through the CLI's environment, never argv (ps)
      ...Object.keys(environment).flatMap((name) => ['-e', name]),
      ...hosts.flatMap((host) => ['--add-host', host]),
      image,
      ...entryArgs,
      ...argv,
    ],
    mutates: options.mutates,
    env: environment,
  }
}

/** `certbot certonly --webroot` for every name in one certificate named after the domain, ECDSA key. */
export function certonly(target: CertbotAt, options: CertonlyOptions): Command {
  return certbotRun(
    target,
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
export function renew(target: CertbotAt, domain: string, options: { force: boolean }): Command {
  return certbotRun(
    target,
    ['renew', '--cert-name', domain, '--non-interactive', '--no-random-sleep-on-renew', ...(options.force ? ['--force-renewal'] : [])],
    { mutates: true, withDeps: true },
  )
}

/** Runs a shell snippet in a one-off certbot container (it mounts the webroot and the certificates). */
export function certbotShell(target: CertbotAt, script: string, args: readonly string[], mutates: boolean): Command {
  return certbotRun(target, ['-c', script, 'sh', ...args], { mutates, entrypoint: 'sh' })
}
