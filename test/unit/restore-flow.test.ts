import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { restoreSafely } from '../../lib/backup/restore.ts'
import type { ComposeTarget } from '../../lib/compose/commands.ts'
import { validateEnv, type AikoEnv } from '../../lib/env/schema.ts'
import { createExecutor, type Command, type Runner } from '../../lib/exec/executor.ts'
import { PROJECT_DIR, type StackContext } from '../../lib/stack/context.ts'
import type { Output } from '../../lib/ui/output.ts'

/**
 * restoreSafely's story against a small in-memory engine: containers with a service, an image
 * and a state; `up --scale` adds one of the release, stop/start/rm change them. What the test
 * reads is the order of the steps that matter and what runs when a step fails.
 */
const target: ComposeTarget = { base: ['docker', 'compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: { AIKO_RELEASE: 'A' } }
const A = '20261201-100000-aaaaaaa'
const B = '20261201-110000-bbbbbbb'

interface Box { id: string; service: string; image: string; status: string }

async function engine(options: { failRestoreOf?: string; unhealthyAfterRestore?: boolean } = {}) {
  const varDir = await mkdtemp(join(tmpdir(), 'aiko-restore-'))
  await mkdir(join(varDir, 'backups'), { recursive: true })
  const dump = join(varDir, 'backups', `pre-${B}.dump`)
  await writeFile(dump, 'PGDMP')
  let serial = 0
  const boxes: Box[] = []
  const add = (service: string, image: string) => boxes.push({ id: `c${++serial}`, service, image, status: 'running' })
  for (const service of ['postgres', 'redis', 'nginx']) add(service, `${service}:test`)
  for (const service of ['backend', 'frontend', 'celery-worker', 'celery-beat']) add(service, `${service === 'frontend' ? 'aiko-frontend' : 'aiko-backend'}:${B}`)
  const story: string[] = []
  let restored = false
  const ok = (stdout = '') => ({ stdout, stderr: '', exitCode: 0, skipped: false })
  const fail = (stderr: string) => ({ stdout: '', stderr, exitCode: 1, skipped: false })
  const runner: Runner = async (command: Command) => {
    const argv = command.argv.join(' ')
    const service = /label=com\.docker\.compose\.service=(\S+)/.exec(argv)?.[1]
    if (argv.startsWith('docker ps -q')) {
      const running = !argv.includes(' -a ')
      return ok(boxes.filter((box) => (service === undefined || box.service === service) && (!running || box.status === 'running')).map((box) => box.id).join('\n'))
    }
    if (argv.startsWith('docker inspect')) {
      const ids = command.argv.slice(2)
      return ok(JSON.stringify(boxes.filter((box) => ids.includes(box.id)).map((box) => ({
        Id: box.id, Name: `/aiko-${box.service}-${box.id}`, State: { Status: box.status }, Config: { Image: box.image, Labels: { 'com.docker.compose.service': box.service, 'com.docker.compose.project': 'aiko' }, Healthcheck: { Test: ['CMD', 'probe'] } },
      }))))
    }
    if (argv.includes(' up -d --no-deps --no-recreate')) {
      const release = command.env?.['AIKO_RELEASE'] ?? '?'
      for (const [, name] of argv.matchAll(/--scale (\S+)=\d+/g)) add(name ?? '', `${name === 'frontend' ? 'aiko-frontend' : 'aiko-backend'}:${release}`)
      story.push(`start ${release} beside`)
      return ok()
    }
    if (argv.startsWith('docker exec') && argv.endsWith(' probe')) {
      const box = boxes.find((candidate) => candidate.id === command.argv[2])
      return options.unhealthyAfterRestore === true && restored && box?.image.endsWith(`:${A}`) === true && box.service === 'backend' ? fail('unhealthy') : ok()
    }
    if (argv.includes('nginx -t')) return ok()
    if (argv.includes('nginx -s reload')) {
      story.push('nginx reload')
      return ok()
    }
    if (argv.startsWith('docker stop')) {
      const ids = command.argv.slice(4)
      for (const box of boxes) if (ids.includes(box.id)) box.status = 'exited'
      story.push(`stop ${boxes.filter((box) => ids.includes(box.id)).map((box) => `${box.service}@${box.image.split(':')[1]}`).join(' ')}`)
      return ok()
    }
    if (argv.startsWith('docker start')) {
      const ids = command.argv.slice(2)
      for (const box of boxes) if (ids.includes(box.id)) box.status = 'running'
      story.push(`start ${boxes.filter((box) => ids.includes(box.id)).map((box) => `${box.service}@${box.image.split(':')[1]}`).join(' ')}`)
      return ok()
    }
    if (argv.startsWith('docker rm')) {
      const ids = command.argv.slice(4)
      for (let i = boxes.length - 1; i >= 0; i--) if (ids.includes(boxes[i]?.id ?? '')) boxes.splice(i, 1)
      return ok()
    }
    if (argv.includes('pg_dump')) {
      story.push('safety dump')
      return ok()
    }
    if (argv.startsWith('docker cp c')) {
      await writeFile(command.argv[3] ?? '', 'PGDMP safety')
      return ok()
    }
    if (argv.startsWith('docker cp ')) {
      story.push(`copy in ${(command.argv[2] ?? '').split('/').at(-1)}`)
      return ok()
    }
    if (argv.includes('--single-transaction')) {
      const last = story.filter((line) => line.startsWith('copy in ')).at(-1)?.slice(8) ?? ''
      if (options.failRestoreOf !== undefined && last.startsWith(options.failRestoreOf)) return fail('psql: error')
      restored = true
      story.push(`restore ${last}`)
      return ok()
    }
    return ok()
  }
  const output: Output = { info: () => undefined, success: () => undefined, warn: () => undefined, error: () => undefined, step: (_title, work) => work() }
  const executor = createExecutor({ dryRun: false, verbose: false, output, runner })
  const envFile = join(varDir, '.env')
  await writeFile(envFile, `AIKO_RELEASE=${B}\n`, { mode: 0o600 })
  const ctx: StackContext = { executor, output, target: { ...target, envFile }, varDir, nginxConfDir: join(varDir, 'nginx'), nginxDir: join(PROJECT_DIR, 'nginx') }
  await mkdir(ctx.nginxConfDir, { recursive: true })
  return { ctx, dump, story, boxes }
}

const validated = validateEnv({ APP_ENV: 'development', NGINX_MODE: 'http', DOMAIN: 'aiko.example.test', ADMIN_EMAIL: 'admin@example.test', LETSENCRYPT_EMAIL: 'ops@example.test', POSTGRES_PASSWORD: 'p'.repeat(32), REDIS_PASSWORD: 'r'.repeat(32), SECRET_KEY: 's'.repeat(64), JWT_SECRET_KEY: 'j'.repeat(64), GRAFANA_ADMIN_PASSWORD: 'g'.repeat(32) })
if (!validated.ok) throw new Error(JSON.stringify(validated.problems))
const env: AikoEnv = validated.env
const now = new Date('2026-12-01T12:00:00Z')
const appOf = (boxes: readonly Box[]) => boxes.filter((box) => !['postgres', 'redis', 'nginx'].includes(box.service)).map((box) => `${box.service}@${box.image.split(':')[1]}:${box.status}`).sort()

describe('restoreSafely', () => {
  it('rollback --with-db: the target proven first, then maintenance, writers stopped, safety dump, restore, target serves', async () => {
    const { ctx, dump, story, boxes } = await engine()
    const safety = await restoreSafely(ctx, env, { file: dump, release: A, serving: B, healthTimeoutMs: 5_000, now })
    expect(safety).toBe(join(ctx.varDir, 'backups', 'pre-restore-20261201-120000.dump'))
    expect(story).toEqual([
      `start ${A} beside`,
      'nginx reload',
      `stop backend@${B} celery-worker@${B} celery-beat@${B} backend@${A} celery-worker@${A}`,
      'safety dump',
      `copy in pre-${B}.dump`,
      `restore pre-${B}.dump`,
      `start backend@${A} frontend@${A} celery-worker@${A}`,
      'nginx reload',
      `stop backend@${B} frontend@${B} celery-worker@${B}`,
      `stop celery-beat@${B}`,
      `start ${A} beside`,
    ])
    expect(appOf(boxes)).toEqual([`backend@${A}:running`, `celery-beat@${A}:running`, `celery-worker@${A}:running`, `frontend@${A}:running`])
  })

  it('a failure after the restore: the failed writers stop, the safety dump goes back, the previous release serves as before', async () => {
    const { ctx, dump, story, boxes } = await engine({ unhealthyAfterRestore: true })
    await expect(restoreSafely(ctx, env, { file: dump, release: A, serving: B, healthTimeoutMs: 1_500, now })).rejects.toThrow(`release ${A} failed after the restore: the safety dump is back`)
    const afterRestore = story.slice(story.indexOf(`restore pre-${B}.dump`) + 1)
    expect(afterRestore).toEqual([
      `start backend@${A} frontend@${A} celery-worker@${A}`,
      `stop backend@${A} frontend@${A} celery-worker@${A}`,
      'copy in pre-restore-20261201-120000.dump',
      'restore pre-restore-20261201-120000.dump',
      `start backend@${B} celery-worker@${B} celery-beat@${B}`,
      'nginx reload',
    ])
    expect(appOf(boxes)).toEqual([`backend@${B}:running`, `celery-beat@${B}:running`, `celery-worker@${B}:running`, `frontend@${B}:running`])
  })

  it('a failed restore (one transaction: nothing changed): the writers start again and the maintenance page goes', async () => {
    const { ctx, dump, story, boxes } = await engine({ failRestoreOf: 'pre-2026' })
    await expect(restoreSafely(ctx, env, { file: dump, release: B, serving: B, healthTimeoutMs: 5_000, now })).rejects.toThrow(`the database is as it was, release ${B} serves again`)
    expect(story).toEqual([
      'nginx reload',
      `stop backend@${B} celery-worker@${B} celery-beat@${B}`,
      'safety dump',
      `copy in pre-${B}.dump`,
      `start backend@${B} celery-worker@${B} celery-beat@${B}`,
      'nginx reload',
    ])
    expect(appOf(boxes)).toEqual([`backend@${B}:running`, `celery-beat@${B}:running`, `celery-worker@${B}:running`, `frontend@${B}:running`])
  })
})
