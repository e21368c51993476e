import { describe, expect, it } from 'vitest'
import { chooseTarget, describeAction, planConvergence, type ObservedContainer, type ObservedStack } from '../../lib/release/converge-plan.ts'
import { abandonedTempFile } from '../../lib/release/observe.ts'
import { interruptedRunFinished } from '../../lib/release/interrupted.ts'

const INFRA = ['postgres', 'redis', 'nginx', 'prometheus', 'node-exporter', 'postgres-exporter', 'redis-exporter', 'nginx-exporter']
const EXPECTED = [...INFRA, 'backend', 'frontend', 'celery-worker', 'celery-beat']

let serial = 0
function container(service: string, release: string | undefined, status = 'running', health: string | undefined = status === 'running' ? 'healthy' : undefined): ObservedContainer {
  serial += 1
  return { id: `id${serial}`, name: `aiko-${service}-${serial}`, service, release, status, health }
}
const generation = (release: string, services = ['backend', 'frontend', 'celery-worker', 'celery-beat']) => services.map((service) => container(service, release, 'running', service === 'celery-beat' ? undefined : 'healthy'))
const infrastructure = () => INFRA.map((service) => container(service, undefined))

function stack(overrides: Partial<ObservedStack> = {}): ObservedStack {
  return {
    recorded: 'B',
    envRelease: 'B',
    nginxFile: 'B',
    nginxServing: 'B',
    maintenance: false,
    containers: [...infrastructure(), ...generation('B')],
    oneOffs: [],
    partialFiles: [],
    expectedServices: EXPECTED,
    startable: ['B'],
    ...overrides,
  }
}

/** The plan as one line per action: what an operator reads. */
const lines = (observed: ObservedStack) => planConvergence(observed).actions.map(describeAction)

describe('convergence planner', () => {
  it('does nothing on a consistent stack', () => {
    expect(planConvergence(stack())).toEqual({ target: 'B', reason: 'nginx serves it', actions: [] })
  })

  it('finds nothing deployed on an empty server: first start', () => {
    expect(planConvergence(stack({ recorded: undefined, envRelease: undefined, nginxFile: undefined, nginxServing: undefined, containers: [], startable: [] }))).toEqual({ target: undefined, reason: 'no release was ever deployed here', actions: [] })
  })

  it('killed during the build or the migration: removes the one-off container, keeps B', () => {
    expect(lines(stack({ oneOffs: ['run1'] }))).toEqual(['remove 1 one-off container left by a killed run'])
  })

  it('killed during the pg_dump copy: removes the partial file', () => {
    expect(lines(stack({ partialFiles: ['/srv/var/backups/.pre-C.dump.partial-4242'] }))).toEqual(['remove the partial file of a killed run: /srv/var/backups/.pre-C.dump.partial-4242'])
  })

  it('killed while the new release started beside the old: keeps serving B and retires C', () => {
    const fresh = generation('C', ['backend', 'frontend', 'celery-worker'])
    const created = container('backend', 'C', 'created')
    const plan = planConvergence(stack({ containers: [...infrastructure(), ...generation('B'), ...fresh, created] }))
    expect(plan.target).toBe('B')
    expect(plan.actions.map((action) => action.kind)).toEqual(['remove-stopped', 'retire'])
    expect(plan.actions[1]).toEqual({ kind: 'retire', containers: fresh })
  })

  it('killed after the render, before the reload: nginx still serves B, the file is put back to B', () => {
    const plan = planConvergence(stack({ nginxFile: 'C', containers: [...infrastructure(), ...generation('B'), ...generation('C', ['backend', 'frontend', 'celery-worker'])] }))
    expect(plan.target).toBe('B')
    expect(plan.actions.map(describeAction)[0]).toBe('point nginx at release B (reload)')
    expect(plan.actions.map((action) => action.kind)).toEqual(['point-nginx', 'retire'])
  })

  it('killed right after the reload: C serves, it is recorded, B is retired and beat swapped to C', () => {
    const old = generation('B')
    const plan = planConvergence(stack({ nginxFile: 'C', nginxServing: 'C', containers: [...infrastructure(), ...old, ...generation('C', ['backend', 'frontend', 'celery-worker'])] }))
    expect(plan.target).toBe('C')
    expect(plan.reason).toBe('nginx serves it')
    expect(plan.actions.map((action) => action.kind)).toEqual(['record', 'retire', 'start-beat'])
    expect(plan.actions[1]).toEqual({ kind: 'retire', containers: old.filter((c) => c.service !== 'celery-beat') })
  })

  it('killed while draining: a stopped old container is removed, the running ones retired', () => {
    const [backend, frontend, worker, beat] = generation('B')
    const plan = planConvergence(stack({ recorded: 'C', envRelease: 'C', nginxFile: 'C', nginxServing: 'C', containers: [...infrastructure(), { ...backend!, status: 'exited', health: undefined }, frontend!, worker!, beat!, ...generation('C', ['backend', 'frontend', 'celery-worker'])] }))
    expect(plan.actions.map((action) => action.kind)).toEqual(['remove-stopped', 'retire', 'start-beat'])
  })

  it('killed during the beat swap: no beat at all, one of C is started', () => {
    expect(lines(stack({ recorded: 'C', envRelease: 'C', nginxFile: 'C', nginxServing: 'C', containers: [...infrastructure(), ...generation('C', ['backend', 'frontend', 'celery-worker'])] }))).toEqual([
      'replace celery beat by one of release C (never two at once)',
    ])
  })

  it('two beats (compose scaled by hand): replaced by exactly one', () => {
    expect(planConvergence(stack({ containers: [...infrastructure(), ...generation('B'), container('celery-beat', 'B')] })).actions.map((action) => action.kind)).toEqual(['start-beat'])
  })

  it('a worker stopped by hand: the exited container goes and a fresh worker of B starts', () => {
    const [backend, frontend, worker, beat] = generation('B')
    const plan = planConvergence(stack({ containers: [...infrastructure(), backend!, frontend!, { ...worker!, status: 'exited', health: undefined }, beat!] }))
    expect(plan.actions.map(describeAction)).toEqual([
      `remove stopped containers: ${worker!.name} (exited, B)`,
      'start celery-worker of release B',
      'wait for release B to pass its healthchecks',
    ])
  })

  it('after `docker compose down`: nothing runs, B is recorded and its images exist: data first, app, then nginx', () => {
    expect(lines(stack({ nginxServing: undefined, containers: [] }))).toEqual([
      'start postgres, redis, prometheus, node-exporter, postgres-exporter, redis-exporter',
      'start backend, frontend, celery-worker of release B',
      'wait for release B to pass its healthchecks',
      'start nginx, nginx-exporter',
      'replace celery beat by one of release B (never two at once)',
    ])
  })

  it('nginx down with a stale file (names another release): the file is rendered for B before nginx starts', () => {
    const plan = planConvergence(stack({ nginxFile: 'A', nginxServing: undefined, containers: [...infrastructure().filter((c) => c.service !== 'nginx'), ...generation('B')] }))
    expect(plan.actions).toEqual([
      { kind: 'point-nginx', release: 'B', reload: false },
      { kind: 'start-infrastructure', services: ['nginx'] },
    ])
  })

  it('a stopped postgres is started, not removed', () => {
    const infra = infrastructure().map((c) => (c.service === 'postgres' ? { ...c, status: 'exited', health: undefined } : c))
    expect(lines(stack({ containers: [...infra, ...generation('B')] }))).toEqual(['start postgres'])
  })

  it('the serving release whose web containers are unhealthy is not trusted: falls back to the recorded one', () => {
    const broken = generation('C', ['backend', 'frontend']).map((c) => ({ ...c, health: 'unhealthy' }))
    expect(chooseTarget(stack({ nginxServing: 'C', nginxFile: 'C', containers: [...infrastructure(), ...generation('B'), ...broken] }))).toEqual({ target: 'B', reason: 'it is the recorded release' })
  })

  it('records .env when only the toolkit record was written (killed between the two writes)', () => {
    expect(lines(stack({ envRelease: 'A' }))).toEqual(['record release B as serving (var/current-release, AIKO_RELEASE in .env)'])
  })

  it('a restore killed behind the maintenance page with the writers stopped: they are replaced and the page goes', () => {
    const [backend, frontend, worker, beat] = generation('B')
    const stopped = [{ ...backend!, status: 'exited', health: undefined }, { ...worker!, status: 'exited', health: undefined }, { ...beat!, status: 'exited', health: undefined }]
    expect(lines(stack({ maintenance: true, containers: [...infrastructure(), ...stopped, frontend!] }))).toEqual([
      `remove stopped containers: ${stopped.map((state) => `${state.name} (exited, B)`).join(', ')}`,
      'start backend, celery-worker of release B',
      'wait for release B to pass its healthchecks',
      'point nginx at release B (reload)',
      'replace celery beat by one of release B (never two at once)',
    ])
  })

  it('a restore killed after the writers came back: only the maintenance page goes', () => {
    expect(lines(stack({ maintenance: true }))).toEqual(['point nginx at release B (reload)'])
  })

  it('a restore killed while switching to its target, nginx down: the file is rendered without maintenance before nginx starts', () => {
    const withoutNginx = infrastructure().filter((state) => state.service !== 'nginx')
    const target = generation('C', ['backend', 'frontend', 'celery-worker'])
    expect(lines(stack({ maintenance: true, nginxServing: undefined, containers: [...withoutNginx, ...generation('B'), ...target] }))).toEqual([
      'point nginx at release B',
      'start nginx',
      `drain and remove ${target.map((state) => `${state.name} (running, C)`).join(', ')}`,
    ])
  })

  it('an extra container of the serving release (compose --scale by hand) is retired', () => {
    const extra = container('backend', 'B')
    expect(planConvergence(stack({ containers: [...infrastructure(), ...generation('B'), extra] })).actions).toEqual([{ kind: 'retire', containers: [extra] }])
  })

  it('nothing runs and the recorded release lost its images: the newest running one, else nothing', () => {
    expect(chooseTarget(stack({ nginxServing: undefined, nginxFile: undefined, containers: [], startable: [] }))).toEqual({ target: undefined, reason: 'no release was ever deployed here' })
  })
})

describe('leftovers of a killed run', () => {
  it('a temp or partial file is abandoned only when its writer is gone', () => {
    const alive = (pid: number) => pid === 7
    expect(abandonedTempFile('current-release.tmp-4242', alive)).toBe(true)
    expect(abandonedTempFile('.pre-C.dump.partial-4242', alive)).toBe(true)
    expect(abandonedTempFile('current-release.tmp-7', alive)).toBe(false)
    expect(abandonedTempFile('pre-C.dump', alive)).toBe(false)
  })

  it('a rerun finishes an interrupted run only when that run already serves', () => {
    const holder = { pid: 1, host: 'h', user: 'ops', since: 't', command: 'deploy C', intent: { action: 'deploy', release: 'C' } }
    expect(interruptedRunFinished(holder, 'deploy', 'C')).toBe('C')
    expect(interruptedRunFinished(holder, 'deploy', 'B')).toBeUndefined()
    expect(interruptedRunFinished(holder, 'rollback', 'C')).toBeUndefined()
    expect(interruptedRunFinished('unreadable', 'deploy', 'C')).toBeUndefined()
    expect(interruptedRunFinished(undefined, 'deploy', 'C')).toBeUndefined()
  })
})
