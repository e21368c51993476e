import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { YAML } from 'zx'
import { z } from 'zod'
import { SECRET_NAMES } from '../../lib/env/schema.ts'
import { redisConfigPath, renderRedisConfig } from '../../lib/stack/redis-config.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

// Only the keys checked here; unknown keys are ignored.
const Service = z.object({
  command: z.union([z.string(), z.array(z.string())]).optional(),
  entrypoint: z.union([z.string(), z.array(z.string())]).optional(),
  healthcheck: z.object({ test: z.union([z.string(), z.array(z.string())]).optional() }).optional(),
  profiles: z.array(z.string()).optional(),
  cap_drop: z.array(z.string()).optional(),
  cap_add: z.array(z.string()).optional(),
  read_only: z.boolean().optional(),
  tmpfs: z.array(z.string()).optional(),
  secrets: z.array(z.object({ source: z.string(), target: z.string() })).optional(),
})
const Compose = z.object({ services: z.record(z.string(), Service), secrets: z.record(z.string(), z.object({ file: z.string() })) })

/** The file as compose reads it: YAML merge keys (`<<: *service`) applied to each service. */
function composeFile(): unknown {
  const raw = z.object({ services: z.record(z.string(), z.record(z.string(), z.unknown())) }).passthrough().parse(YAML.parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')))
  const merged = Object.fromEntries(
    Object.entries(raw.services).map(([name, service]) => {
      const { '<<': base, ...own } = service
      return [name, { ...z.record(z.string(), z.unknown()).optional().parse(base), ...own }]
    }),
  )
  return { ...raw, services: merged }
}

const compose = Compose.parse(composeFile())
const services = compose.services
const summary = (name: string): string => {
  const service = services[name]
  if (service === undefined) throw new Error(`no service ${name}`)
  return [
    `drop=${(service.cap_drop ?? []).join(',')}`,
    `add=${(service.cap_add ?? []).join(',')}`,
    `read_only=${String(service.read_only ?? false)}`,
    `tmpfs=${(service.tmpfs ?? []).join(',')}`,
  ].join(' ')
}

describe('docker-compose.yml: the containers, hardened', () => {
  it('drops every capability of each long-running service and gives back only what its entrypoint needs', () => {
    expect(summary('postgres')).toBe('drop=ALL add=CHOWN,DAC_OVERRIDE,FOWNER,SETGID,SETUID read_only=false tmpfs=')
    expect(summary('redis')).toBe('drop=ALL add=CHOWN,SETGID,SETUID read_only=true tmpfs=')
    expect(summary('backend')).toBe('drop=ALL add= read_only=true tmpfs=/tmp')
    expect(summary('celery-worker')).toBe('drop=ALL add= read_only=true tmpfs=/tmp')
    expect(summary('celery-beat')).toBe('drop=ALL add= read_only=true tmpfs=/tmp')
    expect(summary('frontend')).toBe('drop=ALL add= read_only=false tmpfs=')
    expect(summary('nginx')).toBe('drop=ALL add=CHOWN,DAC_OVERRIDE,NET_BIND_SERVICE,SETGID,SETUID read_only=true tmpfs=/run,/var/cache/nginx,/tmp')
    expect(summary('prometheus')).toBe('drop=ALL add= read_only=true tmpfs=')
    expect(summary('alertmanager')).toBe('drop=ALL add= read_only=true tmpfs=')
    for (const exporter of ['node-exporter', 'postgres-exporter', 'redis-exporter', 'nginx-exporter']) {
      expect(summary(exporter), exporter).toBe('drop=ALL add= read_only=true tmpfs=')
    }
    expect(summary('grafana')).toBe('drop=ALL add= read_only=false tmpfs=')
  })

  it('leaves only the on-demand certbot with Docker\'s default capabilities', () => {
    const defaults = Object.entries(services).filter(([, service]) => service.cap_drop === undefined).map(([name]) => name)
    expect(defaults).toEqual(['certbot'])
    expect(services['certbot']?.profiles).toEqual(['tools'])
  })

  it('puts no secret variable in any command, entrypoint or healthcheck (docker inspect shows them)', () => {
    for (const [name, service] of Object.entries(services)) {
      const lines = JSON.stringify([service.command ?? null, service.entrypoint ?? null, service.healthcheck?.test ?? null])
      for (const secret of SECRET_NAMES) expect(lines.includes(secret), `${name}: ${secret}`).toBe(false)
    }
  })

  it('hands Redis its password in the config file the toolkit writes, mounted as a secret', () => {
    expect(services['redis']?.command).toEqual(['redis-server', '/run/secrets/redis.conf', '--appendonly', 'yes', '--appendfsync', 'everysec'])
    expect(services['redis']?.secrets).toEqual([{ source: 'redis-config', target: 'redis.conf' }])
    expect(compose.secrets).toEqual({ 'redis-config': { file: '${AIKO_VAR_DIR:-./var}/secrets/redis.conf' } })
    expect(redisConfigPath('/srv/aiko/var')).toBe('/srv/aiko/var/secrets/redis.conf')
    expect(renderRedisConfig('s3cretValue')).toBe('# Written by the AI-KO toolkit from REDIS_PASSWORD (.env) before each start: do not edit.\nrequirepass s3cretValue\n')
  })

  it('gives Alertmanager no secret through its environment and publishes no port: its SMTP password is a file of the mounted folder', () => {
    const raw = z.object({ services: z.record(z.string(), z.object({ environment: z.record(z.string(), z.string()).optional(), ports: z.array(z.string()).optional(), volumes: z.array(z.string()).optional(), user: z.string().optional() }).passthrough()) }).passthrough().parse(YAML.parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')))
    const alertmanager = raw.services['alertmanager']
    expect(alertmanager?.environment).toEqual({ TZ: '${TZ:-Europe/Paris}' })
    expect(alertmanager?.ports).toBeUndefined()
    expect(alertmanager?.user).toBe('65534:65534')
    expect(alertmanager?.volumes).toEqual(['${AIKO_VAR_DIR:-./var}/alertmanager:/etc/alertmanager/config:ro', './monitoring/alertmanager/templates:/etc/alertmanager/templates:ro', 'alertmanager-data:/alertmanager'])
  })
})
