import { spawn } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { expect } from 'vitest'
import { loadEnv } from '../../../lib/env/load.ts'
import { readCurrentRelease } from '../../../lib/release/log.ts'
import { PROJECT_DIR, type StackContext } from '../../../lib/stack/context.ts'
import { runCommand } from './run.ts'
import { E2E } from './stack.ts'

/**
 * How a toolkit script is started:
 * - `npx`: exactly as operators type it (`npx zx scripts/X.mts`); npm is the group leader.
 * - `zx`: the same script without npm in front (`node_modules/.bin/zx` with the
 *   `--import=tsx` that .npmrc gives npx). npm has no SIGHUP handler and dies of it, and on
 *   SIGINT it exits at once as killed by the signal: only without it is the exit code the
 *   script's own.
 */
export type Launcher = 'npx' | 'zx'

export interface SignalledRun {
  /** A line `step  <prefix>` was printed and the signal was sent to the whole process group. */
  signalled: boolean
  /** The line that triggered the signal. */
  stepLine: string | undefined
  /** Milliseconds from the start to the signal. */
  signalledAtMs: number | undefined
  /** Exit code of the group leader (null when it died of a signal). */
  code: number | null
  signal: NodeJS.Signals | null
  /** Every line printed on stdout and stderr while the output was still read. */
  stdout: string[]
  stderr: string[]
  /** The run hit `timeoutMs` and its process group was SIGKILLed. */
  timedOut: boolean
  elapsedMs: number
}

export interface SignalOptions {
  /** The step title's prefix: the signal goes when a line contains `step  <prefix>`. */
  step: string
  signal: NodeJS.Signals
  timeoutMs: number
  launcher?: Launcher
  env?: Record<string, string>
  /** Stop reading stdout and stderr right after the signal, as a terminal that hung up does (SIGHUP). */
  closeOutputAfterSignal?: boolean
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** The line the toolkit prints when a step starts (plain output): `<ISO time> step  <title> …`. */
export const stepLinePattern = (prefix: string) => new RegExp(`^\\S+ step  ${escape(prefix)}`)

/**
 * Runs `npx zx scripts/NAME.mts ARGS` in its own process group, reads its output line by line
 * and, when a step whose title starts with `options.step` begins, sends `options.signal` to
 * the whole group (`kill(-pid)`), as a terminal does for Ctrl-C or a hang-up, and the OOM
 * killer or a power cut does for SIGKILL. Resolves when every process holding its output
 * has exited, or after `timeoutMs` (then the group is SIGKILLed and `timedOut` is set).
 */
export function runAndSignalAtStep(name: string, args: readonly string[], options: SignalOptions): Promise<SignalledRun> {
  const started = Date.now()
  const launcher = options.launcher ?? 'npx'
  const [file, argv, extraEnv]: [string, string[], Record<string, string>] =
    launcher === 'npx'
      ? ['npx', ['zx', `scripts/${name}.mts`, ...args], {}]
      : [join(PROJECT_DIR, 'node_modules', '.bin', 'zx'), [`scripts/${name}.mts`, ...args], { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=tsx`.trim() }]
  const child = spawn(file, argv, { cwd: PROJECT_DIR, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...extraEnv, ...options.env } })
  const pid = child.pid ?? 0
  const run: SignalledRun = { signalled: false, stepLine: undefined, signalledAtMs: undefined, code: null, signal: null, stdout: [], stderr: [], timedOut: false, elapsedMs: 0 }
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal)
    } catch {
      // the group is gone already
    }
  }
  const pattern = stepLinePattern(options.step)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      run.timedOut = true
      killGroup('SIGKILL')
      // A process that left the group and still holds the pipes must not hang the test.
      setTimeout(() => {
        child.stdout.destroy()
        child.stderr.destroy()
      }, 5_000).unref()
    }, options.timeoutMs)
    const out = createInterface({ input: child.stdout })
    const err = createInterface({ input: child.stderr })
    out.on('line', (line) => {
      run.stdout.push(line)
      if (!run.signalled && pattern.test(line)) {
        run.signalled = true
        run.stepLine = line
        run.signalledAtMs = Date.now() - started
        killGroup(options.signal)
        if (options.closeOutputAfterSignal === true) {
          out.close()
          err.close()
          child.stdout.destroy()
          child.stderr.destroy()
        }
      }
    })
    err.on('line', (line) => run.stderr.push(line))
    child.on('error', (error) => run.stderr.push(`spawn failed: ${error.message}`))
    let exited = false
    let closed = false
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      run.elapsedMs = Date.now() - started
      resolve(run)
    }
    child.on('exit', (code, signal) => {
      exited = true
      run.code = code
      run.signal = signal
      if (closed || (options.closeOutputAfterSignal === true && run.signalled)) finish()
      // A grandchild that left the group may still hold the pipes: do not wait for it long.
      else setTimeout(finish, 3_000).unref()
    })
    child.on('close', () => {
      closed = true
      if (exited || run.timedOut) finish()
    })
  })
}

/** The log file a script names on its first line (`log: <path>`), if it does. */
export function logFileOf(run: SignalledRun): string | undefined {
  return /\blog: (\S+)/.exec(run.stdout[0] ?? '')?.[1]
}

/** The mode the e2e nginx serves: 02-ssl leaves it in https, run alone a file finds http. */
export async function nginxMode(envFile = E2E.envFile): Promise<'http' | 'https'> {
  return (await loadEnv(envFile)).env.NGINX_MODE === 'https' ? 'https' : 'http'
}

/** Where the e2e load generator and the checks reach nginx: 127.0.0.1 at the stack's published port. */
export async function publishedBase(envFile = E2E.envFile) {
  return (await nginxMode(envFile)) === 'https'
    ? { host: '127.0.0.1', port: E2E.httpsPort, servername: E2E.domain }
    : { host: '127.0.0.1', port: E2E.httpPort, servername: E2E.domain, plain: true }
}

/** GET /api/version through nginx at 127.0.0.1 (one request, no keep-alive); undefined when it does not answer 200. */
export async function servedRelease(envFile = E2E.envFile, timeoutMs = 5_000): Promise<string | undefined> {
  const base = await publishedBase(envFile)
  return new Promise((resolve) => {
    const options = { host: base.host, port: base.port, path: '/api/version', headers: { host: base.servername }, timeout: timeoutMs }
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString()
        resolve(res.statusCode === 200 ? /"version"\s*:\s*"([^"]*)"/.exec(body)?.[1] : undefined)
      })
      res.on('error', () => resolve(undefined))
    }
    const req =
      'plain' in base
        ? httpRequest({ ...options, agent: new HttpAgent({ keepAlive: false }) }, onResponse)
        : httpsRequest({ ...options, agent: new HttpsAgent({ keepAlive: false }), servername: base.servername, rejectUnauthorized: false }, onResponse)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

/**
 * One paced client beside the load (GET /version every `pauseMs`, bounded in count and time)
 * that notes WHEN requests fail, so that a failure can be matched with the step lines of the
 * runs (ISO times): the load generator only counts them.
 */
export async function watchFailures(until: Promise<unknown>, options: { maxMs: number; pauseMs?: number; envFile?: string }): Promise<string[]> {
  const base = await publishedBase(options.envFile)
  const failures: string[] = []
  let done = false
  void until.finally(() => (done = true)).catch(() => undefined)
  const deadline = Date.now() + options.maxMs
  const maxRequests = Math.ceil(options.maxMs / (options.pauseMs ?? 200)) + 1
  for (let sent = 0; !done && sent < maxRequests && Date.now() < deadline; sent++) {
    const status = await new Promise<string>((resolve) => {
      const opts = { host: base.host, port: base.port, path: '/version', headers: { host: base.servername }, timeout: 10_000 }
      const onResponse = (res: IncomingMessage) => {
        res.resume()
        res.on('end', () => resolve(String(res.statusCode ?? 0)))
        res.on('error', (error) => resolve(error.message))
      }
      const req = 'plain' in base ? httpRequest(opts, onResponse) : httpsRequest({ ...opts, servername: base.servername, rejectUnauthorized: false }, onResponse)
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', (error) => resolve(`${(error as NodeJS.ErrnoException).code ?? error.message}`))
      req.end()
    })
    if (!/^[1-4]\d\d$/.test(status) && failures.length < 20) failures.push(`${new Date().toISOString().slice(11, 23)} ${status}`)
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 200))
  }
  return failures
}

/** Polls /api/version (once a second, bounded) until it answers `release`; the seconds it took, or undefined. */
export async function waitUntilServing(release: string, timeoutMs: number, envFile = E2E.envFile): Promise<{ seconds: number | undefined; last: string | undefined }> {
  const started = Date.now()
  let last: string | undefined
  while (Date.now() - started < timeoutMs) {
    last = await servedRelease(envFile, 3_000)
    if (last === release) return { seconds: (Date.now() - started) / 1000, last }
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
  return { seconds: undefined, last }
}

/** Every long-running service of the e2e stack (grafana and certbot sit in profiles; pebble is e2e's ACME server). */
export const STACK_SERVICES = [
  'backend', 'frontend', 'celery-worker', 'celery-beat', 'nginx', 'postgres', 'redis',
  'prometheus', 'alertmanager', 'node-exporter', 'postgres-exporter', 'redis-exporter', 'nginx-exporter',
] as const

export const APP_SERVICES = { backend: 'aiko-backend', frontend: 'aiko-frontend', 'celery-worker': 'aiko-backend', 'celery-beat': 'aiko-backend' } as const

interface ProjectContainer {
  id: string
  name: string
  service: string
  oneOff: boolean
  status: string
  image: string
}

/** Every container of the project in any state, one-offs included, from docker's labels. */
export async function allProjectContainers(project: string): Promise<ProjectContainer[]> {
  const format = '{{.ID}}\t{{.Names}}\t{{.Label "com.docker.compose.service"}}\t{{.Label "com.docker.compose.oneoff"}}\t{{.State}}\t{{.Image}}'
  const listed = await runCommand('docker', ['ps', '-a', '--no-trunc', '--filter', `label=com.docker.compose.project=${project}`, '--format', format])
  if (listed.code !== 0) throw new Error(`docker ps failed: ${listed.stderr}`)
  return listed.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id = '', name = '', service = '', oneOff = '', status = '', image = ''] = line.split('\t')
      return { id, name, service, oneOff: oneOff === 'True', status, image }
    })
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((entry) => !entry.isDirectory()).map((entry) => join(entry.parentPath, entry.name))
}

/**
 * What breaks the "converged" invariants, in words (empty when converged):
 * - exactly one running container per service of the stack, no container of the project in
 *   another state, no one-off container;
 * - backend/frontend/worker/beat on `aiko-backend:R` / `aiko-frontend:R`, R = current-release
 *   = the version /api/version answers through nginx = `AIKO_RELEASE=` in the .env file;
 * - no `*.tmp-*` file under varDir (nor beside the .env file), no `*.partial*` file in varDir/backups.
 */
export async function convergedProblems(ctx: StackContext, envFile = E2E.envFile): Promise<{ release: string | undefined; problems: string[] }> {
  const problems: string[] = []
  const containers = await allProjectContainers(ctx.target.project)
  for (const container of containers) {
    if (container.oneOff) problems.push(`one-off container ${container.name} (${container.status})`)
    else if (container.status !== 'running') problems.push(`${container.name} is ${container.status}`)
  }
  const running = containers.filter((container) => !container.oneOff && container.status === 'running')
  const services = new Set([...STACK_SERVICES, ...running.map((container) => container.service)])
  for (const service of services) {
    const count = running.filter((container) => container.service === service).length
    if (count !== 1) problems.push(`${count} running ${service} containers`)
  }
  const release = await readCurrentRelease(ctx.varDir)
  if (release === undefined) problems.push('no current-release file')
  for (const [service, repository] of Object.entries(APP_SERVICES)) {
    for (const container of running.filter((state) => state.service === service))
      if (container.image !== `${repository}:${release}`) problems.push(`${container.name} runs ${container.image}, current-release is ${release}`)
  }
  const served = await servedRelease(envFile)
  if (served !== release) problems.push(`/api/version through nginx answers ${served ?? 'nothing'}, current-release is ${release}`)
  const envText = await readFile(envFile, 'utf8').catch(() => '')
  const recorded = /^AIKO_RELEASE=(.*)$/m.exec(envText)?.[1]?.replace(/^["']|["']$/g, '')
  if (recorded !== release) problems.push(`${envFile} has ${recorded === undefined ? 'no AIKO_RELEASE= line' : `AIKO_RELEASE=${recorded}`}, current-release is ${release}`)
  const envDir = join(envFile, '..')
  const leftovers = [
    ...(await filesUnder(ctx.varDir)).filter((path) => /\.tmp-/.test(path.slice(path.lastIndexOf('/') + 1))),
    ...(await readdir(envDir).catch(() => [] as string[])).filter((name) => name.startsWith('.env.tmp-')).map((name) => join(envDir, name)),
    ...(await filesUnder(join(ctx.varDir, 'backups'))).filter((path) => /\.partial/.test(path.slice(path.lastIndexOf('/') + 1))),
  ]
  for (const path of new Set(leftovers)) problems.push(`leftover file ${path}`)
  return { release, problems }
}

/** Asserts the converged invariants (see convergedProblems); returns the serving release. */
export async function converged(ctx: StackContext, envFile = E2E.envFile): Promise<string> {
  const { release, problems } = await convergedProblems(ctx, envFile)
  expect(problems, 'the stack is not converged').toEqual([])
  return release ?? ''
}

/** The environment an operator's shell has for compose by hand: the e2e variables, never AIKO_RELEASE. */
export function composeByHandEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && name !== 'AIKO_RELEASE') env[name] = value
  return env
}

/** `docker-compose --env-file <e2e .env> ARGS` (or `docker compose`) from the repository root, as an operator types it. */
export function composeByHand(ctx: StackContext, args: readonly string[], timeoutMs = 300_000) {
  const [file = 'docker-compose', ...base] = ctx.target.base
  return runCommand(file, [...base, '--env-file', ctx.target.envFile, ...args], { env: composeByHandEnv(), inheritEnv: false, timeoutMs })
}

/** `docker restart` of every container of the project, all at once. */
export async function restartEveryContainer(project: string): Promise<void> {
  const containers = await allProjectContainers(project)
  const results = await Promise.all(containers.map((container) => runCommand('docker', ['restart', container.id], { timeoutMs: 120_000 })))
  const failed = results.filter((result) => result.code !== 0)
  if (failed.length > 0) throw new Error(`docker restart failed: ${failed.map((result) => result.stderr.trim()).join('; ')}`)
}

/** SIGKILL to the main process of one running backend container, from the host: the restart policy applies (docker kill would count as a stop). */
export async function killBackendMainProcess(project: string): Promise<string> {
  const backend = (await allProjectContainers(project)).find((container) => container.service === 'backend' && container.status === 'running' && !container.oneOff)
  if (backend === undefined) throw new Error('no running backend container')
  const pid = Number((await runCommand('docker', ['inspect', '-f', '{{.State.Pid}}', backend.id])).stdout.trim())
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no host pid for ${backend.name}`)
  process.kill(pid, 'SIGKILL')
  return backend.name
}

/** Running containers outside `project` (by compose project, or by name when they have none): a daemon restart would hit them. */
export async function otherRunningProjects(project: string): Promise<string[]> {
  const lines = (await runCommand('docker', ['ps', '--format', '{{.Label "com.docker.compose.project"}}\t{{.Names}}'])).stdout.split('\n').filter(Boolean)
  const owners = lines.map((line) => {
    const [label = '', name = ''] = line.split('\t')
    return label === '' ? `container ${name}` : label
  })
  return [...new Set(owners.filter((owner) => owner !== project))]
}

/**
 * Stops dockerd with SIGTERM by its pid file, waits (bounded) for it to exit, then starts it
 * again with .ci/setup-docker.sh; containers come back by their restart policy.
 */
export async function restartDockerDaemon(options: { stopTimeoutMs: number } = { stopTimeoutMs: 120_000 }): Promise<void> {
  const pid = Number((await readFile('/var/run/docker.pid', 'utf8')).trim())
  if (!Number.isInteger(pid) || pid <= 1) throw new Error('no dockerd pid in /var/run/docker.pid')
  const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim()
  if (comm !== 'dockerd') throw new Error(`pid ${pid} from /var/run/docker.pid is not dockerd (${comm || 'gone'})`)
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + options.stopTimeoutMs
  const alive = () => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  while (alive()) {
    if (Date.now() > deadline) throw new Error(`dockerd (pid ${pid}) did not exit within ${options.stopTimeoutMs / 1000}s of SIGTERM`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const started = await runCommand('bash', ['.ci/setup-docker.sh'], { timeoutMs: 180_000 })
  if (started.code !== 0) throw new Error(`.ci/setup-docker.sh failed: ${started.stdout}\n${started.stderr}`)
}

/** One row of the crash matrix, as the lead copies it into the closing note. */
export interface CrashRow {
  script: string
  step: string
  killed: boolean
  recovered: boolean
  rawFailed: number
  failedAfterRetry: number
  rerunSeconds: number
  note: string
}

export function formatCrashMatrix(rows: readonly CrashRow[], title: string): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
  return [
    `## ${title}`,
    '',
    '| script | step | killed → recovered | raw failed | failed after retry | rerun s | note |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((row) => `| ${row.script} | ${cell(row.step)} | ${row.killed ? 'yes' : 'no'} → ${row.recovered ? 'yes' : 'no'} | ${row.rawFailed} | ${row.failedAfterRetry} | ${row.rerunSeconds.toFixed(1)} | ${cell(row.note)} |`),
    '',
  ].join('\n')
}
