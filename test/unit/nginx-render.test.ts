import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { checkRelease, releaseAlias, renderNginxSite, renderTemplate, serverNames, TemplateError, templatePlaceholders } from '../../lib/nginx/render.ts'
import type { NginxSiteInput, NginxTemplates } from '../../lib/nginx/render.ts'
import { parseServedRelease, parseServedState, parseUpstreamsMaintenance, parseUpstreamsRelease } from '../../lib/nginx/served.ts'
import { readNginxTemplates } from '../../lib/nginx/templates.ts'

const NGINX_DIR = fileURLToPath(new URL('../../nginx/', import.meta.url))

const base: NginxSiteInput = {
  mode: 'http',
  domain: 'aiko.example.fr',
  wwwAlias: true,
  uploadMaxSize: '20m',
  release: '20261201-081500-abc1234',
}

/** The server { } blocks of a rendered file, by their listen line. */
function serverBlock(conf: string, listen: RegExp): string {
  const blocks = conf.split(/^server \{$/m).slice(1)
  const block = blocks.find((b) => listen.test(b))
  if (block === undefined) throw new Error(`no server block matching ${String(listen)}`)
  return block
}

/** An indented server { } block of nginx.conf (inside http { }), by its listen line. */
function serverBlockIndented(conf: string, listen: RegExp): string {
  const block = conf.split(/^\s+server \{$/m).slice(1).find((b) => listen.test(b))
  if (block === undefined) throw new Error(`no server block matching ${String(listen)}`)
  return block
}

/** The body of a `location <match> {` block (up to its closing brace at the same indentation). */
function locationBlock(conf: string, match: string): string {
  const start = conf.indexOf(`    location ${match} {\n`)
  if (start === -1) throw new Error(`no location ${match}`)
  const end = conf.indexOf('\n    }\n', start)
  return conf.slice(start, end + '\n    }'.length)
}

/** The locations that proxy to the app, in both modes. */
const PROXIED = ['= /api/auth/login', '/api/', '/'] as const

const MAINTENANCE_IF = 'if ($aiko_maintenance) { return 503; }'

let templates: NginxTemplates

beforeAll(async () => {
  templates = await readNginxTemplates(NGINX_DIR)
})

describe('renderTemplate', () => {
  it('replaces {{NAME}} placeholders and leaves nginx $variables untouched', () => {
    const out = renderTemplate('server_name {{A}}; return 308 https://$host$request_uri; # {{A}}', { A: 'x.fr' })
    expect(out).toBe('server_name x.fr; return 308 https://$host$request_uri; # x.fr')
  })

  it('inserts values literally, even with $ replacement patterns', () => {
    expect(renderTemplate('v={{A}}', { A: "$& $' $1" })).toBe("v=$& $' $1")
  })

  it('names the placeholder that has no value', () => {
    expect(() => renderTemplate('a {{DOMAIN}} b {{UPLOAD_MAX_SIZE}}', { DOMAIN: 'x.fr' })).toThrow(/\{\{UPLOAD_MAX_SIZE\}\}/)
    try {
      renderTemplate('{{A}} {{B}}', {})
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(TemplateError)
      expect((error as TemplateError).placeholders).toEqual(['A', 'B'])
    }
  })

  it('rejects a value no placeholder uses, unless allowed', () => {
    expect(() => renderTemplate('{{A}}', { A: '1', EXTRA: '2' })).toThrow(/\{\{EXTRA\}\}/)
    expect(renderTemplate('{{A}}', { A: '1', EXTRA: '2' }, { allowUnused: true })).toBe('1')
  })

  it('rejects malformed placeholders', () => {
    expect(() => renderTemplate('{{ domain }}', {})).toThrow(/Malformed.*\{\{ domain \}\}/)
  })
})

describe('templates on disk', () => {
  it('use only the placeholders the renderer fills', () => {
    expect(templatePlaceholders(templates.http).sort()).toEqual(['SERVER_NAMES', 'UPLOAD_MAX_SIZE'])
    expect(templatePlaceholders(templates.https).sort()).toEqual(['DOMAIN', 'SERVER_NAMES', 'UPLOAD_MAX_SIZE'])
    expect(templatePlaceholders(templates.upstreams).sort()).toEqual(['BACKEND_HOST', 'FRONTEND_HOST', 'MAINTENANCE', 'RELEASE'])
  })
})

describe('renderNginxSite: http mode', () => {
  it('matches the snapshot', () => {
    const files = renderNginxSite(base, templates)
    expect(files['site.conf']).toMatchSnapshot('site.conf (http)')
    expect(files['upstreams.conf']).toMatchSnapshot('upstreams.conf')
  })

  it('serves the app on port 80 only, without TLS or HSTS', () => {
    const site = renderNginxSite(base, templates)['site.conf']
    expect(serverBlock(site, /listen 80;/)).toMatch(/^    listen 80;\n    listen 8081;\n    server_name aiko\.example\.fr www\.aiko\.example\.fr;$/m)
    expect(site).not.toMatch(/443/)
    expect(site).not.toMatch(/^\s*ssl_|listen [^;]*ssl/m)
    expect(site).not.toMatch(/Strict-Transport-Security/)
    expect(site).not.toMatch(/return 30[1278]/)
  })

  it('has the ACME location, the rate limits and the proxies to the release variables', () => {
    const site = renderNginxSite(base, templates)['site.conf']
    expect(site).toContain('include /etc/nginx/snippets/acme-challenge.conf;')
    // No URI part after the variable: nginx passes the request URI unchanged.
    expect(locationBlock(site, '= /api/auth/login')).toMatch(/\n\s+limit_req zone=aiko_login [^}]*proxy_pass http:\/\/\$aiko_backend_upstream;\n\s+\}$/)
    expect(locationBlock(site, '/api/')).toMatch(/\n\s+limit_req zone=aiko_api [^}]*proxy_pass http:\/\/\$aiko_backend_upstream;\n\s+\}$/)
    expect(locationBlock(site, '/')).toMatch(/\n\s+include \/etc\/nginx\/snippets\/proxy-headers\.conf;\s+proxy_pass http:\/\/\$aiko_frontend_upstream;\n\s+\}$/)
    expect(site).toContain('client_max_body_size 20m;')
    expect(site).toContain('include /etc/nginx/snippets/security-headers.conf;')
  })
})

describe('renderNginxSite: https mode', () => {
  const https: NginxSiteInput = { ...base, mode: 'https' }

  it('matches the snapshot', () => {
    expect(renderNginxSite(https, templates)['site.conf']).toMatchSnapshot('site.conf (https)')
  })

  it('redirects port 80 with 308, except the ACME challenges', () => {
    const port80 = serverBlock(renderNginxSite(https, templates)['site.conf'], /listen 80;/)
    expect(port80).toContain('include /etc/nginx/snippets/acme-challenge.conf;')
    expect(port80).toMatch(/location \/ \{\s+return 308 https:\/\/\$host\$request_uri;\s+\}/)
    expect(port80).not.toMatch(/proxy_pass/)
    expect(port80).not.toMatch(/Strict-Transport-Security/)
  })

  it('serves TLS 1.2/1.3 with http2, HSTS and the domain certificate on 443', () => {
    const site = renderNginxSite(https, templates)['site.conf']
    const port443 = serverBlock(site, /listen 443 ssl http2;/)
    expect(port443).toMatch(/^    listen 443 ssl http2;\n    listen 8081;\n    server_name aiko\.example\.fr www\.aiko\.example\.fr;$/m)
    expect(port443).toContain('ssl_certificate /etc/letsencrypt/live/aiko.example.fr/fullchain.pem;')
    expect(port443).toContain('ssl_certificate_key /etc/letsencrypt/live/aiko.example.fr/privkey.pem;')
    expect(port443).toContain('include /etc/nginx/snippets/ssl-params.conf;')
    expect(port443).toMatch(/add_header Strict-Transport-Security "max-age=\d+" always;/)
    expect(port443).toMatch(/proxy_pass http:\/\/\$aiko_backend_upstream;/)
    expect(port443).toMatch(/proxy_pass http:\/\/\$aiko_frontend_upstream;/)
    expect(port443).toMatch(/limit_req zone=aiko_login/)
  })

  it('keeps nginx variables untouched', () => {
    const site = renderNginxSite(https, templates)['site.conf']
    expect(site).toContain('$host$request_uri')
    expect(site).not.toMatch(/\{\{|\}\}/)
  })
})

describe('renderNginxSite: names and upstreams', () => {
  it('adds www.<domain> only when asked', () => {
    for (const mode of ['http', 'https'] as const) {
      const withWww = renderNginxSite({ ...base, mode, wwwAlias: true }, templates)['site.conf']
      const without = renderNginxSite({ ...base, mode, wwwAlias: false }, templates)['site.conf']
      expect(withWww).toContain('server_name aiko.example.fr www.aiko.example.fr;')
      expect(without).toContain('server_name aiko.example.fr;')
      expect(without).not.toContain('www.')
    }
    expect(serverNames('a.fr', true)).toBe('a.fr www.a.fr')
  })

  it('refuses values that could inject nginx directives', () => {
    expect(() => renderNginxSite({ ...base, domain: 'x.fr; include /etc/passwd' }, templates)).toThrow(/domain/)
    expect(() => renderNginxSite({ ...base, uploadMaxSize: '20m;' }, templates)).toThrow(/uploadMaxSize/)
    expect(() => renderNginxSite({ ...base, release: 'r1"; } server { listen 81' }, templates)).toThrow(/release/)
  })
})

describe('renderNginxSite: the release nginx proxies to', () => {
  it('names the release DNS aliases, resolved per request by Docker\'s embedded DNS', () => {
    const up = renderNginxSite(base, templates)['upstreams.conf']
    expect(up).toMatch(/^resolver 127\.0\.0\.11 valid=5s ipv6=off;$/m)
    expect(up).toMatch(/^resolver_timeout \d+s;$/m)
    expect(up).toMatch(/^map "" \$aiko_backend_upstream \{\s+default "backend-20261201-081500-abc1234:5000";\s+\}/m)
    expect(up).toMatch(/^map "" \$aiko_frontend_upstream \{\s+default "frontend-20261201-081500-abc1234:3000";\s+\}/m)
    expect(up).toMatch(/^map "" \$aiko_release \{\s+default "20261201-081500-abc1234";\s+\}/m)
    expect(up).not.toMatch(/^\s*(upstream|server|keepalive)\b/m)
  })

  it('changes only the release between two renders', () => {
    const before = renderNginxSite(base, templates)
    const after = renderNginxSite({ ...base, release: 'latest' }, templates)
    expect(after['site.conf']).toBe(before['site.conf'])
    expect(after['upstreams.conf']).toBe(before['upstreams.conf'].replaceAll('20261201-081500-abc1234', 'latest'))
  })

  it('accepts release ids and latest, refuses what cannot be a DNS label, with the reason', () => {
    for (const ok of ['20261201-081500-abc1234', 'latest', 'r1', '7', 'a'.repeat(42)]) expect(checkRelease(ok)).toBe(ok)
    for (const bad of ['', 'R1', 'r_1', 'r.1', '-r1', 'r1-', 'r 1', 'a'.repeat(43), 'r1\n']) {
      expect(() => checkRelease(bad)).toThrow(`release ${JSON.stringify(bad)} cannot name the DNS aliases backend-<release> and frontend-<release>: use 1 to 42 lower-case letters, digits and hyphens, starting and ending with a letter or digit, such as 20261201-081500-abc1234 or latest`)
    }
    expect(releaseAlias('backend', '20261201-081500-abc1234')).toBe('backend-20261201-081500-abc1234')
    expect(releaseAlias('frontend', 'latest')).toBe('frontend-latest')
  })
})

describe('renderNginxSite: only the site\'s own names reach the app', () => {
  it('closes HTTP requests for any other host without an answer (http mode)', () => {
    expect(serverBlock(renderNginxSite(base, templates)['site.conf'], /default_server/)).toBe(
      '\n    listen 80 default_server;\n    server_name _;\n    return 444;\n}\n\n',
    )
  })

  it('closes HTTP requests and refuses TLS handshakes for any other name (https mode)', () => {
    const site = renderNginxSite({ ...base, mode: 'https' }, templates)['site.conf']
    expect(serverBlock(site, /default_server/)).toBe(
      '\n    listen 80 default_server;\n    listen 443 ssl http2 default_server;\n    server_name _;\n    ssl_reject_handshake on;\n    include /etc/nginx/snippets/ssl-params.conf;\n    return 444;\n}\n\n# Port 80: ACME challenges (renewals) and a permanent redirect for everything else.\n',
    )
    // Exactly one default server per port, and it is that one.
    expect(site.match(/default_server/g)).toHaveLength(2)
  })

  it('lets the toolkit check the site on the unpublished port 8081, in both modes', () => {
    for (const mode of ['http', 'https'] as const) {
      const site = renderNginxSite({ ...base, mode }, templates)['site.conf']
      expect(site.match(/listen 8081;/g), mode).toHaveLength(1)
      expect(serverBlock(site, /listen 8081;/), mode).toMatch(/proxy_pass http:\/\/\$aiko_backend_upstream;/)
    }
  })
})

describe('renderNginxSite: maintenance mode', () => {
  const modes = ['http', 'https'] as const
  /** The server { } block that proxies to the app: port 80 in http mode, 443 in https mode. */
  const appServer = (mode: 'http' | 'https', maintenance: boolean) =>
    serverBlock(renderNginxSite({ ...base, mode, maintenance }, templates)['site.conf'], mode === 'https' ? /listen 443 ssl http2;/ : /listen 80;/)

  it('sets $aiko_maintenance to "1" or "0" in upstreams.conf, off by default, and changes nothing else', () => {
    const off = renderNginxSite(base, templates)['upstreams.conf']
    const on = renderNginxSite({ ...base, maintenance: true }, templates)['upstreams.conf']
    expect(off).toMatch(/^map "" \$aiko_maintenance \{\n    default "0";\n\}$/m)
    expect(on).toMatch(/^map "" \$aiko_maintenance \{\n    default "1";\n\}$/m)
    expect(renderNginxSite({ ...base, maintenance: false }, templates)['upstreams.conf']).toBe(off)
    expect(on).toBe(off.replace('default "0";', 'default "1";'))
    expect(on).toMatch(/^map "" \$aiko_release \{\s+default "20261201-081500-abc1234";\s+\}/m)
  })

  it('leaves site.conf the same in both states: upstreams.conf alone switches maintenance', () => {
    for (const mode of modes) {
      expect(renderNginxSite({ ...base, mode, maintenance: true }, templates)['site.conf']).toBe(renderNginxSite({ ...base, mode }, templates)['site.conf'])
    }
  })

  it('answers 503 first in every location that proxies to the app', () => {
    for (const mode of modes) {
      const server = appServer(mode, true)
      for (const match of PROXIED) {
        expect(locationBlock(server, match)).toMatch(new RegExp(`^    location ${match.replace(/[/=]/g, '\\$&')} \\{\\n        if \\(\\$aiko_maintenance\\) \\{ return 503; \\}\\n`))
      }
      // Exactly those: nothing else proxies, and nothing else answers 503.
      expect(server.split(MAINTENANCE_IF).length - 1).toBe(PROXIED.length)
      expect(server.split('proxy_pass ').length - 1).toBe(PROXIED.length)
    }
  })

  it('leaves the ACME challenges (and the https redirect on port 80) out of maintenance', async () => {
    const acme = await readFile(`${NGINX_DIR}snippets/acme-challenge.conf`, 'utf8')
    expect(acme).not.toMatch(/aiko_maintenance|503|error_page/)
    for (const mode of modes) {
      const site = renderNginxSite({ ...base, mode, maintenance: true }, templates)['site.conf']
      // The snippet is included at server level, outside any location that returns 503.
      expect(serverBlock(site, /listen 80;/)).toMatch(/^    include \/etc\/nginx\/snippets\/acme-challenge\.conf;$/m)
    }
    const port80 = serverBlock(renderNginxSite({ ...base, mode: 'https', maintenance: true }, templates)['site.conf'], /listen 80;/)
    expect(port80).not.toMatch(/aiko_maintenance|503/)
  })

  it('shows the JSON page under /api/ and the HTML page elsewhere, from internal locations', () => {
    for (const mode of modes) {
      const server = appServer(mode, true)
      expect(server).toMatch(/^    error_page 503 \/aiko-maintenance\.html;$/m)
      expect(locationBlock(server, '= /api/auth/login')).toContain('        error_page 503 /aiko-maintenance.json;\n')
      expect(locationBlock(server, '/api/')).toContain('        error_page 503 /aiko-maintenance.json;\n')
      expect(locationBlock(server, '/')).not.toContain('error_page')
      // Not named locations: nginx would answer POST/PUT/DELETE with 405 from those.
      expect(server).not.toMatch(/error_page 503 @/)
      for (const ext of ['html', 'json']) {
        const page = locationBlock(server, `= /aiko-maintenance.${ext}`)
        expect(page).toContain('        internal;\n')
        expect(page).toContain(`        alias /etc/nginx/maintenance/maintenance.${ext};\n`)
        expect(page).toContain('        add_header Retry-After 30 always;\n')
        expect(page).toContain('        add_header Cache-Control "no-store" always;\n')
        // A location with its own add_header inherits none: the security headers come again.
        expect(page).toContain('        include /etc/nginx/snippets/security-headers.conf;\n')
        if (mode === 'https') expect(page).toMatch(/add_header Strict-Transport-Security "max-age=63072000" always;/)
        else expect(page).not.toMatch(/Strict-Transport-Security/)
      }
      expect(locationBlock(server, '= /aiko-maintenance.html')).toContain('        charset utf-8;\n')
    }
  })

  it('has the pages on disk: a self-contained French HTML page that retries, and the API\'s JSON', async () => {
    const html = await readFile(`${NGINX_DIR}maintenance/maintenance.html`, 'utf8')
    expect(html).toMatch(/^<!DOCTYPE html>\n<html lang="fr">/)
    expect(html).toContain('<meta charset="utf-8">')
    expect(html).toContain('<meta http-equiv="refresh" content="30">')
    expect(html).toMatch(/base de données/)
    expect(html).not.toMatch(/\b(?:src|href)=|https?:\/\/|@import|url\(/)
    const json: unknown = JSON.parse(await readFile(`${NGINX_DIR}maintenance/maintenance.json`, 'utf8'))
    expect(json).toEqual({ error: 'maintenance', message: expect.stringMatching(/maintenance/) as unknown })
  })
})

describe('nginx.conf on disk', () => {
  let conf: string
  beforeAll(async () => {
    conf = await readFile(`${NGINX_DIR}nginx.conf`, 'utf8')
  })

  it('answers the running release on the internal port, with a default before conf.d overrides it', () => {
    const internal = serverBlockIndented(conf, /listen 8080;/)
    expect(internal).toMatch(/location = \/aiko-release \{\s+default_type text\/plain;\s+return 200 "\$aiko_release\$aiko_maintenance_suffix\\n";\s+\}/)
    const fallback = conf.search(/^\s+map "" \$aiko_release \{\s+default "";\s+\}/m)
    const include = conf.indexOf('include /etc/nginx/conf.d/*.conf;')
    // The last map of a variable wins: the default must come BEFORE upstreams.conf's.
    expect(fallback).toBeGreaterThan(-1)
    expect(fallback).toBeLessThan(include)
  })

  it('appends " maintenance" to the release in maintenance mode, with a default before conf.d overrides it', () => {
    const fallback = conf.search(/^\s+map "" \$aiko_maintenance \{\s+default "";\s+\}/m)
    expect(fallback).toBeGreaterThan(-1)
    expect(fallback).toBeLessThan(conf.indexOf('include /etc/nginx/conf.d/*.conf;'))
    expect(conf).toMatch(/^\s+map \$aiko_maintenance \$aiko_maintenance_suffix \{\s+"1"\s+" maintenance";\s+default "";\s+\}/m)
  })

  it('answers rate limiting with 429, never with the maintenance page (503)', () => {
    expect(conf).toMatch(/^\s+limit_req_status 429;$/m)
    expect(conf).toMatch(/^\s+limit_conn_status 429;$/m)
  })
})

describe('served release', () => {
  it('reads the release from /aiko-release', () => {
    expect(parseServedRelease('20261201-081500-abc1234\n')).toBe('20261201-081500-abc1234')
    expect(parseServedRelease('latest\n')).toBe('latest')
    expect(parseServedRelease('20261201-081500-abc1234 maintenance\n')).toBe('20261201-081500-abc1234')
    expect(parseServedRelease('\n')).toBeUndefined()
    expect(parseServedRelease('')).toBeUndefined()
    expect(parseServedRelease('<html>404 Not Found</html>')).toBeUndefined()
  })

  it('reads the release and the maintenance mode from /aiko-release', () => {
    expect(parseServedState('20261201-081500-abc1234\n')).toEqual({ release: '20261201-081500-abc1234', maintenance: false })
    expect(parseServedState('20261201-081500-abc1234 maintenance\n')).toEqual({ release: '20261201-081500-abc1234', maintenance: true })
    expect(parseServedState('latest maintenance\n')).toEqual({ release: 'latest', maintenance: true })
    for (const bad of ['\n', '', ' maintenance\n', 'r1 maintenance extra\n', 'r1 Maintenance\n', 'r1  maintenance\n', 'R1 maintenance\n', '<html>404 Not Found</html>']) {
      expect(parseServedState(bad)).toBeUndefined()
    }
  })

  it('reads the release from a rendered upstreams.conf, the one the renderer writes', () => {
    for (const release of ['20261201-081500-abc1234', 'latest']) {
      expect(parseUpstreamsRelease(renderNginxSite({ ...base, release }, templates)['upstreams.conf'])).toBe(release)
    }
  })

  it('finds no release in an upstreams.conf of the old layout or an empty file', () => {
    const old = 'upstream aiko_backend {\n    server aiko-e2e_backend_2:5000;\n    keepalive 16;\n}\n'
    expect(parseUpstreamsRelease(old)).toBeUndefined()
    expect(parseUpstreamsRelease('')).toBeUndefined()
    expect(parseUpstreamsRelease('# map "" $aiko_release { default "r1"; }\n')).toBeUndefined()
  })

  it('reads the maintenance mode from a rendered upstreams.conf, and none from an older one', () => {
    expect(parseUpstreamsMaintenance(renderNginxSite({ ...base, maintenance: true }, templates)['upstreams.conf'])).toBe(true)
    expect(parseUpstreamsMaintenance(renderNginxSite({ ...base, maintenance: false }, templates)['upstreams.conf'])).toBe(false)
    expect(parseUpstreamsMaintenance(renderNginxSite(base, templates)['upstreams.conf'])).toBe(false)
    const older = renderNginxSite(base, templates)['upstreams.conf'].replace(/^map "" \$aiko_maintenance \{[^}]*\}\n/m, '')
    expect(parseUpstreamsRelease(older)).toBe('20261201-081500-abc1234')
    expect(parseUpstreamsMaintenance(older)).toBeUndefined()
    expect(parseUpstreamsMaintenance('map "" $aiko_maintenance {\n    default "yes";\n}\n')).toBeUndefined()
    expect(parseUpstreamsMaintenance('# map "" $aiko_maintenance { default "1"; }\n')).toBeUndefined()
  })
})
