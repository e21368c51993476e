import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { ComposeTarget } from '../../lib/compose/commands.ts'
import { ToolkitError } from '../../lib/errors.ts'
import { createExecutor, formatArgv, type Command, type CommandResult } from '../../lib/exec/executor.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { scaleServices } from '../../lib/swarm/commands.ts'
import { liveTasks, replicasPending, restoreInStack, writerReplicas } from '../../lib/swarm/restore.ts'
import type { Output } from '../../lib/ui/output.ts'

const STACK = `version: "3.8"
services:
  backend:
    image: r/aiko-backend:r1
    deploy: { replicas: 2 }
  celery-worker:
    image: r/aiko-backend:r1
    deploy: { replicas: 2 }
  celery-beat:
    image: r/aiko-backend:r1
    deploy: { replicas: 1 }
  postgres:
    image: postgres:16
`

describe('the stack-mode restore: pure parts', () => {
  it('writerReplicas: the stack file decides, not what runs', () => {
    expect(writerReplicas(STACK, { stack: 'aiko' })).toEqual({ aiko_backend: 2, 'aiko_celery-worker': 2, 'aiko_celery-beat': 1 })
    expect(() => writerReplicas('services: 3\n', { stack: 'aiko' })).toThrow('var/swarm/stack.yml cannot be read as a stack file')
  })

  it('scaleServices', () => {
    expect(formatArgv(scaleServices({ stack: 'aiko' }, { aiko_backend: 0, 'aiko_celery-beat': 0 }).argv)).toBe('docker service scale --detach aiko_backend=0 aiko_celery-beat=0')
  })

  it('liveTasks: a task being stopped still runs until its process exited', () => {
    const row = (CurrentState: string) => ({ ID: 't', Name: 'aiko_backend.1', Image: 'i', Node: 'n', DesiredState: 'Shutdown', CurrentState, Error: '' })
    expect(liveTasks([row('Running 3 seconds ago'), row('Shutdown 1 second ago'), row('Failed 2 minutes ago'), row('Complete 1 hour ago'), row('Starting 1 second ago')]).map((task) => task.CurrentState)).toEqual(['Running 3 seconds ago', 'Starting 1 second ago'])
  })

  it('replicasPending', () => {
    expect(replicasPending({ aiko_backend: 2, 'aiko_celery-beat': 0 }, { aiko_backend: { running: 1 }, 'aiko_celery-beat': { running: 1 } })).toEqual(['aiko_backend 1/2', 'aiko_celery-beat 1/0'])
    expect(replicasPending({ aiko_backend: 0 }, {})).toEqual([])
    expect(replicasPending({ aiko_backend: 2 }, { aiko_backend: { running: 2 } })).toEqual([])
  })
})

/** A data node that is a manager, its postgres task running; `fail` names the step that fails. */
async function dataNode(fail?: 'restore' | 'scale back') {
  const varDir = await mkdtemp(join(tmpdir(), 'aiko-swarm-restore-'))
  await mkdir(join(varDir, 'swarm'), { recursive: true })
  await mkdir(join(varDir, 'backups'), { recursive: true })
  await writeFile(join(varDir, 'swarm', 'stack.yml'), STACK)
  const file = join(varDir, 'backups', 'scheduled-20261201-020000.dump')
  await writeFile(file, 'dump')
  const story: string[] = []
  let scaledBack = 0
  const replicas = new Map<string, number>([['aiko_backend', 2], ['aiko_celery-worker', 2], ['aiko_celery-beat', 1], ['aiko_postgres', 1]])
  const ok = (stdout = ''): CommandResult => ({ exitCode: 0, stdout, stderr: '', skipped: false })
  const runner = async (command: Command): Promise<CommandResult> => {
    const argv = formatArgv(command.argv)
    const a = command.argv
    if (argv.startsWith('docker info')) return ok('{"NodeID":"n2","LocalNodeState":"active","ControlAvailable":true}')
    if (argv.startsWith('docker ps')) return ok('pg1\n')
    if (argv.startsWith('docker inspect')) return ok(JSON.stringify([{ Id: 'pg1', Config: { Labels: { 'com.docker.swarm.service.name': 'aiko_postgres', 'com.docker.stack.namespace': 'aiko' } }, State: { Status: 'running' } }]))
    if (argv.startsWith('docker service scale')) {
      const back = a.at(-1)?.endsWith('=1') === true
      story.push(back ? 'scale back' : 'scale to 0')
      // the first scale back of the failing scenario: backend's tasks never pass their healthcheck
      const stuck = back && fail === 'scale back' && scaledBack++ === 0
      for (const pair of a.slice(4)) {
        const [name = '', count = '0'] = pair.split('=')
        replicas.set(name, stuck && name === 'aiko_backend' ? 0 : Number(count))
      }
      return ok()
    }
    // a service at 0: its last tasks shut down
    if (argv.startsWith('docker service ps')) return ok(replicas.get(a.at(-1) ?? '') === 0 ? JSON.stringify({ ID: 't1', Name: `${a.at(-1)}.1`, DesiredState: 'Shutdown', CurrentState: 'Shutdown 1 second ago' }) : '')
    if (argv.startsWith('docker stack services')) return ok([...replicas].map(([name, count]) => JSON.stringify({ Name: name, Replicas: `${count}/${count}` })).join('\n'))
    if (argv.startsWith('docker service inspect')) return ok(JSON.stringify(a.slice(3).map((name) => ({ Spec: { Name: name, Mode: { Replicated: { Replicas: replicas.get(name) } } } }))))
    if (argv.includes('pg_dump')) return story.push('dump'), ok()
    if (argv.includes('pg_restore --list')) return ok()
    if (argv.startsWith('docker cp pg1:')) return await writeFile(a[3] ?? '', 'safety'), ok()
    if (argv.startsWith('docker cp ')) return story.push(`copy in ${a[2]?.split('/').at(-1)}`), ok()
    if (argv.startsWith('docker exec -i pg1 sh -c')) {
      story.push('restore')
      if (fail === 'restore' && story.filter((step) => step === 'restore').length === 1) return { exitCode: 3, stdout: '', stderr: 'ERROR: boom', skipped: false }
      return ok()
    }
    if (argv.startsWith('docker exec pg1 rm')) return ok()
    throw new Error(`unexpected command: ${argv}`)
  }
  const output: Output = { info: () => undefined, success: () => undefined, warn: () => undefined, error: () => undefined, step: (_title, work) => work() }
  const target: ComposeTarget = { base: ['docker', 'compose'], envFile: join(varDir, '.env'), projectDir: varDir, project: 'aiko', env: {} }
  const ctx: StackContext = { executor: createExecutor({ dryRun: false, verbose: false, output, runner }), output, target, varDir, nginxConfDir: '', nginxDir: '', swarm: { stack: 'aiko' } }
  return { ctx, file, story, varDir }
}

const OPTIONS = { now: new Date('2026-12-03T10:00:00Z'), healthTimeoutMs: 50, pollMs: 1 }

describe('restoreInStack (an in-memory data node)', () => {
  it('writers to 0, safety dump, restore, writers back', async () => {
    const { ctx, file, story, varDir } = await dataNode()
    const safety = await restoreInStack(ctx, file, OPTIONS)
    expect(safety).toBe(join(varDir, 'backups', 'pre-restore-20261203-100000.dump'))
    expect(story).toEqual(['scale to 0', 'dump', 'copy in scheduled-20261201-020000.dump', 'restore', 'scale back'])
    expect((await readdir(join(varDir, 'backups'))).sort()).toEqual(['pre-restore-20261203-100000.dump', 'scheduled-20261201-020000.dump'])
  })

  it('a failed restore (one transaction: nothing changed): the writers come back, the error says so', async () => {
    const { ctx, file, story } = await dataNode('restore')
    const error = await restoreInStack(ctx, file, OPTIONS).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ToolkitError)
    expect(story).toEqual(['scale to 0', 'dump', 'copy in scheduled-20261201-020000.dump', 'restore', 'scale back'])
  })

  it('writers that do not come back after the restore: the safety dump goes back, then the writers again', async () => {
    const { ctx, file, story } = await dataNode('scale back')
    const error = await restoreInStack(ctx, file, OPTIONS).catch((caught: unknown) => caught)
    expect((error as ToolkitError).message).toBe('the writers did not come back after the restore: the safety dump is back, nothing was lost')
    expect(story).toEqual(['scale to 0', 'dump', 'copy in scheduled-20261201-020000.dump', 'restore', 'scale back', 'scale to 0', 'copy in pre-restore-20261203-100000.dump', 'restore', 'scale back'])
  })
})
