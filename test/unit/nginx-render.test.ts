import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { renderNginxSite, renderTemplate, serverNames, TemplateError, templatePlaceholders } from '../../lib/nginx/render.ts'
import type { NginxSiteInput, NginxTemplates } from '../../lib/nginx/render.ts'
import { readNginxTemplates } from '../../lib/nginx/templates.ts'

const NGINX_DIR = fileURLToPath(new URL('../../nginx/', import.meta.url))

const base: NginxSiteInput = {
  mode: 'http',
  domain: 'aiko.example.fr',
  wwwAlias: true,
  uploadMaxSize: '20m',
  backendServers: ['backend:5000'],
  frontendServers: ['frontend:3000'],
}

/** The server { } blocks of a rendered file, by their listen line. */
function serverBlock(conf: string, listen: RegExp): string {
  const blocks = conf.split(/^server \{$/m).slice(1)
  const block = blocks.find((b) => listen.test(b))
  if (block === undefined) throw new Error(`no server block matching ${String(listen)}`)
  return block
}

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
    expect(templatePlaceholders(templates.upstreams).sort()).toEqual(['BACKEND_SERVERS', 'FRONTEND_SERVERS'])
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
    expect(site).toMatch(/listen 80 default_server;/)
    expect(site).not.toMatch(/443/)
    expect(site).not.toMatch(/^\s*ssl_|listen [^;]*ssl/m)
    expect(site).not.toMatch(/Strict-Transport-Security/)
    expect(site).not.toMatch(/return 30[1278]/)
  })

  it('has the ACME location, the rate limits and the proxies to the upstreams', () => {
    const site = renderNginxSite(base, templates)['site.conf']
    expect(site).toContain('include /etc/nginx/snippets/acme-challenge.conf;')
    expect(site).toMatch(/location = \/api\/auth\/login \{\s+limit_req zone=aiko_login [^}]*proxy_pass http:\/\/aiko_backend;/)
    expect(site).toMatch(/location \/api\/ \{\s+limit_req zone=aiko_api [^}]*proxy_pass http:\/\/aiko_backend;/)
    expect(site).toMatch(/location \/ \{[^}]*proxy_pass http:\/\/aiko_frontend;/)
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
    const port80 = serverBlock(renderNginxSite(https, templates)['site.conf'], /listen 80 /)
    expect(port80).toContain('include /etc/nginx/snippets/acme-challenge.conf;')
    expect(port80).toMatch(/location \/ \{\s+return 308 https:\/\/\$host\$request_uri;\s+\}/)
    expect(port80).not.toMatch(/proxy_pass/)
    expect(port80).not.toMatch(/Strict-Transport-Security/)
  })

  it('serves TLS 1.2/1.3 with http2, HSTS and the domain certificate on 443', () => {
    const site = renderNginxSite(https, templates)['site.conf']
    const port443 = serverBlock(site, /listen 443 /)
    expect(port443).toMatch(/listen 443 ssl http2 default_server;/)
    expect(port443).toContain('ssl_certificate /etc/letsencrypt/live/aiko.example.fr/fullchain.pem;')
    expect(port443).toContain('ssl_certificate_key /etc/letsencrypt/live/aiko.example.fr/privkey.pem;')
    expect(port443).toContain('include /etc/nginx/snippets/ssl-params.conf;')
    expect(port443).toMatch(/add_header Strict-Transport-Security "max-age=\d+" always;/)
    expect(port443).toMatch(/proxy_pass http:\/\/aiko_backend;/)
    expect(port443).toMatch(/proxy_pass http:\/\/aiko_frontend;/)
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

  it('renders one server line per container, for blue/green switches', () => {
    const files = renderNginxSite({ ...base, backendServers: ['aiko-backend-green-1:5000', '172.18.0.9:5000'], frontendServers: ['aiko-frontend-green-1:3000'] }, templates)
    const up = files['upstreams.conf']
    expect(up).toMatch(/upstream aiko_backend \{\s+server aiko-backend-green-1:5000;\s+server 172\.18\.0\.9:5000;\s+keepalive \d+;/)
    expect(up).toMatch(/upstream aiko_frontend \{\s+server aiko-frontend-green-1:3000;\s+keepalive \d+;/)
  })

  it('refuses values that could inject nginx directives', () => {
    expect(() => renderNginxSite({ ...base, domain: 'x.fr; include /etc/passwd' }, templates)).toThrow(/domain/)
    expect(() => renderNginxSite({ ...base, uploadMaxSize: '20m;' }, templates)).toThrow(/uploadMaxSize/)
    expect(() => renderNginxSite({ ...base, backendServers: ['backend:5000; server evil:1'] }, templates)).toThrow(/backendServers/)
    expect(() => renderNginxSite({ ...base, backendServers: ['backend'] }, templates)).toThrow(/host:port/)
    expect(() => renderNginxSite({ ...base, frontendServers: [] }, templates)).toThrow(/frontendServers/)
  })
})
