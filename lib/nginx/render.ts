/**
 * Pure renderers for the nginx site configuration (no fs, no process): the toolkit reads
 * nginx/templates/*.tmpl, calls renderNginxSite, and writes the result into conf.d/.
 *
 * Templates know one kind of placeholder, `{{NAME}}` (upper case, digits, underscore).
 * Everything else, nginx's own `$variables` included, is left exactly as written.
 */

export type NginxMode = 'http' | 'https'

export type NginxTemplates = { http: string; https: string; upstreams: string }

export type NginxSiteInput = {
  mode: NginxMode
  /** Bare host name, e.g. aiko.example.fr (the certificate lives under live/<domain>/). */
  domain: string
  /** Also answer for www.<domain>. */
  wwwAlias: boolean
  /** nginx size for client_max_body_size, e.g. 20m. */
  uploadMaxSize: string
  /**
   * The release nginx proxies to, e.g. 20261201-081500-abc1234 or latest: requests go to
   * the DNS aliases backend-<release> and frontend-<release> (docker-compose.yml), which
   * nginx resolves at request time.
   */
  release: string
  /**
   * Maintenance mode (default false), while the database is restored: every location that
   * proxies to the app answers 503 with the maintenance page (nginx/maintenance/: JSON
   * under /api/, HTML elsewhere) instead; the ACME challenges are still served.
   */
  maintenance?: boolean
  /**
   * What nginx proxies to: the release's DNS aliases (compose's blue/green, the default), or
   * the service names `backend` and `frontend` (the Swarm stack, where a rolling update keeps
   * one name and endpoint_mode dnsrr resolves it to the tasks of the moment).
   */
  upstreams?: 'release-aliases' | 'service-names'
}

/** File names inside conf.d/, mapped to their rendered content. */
export type NginxSiteFiles = { 'site.conf': string; 'upstreams.conf': string }

export class TemplateError extends Error {
  readonly placeholders: readonly string[]

  constructor(message: string, placeholders: readonly string[]) {
    super(message)
    this.name = 'TemplateError'
    this.placeholders = placeholders
  }
}

const ANY_BRACES = /\{\{([^{}]*)\}\}/g
const NAME = /^[A-Z][A-Z0-9_]*$/

/** The placeholder names a template uses, in order of first appearance. */
export function templatePlaceholders(template: string): string[] {
  const names: string[] = []
  for (const match of template.matchAll(ANY_BRACES)) {
    const name = match[1] ?? ''
    if (!NAME.test(name)) {
      throw new TemplateError(`Malformed template placeholder {{${name}}}: placeholders are {{NAME}} in upper case`, [name])
    }
    if (!names.includes(name)) names.push(name)
  }
  return names
}

/**
 * Replaces every `{{NAME}}` with values[NAME]. Throws a TemplateError naming the
 * placeholders that have no value, and (unless allowUnused) the values no placeholder
 * uses: a template that lost a placeholder is as wrong as one with an unknown one.
 */
export function renderTemplate(template: string, values: Record<string, string>, options: { allowUnused?: boolean } = {}): string {
  const used = templatePlaceholders(template)
  const missing = used.filter((name) => !Object.hasOwn(values, name))
  if (missing.length > 0) {
    const list = missing.map((name) => `{{${name}}}`).join(', ')
    throw new TemplateError(`Template placeholder${missing.length > 1 ? 's' : ''} ${list} ha${missing.length > 1 ? 've' : 's'} no value`, missing)
  }
  if (options.allowUnused !== true) {
    const unused = Object.keys(values).filter((name) => !used.includes(name))
    if (unused.length > 0) {
      const list = unused.map((name) => `{{${name}}}`).join(', ')
      throw new TemplateError(`Template does not use ${list}: is the template out of date?`, unused)
    }
  }
  // A replacer function: `$` in a value is never read as a replacement pattern.
  return template.replace(ANY_BRACES, (_match, name: string) => values[name] ?? '')
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/
const SIZE = /^\d+[kKmMgG]?$/

/**
 * A release as nginx and Docker's DNS see it: `frontend-<release>` must stay one DNS label
 * (63 characters at most), in lower case, starting and ending with a letter or digit.
 */
export const NGINX_RELEASE_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?$/

/** Throws a precise error unless `release` can name the release's DNS aliases. */
export function checkRelease(release: string): string {
  if (!NGINX_RELEASE_PATTERN.test(release)) {
    throw new Error(
      `release ${JSON.stringify(release)} cannot name the DNS aliases backend-<release> and frontend-<release>: ` +
        'use 1 to 42 lower-case letters, digits and hyphens, starting and ending with a letter or digit, such as 20261201-081500-abc1234 or latest',
    )
  }
  return release
}

/** The DNS alias of a service's containers of one release on the compose network (docker-compose.yml). */
export function releaseAlias(service: 'backend' | 'frontend', release: string): string {
  return `${service}-${checkRelease(release)}`
}

/** `example.fr` or `example.fr www.example.fr`, for server_name. */
export function serverNames(domain: string, wwwAlias: boolean): string {
  return wwwAlias ? `${domain} www.${domain}` : domain
}

/** Renders conf.d/site.conf (for the mode) and conf.d/upstreams.conf. */
export function renderNginxSite(input: NginxSiteInput, templates: NginxTemplates): NginxSiteFiles {
  if (!HOST_NAME.test(input.domain)) {
    throw new Error(`domain "${input.domain}" is not a lower-case host name such as aiko.example.fr`)
  }
  if (!SIZE.test(input.uploadMaxSize)) {
    throw new Error(`uploadMaxSize "${input.uploadMaxSize}" is not an nginx size such as 20m`)
  }
  const upstreams = renderTemplate(templates.upstreams, {
    RELEASE: checkRelease(input.release),
    BACKEND_HOST: input.upstreams === 'service-names' ? 'backend' : releaseAlias('backend', input.release),
    FRONTEND_HOST: input.upstreams === 'service-names' ? 'frontend' : releaseAlias('frontend', input.release),
    // `if ($aiko_maintenance)` in site.conf: "0" is false for nginx, like "".
    MAINTENANCE: input.maintenance === true ? '1' : '0',
  })
  const common = { SERVER_NAMES: serverNames(input.domain, input.wwwAlias), UPLOAD_MAX_SIZE: input.uploadMaxSize }
  const site =
    input.mode === 'https'
      ? renderTemplate(templates.https, { ...common, DOMAIN: input.domain })
      : renderTemplate(templates.http, common)
  return { 'site.conf': site, 'upstreams.conf': upstreams }
}
