import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { YAML } from 'zx'
import type { ComposeTarget } from '../../lib/compose/commands.ts'
import { validateEnv, type AikoEnv } from '../../lib/env/schema.ts'
import { createExecutor, type Command, type Runner } from '../../lib/exec/executor.ts'
import { renderNginxSite } from '../../lib/nginx/render.ts'
import { readNginxTemplates } from '../../lib/nginx/templates.ts'
import { readReleaseLog } from '../../lib/release/log.ts'
import { PROJECT_DIR, type StackContext } from '../../lib/stack/context.ts'
import { createJob, listStackServices, removeServices, serviceLogs, serviceTasksAll, stackNetwork } from '../../lib/swarm/commands.ts'
import type { ServiceStatus } from '../../lib/swarm/converge.ts'
import { deploySwarmRelease, rollbackSwarmRelease, stackFilePath, swarmSettings, type SwarmSettings } from '../../lib/swarm/deploy.ts'
import {
  composeForStack, deployOrder, expectedImages, formatServiceLines, jobEnvFile, jobOutcome, managerProblem, migrationJobName, onlyServices, parseServiceRows,
  parseTaskRows, pushPlan, releaseServices, secretVersion, serviceLines, servicesToRollBack, stackServicesOutput, stackVariables, swarmServiceHealth, varBindSources, waitStep, retryStackDeploy, STACK_DEPLOY_TRIES, type TaskRow,
} from '../../lib/swarm/plan.ts'
import { renderStack, type StackFile } from '../../lib/swarm/stack.ts'
import type { Output } from '../../lib/ui/output.ts'
import { validEnv } from './helpers/valid-env.ts'

const LOCAL = { stack: 'aiko' }
const NODE1 = { stack: 'aiko', host: 'unix:///run/aiko-swarm/node1/docker.sock' }

describe('swarm command builders (whole argv)', () => {
  it('the migration job: replicated-job, never restarted, env from a file, only non-secret --env', () => {
    const job = {
      name: 'aiko-migrate-r42', image: '10.214.0.11:5000/aiko/aiko-backend:r42', argv: ['flask', 'db', 'upgrade'], network: 'aiko_default', envFile: '/srv/ai-ko/var/swarm/migrate-r42.env',
      env: { PGOPTIONS: '-c lock_timeout=5000' }, labels: { 'com.aiko.job': 'migrate', 'com.aiko.release': 'r42' }, constraints: ['node.labels.data == true'], registryAuth: true,
    }
    expect(createJob(LOCAL, job)).toEqual({
      argv: [
        'docker', 'service', 'create', '--detach', '--quiet', '--name', 'aiko-migrate-r42', '--mode', 'replicated-job', '--restart-condition', 'none', '--no-healthcheck', '--network', 'aiko_default',
        '--env-file', '/srv/ai-ko/var/swarm/migrate-r42.env', '--env', 'PGOPTIONS=-c lock_timeout=5000', '--label', 'com.aiko.job=migrate', '--label', 'com.aiko.release=r42',
        '--constraint', 'node.labels.data == true', '--with-registry-auth', '10.214.0.11:5000/aiko/aiko-backend:r42', 'flask', 'db', 'upgrade',
      ],
      mutates: true,
      timeoutMs: 300_000,
    })
    expect(createJob(NODE1, { ...job, env: {}, labels: {}, constraints: [], registryAuth: false }).argv).toEqual([
      'docker', 'service', 'create', '--detach', '--quiet', '--name', 'aiko-migrate-r42', '--mode', 'replicated-job', '--restart-condition', 'none', '--no-healthcheck', '--network', 'aiko_default',
      '--env-file', '/srv/ai-ko/var/swarm/migrate-r42.env', '10.214.0.11:5000/aiko/aiko-backend:r42', 'flask', 'db', 'upgrade',
    ])
    expect(createJob(NODE1, job).env).toEqual({ DOCKER_HOST: 'unix:///run/aiko-swarm/node1/docker.sock' })
  })

  it('tasks, services, logs, removal, the stack network', () => {
    expect([serviceTasksAll(LOCAL, 'aiko-migrate-r42'), listStackServices(NODE1), serviceLogs(LOCAL, 'aiko-migrate-r42', 20), removeServices(LOCAL, ['aiko-migrate-r42'])]).toEqual([
      { argv: ['docker', 'service', 'ps', '--no-trunc', '--format', '{{json .}}', 'aiko-migrate-r42'], mutates: false, timeoutMs: 60_000 },
      { argv: ['docker', 'service', 'ls', '--filter', 'label=com.docker.stack.namespace=aiko', '--format', '{{json .}}'], mutates: false, timeoutMs: 60_000, env: { DOCKER_HOST: 'unix:///run/aiko-swarm/node1/docker.sock' } },
      { argv: ['docker', 'service', 'logs', '--raw', '--no-task-ids', '--tail', '20', 'aiko-migrate-r42'], mutates: false, timeoutMs: 60_000 },
      { argv: ['docker', 'service', 'rm', 'aiko-migrate-r42'], mutates: true, timeoutMs: 60_000 },
    ])
    expect(stackNetwork(LOCAL)).toBe('aiko_default')
    expect(migrationJobName(LOCAL, '20261203-090000-abc1234')).toBe('aiko-migrate-20261203-090000-abc1234')
  })
})

const task = (state: string, extra: Partial<TaskRow> = {}): TaskRow => ({ ID: 't1', Name: 'aiko-migrate-r42.1', Image: 'img', Node: 'node2', DesiredState: 'Complete', CurrentState: state, Error: '', ...extra })

describe('jobOutcome: where the migration job is', () => {
  it.each([
    [[], 'running', 'no task scheduled yet'],
    [[task('New 1 second ago', { Node: '' })], 'running', 'new'],
    [[task('Pending 1 second ago', { Node: '' })], 'running', 'pending'],
    [[task('Preparing 2 seconds ago')], 'running', 'preparing on node2'],
    [[task('Starting 1 second ago')], 'running', 'starting on node2'],
    [[task('Running 3 seconds ago')], 'running', 'running on node2'],
    [[task('Complete 1 second ago')], 'complete', 'completed on node2'],
    [[task('Failed 2 seconds ago', { Error: 'task: non-zero exit (1)' })], 'failed', 'failed on node2: task: non-zero exit (1)'],
    [[task('Rejected 5 seconds ago', { Node: 'node3', Error: 'No such image: r/aiko-backend:r42' })], 'failed', 'rejected on node3: No such image: r/aiko-backend:r42'],
    [[task('Orphaned 1 minute ago')], 'failed', 'orphaned on node2'],
  ] as const)('case %#: %s', (tasks, state, detail) => {
    expect(jobOutcome(tasks)).toEqual({ state, detail })
  })

  it('reads docker service ps lines, and refuses what it cannot read', () => {
    const line = JSON.stringify({ ID: 'x1', Name: 'aiko-migrate-r42.1', Image: 'r/aiko-backend:r42', Node: 'aiko-swarm-node2', DesiredState: 'Complete', CurrentState: 'Complete 2 seconds ago', Error: '', Ports: '' })
    expect(parseTaskRows(`${line}\n\n`)).toEqual([{ ID: 'x1', Name: 'aiko-migrate-r42.1', Image: 'r/aiko-backend:r42', Node: 'aiko-swarm-node2', DesiredState: 'Complete', CurrentState: 'Complete 2 seconds ago', Error: '' }])
    expect(() => parseTaskRows('{"ID":"x"}')).toThrow('docker service ps: cannot read "{"ID":"x"}"')
    expect(() => parseTaskRows('Nothing found')).toThrow('docker service ps: cannot read "Nothing found"')
  })
})

const status = (name: string, image: string, updateState?: ServiceStatus['updateState'], startedAt?: string): ServiceStatus => ({
  name, image, replicas: 2, updateState, updateMessage: undefined, updateStartedAt: startedAt,
})

describe('waitStep and servicesToRollBack', () => {
  const T0 = Date.parse('2026-12-03T09:00:00Z')
  const after = '2026-12-03T09:00:05.123456789Z'
  const before = '2026-12-03T08:00:00Z'

  it('converged, waiting, failed, timed out', () => {
    expect(waitStep({ converged: true, failed: [], waiting: [] }, 10, 100)).toEqual({ kind: 'converged' })
    expect(waitStep({ converged: false, failed: [], waiting: [{ service: 'aiko_backend', reason: '1/2 tasks running' }] }, 10, 100)).toEqual({ kind: 'wait', reasons: ['aiko_backend: 1/2 tasks running'] })
    expect(waitStep({ converged: false, failed: [], waiting: [{ service: 'aiko_backend', reason: '1/2 tasks running' }] }, 100, 100)).toEqual({ kind: 'timeout', reasons: ['aiko_backend: 1/2 tasks running'] })
    // a failure is reported at once, before the time is up
    expect(waitStep({ converged: false, failed: [{ service: 'aiko_frontend', reason: 'update paused' }], waiting: [{ service: 'aiko_backend', reason: 'updating' }] }, 1, 100)).toEqual({ kind: 'failed', reasons: ['aiko_frontend: update paused'] })
  })

  it('rolls back what runs the new image; leaves what Swarm rolls back itself and what never changed', () => {
    const expected = { aiko_backend: 'r/aiko-backend:B', aiko_frontend: 'r/aiko-frontend:B', 'aiko_celery-worker': 'r/aiko-backend:B', 'aiko_celery-beat': 'r/aiko-backend:B' }
    const statuses = [
      status('aiko_backend', 'r/aiko-backend:B', 'completed', after), // updated, converged alone: back
      status('aiko_frontend', 'r/aiko-frontend:A', 'rollback_completed', after), // Swarm's own rollback: left alone
      status('aiko_celery-worker', 'r/aiko-backend:B', 'updating', after), // still updating: back
      status('aiko_celery-beat', 'r/aiko-backend:A', 'completed', before), // never reached by this deploy
    ]
    expect(servicesToRollBack(expected, Object.keys(expected), statuses, T0)).toEqual(['aiko_backend', 'aiko_celery-worker'])
    // a service created by this deploy has no previous spec: nothing to roll back to
    expect(servicesToRollBack(expected, ['aiko_backend'], [status('aiko_backend', 'r/aiko-backend:B')], T0)).toEqual([])
    // a rollback started by Swarm before this deploy is an old story: the service runs the new image, back
    expect(servicesToRollBack(expected, ['aiko_backend'], [status('aiko_backend', 'r/aiko-backend:B', 'rollback_completed', before)], T0)).toEqual(['aiko_backend'])
    expect(servicesToRollBack(expected, ['aiko_backend'], [], T0)).toEqual([])
  })
})

describe('deploy decisions', () => {
  it('the order: migrations first when the stack runs, after PostgreSQL on the first deploy', () => {
    expect(deployOrder({ aiko_postgres: { running: 1, desired: 1 }, aiko_backend: { running: 2, desired: 2 } }, 'aiko_postgres')).toBe('migrate-then-deploy')
    expect(deployOrder({}, 'aiko_postgres')).toBe('deploy-then-migrate')
    // a stack whose PostgreSQL was removed by hand: its data node must bring it back first
    expect(deployOrder({ aiko_backend: { running: 2, desired: 2 } }, 'aiko_postgres')).toBe('deploy-then-migrate')
  })

  it('a stack that does not exist yet has no services, whatever the CLI exit code; any other failure is one', () => {
    expect(stackServicesOutput({ exitCode: 0, stdout: '', stderr: 'Nothing found in stack: aiko\n' })).toBe('')
    expect(stackServicesOutput({ exitCode: 1, stdout: '', stderr: 'Nothing found in stack: aiko\n' })).toBe('')
    expect(stackServicesOutput({ exitCode: 0, stdout: '{"Name":"aiko_backend","Replicas":"2/2"}\n', stderr: '' })).toBe('{"Name":"aiko_backend","Replicas":"2/2"}\n')
    expect(stackServicesOutput({ exitCode: 1, stdout: '', stderr: 'Cannot connect to the Docker daemon' })).toBeUndefined()
  })

  it('docker stack deploy is tried again only when it raced a rolling update, a bounded number of times', () => {
    const raced = ['failed to update service aiko_backend: Error response from daemon: rpc error: code = Unknown desc = update out of sequence']
    expect(retryStackDeploy(raced, 1)).toBe(true)
    expect(retryStackDeploy(raced, STACK_DEPLOY_TRIES - 1)).toBe(true)
    expect(retryStackDeploy(raced, STACK_DEPLOY_TRIES)).toBe(false)
    expect(retryStackDeploy(['image nginx:1.27-alpine could not be accessed on a registry', 'network aiko_default not found'], 1)).toBe(false)
    expect(retryStackDeploy([], 1)).toBe(false)
  })

  it('the images pushed: the release images under REGISTRY, the names the stack file uses', () => {
    expect(pushPlan('10.214.0.11:5000/aiko', 'r42')).toEqual([
      { source: 'aiko-backend:r42', destination: '10.214.0.11:5000/aiko/aiko-backend:r42' },
      { source: 'aiko-frontend:r42', destination: '10.214.0.11:5000/aiko/aiko-frontend:r42' },
    ])
  })

  it('the variables: .env without its empty values, then the release and the var folder', () => {
    expect(stackVariables({ DOMAIN: 'aiko.fr', ADMIN_PASSWORD: '', AIKO_RELEASE: 'old' }, {}, 'r42', '/srv/ai-ko/var')).toEqual({ DOMAIN: 'aiko.fr', AIKO_RELEASE: 'r42', AIKO_VAR_DIR: '/srv/ai-ko/var' })
    // the schema's defaults fill what .env leaves out (compose mode reads them from .env, written by init-env)
    expect(stackVariables({ POSTGRES_USER: 'ecole' }, { POSTGRES_USER: 'aiko', POSTGRES_DB: 'aiko', HTTP_PORT: 80, DOMAIN_WWW: true, ADMIN_PASSWORD: undefined }, 'r42', '/v')).toEqual({
      POSTGRES_USER: 'ecole', POSTGRES_DB: 'aiko', HTTP_PORT: '80', DOMAIN_WWW: 'true', AIKO_RELEASE: 'r42', AIKO_VAR_DIR: '/v',
    })
  })

  it('the env file of the job: the backend environment, $$ back to $, no multi-line value', () => {
    expect(jobEnvFile({ image: 'i', deploy: { endpoint_mode: 'dnsrr', restart_policy: { condition: 'any', delay: '5s' } }, environment: { A: '1', B: 'p$$w', C: 3, D: null } })).toBe('A=1\nB=p$w\nC=3\n')
    expect(jobEnvFile({ image: 'i', deploy: { endpoint_mode: 'dnsrr', restart_policy: { condition: 'any', delay: '5s' } }, environment: ['A=1', 'B=x=y', 'NOVALUE'] })).toBe('A=1\nB=x=y\n')
    expect(() => jobEnvFile({ image: 'i', deploy: { endpoint_mode: 'dnsrr', restart_policy: { condition: 'any', delay: '5s' } }, environment: { K: 'a\nb' } })).toThrow('K: a value on several lines cannot go into an env file')
  })

  it('the secret version: a short digest that changes with the content', () => {
    expect(secretVersion('requirepass a\n')).toMatch(/^[0-9a-f]{12}$/)
    expect(secretVersion('requirepass a\n')).not.toBe(secretVersion('requirepass b\n'))
  })

  it('a manager may deploy; a worker or a lone engine may not, and is told what to do', () => {
    expect(managerProblem('{"NodeID":"abc","LocalNodeState":"active","ControlAvailable":true}')).toBeUndefined()
    expect(managerProblem('{"NodeID":"abc","LocalNodeState":"active","ControlAvailable":false}')).toMatch(/^this Docker engine is a Swarm worker: run the toolkit on a manager/)
    expect(managerProblem('{"NodeID":"","LocalNodeState":"inactive","ControlAvailable":false}')).toMatch(/^this Docker engine is not in a Swarm \(state inactive\): run `docker swarm init` here first/)
    expect(managerProblem('{"LocalNodeState":"pending"}')).toMatch(/state pending/)
    expect(managerProblem('garbage')).toBe('docker info answered no Swarm state: garbage')
  })

  it('the status table: service names without the stack, tasks, and what does not run', () => {
    const rows = parseServiceRows(
      [
        { ID: '1', Name: 'aiko_nginx', Mode: 'replicated', Replicas: '1/1', Image: 'nginx:1.27-alpine', Ports: '' },
        { ID: '2', Name: 'aiko_backend', Mode: 'replicated', Replicas: '1/2', Image: 'r/aiko-backend:r42@sha256:' + 'a'.repeat(64), Ports: '' },
        { ID: '3', Name: 'aiko_node-exporter', Mode: 'global', Replicas: '3/3', Image: 'prom/node-exporter:v1.8.2', Ports: '' },
      ].map((row) => JSON.stringify(row)).join('\n'),
    )
    const lines = serviceLines(rows, 'aiko')
    expect(lines).toEqual([
      { name: 'backend', mode: 'replicated', running: 1, desired: 2, image: 'r/aiko-backend:r42', ok: false },
      { name: 'nginx', mode: 'replicated', running: 1, desired: 1, image: 'nginx:1.27-alpine', ok: true },
      { name: 'node-exporter', mode: 'global', running: 3, desired: 3, image: 'prom/node-exporter:v1.8.2', ok: true },
    ])
    expect(formatServiceLines(lines).split('\n')).toEqual([
      'service        mode        tasks  image',
      'backend        replicated  1/2    r/aiko-backend:r42  <- not all running',
      'nginx          replicated  1/1    nginx:1.27-alpine',
      'node-exporter  global      3/3    prom/node-exporter:v1.8.2',
    ])
    expect(swarmServiceHealth(lines).map(({ name, healthy }) => `${name}=${healthy}`).join(' ')).toBe('backend=false nginx=true node-exporter=true')
    expect(formatServiceLines([])).toMatch(/^no service of this stack runs/)
    expect(() => parseServiceRows('{"Name":"x"}')).toThrow('docker service ls: cannot read')
  })

  it("the repository's docker-compose.yml: merge keys applied, substituted, the release images, the app services", async () => {
    const validation = validateEnv(validEnv())
    if (!validation.ok) throw new Error('test env invalid')
    const vars = stackVariables(validEnv(), validation.env, 'r42', '/srv/ai-ko/var')
    const { compose, unset } = composeForStack(await readFile(join(PROJECT_DIR, 'docker-compose.yml'), 'utf8'), vars)
    expect(unset).toEqual([])
    // the x-service anchor's settings reached the services
    expect(compose.services['postgres']?.['cap_drop']).toEqual(['ALL'])
    const { file } = renderStack(compose, { registry: 'r:5000/aiko', release: 'r42', projectDir: PROJECT_DIR, labels: { edge: 'edge', data: 'data' }, appReplicas: 2 })
    const images = expectedImages(file, LOCAL)
    expect(images['aiko_backend']).toBe('r:5000/aiko/aiko-backend:r42')
    expect(images['aiko_postgres']).toBe('postgres:16.4-alpine')
    expect(releaseServices(file, LOCAL, 'r:5000/aiko')).toEqual(['aiko_backend', 'aiko_celery-worker', 'aiko_celery-beat', 'aiko_frontend'])
    expect(onlyServices(images, ['aiko_postgres'])).toEqual({ aiko_postgres: 'postgres:16.4-alpine' })
    // the var/ folders Swarm would not create (the deploy makes them; the secret's file is not one)
    expect(varBindSources(file, '/srv/ai-ko/var/')).toEqual(['/srv/ai-ko/var/alertmanager', '/srv/ai-ko/var/metrics', '/srv/ai-ko/var/nginx/conf.d'])
  })

  it('docker-compose.yml errors name the file and the fix', () => {
    expect(() => composeForStack('services: [a', {})).toThrow(/^docker-compose.yml is not valid YAML/)
    expect(() => composeForStack('volumes: {}\n', {})).toThrow('docker-compose.yml: `services` must map each service name to its settings')
    expect(() => composeForStack('services:\n  a:\n    image: "${X:?set X}"\n', {})).toThrow('docker-compose.yml: X: set X')
  })

  it('nginx in stack mode proxies to the service names (dnsrr), not to release aliases', async () => {
    const templates = await readNginxTemplates(join(PROJECT_DIR, 'nginx'))
    const input = { mode: 'http' as const, domain: 'aiko.mon-ecole.fr', wwwAlias: true, uploadMaxSize: '20m', release: 'swarm' }
    const swarm = renderNginxSite({ ...input, upstreams: 'service-names' }, templates)['upstreams.conf']
    expect(swarm).toContain('default "backend:5000";')
    expect(swarm).toContain('default "frontend:3000";')
    const compose = renderNginxSite(input, templates)['upstreams.conf']
    expect(compose).toContain('default "backend-swarm:5000";')
    expect(compose).toContain('default "frontend-swarm:3000";')
  })
})

/**
 * The deploy and rollback stories against a small in-memory Swarm: `docker stack deploy` reads
 * the rendered stack file and updates the services' specs; scenarios make an update roll back,
 * tasks never come, or the migration job fail. What the test reads: the calls that matter, in
 * order, the release log and the files left.
 */
interface FakeService { image: string; previous?: string; updateState?: string; startedAt?: string; running: number; desired: number }

async function fakeSwarm(options: { running?: Record<string, string>; swarmRollsBack?: string[]; stuck?: string[]; jobFails?: boolean; worker?: boolean; dryRun?: boolean; postgresHere?: boolean; nginxHere?: boolean } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'aiko-swarm-'))
  const varDir = join(dir, 'var')
  const envFile = join(dir, '.env')
  const values = { ...validEnv(), DEPLOY_TARGET: 'swarm', REGISTRY: 'r:5000/aiko' }
  await writeFile(envFile, Object.entries(values).map(([k, v]) => `${k}=${v ?? ''}\n`).join(''), { mode: 0o600 })
  const services = new Map<string, FakeService>()
  for (const [name, image] of Object.entries(options.running ?? {})) services.set(name, { image, running: 1, desired: 1 })
  const jobs = new Map<string, string>()
  const story: string[] = []
  const ok = (stdout = '') => ({ stdout, stderr: '', exitCode: 0, skipped: false })
  const now = () => new Date().toISOString()
  const runner: Runner = async (command: Command) => {
    if (options.dryRun === true && command.mutates) throw new Error(`dry-run ran a change: ${command.argv.join(' ')}`)
    const a = command.argv
    const argv = a.join(' ')
    if (argv === 'docker info --format {{json .Swarm}}') return ok(JSON.stringify({ NodeID: 'n1', LocalNodeState: 'active', ControlAvailable: options.worker !== true }))
    // this node's task containers: the postgres task when the test puts it here (the data node)
    if (argv.startsWith('docker ps')) return ok(options.postgresHere === true && argv.includes('service.name=aiko_postgres') ? 'pg1\n' : options.nginxHere === true && argv.includes('service.name=aiko_nginx') ? 'ng1\n' : '')
    if (argv === 'docker exec ng1 nginx -t') return story.push('nginx -t'), ok()
    if (argv.startsWith('docker exec ng1 sh -c')) return story.push('nginx reload'), ok()
    if (argv === 'docker inspect pg1') return ok(JSON.stringify([{ Id: 'pg1', Config: { Labels: { 'com.docker.swarm.service.name': 'aiko_postgres', 'com.docker.stack.namespace': 'aiko' } }, State: { Status: 'running' } }]))
    if (argv.startsWith('docker exec pg1 sh -c pg_dump')) return story.push('pre-migration dump'), ok()
    if (argv.startsWith('docker exec pg1 pg_restore --list') || argv.startsWith('docker exec pg1 rm')) return ok()
    if (argv.startsWith('docker cp pg1:')) return await writeFile(a[3] ?? '', 'dump'), ok()
    if (a[1] === 'compose' && a.includes('build')) {
      story.push(`build ${command.env?.['AIKO_RELEASE']}`)
      return ok()
    }
    if (a[1] === 'tag') return ok()
    if (a[1] === 'push') {
      story.push(`push ${a[2]}`)
      return ok()
    }
    if (argv.startsWith('docker stack services')) return ok([...services].map(([name, s]) => JSON.stringify({ Name: name, Replicas: `${s.running}/${s.desired}` })).join('\n'))
    if (argv.startsWith('docker service inspect')) {
      return ok(JSON.stringify(a.slice(3).map((name) => {
        const s = services.get(name)
        return { Spec: { Name: name, Mode: { Replicated: { Replicas: s?.desired } }, TaskTemplate: { ContainerSpec: { Image: `${s?.image}@sha256:${'b'.repeat(64)}` } } }, UpdateStatus: s?.updateState === undefined ? null : { State: s.updateState, StartedAt: s.startedAt, Message: '' } }
      })))
    }
    if (argv.startsWith('docker stack deploy')) {
      const file = YAML.parse((await readFile(a[4] ?? '', 'utf8'))) as StackFile
      story.push(`stack deploy ${file.services['backend']?.image}`)
      for (const [name, service] of Object.entries(file.services)) {
        const key = `aiko_${name}`
        const old = services.get(key)
        const desired = service.deploy.replicas ?? 3
        const running = options.stuck?.includes(key) === true ? 0 : desired
        if (old === undefined) services.set(key, { image: service.image, running, desired })
        else if (old.image === service.image) continue
        else if (options.swarmRollsBack?.includes(key) === true) services.set(key, { ...old, previous: service.image, updateState: 'rollback_completed', startedAt: now() })
        else services.set(key, { image: service.image, previous: old.image, updateState: 'completed', startedAt: now(), running, desired })
      }
      return ok()
    }
    if (argv.startsWith('docker service rollback')) {
      const name = a.at(-1) ?? ''
      const s = services.get(name)
      if (s?.previous !== undefined) services.set(name, { ...s, image: s.previous, previous: s.image, updateState: 'rollback_completed', startedAt: now(), running: s.desired })
      story.push(`service rollback ${name}`)
      return ok()
    }
    if (argv.startsWith('docker service create')) {
      const name = a[a.indexOf('--name') + 1] ?? ''
      const envFileText = await readFile(a[a.indexOf('--env-file') + 1] ?? '', 'utf8')
      expect(envFileText).toContain('DATABASE_URL=postgresql://aiko:')
      expect(argv).not.toContain(validEnv()['POSTGRES_PASSWORD'])
      jobs.set(name, options.jobFails === true ? 'Failed 1 second ago' : 'Complete 1 second ago')
      story.push(`job ${a.slice(a.indexOf('--mode'), a.indexOf('--mode') + 2).join(' ')} ${a.slice(-4).join(' ')}`)
      return ok('jobid')
    }
    if (argv.startsWith('docker service ps')) {
      const state = jobs.get(a.at(-1) ?? '')
      return ok(state === undefined ? '' : JSON.stringify({ ID: 't', Name: `${a.at(-1)}.1`, Image: 'i', Node: 'node2', DesiredState: 'Complete', CurrentState: state, Error: state.startsWith('Failed') ? 'task: non-zero exit (1)' : '' }))
    }
    if (argv.startsWith('docker service logs')) return ok('alembic.util.exc.CommandError: boom\n')
    if (argv.startsWith('docker service rm')) {
      if (jobs.delete(a[3] ?? '')) story.push('job removed')
      return ok()
    }
    throw new Error(`unexpected command: ${argv}`)
  }
  const output: Output = { info: () => undefined, success: () => undefined, warn: () => undefined, error: () => undefined, step: (_title, work) => work() }
  const target: ComposeTarget = { base: ['docker', 'compose'], envFile, projectDir: PROJECT_DIR, project: 'aiko', env: { AIKO_RELEASE: 'latest', AIKO_VAR_DIR: varDir } }
  const ctx: StackContext = { executor: createExecutor({ dryRun: options.dryRun === true, verbose: false, output, runner }), output, target, varDir, nginxConfDir: join(varDir, 'nginx', 'conf.d'), nginxDir: join(PROJECT_DIR, 'nginx'), swarm: { stack: 'aiko' } }
  const validation = validateEnv(values)
  if (!validation.ok) throw new Error('test env invalid')
  const env: AikoEnv = validation.env
  const settings: SwarmSettings = { ...swarmSettings(env, 200), pollMs: 1 }
  return { ctx, env, settings, story, services, varDir }
}

const A = '20261203-080000-aaaaaaa'
const B = '20261203-090000-bbbbbbb'
const C = '20261203-100000-ccccccc'
const RUNNING_A = {
  aiko_postgres: 'postgres:16.4-alpine', aiko_backend: `r:5000/aiko/aiko-backend:${A}`, aiko_frontend: `r:5000/aiko/aiko-frontend:${A}`,
  'aiko_celery-worker': `r:5000/aiko/aiko-backend:${A}`, 'aiko_celery-beat': `r:5000/aiko/aiko-backend:${A}`,
}

describe('deploySwarmRelease and rollbackSwarmRelease (an in-memory Swarm)', () => {
  it('first deploy: build, push, stack deploy, then the migration job once PostgreSQL converged; recorded', async () => {
    const { ctx, env, settings, story, varDir } = await fakeSwarm()
    await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: undefined }, settings)
    expect(story).toEqual([
      `build ${B}`,
      `push r:5000/aiko/aiko-backend:${B}`,
      `push r:5000/aiko/aiko-frontend:${B}`,
      `stack deploy r:5000/aiko/aiko-backend:${B}`,
      `job --mode replicated-job r:5000/aiko/aiko-backend:${B} flask db upgrade`,
      'job removed',
    ])
    expect((await readFile(join(varDir, 'current-release'), 'utf8')).trim()).toBe(B)
    expect((await readReleaseLog(varDir)).map((e) => [e.action, e.id, e.result])).toEqual([['deploy', B, 'ok']])
    expect((await stat(stackFilePath(varDir))).mode & 0o777).toBe(0o600)
    const upstreams = await readFile(join(varDir, 'nginx', 'conf.d', 'upstreams.conf'), 'utf8')
    expect(upstreams).toContain('default "backend:5000";')
  })

  it('update on the data node: the pre-migration dump (pg_dump in the local postgres task) before the job, named in the release log', async () => {
    const { ctx, env, settings, story, varDir } = await fakeSwarm({ running: RUNNING_A, postgresHere: true })
    await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: A }, settings)
    expect(story.slice(3)).toEqual(['pre-migration dump', `job --mode replicated-job r:5000/aiko/aiko-backend:${B} flask db upgrade`, 'job removed', `stack deploy r:5000/aiko/aiko-backend:${B}`])
    expect((await stat(join(varDir, 'backups', `pre-${B}.dump`))).mode & 0o777).toBe(0o600)
    expect((await readReleaseLog(varDir)).map((e) => `${e.action} ${e.id} ${e.result} ${e.backup}`)).toEqual([`deploy ${B} ok pre-${B}.dump`])
  })

  it('on the edge node: a changed site is tested and reloaded by the local nginx task when the stack file is rendered; unchanged, left alone', async () => {
    const { ctx, env, settings, story } = await fakeSwarm({ running: RUNNING_A, nginxHere: true })
    await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: A }, settings)
    expect(story.slice(3, 5)).toEqual(['nginx -t', 'nginx reload'])
    story.length = 0
    await deploySwarmRelease(ctx, env, { release: C, sha: 'c'.repeat(40), serving: B }, settings)
    expect(story.filter((line) => line.startsWith('nginx'))).toEqual([])
  })

  it('update: migrations first (the old release serves meanwhile), then the stack; no rollback when it converges', async () => {
    const { ctx, env, settings, story, services } = await fakeSwarm({ running: RUNNING_A })
    await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: A }, settings)
    expect(story.slice(3)).toEqual([`job --mode replicated-job r:5000/aiko/aiko-backend:${B} flask db upgrade`, 'job removed', `stack deploy r:5000/aiko/aiko-backend:${B}`])
    expect(services.get('aiko_frontend')?.image).toBe(`r:5000/aiko/aiko-frontend:${B}`)
  })

  it('a failed migration job: no stack deploy, the old release serves, the log says why', async () => {
    const { ctx, env, settings, story, varDir } = await fakeSwarm({ running: RUNNING_A, jobFails: true })
    const error = await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: A }, settings).catch((e: unknown) => e)
    expect(error).toMatchObject({ message: 'the migrations of the new release failed: the old release keeps serving, the database is as before', exitCode: 5 })
    expect((error as { details: string[] }).details).toEqual([`job aiko-migrate-${B}: failed on node2: task: non-zero exit (1)`, 'alembic.util.exc.CommandError: boom'])
    expect(story.some((line) => line.startsWith('stack deploy'))).toBe(false)
    expect(story.at(-1)).toBe('job removed')
    expect((await readReleaseLog(varDir)).map((e) => [e.action, e.id, e.result])).toEqual([['deploy', B, 'failed']])
    await expect(stat(join(varDir, 'current-release'))).rejects.toMatchObject({ code: 'ENOENT' })
    // no stack file claims B: none existed before this deploy
    await expect(stat(stackFilePath(varDir))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('Swarm rolls the frontend back on its own: the deploy fails and rolls back the services that took the new image', async () => {
    const { ctx, env, settings, story, services } = await fakeSwarm({ running: RUNNING_A, swarmRollsBack: ['aiko_frontend'] })
    const error = await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: A }, settings).catch((e: unknown) => e)
    expect((error as Error).message).toBe('the stack did not converge: Swarm gave up an update; rolled back: aiko_backend, aiko_celery-worker, aiko_celery-beat')
    expect(story.filter((line) => line.startsWith('service rollback'))).toEqual(['service rollback aiko_backend', 'service rollback aiko_celery-worker', 'service rollback aiko_celery-beat'])
    for (const name of Object.keys(RUNNING_A)) expect(services.get(name)?.image, name).toBe(RUNNING_A[name as keyof typeof RUNNING_A])
  })

  it('tasks that never come: a timeout, then the same rollback', async () => {
    const { ctx, env, settings, story } = await fakeSwarm({ running: RUNNING_A, stuck: ['aiko_backend'] })
    const error = await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: A }, settings).catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/^the stack did not converge within 0s; rolled back: aiko_backend, aiko_celery-worker, aiko_celery-beat, aiko_frontend$/)
    expect((error as { details: string[] }).details).toContain('aiko_backend: 0/2 tasks running')
    expect(story.filter((line) => line.startsWith('service rollback'))).toHaveLength(4)
  })

  it('a worker node refuses before anything is built', async () => {
    const { ctx, env, settings, story } = await fakeSwarm({ worker: true })
    await expect(deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: undefined }, settings)).rejects.toMatchObject({ exitCode: 4 })
    expect(story).toEqual([])
  })

  it('rollback: the stack again with the previous images, no build, no push, no migration; recorded', async () => {
    const { ctx, env, settings, story, services, varDir } = await fakeSwarm()
    await deploySwarmRelease(ctx, env, { release: A, sha: 'a'.repeat(40), serving: undefined }, settings)
    await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: A }, settings)
    story.length = 0
    await rollbackSwarmRelease(ctx, env, { target: A, sha: 'a'.repeat(40), serving: B }, settings)
    expect(story).toEqual([`stack deploy r:5000/aiko/aiko-backend:${A}`])
    expect(services.get('aiko_backend')?.image).toBe(`r:5000/aiko/aiko-backend:${A}`)
    expect((await readReleaseLog(varDir)).map((e) => [e.action, e.id, e.result])).toEqual([['deploy', A, 'ok'], ['deploy', B, 'ok'], ['rollback', A, 'ok']])
    expect((await readFile(join(varDir, 'current-release'), 'utf8')).trim()).toBe(A)
    expect(await readFile(stackFilePath(varDir), 'utf8')).toContain(`release ${A}`)
  })

  it('--dry-run: only reads (the Swarm state, the manager check), writes no file, records nothing', async () => {
    const { ctx, env, settings, story, varDir } = await fakeSwarm({ running: RUNNING_A, dryRun: true })
    await deploySwarmRelease(ctx, env, { release: B, sha: 'b'.repeat(40), serving: A }, settings)
    expect(story).toEqual([])
    await expect(stat(varDir)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
