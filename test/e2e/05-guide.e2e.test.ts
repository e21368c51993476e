import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'dotenv'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SECRET_NAMES } from '../../lib/env/schema.ts'
import { PROJECT_DIR } from '../../lib/stack/context.ts'
import { removeComposeProject, removeReleaseImages } from './helpers/cleanup.ts'
import { applyOverrides, guideBlocks, type GuideBlock, type Override } from './helpers/guide.ts'
import { runCommand, type RunResult } from './helpers/run.ts'

/**
 * DEPLOYMENT_VPS_GUIDE.md, run as an operator runs it: every fenced block in order, in one
 * fresh clone, on its own compose project. The test changes only what cannot be the same
 * here (the `overrides` below and the environment of `blockEnv`), and checks after each
 * block what the guide promises. A block with no step, or a step with no block, fails.
 */
/** A whole-number port from the environment, else the default. */
function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`${name}=${raw} is not a TCP port`)
  return port
}

/** E2E_GUIDE_PROJECT and E2E_GUIDE_*_PORT run a second guide beside another one (e.g. another compose flavour's). */
const GUIDE = {
  project: process.env['E2E_GUIDE_PROJECT'] || 'aiko-guide',
  domain: 'aiko.test',
  httpPort: portFromEnv('E2E_GUIDE_HTTP_PORT', 28080),
  httpsPort: portFromEnv('E2E_GUIDE_HTTPS_PORT', 28443),
  grafanaPort: portFromEnv('E2E_GUIDE_GRAFANA_PORT', 23001),
} as const
const git = (args: readonly string[], env: Record<string, string> = {}) => runCommand('git', ['-C', PROJECT_DIR, ...args], { env })
const IDENTITY = { GIT_AUTHOR_NAME: 'guide test', GIT_AUTHOR_EMAIL: 'guide@aiko.test', GIT_COMMITTER_NAME: 'guide test', GIT_COMMITTER_EMAIL: 'guide@aiko.test' }

let tmp = ''
const paths = {
  get bare() { return join(tmp, 'ai-ko.git') },
  get upstream() { return join(tmp, 'upstream') },
  get app() { return join(tmp, 'srv', 'ai-ko') },
  get bin() { return join(tmp, 'bin') },
  get cron() { return join(tmp, 'cron.d') },
  get curlHome() { return join(tmp, 'curl') },
  get ufwCalls() { return join(tmp, 'ufw-calls') },
  get ssh() { return join(tmp, 'ssh') },
}

/** The off-site backup host of the guide: the SFTP stand-in, published on loopback only. */
const SFTP = { name: `${GUIDE.project}-sftp`, port: GUIDE.httpPort + 22 }

function overrides(): Override[] {
  const sets = [`HTTP_BIND=127.0.0.1`, 'HTTP_BIND6=[::1]', `HTTP_PORT=${GUIDE.httpPort}`, `HTTPS_PORT=${GUIDE.httpsPort}`, `GRAFANA_PORT=${GUIDE.grafanaPort}`, 'ACME_DIRECTORY_URL=https://pebble:14000/dir']
  return [
    { why: 'the repository is a local bare copy of this working tree', pattern: /https:\/\/git\.example\.invalid\/ai-ko\/ai-ko\.git/, replacement: paths.bare },
    { why: 'git comes with this machine: the package install runs for real in 11-fresh-debian', pattern: /apt-get update && apt-get install -y git/, replacement: 'command -v git' },
    { why: 'bootstrap-vps.sh is for Debian 13 and changes the server: it runs for real in the fresh Debian 13 box (11-fresh-debian); here its help is shown', pattern: /bash scripts\/bootstrap-vps\.sh$/m, replacement: 'bash scripts/bootstrap-vps.sh --help' },
    { why: 'the VPS folder is a temporary folder', pattern: /\/srv\/ai-ko/, replacement: paths.app },
    { why: 'the test domain (.test never resolves outside this machine)', pattern: /aiko\.mon-ecole\.fr/, replacement: GUIDE.domain },
    { why: 'loopback-only high ports and Pebble instead of Let\'s Encrypt', pattern: /npx zx scripts\/init-env\.mts(?! --check)/, replacement: `npx zx scripts/init-env.mts ${sets.map((set) => `--set ${set}`).join(' ')}` },
    { why: 'restic is installed by .ci/setup-docker.sh: the test checks it is there', pattern: /apt-get install -y restic/, replacement: 'command -v restic' },
    { why: "the backup key and known hosts in a temporary folder, not root's", pattern: /\/root\/\.ssh\//, replacement: `${paths.ssh}/` },
    { why: 'the backup host is the SFTP stand-in on loopback', pattern: /sauvegarde\.mon-ecole\.fr/, replacement: '127.0.0.1' },
    { why: "the backup host's SSH port is a loopback high port", pattern: /-p 23 /, replacement: `-p ${SFTP.port} ` },
    { why: 'cron files in a temporary folder, not /etc/cron.d', pattern: /scripts\/(init-ssl|backup)\.mts --install-cron/, replacement: `scripts/$1.mts --install-cron --cron-file ${paths.cron}/aiko-$1` },
  ]
}

function blockEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  // An operator's shell: none of the variables npm, vitest or the e2e suite set for themselves.
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !/^(AIKO_|FIXTURE_|COMPOSE_|npm_|NODE_OPTIONS$|VITEST|TEST$)/.test(name)) env[name] = value
  return {
    ...env,
    PATH: `${paths.bin}:${process.env['PATH'] ?? ''}`,
    COMPOSE_FILE: 'docker-compose.yml:test/e2e/compose.e2e.yml',
    COMPOSE_PROJECT_NAME: GUIDE.project,
    CURL_HOME: paths.curlHome,
    CI: 'true',
  }
}

/** Runs one block with bash -e (a failing command fails the block), in a terminal when it prompts. */
async function runBlock(script: string, answers: readonly string[] | undefined): Promise<RunResult> {
  const cwd = await stat(paths.app).then(() => paths.app, () => tmp)
  const bash = ['bash', '-euo', 'pipefail', '-c', `cd "$0"\n${script}`, cwd]
  const argv = answers === undefined ? bash : ['python3', join(PROJECT_DIR, 'test/e2e/helpers/answer-prompts.py'), '>', JSON.stringify(answers), '--', ...bash]
  const [file = 'bash', ...args] = argv
  return runCommand(file, args, { env: { ...blockEnv(), ANSWER_PROMPTS_TIMEOUT: '180' }, inheritEnv: false, timeoutMs: 600_000 })
}

// --- what the steps look at -----------------------------------------------------------

const dotEnv = async () => parse(await readFile(join(paths.app, '.env'), 'utf8'))
const varFile = (...parts: string[]) => join(paths.app, 'var', ...parts)
const currentRelease = async () => (await readFile(varFile('current-release'), 'utf8')).trim()
const sha = async (dir: string) => (await runCommand('git', ['-C', dir, 'rev-parse', 'HEAD'])).stdout.trim()

async function containers(service?: string): Promise<{ service: string; state: string; health: string }[]> {
  const filters = ['--filter', `label=com.docker.compose.project=${GUIDE.project}`, '--filter', 'label=com.docker.compose.oneoff=False']
  if (service !== undefined) filters.push('--filter', `label=com.docker.compose.service=${service}`)
  const ids = (await runCommand('docker', ['ps', '-aq', ...filters])).stdout.split('\n').filter(Boolean)
  if (ids.length === 0) return []
  const format = '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}'
  return (await runCommand('docker', ['inspect', '--format', format, ...ids])).stdout.split('\n').filter(Boolean).map((line) => {
    const [name = '', state = '', health = ''] = line.split(' ')
    return { service: name, state, health }
  })
}

async function containerId(service: string): Promise<string> {
  const filters = ['--filter', `label=com.docker.compose.project=${GUIDE.project}`, '--filter', `label=com.docker.compose.service=${service}`, '--filter', 'status=running']
  const [id] = (await runCommand('docker', ['ps', '-q', ...filters])).stdout.split('\n').filter(Boolean)
  if (id === undefined) throw new Error(`no running ${service} container in ${GUIDE.project}`)
  return id
}

async function psql(sql: string): Promise<string> {
  const env = await dotEnv()
  const result = await runCommand('docker', ['exec', await containerId('postgres'), 'psql', '-U', env['POSTGRES_USER'] ?? '', '-d', env['POSTGRES_DB'] ?? '', '-tAc', sql])
  expect(result.stderr).toBe('')
  return result.stdout.trim()
}

/** A request as a browser on the Internet makes it: to the domain, over HTTPS once init-ssl ran. */
async function served(path: string): Promise<RunResult> {
  const https = (await dotEnv())['NGINX_MODE'] === 'https'
  const url = https ? `https://${GUIDE.domain}${path}` : `http://${GUIDE.domain}${path}`
  const connectTo = https ? `${GUIDE.domain}:443:127.0.0.1:${GUIDE.httpsPort}` : `${GUIDE.domain}:80:127.0.0.1:${GUIDE.httpPort}`
  return runCommand('curl', ['-sS', '--connect-to', connectTo, '-w', '\n%{http_code}', url], { env: { CURL_HOME: paths.curlHome } })
}

async function servedVersion(): Promise<string> {
  const result = await served('/api/version')
  expect(result.stdout.endsWith('\n200'), result.stdout + result.stderr).toBe(true)
  return (JSON.parse(result.stdout.slice(0, -4)) as { version: string }).version
}

/** Every container running, and healthy once Docker has run its check (the deploy judged health itself, sooner). */
async function allHealthy(): Promise<void> {
  const deadline = Date.now() + 90_000
  let states = await containers()
  while (states.some((state) => state.health === 'starting') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000))
    states = await containers()
  }
  for (const state of states) expect(`${state.service} ${state.state} ${state.health}`).toMatch(new RegExp(`^${state.service} running (healthy|none)$`))
  const healthy = states.filter((state) => state.health === 'healthy').map((state) => state.service)
  expect(healthy).toEqual(expect.arrayContaining(['postgres', 'redis', 'backend', 'celery-worker', 'frontend', 'nginx', 'prometheus']))
}

/** curl in the guide trusts Pebble's root and reaches the domain on the test port, like DNS would send it to the VPS. */
async function writeCurlConfig(): Promise<void> {
  const root = await runCommand('docker', ['exec', await containerId('pebble'), 'wget', '-q', '-O', '-', '--no-check-certificate', 'https://127.0.0.1:15000/roots/0'])
  expect(root.stdout).toContain('BEGIN CERTIFICATE')
  await mkdir(paths.curlHome, { recursive: true })
  await writeFile(join(paths.curlHome, 'pebble-root.pem'), root.stdout)
  await writeFile(join(paths.curlHome, '.curlrc'), [`cacert = "${join(paths.curlHome, 'pebble-root.pem')}"`, `connect-to = "${GUIDE.domain}:443:127.0.0.1:${GUIDE.httpsPort}"`, ''].join('\n'))
}

/** A new commit in the operator's remote, for `git pull` to bring. */
async function pushUpstream(message: string, change?: (dir: string) => Promise<void>): Promise<string> {
  const run = (args: string[]) => runCommand('git', ['-C', paths.upstream, ...args], { env: IDENTITY })
  expect((await run(['pull', '-q'])).code).toBe(0)
  if (change !== undefined) await change(paths.upstream)
  expect((await run(['add', '-A'])).code).toBe(0)
  expect((await run(['commit', '-q', '--allow-empty', '-m', message])).code).toBe(0)
  expect((await run(['push', '-q', 'origin', 'HEAD:main'])).code).toBe(0)
  return sha(paths.upstream)
}

/** The working tree as it is (committed or not, ignored files excluded), published as the operator's remote. */
async function publishWorkingTree(): Promise<string> {
  const index = { GIT_INDEX_FILE: join(tmp, 'index') }
  expect((await git(['read-tree', 'HEAD'], index)).code).toBe(0)
  expect((await git(['add', '-A'], index)).code).toBe(0)
  const tree = (await git(['write-tree'], index)).stdout.trim()
  const commit = (await git(['commit-tree', tree, '-p', 'HEAD', '-m', 'guide test: the working tree'], IDENTITY)).stdout.trim()
  expect((await runCommand('git', ['init', '-q', '--bare', '-b', 'main', paths.bare])).code).toBe(0)
  expect((await git(['push', '-q', paths.bare, `${commit}:refs/heads/main`])).code).toBe(0)
  expect((await runCommand('git', ['clone', '-q', paths.bare, paths.upstream])).code).toBe(0)
  return commit
}

/** Only ufw is a stand-in: `docker compose` is the real compose v2 plugin (.ci/setup-docker.sh installs it). */
async function writeShims(): Promise<void> {
  await mkdir(paths.bin, { recursive: true })
  // The firewall of this machine is not the test's to change: ufw records what it was asked.
  await writeFile(join(paths.bin, 'ufw'), `#!/bin/sh\necho "$*" >> '${paths.ufwCalls}'\n`)
  await chmod(join(paths.bin, 'ufw'), 0o755)
}

// --- the steps: what each block of the guide promises ---------------------------------

interface Step {
  /** Matches exactly one block of the guide. */
  match: RegExp
  /** Answers to type at the prompts (the block then runs in a terminal). */
  answers?: string[]
  before?: () => Promise<void>
  check: (result: RunResult) => Promise<void> | void
}

const memo: { published?: string; secrets?: Record<string, string>; release?: string; previousRelease?: string; marker?: string } = {}
const secretsOf = (env: Record<string, string>) => Object.fromEntries(SECRET_NAMES.map((name) => [name, env[name] ?? '']))

const steps: Step[] = [
  {
    match: /^apt-get update && apt-get install -y git\ngit clone .*\ncd .*\nbash scripts\/bootstrap-vps\.sh$/,
    check: async (result) => {
      expect(await sha(paths.app)).toBe(memo.published)
      expect(result.stdout).toContain('--timezone Europe/Paris')
    },
  },
  {
    match: /^docker compose version\nnode --version$/,
    check: (result) => {
      // The guide's prerequisite, really met: the v2 plugin answers, not a stand-in for it.
      expect(result.stdout).toMatch(/^Docker Compose version v?2\.\d+\.\d+/m)
      expect(result.stdout).toMatch(/^v\d+\.\d+\.\d+$/m)
    },
  },
  {
    match: /^npm ci$/,
    check: async () => {
      await stat(join(paths.app, 'node_modules', '.bin', 'zx'))
    },
  },
  {
    match: /^npx zx scripts\/init-env\.mts$/,
    answers: [GUIDE.domain, 'tech@mon-ecole.fr', 'direction@mon-ecole.fr'],
    check: async (result) => {
      expect(result.stdout).toContain('created (mode 0600) and valid')
      expect((await stat(join(paths.app, '.env'))).mode & 0o777).toBe(0o600)
      const env = await dotEnv()
      expect([env['DOMAIN'], env['LETSENCRYPT_EMAIL'], env['ADMIN_EMAIL'], env['HTTP_PORT']]).toEqual([GUIDE.domain, 'tech@mon-ecole.fr', 'direction@mon-ecole.fr', String(GUIDE.httpPort)])
      for (const name of SECRET_NAMES.filter((secret) => secret !== 'ADMIN_PASSWORD' && secret !== 'AWS_SECRET_ACCESS_KEY')) expect(env[name]?.length, name).toBeGreaterThanOrEqual(16)
      memo.secrets = secretsOf(env)
    },
  },
  {
    match: /^npx zx scripts\/init-env\.mts --yes --set DOMAIN=/,
    check: async (result) => {
      expect(result.stdout).toMatch(/nothing to change/)
      expect(secretsOf(await dotEnv())).toEqual(memo.secrets)
    },
  },
  {
    match: /^npx zx scripts\/init-env\.mts --check$/,
    check: (result) => expect(result.stdout).toMatch(/\.env is valid \(APP_ENV=production, DOMAIN=aiko\.test, NGINX_MODE=http\)/),
  },
  {
    match: /^npx zx scripts\/deploy\.mts$/,
    check: async () => {
      await allHealthy()
      memo.release = await currentRelease()
      expect(memo.release).toMatch(new RegExp(`-${memo.published?.slice(0, 7)}$`))
      expect(await servedVersion()).toBe(memo.release)
    },
  },
  {
    match: /^npx zx scripts\/init-db\.mts$/,
    check: async (result) => {
      const env = await dotEnv()
      expect(await psql(`SELECT count(*) FROM users WHERE email = '${env['ADMIN_EMAIL']}'`)).toBe('1')
      expect(Number(await psql('SELECT count(*) FROM levels'))).toBeGreaterThan(0)
      expect((await stat(varFile('secrets', 'admin-initial-password'))).mode & 0o777).toBe(0o600)
      expect(result.stdout).toContain(env['ADMIN_EMAIL'])
    },
  },
  {
    match: /^npx zx scripts\/init-ssl\.mts$/,
    check: async () => {
      expect((await dotEnv())['NGINX_MODE']).toBe('https')
      const redirect = await runCommand('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '--connect-to', `${GUIDE.domain}:80:127.0.0.1:${GUIDE.httpPort}`, `http://${GUIDE.domain}/x`])
      expect(redirect.stdout).toBe(`308 https://${GUIDE.domain}/x`)
    },
  },
  {
    match: /^npx zx scripts\/init-ssl\.mts --install-cron$/,
    check: async () => {
      const cron = await readFile(join(paths.cron, 'aiko-init-ssl'), 'utf8')
      const job = /^\d+ 3,15 \* \* \* root (cd .* --renew --yes --env-path '[^']*') >> /m.exec(cron)?.[1]
      expect(job).toContain(paths.app)
      // The job itself, as cron would start it.
      const run = await runCommand('sh', ['-c', job ?? 'false'], { env: blockEnv(), inheritEnv: false })
      expect(run.code, run.stdout + run.stderr).toBe(0)
      expect(run.stdout.trim().split('\n')).toHaveLength(1)
    },
  },
  {
    match: /^npx zx scripts\/init-ssl\.mts --renew --yes$/,
    check: (result) => expect(result.stdout.trim()).toMatch(/^[^\n]*nothing to do$/),
  },
  {
    match: /^docker compose ps\ncurl -sI https:\/\/.*\ncurl -s https:\/\/.*\/api\/health$/,
    before: writeCurlConfig,
    check: (result) => {
      expect(result.stdout).toMatch(/healthy/)
      expect(result.stdout).not.toMatch(/unhealthy|Exit/)
      expect(result.stdout).toMatch(/^HTTP\/[\d.]+ 200/m)
      expect(result.stdout).toMatch(/^strict-transport-security: max-age=\d+/im)
      expect(result.stdout).toMatch(/^x-content-type-options: nosniff/im)
      expect(result.stdout).toMatch(/"status": ?"ok"/)
    },
  },
  {
    match: /^npx zx scripts\/status\.mts$/,
    check: async (result) => {
      expect(result.stdout).toContain(await currentRelease())
      const json = await runBlock('npx zx scripts/status.mts --json', undefined)
      expect(json.code, json.stderr).toBe(0)
      expect(JSON.parse(json.stdout)).toMatchObject({ problems: [] })
    },
  },
  {
    match: /^docker compose --profile monitoring-ui up -d grafana$/,
    check: async () => {
      const env = await dotEnv()
      const base = `http://127.0.0.1:${GUIDE.grafanaPort}`
      // Until the server listens, docker-proxy accepts and closes (an empty reply): retry on every error.
      const health = await runCommand('curl', ['-sS', '--retry', '30', '--retry-all-errors', '--retry-delay', '1', `${base}/api/health`])
      expect(health.stdout, health.stderr).toContain('"database": "ok"')
      const search = await runCommand('curl', ['-sS', '-K', '-', `${base}/api/search`], { input: `user = "${env['GRAFANA_ADMIN_USER']}:${env['GRAFANA_ADMIN_PASSWORD']}"\n` })
      expect(search.stdout).toContain('AI-KO overview')
      expect((await runCommand('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${base}/api/search`])).stdout).toBe('401')
      const port = await runCommand('docker', ['port', await containerId('grafana'), '3000'])
      expect(port.stdout.trim()).toBe(`127.0.0.1:${GUIDE.grafanaPort}`)
    },
  },
  {
    match: /^git pull\nnpx zx scripts\/deploy\.mts$/,
    before: async () => {
      memo.published = await pushUpstream('an application update')
    },
    check: async (result) => {
      memo.previousRelease = memo.release
      memo.release = await currentRelease()
      expect(memo.release).not.toBe(memo.previousRelease)
      expect(memo.release).toMatch(new RegExp(`-${memo.published?.slice(0, 7)}$`))
      expect(await servedVersion()).toBe(memo.release)
      // This update brings no migration: the deploy says so and takes no pre-migration dump (§ 10).
      expect(`${result.stdout}${result.stderr}`).toContain('no migration pending: no pre-migration dump needed')
      await expect(stat(varFile('backups', `pre-${memo.release}.dump`))).rejects.toMatchObject({ code: 'ENOENT' })
      await allHealthy()
    },
  },
  {
    match: /^npx zx scripts\/rollback\.mts --list\nnpx zx scripts\/rollback\.mts$/,
    check: async (result) => {
      expect(result.stdout).toContain(memo.previousRelease)
      expect(await currentRelease()).toBe(memo.previousRelease)
      expect(await servedVersion()).toBe(memo.previousRelease)
    },
  },
  {
    match: /^npx zx scripts\/backup\.mts$/,
    check: async () => {
      const dumps = (await readdir(varFile('backups'))).filter((name) => /^scheduled-\d{8}-\d{6}\.dump$/.test(name))
      expect(dumps).toHaveLength(1)
      const file = await stat(varFile('backups', dumps[0] ?? ''))
      expect(file.mode & 0o777).toBe(0o600)
      expect(file.size).toBeGreaterThan(1000)
    },
  },
  {
    match: /^npx zx scripts\/backup\.mts --install-cron$/,
    check: async () => {
      const cron = await readFile(join(paths.cron, 'aiko-backup'), 'utf8')
      expect(cron).toMatch(new RegExp(`^\\d+ 2 \\* \\* \\* root cd '${paths.app}' && npx zx scripts/backup\\.mts `, 'm'))
    },
  },
  {
    match: /^npx zx scripts\/backup\.mts --list\nnpx zx scripts\/backup\.mts --restore latest$/,
    answers: ['yes'],
    before: async () => {
      memo.marker = `written after the backup ${Date.now()}`
      await psql(`INSERT INTO levels (code, name) VALUES ('guide-marker', '${memo.marker}')`)
      expect(await psql(`SELECT count(*) FROM levels WHERE name = '${memo.marker}'`)).toBe('1')
    },
    check: async (result) => {
      expect(result.stdout).toMatch(/scheduled-\d{8}-\d{6}\.dump/)
      expect(await psql(`SELECT count(*) FROM levels WHERE name = '${memo.marker}'`)).toBe('0')
      expect(await psql(`SELECT count(*) FROM users WHERE email = '${(await dotEnv())['ADMIN_EMAIL']}'`)).toBe('1')
      expect((await readdir(varFile('backups'))).some((name) => name.startsWith('pre-restore-'))).toBe(true)
    },
  },
  {
    match: /^apt-get install -y restic\nssh-keygen /,
    before: async () => {
      await mkdir(paths.ssh, { recursive: true, mode: 0o700 })
    },
    check: async () => {
      expect((await stat(join(paths.ssh, 'aiko_backup'))).mode & 0o777).toBe(0o600)
      expect(await readFile(join(paths.ssh, 'aiko_backup.pub'), 'utf8')).toMatch(/^ssh-ed25519 /)
    },
  },
  {
    match: /^ssh-keyscan -p 23 sauvegarde\.mon-ecole\.fr .*\nnpx zx scripts\/init-env\.mts --set RESTIC_REPOSITORY=/,
    before: async () => {
      // The operator put the public key on the backup host: here, the host starts with it.
      await runCommand('docker', ['rm', '-f', SFTP.name])
      const key = (await readFile(join(paths.ssh, 'aiko_backup.pub'), 'utf8')).trim()
      const started = await runCommand('docker', ['run', '-d', '--name', SFTP.name, '--label', `com.docker.compose.project=${GUIDE.project}`, '-p', `127.0.0.1:${SFTP.port}:22`, '-e', `AUTHORIZED_KEY=${key}`, 'aiko-standin/sftp:test'])
      expect(started.code, started.stderr).toBe(0)
      for (let i = 0; i < 50 && !(await runCommand('ssh-keyscan', ['-p', String(SFTP.port), '127.0.0.1'])).stdout.includes('ssh-ed25519'); i++) await new Promise((resolve) => setTimeout(resolve, 200))
    },
    check: async () => {
      const env = await dotEnv()
      expect(env['RESTIC_REPOSITORY']).toBe('sftp:restic@127.0.0.1:/srv/restic/aiko')
      expect(env['RESTIC_PASSWORD']).toMatch(/^[A-Za-z0-9]{32}$/)
      expect(await readFile(join(paths.ssh, 'aiko_backup_known_hosts'), 'utf8')).toContain('ssh-ed25519')
    },
  },
  {
    match: /^npx zx scripts\/backup\.mts --init-offsite\nnpx zx scripts\/backup\.mts\nnpx zx scripts\/backup\.mts --verify$/,
    check: (result) => {
      expect(result.stdout).toContain('created the repository sftp:restic@127.0.0.1:/srv/restic/aiko')
      expect(result.stdout).toMatch(/copied the set off the server: snapshot [0-9a-f]{8} \(database, \.env, \d+ uploaded files\)/)
      expect(result.stdout).toMatch(/verified off-site set [0-9a-f]{8} .*: it restores into a working database/)
    },
  },
  {
    match: /^npx zx scripts\/backup\.mts --restore-from-offsite latest$/,
    answers: ['yes'],
    before: async () => {
      memo.marker = `written after the off-site copy ${Date.now()}`
      await psql(`INSERT INTO levels (code, name) VALUES ('guide-offsite', '${memo.marker}')`)
    },
    check: async (result) => {
      expect(result.stdout).toMatch(/restored set [0-9a-f]{8} \(database and uploads\): release \S+ serves again/)
      expect(await psql(`SELECT count(*) FROM levels WHERE name = '${memo.marker}'`)).toBe('0')
      expect(await psql(`SELECT count(*) FROM users WHERE email = '${(await dotEnv())['ADMIN_EMAIL']}'`)).toBe('1')
      expect(await servedVersion()).toBe(await currentRelease())
    },
  },
  {
    match: /^git pull\nnpm ci\nnpx zx scripts\/init-env\.mts$/,
    before: async () => {
      memo.published = await pushUpstream('a toolkit update with a new setting', async (dir) => {
        const example = join(dir, 'env.example')
        await writeFile(example, `${await readFile(example, 'utf8')}\n# Réglage apparu dans une mise à jour (test du guide).\nGUIDE_UPDATE_SETTING=ajoute\n`)
      })
    },
    check: async (result) => {
      expect(await sha(paths.app)).toBe(memo.published)
      expect(result.stdout).toMatch(/added GUIDE_UPDATE_SETTING = ajoute/)
      const env = await dotEnv()
      expect(env['GUIDE_UPDATE_SETTING']).toBe('ajoute')
      expect(secretsOf(env)).toEqual(memo.secrets)
      expect(env['NGINX_MODE']).toBe('https')
    },
  },
]

// --- the run ----------------------------------------------------------------------------

const blocks = guideBlocks(await readFile(join(PROJECT_DIR, 'DEPLOYMENT_VPS_GUIDE.md'), 'utf8'))
const stepOf = (block: GuideBlock) => steps.filter((step) => step.match.test(block.script))
const used = new Map<Override, number>()
let guideOverrides: Override[] = []
let failed: string | undefined

describe('DEPLOYMENT_VPS_GUIDE.md, every command block in order', () => {
  beforeAll(async () => {
    await removeComposeProject(GUIDE.project)
    tmp = await mkdtemp(join(tmpdir(), 'aiko-guide-'))
    await writeShims()
    await mkdir(paths.cron)
    memo.published = await publishWorkingTree()
    guideOverrides = overrides()
  })

  afterAll(async () => {
    if (process.env['E2E_KEEP'] === '1') return
    await runCommand('docker', ['rm', '-f', '-v', SFTP.name])
    await removeComposeProject(GUIDE.project)
    if (tmp === '') return
    await removeReleaseImages(join(paths.app, 'var'))
    await rm(tmp, { recursive: true, force: true })
  })

  it('has exactly one step for each block and one block for each step', () => {
    for (const block of blocks) expect(stepOf(block).length, `line ${block.line}:\n${block.script}`).toBe(1)
    for (const step of steps) expect(blocks.filter((block) => step.match.test(block.script)).length, String(step.match)).toBe(1)
  })

  for (const block of blocks) {
    it(`§ ${block.section}, line ${block.line}: ${block.script.split('\n').join(' ; ')}`, async (context) => {
      if (failed !== undefined) context.skip(`an earlier block failed (${failed})`)
      const [step] = stepOf(block)
      failed = `line ${block.line}`
      if (step === undefined) throw new Error('no step for this block')
      await step.before?.()
      const result = await runBlock(applyOverrides(block.script, guideOverrides, used), step.answers)
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
      await step.check(result)
      const env = await dotEnv().catch(() => ({}) as Record<string, string>)
      for (const name of SECRET_NAMES) {
        const secret = env[name]
        if (secret !== undefined && secret.length >= 8) expect(`${result.stdout}${result.stderr}`.includes(secret), `${name} printed`).toBe(false)
      }
      failed = undefined
    })
  }

  it('used every override (a guide edit that bypasses one fails here)', () => {
    expect(guideOverrides.length).toBeGreaterThan(0)
    for (const override of guideOverrides) expect(used.get(override) ?? 0, override.why).toBeGreaterThan(0)
  })
})
