/**
 * Which release nginx serves, and whether in maintenance mode, seen two ways: the RUNNING
 * configuration (GET /aiko-release on the internal port 8080, nginx/nginx.conf) and the
 * rendered conf.d/upstreams.conf on disk. They differ after a render nginx has not loaded
 * yet (a run killed between the write and the reload, a refused `nginx -t`): that is
 * drift, for a planner to settle.
 */
import { dockerExec } from '../docker/containers.ts'
import type { Command } from '../exec/executor.ts'
import { NGINX_RELEASE_PATTERN } from './render.ts'

export const SERVED_RELEASE_URL = 'http://127.0.0.1:8080/aiko-release'

/**
 * The site's own server block on its unpublished plain-HTTP port (site.conf: `listen 8081`),
 * the same locations and upstreams visitors reach on 80/443. Checked from inside the nginx
 * container, so without TLS: wget sends no server name to 127.0.0.1, which the default
 * server's ssl_reject_handshake would refuse.
 */
export const SITE_CHECK_URL = 'http://127.0.0.1:8081/api/health'

/** What the switch runs in the nginx container: GET /api/health as the site's own host. */
export const siteCheckArgv = (domain: string): string[] => ['wget', '-q', '-T', '10', '-O', '/dev/null', '--header', `Host: ${domain}`, SITE_CHECK_URL]

/** Asks the running nginx which release its loaded configuration proxies to, and whether in maintenance mode (read-only). */
export function readServedRelease(nginxId: string): Command {
  return dockerExec(nginxId, ['wget', '-q', '-T', '5', '-O', '-', SERVED_RELEASE_URL], false)
}

/** What the RUNNING nginx configuration serves: its release, and whether it shows the maintenance page instead. */
export type ServedState = { release: string; maintenance: boolean }

/** /aiko-release's answer: `<release>`, or `<release> maintenance` in maintenance mode (nginx/nginx.conf). */
const SERVED_ANSWER = /^(\S+)( maintenance)?$/

/**
 * The release and the maintenance mode in /aiko-release's answer; undefined when nginx
 * serves none (its conf.d had no upstreams.conf when it last loaded) or the answer is not
 * a release.
 */
export function parseServedState(stdout: string): ServedState | undefined {
  // trimEnd, not trim: " maintenance" (no release) must not read as the release "maintenance".
  const match = SERVED_ANSWER.exec(stdout.trimEnd())
  const release = match?.[1]
  if (match === null || release === undefined || !NGINX_RELEASE_PATTERN.test(release)) return undefined
  return { release, maintenance: match[2] !== undefined }
}

/**
 * The release in /aiko-release's answer, in maintenance mode or not; undefined when nginx
 * serves none (its conf.d had no upstreams.conf when it last loaded) or the answer is not
 * a release.
 */
export function parseServedRelease(stdout: string): string | undefined {
  return parseServedState(stdout)?.release
}

const UPSTREAMS_RELEASE = /^\s*map\s+""\s+\$aiko_release\s*\{\s*default\s+"([^"\n]*)"\s*;\s*\}/m
const UPSTREAMS_MAINTENANCE = /^\s*map\s+""\s+\$aiko_maintenance\s*\{\s*default\s+"([^"\n]*)"\s*;\s*\}/m

/** The release a rendered upstreams.conf proxies to; undefined when the text has none (older layout, hand edit). */
export function parseUpstreamsRelease(fileText: string): string | undefined {
  const release = UPSTREAMS_RELEASE.exec(fileText)?.[1]
  return release !== undefined && NGINX_RELEASE_PATTERN.test(release) ? release : undefined
}

/**
 * Whether a rendered upstreams.conf puts the site in maintenance mode; undefined when the
 * text does not say (a layout older than maintenance mode: no maintenance, in effect, or a
 * value the renderer never writes).
 */
export function parseUpstreamsMaintenance(fileText: string): boolean | undefined {
  const value = UPSTREAMS_MAINTENANCE.exec(fileText)?.[1]
  return value === '1' ? true : value === '0' ? false : undefined
}
