import { describe, expect, it } from 'vitest'
import type { ComposeTarget } from '../../lib/compose/commands.ts'
import { dumpCommand, removeDumpCommand, restoreCommand, verifyDumpCommand } from '../../lib/db/dump.ts'
import { currentRevisionCommand, migrateCommand } from '../../lib/db/migrate.ts'
import { seedCommand } from '../../lib/db/seed.ts'
import { pgIsReady } from '../../lib/db/wait.ts'
import { parseContainerStates } from '../../lib/docker/containers.ts'
import { ToolkitError } from '../../lib/errors.ts'
import { createExecutor, formatArgv, type Command } from '../../lib/exec/executor.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { serviceAt, serviceExec, serviceRun } from '../../lib/stack/service-exec.ts'
import { localTaskContainerIds } from '../../lib/swarm/commands.ts'
import type { Output } from '../../lib/ui/output.ts'

const compose: ComposeTarget = { base: ['docker', 'compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: { AIKO_RELEASE: 'r2' } }
const task = { container: '4f3c2a1b' }
const line = (command: Command) => formatArgv(command.argv)

describe('serviceExec and serviceRun: compose exec/run in compose mode, docker exec into this node\'s task in stack mode', () => {
  it('serviceExec', () => {
    expect(line(serviceExec(compose, 'postgres', ['pg_isready'], { mutates: false }))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env exec -T postgres pg_isready')
    expect(line(serviceExec(task, 'postgres', ['pg_isready'], { mutates: false }))).toBe('docker exec 4f3c2a1b pg_isready')
    expect(line(serviceExec(task, 'postgres', ['psql', '-f', '-'], { mutates: true, stdin: true }))).toBe('docker exec -i 4f3c2a1b psql -f -')
  })

  it('serviceRun', () => {
    expect(line(serviceRun(compose, 'backend', ['python3', '-'], { mutates: true, env: ['ADMIN_PASSWORD'], stdin: true }))).toBe(
      'docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T -e ADMIN_PASSWORD --no-deps backend python3 -',
    )
    expect(line(serviceRun(task, 'backend', ['python3', '-'], { mutates: true, env: ['ADMIN_PASSWORD'], stdin: true }))).toBe('docker exec -i -e ADMIN_PASSWORD 4f3c2a1b python3 -')
    expect(line(serviceRun(task, 'backend', ['flask', 'db', 'upgrade'], { mutates: true }))).toBe('docker exec 4f3c2a1b flask db upgrade')
  })

  it('the database commands in stack mode', () => {
    expect(line(dumpCommand(task, '/tmp/x.dump'))).toBe(`docker exec 4f3c2a1b sh -c 'pg_dump --format=custom --compress=1 --no-owner -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f /tmp/x.dump'`)
    expect(line(verifyDumpCommand(task, '/tmp/x.dump'))).toBe('docker exec 4f3c2a1b pg_restore --list /tmp/x.dump')
    expect(line(removeDumpCommand(task, '/tmp/x.dump'))).toBe('docker exec 4f3c2a1b rm -f /tmp/x.dump')
    expect(line(restoreCommand(task, '/tmp/x.dump'))).toBe(
      `docker exec -i 4f3c2a1b sh -c 'pg_restore --no-owner --file=/tmp/x.sql /tmp/x.dump && psql -X -q -v ON_ERROR_STOP=1 --single-transaction -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f - -f /tmp/x.sql; status=$?; rm -f /tmp/x.dump /tmp/x.sql; exit $status'`,
    )
    expect(line(pgIsReady(task, { POSTGRES_USER: 'aiko', POSTGRES_DB: 'aiko' }))).toBe('docker exec 4f3c2a1b pg_isready -q -h 127.0.0.1 -p 5432 -U aiko -d aiko')
    expect(line(migrateCommand(task))).toBe('docker exec -e PGOPTIONS 4f3c2a1b flask db upgrade')
    expect(migrateCommand(task).env).toEqual({ PGOPTIONS: '-c lock_timeout=5000' })
    expect(line(currentRevisionCommand(task)).startsWith('docker exec 4f3c2a1b sh -c ')).toBe(true)
    const seed = seedCommand(task, 'print(1)', { adminPassword: 's3cret-Pass', dryRun: false })
    expect(line(seed)).toBe('docker exec -i -e ADMIN_PASSWORD 4f3c2a1b python3 -')
    expect([seed.input, JSON.stringify(seed.env), seed.mutates].join(' ')).toBe('print(1) {"ADMIN_PASSWORD":"s3cret-Pass"} true')
  })

  it('localTaskContainerIds', () => {
    expect(line(localTaskContainerIds({ stack: 'aiko' }))).toBe('docker ps -aq --filter label=com.docker.stack.namespace=aiko')
    expect(line(localTaskContainerIds({ stack: 'aiko' }, 'postgres'))).toBe('docker ps -aq --filter label=com.docker.stack.namespace=aiko --filter label=com.docker.swarm.service.name=aiko_postgres')
  })
})

describe('parseContainerStates: a Swarm task container gets its compose service name back', () => {
  const inspect = (labels: Record<string, string>) => JSON.stringify([{ Id: 'c1', Name: '/aiko_postgres.1.x', Config: { Labels: labels, Image: 'postgres:16' }, State: { Status: 'running', ExitCode: 0 } }])
  it.each([
    [{ 'com.docker.compose.service': 'postgres', 'com.docker.compose.project': 'aiko' }, 'postgres aiko'],
    [{ 'com.docker.swarm.service.name': 'aiko_postgres', 'com.docker.stack.namespace': 'aiko' }, 'postgres aiko'],
    [{ 'com.docker.swarm.service.name': 'aiko_celery-worker', 'com.docker.stack.namespace': 'aiko' }, 'celery-worker aiko'],
    [{ 'com.docker.swarm.service.name': 'aiko-migrate-r1' }, 'undefined undefined'],
    [{ 'com.docker.swarm.service.name': 'other_postgres', 'com.docker.stack.namespace': 'aiko' }, 'undefined aiko'],
  ])('%j', (labels, expected) => {
    const [state] = parseContainerStates(inspect(labels))
    expect(`${state?.service} ${state?.project}`).toBe(expected)
  })
})

describe('serviceAt', () => {
  const output: Output = { info: () => undefined, success: () => undefined, warn: () => undefined, error: () => undefined, step: (_title, work) => work() }
  const context = (psOutput: string, inspectStates: string[]): { ctx: StackContext; ran: string[] } => {
    const ran: string[] = []
    const runner = async (command: Command) => {
      const argv = formatArgv(command.argv)
      ran.push(argv)
      if (argv.startsWith('docker ps')) return { exitCode: 0, stdout: psOutput, stderr: '', skipped: false }
      if (argv.startsWith('docker inspect'))
        return { exitCode: 0, stdout: JSON.stringify(inspectStates.map((status, index) => ({ Id: `id${index}`, Config: { Labels: { 'com.docker.swarm.service.name': 'aiko_postgres', 'com.docker.stack.namespace': 'aiko' } }, State: { Status: status } }))), stderr: '', skipped: false }
      throw new Error(`unexpected command: ${argv}`)
    }
    const ctx: StackContext = { executor: createExecutor({ dryRun: false, verbose: false, output, runner }), output, target: compose, varDir: '/tmp/none', nginxConfDir: '', nginxDir: '', swarm: { stack: 'aiko' } }
    return { ctx, ran }
  }

  it('compose mode: the compose target, nothing observed', async () => {
    const { ctx, ran } = context('', [])
    const { swarm: _swarm, ...composeMode } = ctx
    expect(await serviceAt(composeMode, 'postgres')).toBe(compose)
    expect(ran).toEqual([])
  })

  it('stack mode: the running task container of this node', async () => {
    const { ctx, ran } = context('id0\nid1\n', ['exited', 'running'])
    expect(await serviceAt(ctx, 'postgres')).toEqual({ container: 'id1' })
    expect(ran).toEqual(['docker ps -aq --filter label=com.docker.stack.namespace=aiko --filter label=com.docker.swarm.service.name=aiko_postgres', 'docker inspect id0 id1'])
  })

  it('stack mode, no task here: a precondition error that says where to run', async () => {
    const { ctx } = context('', [])
    const error = await serviceAt(ctx, 'postgres').catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(ToolkitError)
    expect(`${(error as ToolkitError).exitCode} ${(error as ToolkitError).message} | ${(error as ToolkitError).hint}`).toBe(
      '4 no running task of aiko_postgres on this node | in stack mode (DEPLOY_TARGET=swarm) run this on the node where postgres runs: `docker service ps aiko_postgres` on a manager names it (the node labelled data=true)',
    )
  })

  it('stack mode, only exited tasks here: says so', async () => {
    const { ctx } = context('id0\n', ['exited'])
    await expect(serviceAt(ctx, 'postgres')).rejects.toThrow('no running task of aiko_postgres on this node (its containers here: exited)')
  })
})
