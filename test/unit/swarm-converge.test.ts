import { describe, expect, it } from 'vitest'
import { inspectServices, serviceRollback, stackDeploy, stackServiceName, stackServices } from '../../lib/swarm/commands.ts'
import { convergence, parseServiceStatuses, parseStackReplicas, type ServiceStatus } from '../../lib/swarm/converge.ts'

// Shapes as the e2e cluster printed them (Engine 20.10.24, test/e2e/swarm/cluster.sh), trimmed to what is read.
const IMAGE = '10.214.0.11:5000/aiko-standin/nginx:test'
const DIGEST = '@sha256:42c51210c8013bb61f38baa78d5d9c426e98c5149c7de920a7ed71538a0f81eb'
const ROLLED_BACK = JSON.stringify([
  {
    Spec: { Name: 'probe_web', Mode: { Replicated: { Replicas: 2 } }, TaskTemplate: { ContainerSpec: { Image: `${IMAGE}${DIGEST}` } } },
    UpdateStatus: { State: 'rollback_completed', StartedAt: '2026-12-02T18:25:59.160048372Z', CompletedAt: '2026-12-02T18:26:28.96311056Z', Message: 'rollback completed' },
  },
  { Spec: { Name: 'probe_exporter', Mode: { Global: {} }, TaskTemplate: { ContainerSpec: { Image: 'exporter:1' } } }, UpdateStatus: null },
])
const DEPLOY_AT = Date.parse('2026-12-02T18:25:58Z')

const status = (name: string, image: string, state?: ServiceStatus['updateState'], startedAt = '2026-12-02T18:26:00.5Z', message?: string): ServiceStatus => ({
  name, image, replicas: 2, updateState: state, updateMessage: message, updateStartedAt: state === undefined ? undefined : startedAt,
})

describe('parseServiceStatuses / parseStackReplicas', () => {
  it('reads docker service inspect: image without its digest, replicas, update status', () => {
    expect(parseServiceStatuses(ROLLED_BACK)).toEqual([
      { name: 'probe_web', image: IMAGE, replicas: 2, updateState: 'rollback_completed', updateMessage: 'rollback completed', updateStartedAt: '2026-12-02T18:25:59.160048372Z' },
      { name: 'probe_exporter', image: 'exporter:1', replicas: undefined, updateState: undefined, updateMessage: undefined, updateStartedAt: undefined },
    ])
  })

  it('rejects an update state it does not know', () => {
    expect(() => parseServiceStatuses(JSON.stringify([{ Spec: { Name: 'x' }, UpdateStatus: { State: 'sideways' } }]))).toThrow('service x: unknown update state "sideways"')
  })

  it('reads docker stack services', () => {
    const lines = [
      `{"ID":"zein7cjo4gjd","Image":"${IMAGE}","Mode":"replicated","Name":"probe_web","Ports":"","Replicas":"0/2"}`,
      '{"ID":"a1","Image":"m:1","Mode":"replicated-job","Name":"probe_migrate","Ports":"","Replicas":"0/1 (1/1 completed)"}',
      '',
    ].join('\n')
    expect(parseStackReplicas(lines)).toEqual({ probe_web: { running: 0, desired: 2 }, probe_migrate: { running: 0, desired: 1 } })
    expect(() => parseStackReplicas('{"Name":"x","Replicas":"?"}')).toThrow('docker stack services: cannot read "{"Name":"x","Replicas":"?"}"')
  })
})

describe('convergence', () => {
  const expected = { aiko_backend: 'r/aiko-backend:r42', aiko_nginx: 'nginx:1' }
  const all = { aiko_backend: { running: 2, desired: 2 }, aiko_nginx: { running: 1, desired: 1 } }

  it('converged: expected images, every task running, no update in progress (a completed one is fine)', () => {
    expect(convergence(expected, [status('aiko_backend', 'r/aiko-backend:r42', 'completed'), status('aiko_nginx', 'nginx:1')], all, DEPLOY_AT)).toEqual({ converged: true, failed: [], waiting: [] })
  })

  it('waiting: not created, updating, an older image, tasks missing', () => {
    const statuses = [status('aiko_backend', 'r/aiko-backend:r42', 'updating', undefined, 'update in progress'), status('aiko_nginx', 'nginx:0')]
    expect(convergence({ ...expected, aiko_redis: 'redis:7' }, statuses, all, DEPLOY_AT)).toEqual({
      converged: false,
      failed: [],
      waiting: [
        { service: 'aiko_backend', reason: 'updating: update in progress' },
        { service: 'aiko_nginx', reason: 'spec runs nginx:0, not nginx:1 yet' },
        { service: 'aiko_redis', reason: 'not created yet' },
      ],
    })
    expect(convergence(expected, [status('aiko_backend', 'r/aiko-backend:r42'), status('aiko_nginx', 'nginx:1')], { aiko_backend: { running: 1, desired: 2 } }, DEPLOY_AT)).toEqual({
      converged: false,
      failed: [],
      waiting: [
        { service: 'aiko_backend', reason: '1/2 tasks running' },
        { service: 'aiko_nginx', reason: 'no task count yet' },
      ],
    })
  })

  it('failed: rolled back (started or completed) or paused updates of this deploy', () => {
    const statuses = [
      status('aiko_backend', 'r/aiko-backend:r41', 'rollback_started', undefined, 'update rolled back due to failure or early termination of task tr0w54o7t88y'),
      status('aiko_nginx', 'nginx:1', 'paused', undefined, 'update paused due to failure or early termination of task x'),
    ]
    expect(convergence(expected, statuses, all, DEPLOY_AT)).toEqual({
      converged: false,
      failed: [
        { service: 'aiko_backend', reason: 'update rolled back (rollback_started): update rolled back due to failure or early termination of task tr0w54o7t88y' },
        { service: 'aiko_nginx', reason: 'update paused: update paused due to failure or early termination of task x' },
      ],
      waiting: [],
    })
  })

  it('the update status of an earlier deploy is ignored (a service this deploy did not change keeps it)', () => {
    const statuses = [status('aiko_backend', 'r/aiko-backend:r42', 'rollback_completed', '2026-12-01T09:00:00Z', 'rollback completed'), status('aiko_nginx', 'nginx:1')]
    expect(convergence(expected, statuses, all, DEPLOY_AT)).toEqual({ converged: true, failed: [], waiting: [] })
  })

  it('the rolled-back probe of the e2e cluster, read end to end', () => {
    expect(convergence({ probe_web: `${IMAGE}` }, parseServiceStatuses(ROLLED_BACK), { probe_web: { running: 2, desired: 2 } }, DEPLOY_AT)).toEqual({
      converged: false,
      failed: [{ service: 'probe_web', reason: 'update rolled back (rollback_completed): rollback completed' }],
      waiting: [],
    })
  })
})

describe('swarm commands', () => {
  it('build argv for the stack, on the local daemon or a DOCKER_HOST', () => {
    const local = { stack: 'aiko' }
    const node = { stack: 'aiko', host: 'unix:///run/aiko-swarm/node1/docker.sock' }
    expect([
      stackDeploy(local, '/srv/ai-ko/var/stack/r42.yml', { registryAuth: true, prune: false }),
      stackDeploy(node, '/tmp/s.yml', { registryAuth: false, prune: true }),
      stackServices(local),
      inspectServices(node, ['aiko_backend', 'aiko_nginx']),
      serviceRollback(local, 'aiko_backend'),
    ]).toEqual([
      { argv: ['docker', 'stack', 'deploy', '--compose-file', '/srv/ai-ko/var/stack/r42.yml', '--with-registry-auth', 'aiko'], mutates: true, timeoutMs: 300_000 },
      { argv: ['docker', 'stack', 'deploy', '--compose-file', '/tmp/s.yml', '--prune', 'aiko'], mutates: true, timeoutMs: 300_000, env: { DOCKER_HOST: 'unix:///run/aiko-swarm/node1/docker.sock' } },
      { argv: ['docker', 'stack', 'services', '--format', '{{json .}}', 'aiko'], mutates: false, timeoutMs: 60_000 },
      { argv: ['docker', 'service', 'inspect', 'aiko_backend', 'aiko_nginx'], mutates: false, timeoutMs: 60_000, env: { DOCKER_HOST: 'unix:///run/aiko-swarm/node1/docker.sock' } },
      { argv: ['docker', 'service', 'rollback', '--detach=false', '--quiet', 'aiko_backend'], mutates: true, timeoutMs: 900_000 },
    ])
    expect(stackServiceName(local, 'celery-beat')).toBe('aiko_celery-beat')
  })
})
