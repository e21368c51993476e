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
  /** host:port of every backend (gunicorn) container, e.g. ['backend:5000']. */
  backendServers: string[]
  /** host:port of every frontend (Next.js) container, e.g. ['frontend:3000']. */
  frontendServers: string[]
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
const SERVER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/

/** `example.fr` or `example.fr www.example.fr`, for server_name. */
export function serverNames(domain: string, wwwAlias: boolean): string {
  return wwwAlias ? `${domain} www.${domain}` : domain
}

function upstreamServers(label: string, servers: readonly string[]): string {
  if (servers.length === 0) throw new Error(`${label}: at least one server (host:port) is needed`)
  for (const server of servers) {
    if (!SERVER.test(server)) throw new Error(`${label}: "${server}" is not a host:port such as backend:5000`)
  }
  return servers.map((server) => `    server ${server};`).join('\n')
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
    BACKEND_SERVERS: upstreamServers('backendServers', input.backendServers),
    FRONTEND_SERVERS: upstreamServers('frontendServers', input.frontendServers),
  })
  const common = { SERVER_NAMES: serverNames(input.domain, input.wwwAlias), UPLOAD_MAX_SIZE: input.uploadMaxSize }
  const site =
    input.mode === 'https'
      ? renderTemplate(templates.https, { ...common, DOMAIN: input.domain })
      : renderTemplate(templates.http, common)
  return { 'site.conf': site, 'upstreams.conf': upstreams }
}
