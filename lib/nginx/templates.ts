import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { NginxTemplates } from './render.ts'

/** Where each template lives, relative to the nginx/ folder. */
export const NGINX_TEMPLATE_FILES: Readonly<Record<keyof NginxTemplates, string>> = {
  http: 'templates/http.conf.tmpl',
  https: 'templates/https.conf.tmpl',
  upstreams: 'templates/upstreams.conf.tmpl',
}

/** Reads the three site templates from an nginx/ folder (e.g. `<repo>/nginx`). */
export async function readNginxTemplates(nginxDir: string): Promise<NginxTemplates> {
  const read = (name: keyof NginxTemplates) => readFile(join(nginxDir, NGINX_TEMPLATE_FILES[name]), 'utf8')
  const [http, https, upstreams] = await Promise.all([read('http'), read('https'), read('upstreams')])
  return { http, https, upstreams }
}
