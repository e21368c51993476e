import { describe, expect, it } from 'vitest'
import {
  composeBuild,
  composeConfig,
  composeContainerIds,
  composeDown,
  composeExec,
  composeOneOffIds,
  composeRun,
  composeScaleUp,
  composeUp,
  composeVersionProbes,
  projectName,
  type ComposeTarget,
} from '../../lib/compose/commands.ts'
import { formatArgv } from '../../lib/exec/executor.ts'
import { readServedRelease } from '../../lib/nginx/served.ts'

const v2: ComposeTarget = { base: ['docker', 'compose'], envFile: '/srv/aiko/.env', projectDir: '/srv/aiko', project: 'aiko', env: { AIKO_RELEASE: 'r2' } }
const v1: ComposeTarget = { ...v2, base: ['docker-compose'] }
const line = (command: { argv: readonly string[] }) => formatArgv(command.argv)

describe('compose command builders (v2)', () => {
  it('up', () => {
    expect(line(composeUp(v2))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env up -d')
    expect(line(composeUp(v2, ['nginx', 'backend'], { build: true }))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env up -d --build nginx backend')
    expect(line(composeUp(v2, ['backend'], { noDeps: true, noRecreate: true }))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env up -d --no-deps --no-recreate backend')
    expect(line(composeUp(v2, ['grafana'], { build: true, noDeps: true, noRecreate: true }))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env up -d --build --no-deps --no-recreate grafana')
  })

  it('up runs in the project folder with the toolkit variables, and mutates', () => {
    const command = composeUp(v2, ['backend'])
    expect([command.cwd, JSON.stringify(command.env), command.mutates].join(' ')).toBe('/srv/aiko {"AIKO_RELEASE":"r2"} true')
  })

  it('scale up: the new release beside the old containers, never recreating them', () => {
    expect(line(composeScaleUp(v2, { backend: 2 }))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env up -d --no-deps --no-recreate --scale backend=2 backend')
    expect(line(composeScaleUp(v2, { backend: 2, frontend: 2 }))).toBe(
      'docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env up -d --no-deps --no-recreate --scale backend=2 --scale frontend=2 backend frontend',
    )
  })

  it('run: a removed one-off container, no TTY, no dependencies unless asked, environment by name only', () => {
    expect(line(composeRun(v2, 'backend', ['python3', '-'], { mutates: true, env: ['ADMIN_PASSWORD'] }))).toBe(
      'docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T -e ADMIN_PASSWORD --no-deps backend python3 -',
    )
    expect(line(composeRun(v2, 'certbot', ['certificates'], { mutates: false, withDeps: true, entrypoint: 'certbot' }))).toBe(
      'docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T --entrypoint certbot certbot certificates',
    )
    expect(line(composeRun(v2, 'postgres', ['sh', '-c', 'pg_isready -q'], { mutates: false }))).toBe(
      "docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T --no-deps postgres sh -c 'pg_isready -q'",
    )
  })

  it('exec: no TTY, optionally as a user', () => {
    expect(line(composeExec(v2, 'postgres', ['psql', '-tAc', 'SELECT 1'], { mutates: false }))).toBe("docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env exec -T postgres psql -tAc 'SELECT 1'")
    expect(line(composeExec(v2, 'nginx', ['nginx', '-s', 'reload'], { mutates: true, user: 'root' }))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env exec -T --user root nginx nginx -s reload')
  })

  it('build', () => {
    expect(line(composeBuild(v2))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env build')
    expect(line(composeBuild(v2, ['backend', 'frontend']))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env build backend frontend')
  })

  it('down: orphans always, volumes only when asked', () => {
    expect(line(composeDown(v2))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env down --remove-orphans')
    expect(line(composeDown(v2, { volumes: true }))).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env down --remove-orphans --volumes')
  })

  it('config, read-only', () => {
    const command = composeConfig(v2)
    expect(`${line(command)} mutates=${command.mutates}`).toBe('docker compose --project-directory /srv/aiko --env-file /srv/aiko/.env config mutates=false')
  })

  it('version probes, one per flavour', () => {
    const probes = composeVersionProbes()
    expect(`${line(probes.v2)} | ${line(probes.v1)}`).toBe('docker compose version --short | docker-compose version --short')
  })
})

describe('compose command builders (docker-compose 1.29): the same arguments after its own base', () => {
  it('up, scale up, run, exec, build, down, config', () => {
    expect(line(composeUp(v1, ['backend'], { noDeps: true, noRecreate: true }))).toBe('docker-compose --project-directory /srv/aiko --env-file /srv/aiko/.env up -d --no-deps --no-recreate backend')
    expect(line(composeScaleUp(v1, { backend: 2 }))).toBe('docker-compose --project-directory /srv/aiko --env-file /srv/aiko/.env up -d --no-deps --no-recreate --scale backend=2 backend')
    expect(line(composeRun(v1, 'backend', ['flask', 'db', 'upgrade'], { mutates: true }))).toBe('docker-compose --project-directory /srv/aiko --env-file /srv/aiko/.env run --rm -T --no-deps backend flask db upgrade')
    expect(line(composeExec(v1, 'redis', ['redis-cli', 'ping'], { mutates: false }))).toBe('docker-compose --project-directory /srv/aiko --env-file /srv/aiko/.env exec -T redis redis-cli ping')
    expect(line(composeBuild(v1, ['backend']))).toBe('docker-compose --project-directory /srv/aiko --env-file /srv/aiko/.env build backend')
    expect(line(composeDown(v1, { volumes: true }))).toBe('docker-compose --project-directory /srv/aiko --env-file /srv/aiko/.env down --remove-orphans --volumes')
    expect(line(composeConfig(v1))).toBe('docker-compose --project-directory /srv/aiko --env-file /srv/aiko/.env config')
  })
})

describe('containers read by their compose labels (the same under v2 and 1.29)', () => {
  it('service containers, one-off containers excluded', () => {
    expect(line(composeContainerIds(v2, 'nginx', { runningOnly: true }))).toBe(
      'docker ps -q --filter label=com.docker.compose.project=aiko --filter label=com.docker.compose.oneoff=False --filter label=com.docker.compose.service=nginx',
    )
    expect(line(composeContainerIds(v2))).toBe('docker ps -q -a --filter label=com.docker.compose.project=aiko --filter label=com.docker.compose.oneoff=False')
    expect(line(composeContainerIds(v1, 'backend'))).toBe(
      'docker ps -q -a --filter label=com.docker.compose.project=aiko --filter label=com.docker.compose.oneoff=False --filter label=com.docker.compose.service=backend',
    )
  })

  it('one-off containers left by a killed `run`', () => {
    expect(line(composeOneOffIds(v2))).toBe('docker ps -aq --filter label=com.docker.compose.project=aiko --filter label=com.docker.compose.oneoff=True')
  })

  it('derives the project name as compose does', () => {
    expect(projectName(undefined, '/srv/AI-KO.prod')).toBe('ai-koprod')
    expect(projectName('aiko-e2e', '/srv/x')).toBe('aiko-e2e')
  })
})

describe('nginx command builders', () => {
  it('asks the running nginx which release its loaded configuration serves, read-only', () => {
    const command = readServedRelease('4f3c2a1b')
    expect(command.argv.join(' ')).toBe('docker exec 4f3c2a1b wget -q -T 5 -O - http://127.0.0.1:8080/aiko-release')
    expect(command.mutates).toBe(false)
  })
})
