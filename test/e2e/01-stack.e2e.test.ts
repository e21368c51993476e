import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse as parseDotenv } from 'dotenv'
import { YAML } from 'zx'
import { beforeAll, describe, expect, it } from 'vitest'
import { composeConfig, composeDown, composeRun } from '../../lib/compose/commands.ts'
import { ToolkitError } from '../../lib/errors.ts'
import { loadEnv } from '../../lib/env/load.ts'
import { SECRET_NAMES, type AikoEnv } from '../../lib/env/schema.ts'
import { projectContainers } from '../../lib/stack/health.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { renderAndApplyNginx, startStack } from '../../lib/stack/start.ts'
import { runLoad } from './helpers/load.ts'
import { E2E, e2eContext, execIn, siteRequest } from './helpers/stack.ts'

let ctx: StackContext
let env: AikoEnv

beforeAll(async () => {
  ctx = await e2eContext()
  env = (await loadEnv(E2E.envFile)).env
})

const psql = (sql: string) =>
  execIn(ctx, 'postgres', ['sh', '-c', 'PGPASSWORD="$POSTGRES_PASSWORD" psql -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$1"', 'psql', sql])

describe('the stack on a real Docker engine', () => {
  it('runs every service with every healthcheck healthy', async () => {
    const states = await projectContainers(ctx)
    const services = states.map((state) => state.service).sort()
    expect(services).toEqual(
      ['alertmanager', 'backend', 'celery-beat', 'celery-worker', 'frontend', 'nginx', 'nginx-exporter', 'node-exporter', 'pebble', 'postgres', 'postgres-exporter', 'prometheus', 'redis', 'redis-exporter'],
    )
    for (const state of states) {
      expect(state.status, state.service).toBe('running')
      // nginx-exporter is built FROM scratch upstream: no shell, no healthcheck possible.
      if (state.service !== 'nginx-exporter' && state.service !== 'celery-beat') expect(state.health, state.service).toBe('healthy')
    }
  })

  it('serves the front end and the API through nginx', async () => {
    const page = await siteRequest(`/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('AI-KO')
    const health = await siteRequest(`/api/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok' })
  })

  it('sends the security headers', async () => {
    const response = await siteRequest(`/`)
    expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    expect(response.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin')
    expect(response.headers.get('permissions-policy')).toContain('camera=()')
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect(response.headers.get('server')).toBe('nginx')
    expect(response.headers.get('strict-transport-security')).toBeNull()
  })

  it('answers only its own names: any other Host gets the connection closed, and the app sees no client-made forwarding header', async () => {
    for (const host of ['127.0.0.1', 'other.example', `${E2E.domain}.other.example`]) {
      await expect(siteRequest('/api/health', { host }), host).rejects.toThrow(/socket hang up|ECONNRESET/)
    }
    const response = await siteRequest('/api/forwarded', { headers: { 'x-forwarded-host': 'other.example', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' } })
    expect(response.status).toBe(200)
    const seen = (await response.json()) as Record<string, string | null>
    expect(seen).toMatchObject({ 'Host': E2E.domain, 'X-Forwarded-Host': E2E.domain, 'X-Forwarded-Proto': 'http' })
    expect(seen['X-Forwarded-For']).toBe(seen['X-Real-IP'])
    expect(seen['X-Forwarded-For']).not.toContain('203.0.113.9')
  })

  it('keeps every secret of .env out of every container\'s command line, and Redis still asks for its password', async () => {
    const written = parseDotenv(await readFile(E2E.envFile))
    const secrets = SECRET_NAMES.map((name) => written[name]).filter((value): value is string => value !== undefined && value.length >= 8)
    expect(secrets.length).toBeGreaterThanOrEqual(5)
    const states = await projectContainers(ctx)
    const inspect = JSON.parse((await ctx.executor.run({ argv: ['docker', 'inspect', ...states.map((s) => s.id)], mutates: false })).stdout) as {
      Name: string
      Path: string
      Args: string[]
      Config: { Cmd: string[] | null; Entrypoint: string[] | null; Healthcheck?: { Test?: string[] } }
    }[]
    expect(inspect).toHaveLength(states.length)
    for (const item of inspect) {
      const commandLine = JSON.stringify([item.Path, item.Args, item.Config.Cmd, item.Config.Entrypoint, item.Config.Healthcheck?.Test ?? null])
      for (const secret of secrets) expect(commandLine.includes(secret), item.Name).toBe(false)
    }
    expect((await execIn(ctx, 'redis', ['sh', '-c', 'env -u REDISCLI_AUTH redis-cli ping 2>&1; true'])).trim()).toMatch(/NOAUTH/)
    expect((await execIn(ctx, 'redis', ['redis-cli', 'ping'])).trim()).toBe('PONG')
  })

  it('answers 429 to a burst on the login route', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 30 }, () =>
        siteRequest('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"nobody@aiko.test","password":"wrong"}' }).then((r) => r.status),
      ),
    )
    // The burst allowance lets the first requests through to the backend; the rest get 429.
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThan(10)
    expect(statuses.filter((status) => status !== 429).length).toBeGreaterThan(0)
  })

  it('serves a file of the ACME webroot at /.well-known/acme-challenge/', async () => {
    const token = `e2e-${Date.now()}`
    await ctx.executor.run(
      composeRun(ctx.target, 'certbot', ['-c', `mkdir -p /var/www/certbot/.well-known/acme-challenge && printf %s "$0" > /var/www/certbot/.well-known/acme-challenge/${token}`, `proof-${token}`], { mutates: true, entrypoint: 'sh' }),
    )
    const response = await siteRequest(`/.well-known/acme-challenge/${token}`)
    expect(response.status).toBe(200)
    expect(await response.text()).toBe(`proof-${token}`)
  })

  it('publishes only nginx, on 127.0.0.1 and ::1 (HTTP_BIND, HTTP_BIND6): PostgreSQL, Redis and the apps are reachable only on the compose network', async () => {
    const states = await projectContainers(ctx)
    const inspect = JSON.parse((await ctx.executor.run({ argv: ['docker', 'inspect', ...states.map((s) => s.id)], mutates: false })).stdout) as {
      Config: { Labels: Record<string, string> }
      HostConfig: { PortBindings: Record<string, { HostIp: string; HostPort: string }[]> | null }
    }[]
    const published = Object.fromEntries(
      inspect.map((item) => [item.Config.Labels['com.docker.compose.service'], Object.values(item.HostConfig.PortBindings ?? {}).flat().map((b) => `${b.HostIp}:${b.HostPort}`)]),
    )
    expect(published['nginx']?.sort()).toEqual([`127.0.0.1:${E2E.httpPort}`, `127.0.0.1:${E2E.httpsPort}`, `::1:${E2E.httpPort}`, `::1:${E2E.httpsPort}`].sort())
    for (const [service, bindings] of Object.entries(published)) if (service !== 'nginx') expect(bindings, service).toEqual([])
    expect((await execIn(ctx, 'backend', ['python3', '-c', 'import socket; socket.create_connection(("postgres", 5432), 3); print("ok")'])).trim()).toBe('ok')
  })

  it('serves IPv6 visitors too (the AAAA side): the API answers on [::1]', async () => {
    const response = await siteRequest('/api/health', { address: '::1' })
    expect(response.status).toBe(200)
  })

  it('runs the application containers as a non-root user', async () => {
    for (const service of ['backend', 'celery-worker', 'celery-beat', 'frontend']) {
      expect((await execIn(ctx, service, ['id', '-u'])).trim(), service).not.toBe('0')
    }
  })

  it('hands containers the .env values exactly as init-env wrote them', async () => {
    const written = parseDotenv(await readFile(E2E.envFile))
    const config = YAML.parse((await ctx.executor.run(composeConfig(ctx.target))).stdout) as { services: Record<string, { environment: Record<string, string> }> }
    const backendEnv = config.services['backend']?.environment ?? {}
    expect(written['ADMIN_PASSWORD']).toBe(E2E.operatorValue)
    // `config` prints a file compose can read again, so every literal $ comes out as $$.
    expect(backendEnv['E2E_OPERATOR_VALUE']?.replaceAll('$$', '$')).toBe(E2E.operatorValue)
    for (const name of ['POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'SECRET_KEY', 'JWT_SECRET_KEY'] as const) {
      expect(written[name], name).toMatch(/^[A-Za-z0-9]{32,}$/)
      expect(backendEnv[name], name).toBe(written[name])
    }
    expect(config.services['postgres']?.environment['POSTGRES_PASSWORD']).toBe(written['POSTGRES_PASSWORD'])
    const inContainer = await execIn(ctx, 'backend', ['python3', '-c', 'import os,sys; sys.stdout.write(os.environ["E2E_OPERATOR_VALUE"])'])
    expect(inContainer).toBe(E2E.operatorValue)
  })

  it('refuses a broken nginx template with nginx -t, puts the old files back and keeps serving', async () => {
    const siteConf = join(ctx.nginxConfDir, 'site.conf')
    const before = await readFile(siteConf, 'utf8')
    const brokenDir = await mkdtemp(join(tmpdir(), 'aiko-nginx-'))
    await cp(ctx.nginxDir, brokenDir, { recursive: true })
    const template = join(brokenDir, 'templates', 'http.conf.tmpl')
    await writeFile(template, (await readFile(template, 'utf8')).replace('client_max_body_size', 'client_max_body_sise'))
    const applying = renderAndApplyNginx({ ...ctx, nginxDir: brokenDir }, env, 'http')
    const refusal = applying.then(() => undefined, (reason: unknown) => reason)
    const report = await runLoad({ host: '127.0.0.1', port: E2E.httpPort, servername: E2E.domain, path: '/', plain: true }, applying, { clients: 1, maxRequests: 2000, maxMs: 60_000 })
    const error = await refusal
    expect(error).toBeInstanceOf(ToolkitError)
    if (!(error instanceof ToolkitError)) return
    expect(error.message).toContain('nginx -t refused')
    expect(error.details.join('\n')).toContain('client_max_body_sise')
    expect(await readFile(siteConf, 'utf8')).toBe(before)
    expect(report.sent).toBeGreaterThan(0)
    expect(report.rawFailed).toBe(0)
    expect(report.statuses[200]).toBe(report.sent)
    expect((await siteRequest(`/`)).status).toBe(200)
  })

  it('keeps the data of its volumes across down and up', async () => {
    await psql('CREATE TABLE IF NOT EXISTS e2e_persist (note text); INSERT INTO e2e_persist VALUES (\'survives\')')
    await ctx.executor.run(composeDown(ctx.target))
    expect(await projectContainers(ctx)).toEqual([])
    await startStack(ctx, env, { timeoutMs: 300_000 })
    expect((await psql('SELECT note FROM e2e_persist')).trim()).toBe('survives')
    expect((await siteRequest(`/api/health`)).status).toBe(200)
  })
})
