import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parse } from 'dotenv'
import { expect, it } from 'vitest'
import { SECRET_NAMES } from '../../../lib/env/schema.ts'
import { PROJECT_DIR } from '../../../lib/stack/context.ts'
import { applyOverrides, guideBlocks, type GuideBlock, type Override } from './guide.ts'
import { runCommand, type RunResult } from './run.ts'

/**
 * What each block of DEPLOYMENT_VPS_GUIDE.md promises, checked wherever the guide runs: on
 * this machine (05-guide, in a temporary folder) or on a fresh Debian 13 box (12-guide-in-box,
 * as root in /srv/ai-ko). A GuideTarget says where blocks run and how the test reads the
 * server's files, Docker and database; the steps below are the same for both.
 */
export interface GuideTarget {
  domain: string
  /** The compose project of the guide's stack. */
  project: string
  /** The operator's clone, as the server names it. */
  app: string
  /** The cron files that `--install-cron` writes, as the server names them. */
  cronFiles: { initSsl: string; backup: string }
  /** The backup key's folder, as the server names it. */
  sshDir: string
  /** CURL_HOME of the guide's blocks, as the server names it. */
  curlHome: string
  /** CURL_HOME of the test's own requests to the site (a folder of this machine). */
  hostCurlHome: string
  /** HTTP_PORT that init-env writes. */
  httpPort: number
  grafanaPort: number
  /** The off-site backup host: the SFTP stand-in, published on the server's loopback. */
  sftp: { name: string; port: number }
  /** HOST:PORT where this machine reaches the server's nginx, over HTTP and HTTPS. */
  reach: { http: string; https: string }
  /** HOST:PORT where the server itself reaches its nginx over HTTPS (the guide's curl). */
  insideHttps: string
  /** The operator's remote (a bare repository) and a clone of it that `pushUpstream` commits in: folders of this machine. */
  bare: string
  upstream: string
  /** A path of the server, as this machine reads it. */
  hostPath(path: string): string
  /** Runs one block (overrides applied) as the operator, with bash -e; in a terminal when it prompts. */
  runBlock(script: string, answers: readonly string[] | undefined): Promise<RunResult>
  /** Runs one command on the server (docker, curl, ssh-keyscan...). */
  exec(argv: readonly string[], options?: { input?: string }): Promise<RunResult>
  /** Runs a cron job's command as cron would start it; `cronFile` is the file it came from. */
  runCronJob(job: string, cronFile: string): Promise<RunResult>
  /** Checks what the first block of § 1 left (bootstrap-vps.sh) and brings up what the server's init would. */
  prepared(result: RunResult): Promise<void>
}

export interface Step {
  /** Matches exactly one block of the guide. */
  match: RegExp
  /** Answers to type at the prompts (the block then runs in a terminal). */
  answers?: string[]
  before?: () => Promise<void>
  check: (result: RunResult) => Promise<void> | void
}

export interface GuideMemo {
  published?: string
  secrets?: Record<string, string>
  release?: string
  previousRelease?: string
  marker?: string
}

const IDENTITY = { GIT_AUTHOR_NAME: 'guide test', GIT_AUTHOR_EMAIL: 'guide@aiko.test', GIT_COMMITTER_NAME: 'guide test', GIT_COMMITTER_EMAIL: 'guide@aiko.test' }
const git = (args: readonly string[], env: Record<string, string> = {}) => runCommand('git', ['-C', PROJECT_DIR, ...args], { env })
export const sha = async (dir: string) => (await runCommand('git', ['-C', dir, 'rev-parse', 'HEAD'])).stdout.trim()

/** The working tree as it is (committed or not, ignored files excluded), published as the operator's remote. */
export async function publishWorkingTree(options: { index: string; bare: string; upstream: string }): Promise<string> {
  const index = { GIT_INDEX_FILE: options.index }
  expect((await git(['read-tree', 'HEAD'], index)).code).toBe(0)
  expect((await git(['add', '-A'], index)).code).toBe(0)
  const tree = (await git(['write-tree'], index)).stdout.trim()
  const commit = (await git(['commit-tree', tree, '-p', 'HEAD', '-m', 'guide test: the working tree'], IDENTITY)).stdout.trim()
  expect((await runCommand('git', ['init', '-q', '--bare', '-b', 'main', options.bare])).code).toBe(0)
  expect((await git(['push', '-q', options.bare, `${commit}:refs/heads/main`])).code).toBe(0)
  expect((await runCommand('git', ['clone', '-q', options.bare, options.upstream])).code).toBe(0)
  return commit
}

/** What the steps look at, through the target. */
export function guideProbes(target: GuideTarget) {
  const appPath = (...parts: string[]) => target.hostPath(join(target.app, ...parts))
  const dotEnv = async () => parse(await readFile(appPath('.env'), 'utf8'))
  const varFile = (...parts: string[]) => appPath('var', ...parts)
  const currentRelease = async () => (await readFile(varFile('current-release'), 'utf8')).trim()

  async function containers(service?: string): Promise<{ service: string; state: string; health: string }[]> {
    const filters = ['--filter', `label=com.docker.compose.project=${target.project}`, '--filter', 'label=com.docker.compose.oneoff=False']
    if (service !== undefined) filters.push('--filter', `label=com.docker.compose.service=${service}`)
    const ids = (await target.exec(['docker', 'ps', '-aq', ...filters])).stdout.split('\n').filter(Boolean)
    if (ids.length === 0) return []
    const format = '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}'
    return (await target.exec(['docker', 'inspect', '--format', format, ...ids])).stdout.split('\n').filter(Boolean).map((line) => {
      const [name = '', state = '', health = ''] = line.split(' ')
      return { service: name, state, health }
    })
  }

  async function containerId(service: string): Promise<string> {
    const filters = ['--filter', `label=com.docker.compose.project=${target.project}`, '--filter', `label=com.docker.compose.service=${service}`, '--filter', 'status=running']
    const [id] = (await target.exec(['docker', 'ps', '-q', ...filters])).stdout.split('\n').filter(Boolean)
    if (id === undefined) throw new Error(`no running ${service} container in ${target.project}`)
    return id
  }

  async function psql(sql: string): Promise<string> {
    const env = await dotEnv()
    const result = await target.exec(['docker', 'exec', await containerId('postgres'), 'psql', '-U', env['POSTGRES_USER'] ?? '', '-d', env['POSTGRES_DB'] ?? '', '-tAc', sql])
    expect(result.stderr).toBe('')
    return result.stdout.trim()
  }

  /** A request as a browser on the Internet makes it: to the domain, over HTTPS once init-ssl ran. */
  async function served(path: string): Promise<RunResult> {
    const https = (await dotEnv())['NGINX_MODE'] === 'https'
    const url = https ? `https://${target.domain}${path}` : `http://${target.domain}${path}`
    const connectTo = https ? `${target.domain}:443:${target.reach.https}` : `${target.domain}:80:${target.reach.http}`
    return runCommand('curl', ['-sS', '--connect-to', connectTo, '-w', '\n%{http_code}', url], { env: { CURL_HOME: target.hostCurlHome } })
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

  /** Pebble's root certificate (the CA of the site's certificate), read from the Pebble container. */
  async function pebbleRoot(): Promise<string> {
    const root = await target.exec(['docker', 'exec', await containerId('pebble'), 'wget', '-q', '-O', '-', '--no-check-certificate', 'https://127.0.0.1:15000/roots/0'])
    expect(root.stdout).toContain('BEGIN CERTIFICATE')
    return root.stdout
  }

  /** curl in the guide trusts Pebble's root and reaches the domain where DNS would send it; so do the test's own requests. */
  async function writeCurlConfig(): Promise<void> {
    const root = await pebbleRoot()
    const blocks = target.hostPath(target.curlHome)
    await mkdir(blocks, { recursive: true })
    await writeFile(join(blocks, 'pebble-root.pem'), root)
    await writeFile(join(blocks, '.curlrc'), [`cacert = "${join(target.curlHome, 'pebble-root.pem')}"`, `connect-to = "${target.domain}:443:${target.insideHttps}"`, ''].join('\n'))
    if (target.hostCurlHome !== blocks) {
      await mkdir(target.hostCurlHome, { recursive: true })
      await writeFile(join(target.hostCurlHome, 'pebble-root.pem'), root)
      await writeFile(join(target.hostCurlHome, '.curlrc'), `cacert = "${join(target.hostCurlHome, 'pebble-root.pem')}"\n`)
    }
  }

  return { appPath, dotEnv, varFile, currentRelease, containers, containerId, psql, served, servedVersion, allHealthy, pebbleRoot, writeCurlConfig }
}

/** Secrets only the operator knows: init-env leaves them empty (it generates every other one). */
const OPERATOR_SECRETS: readonly string[] = ['ADMIN_PASSWORD', 'AWS_SECRET_ACCESS_KEY', 'ALERT_SMTP_PASSWORD']
const secretsOf = (env: Record<string, string>) => Object.fromEntries(SECRET_NAMES.map((name) => [name, env[name] ?? '']))

/** The steps: what each block of the guide promises. */
export function guideSteps(target: GuideTarget, memo: GuideMemo): Step[] {
  const probe = guideProbes(target)
  const { dotEnv, varFile, currentRelease, psql, servedVersion, allHealthy } = probe
  const ssh = (name: string) => target.hostPath(join(target.sshDir, name))

  /** A new commit in the operator's remote, for `git pull` to bring. */
  async function pushUpstream(message: string, change?: (dir: string) => Promise<void>): Promise<string> {
    const run = (args: string[]) => runCommand('git', ['-C', target.upstream, ...args], { env: IDENTITY })
    expect((await run(['pull', '-q'])).code).toBe(0)
    if (change !== undefined) await change(target.upstream)
    expect((await run(['add', '-A'])).code).toBe(0)
    expect((await run(['commit', '-q', '--allow-empty', '-m', message])).code).toBe(0)
    expect((await run(['push', '-q', 'origin', 'HEAD:main'])).code).toBe(0)
    return sha(target.upstream)
  }

  return [
    {
      match: /^apt-get update && apt-get install -y git\ngit clone .*\ncd .*\nbash scripts\/bootstrap-vps\.sh$/,
      check: async (result) => {
        expect(await sha(probe.appPath())).toBe(memo.published)
        await target.prepared(result)
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
        await stat(probe.appPath('node_modules', '.bin', 'zx'))
      },
    },
    {
      match: /^npx zx scripts\/init-env\.mts$/,
      // The three @prompt values, then init-env's alert channel question: "aucun" (the box has
      // no SMTP server; status then warns that alerts go nowhere, with exit code 0).
      answers: [target.domain, 'tech@mon-ecole.fr', 'direction@mon-ecole.fr', 'aucun'],
      check: async (result) => {
        expect(result.stdout).toContain('created (mode 0600) and valid')
        expect((await stat(probe.appPath('.env'))).mode & 0o777).toBe(0o600)
        const env = await dotEnv()
        expect([env['DOMAIN'], env['LETSENCRYPT_EMAIL'], env['ADMIN_EMAIL'], env['HTTP_PORT']]).toEqual([target.domain, 'tech@mon-ecole.fr', 'direction@mon-ecole.fr', String(target.httpPort)])
        for (const name of SECRET_NAMES.filter((secret) => !OPERATOR_SECRETS.includes(secret))) expect(env[name]?.length, name).toBeGreaterThanOrEqual(16)
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
        const redirect = await runCommand('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '--connect-to', `${target.domain}:80:${target.reach.http}`, `http://${target.domain}/x`])
        expect(redirect.stdout).toBe(`308 https://${target.domain}/x`)
      },
    },
    {
      match: /^npx zx scripts\/init-ssl\.mts --install-cron$/,
      check: async () => {
        const cron = await readFile(target.hostPath(target.cronFiles.initSsl), 'utf8')
        const job = /^\d+ 3,15 \* \* \* root (cd .* --renew --yes --env-path '[^']*') >> /m.exec(cron)?.[1]
        expect(job).toContain(target.app)
        // The job itself, as cron would start it.
        const run = await target.runCronJob(job ?? 'false', cron)
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
      before: probe.writeCurlConfig,
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
        const json = await target.runBlock('npx zx scripts/status.mts --json', undefined)
        expect(json.code, json.stderr).toBe(0)
        // init-env was answered "aucun" for the alert channel: a warning, never a problem.
        expect(JSON.parse(json.stdout)).toMatchObject({ problems: [], warnings: [{ check: 'alerts' }] })
        expect(result.stdout).toContain('warning: [alerts] alerts go nowhere')
      },
    },
    {
      match: /^docker compose --profile monitoring-ui up -d grafana$/,
      check: async () => {
        const env = await dotEnv()
        const base = `http://127.0.0.1:${target.grafanaPort}`
        // Until the server listens, docker-proxy accepts and closes (an empty reply): retry on every error.
        const health = await target.exec(['curl', '-sS', '--retry', '30', '--retry-all-errors', '--retry-delay', '1', `${base}/api/health`])
        expect(health.stdout, health.stderr).toContain('"database": "ok"')
        const search = await target.exec(['curl', '-sS', '-K', '-', `${base}/api/search`], { input: `user = "${env['GRAFANA_ADMIN_USER']}:${env['GRAFANA_ADMIN_PASSWORD']}"\n` })
        expect(search.stdout).toContain('AI-KO overview')
        expect((await target.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `${base}/api/search`])).stdout).toBe('401')
        const port = await target.exec(['docker', 'port', await probe.containerId('grafana'), '3000'])
        expect(port.stdout.trim()).toBe(`127.0.0.1:${target.grafanaPort}`)
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
        const cron = await readFile(target.hostPath(target.cronFiles.backup), 'utf8')
        expect(cron).toMatch(new RegExp(`^\\d+ 2 \\* \\* \\* root cd '${target.app}' && npx zx scripts/backup\\.mts `, 'm'))
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
      match: /^apt-get install -y restic\ninstall -d -m 0700 \/root\/\.ssh\/\nssh-keygen /,
      check: async () => {
        expect((await stat(target.hostPath(target.sshDir))).mode & 0o777).toBe(0o700)
        expect((await stat(ssh('aiko_backup'))).mode & 0o777).toBe(0o600)
        expect(await readFile(ssh('aiko_backup.pub'), 'utf8')).toMatch(/^ssh-ed25519 /)
      },
    },
    {
      match: /^ssh-keyscan -p 23 <serveur-de-sauvegarde> .*\nnpx zx scripts\/init-env\.mts --set RESTIC_REPOSITORY=/,
      before: async () => {
        // The operator put the public key on the backup host: here, the host starts with it.
        await target.exec(['docker', 'rm', '-f', target.sftp.name])
        const key = (await readFile(ssh('aiko_backup.pub'), 'utf8')).trim()
        const started = await target.exec(['docker', 'run', '-d', '--name', target.sftp.name, '--label', `com.docker.compose.project=${target.project}`, '-p', `127.0.0.1:${target.sftp.port}:22`, '-e', `AUTHORIZED_KEY=${key}`, 'aiko-standin/sftp:test'])
        expect(started.code, started.stderr).toBe(0)
        for (let i = 0; i < 50 && !(await target.exec(['ssh-keyscan', '-p', String(target.sftp.port), '127.0.0.1'])).stdout.includes('ssh-ed25519'); i++) await new Promise((resolve) => setTimeout(resolve, 200))
      },
      check: async () => {
        const env = await dotEnv()
        expect(env['RESTIC_REPOSITORY']).toBe('sftp:restic@127.0.0.1:/srv/restic/aiko')
        expect(env['RESTIC_PASSWORD']).toMatch(/^[A-Za-z0-9]{32}$/)
        expect(await readFile(ssh('aiko_backup_known_hosts'), 'utf8')).toContain('ssh-ed25519')
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
        expect(await sha(probe.appPath())).toBe(memo.published)
        expect(result.stdout).toMatch(/added GUIDE_UPDATE_SETTING = ajoute/)
        const env = await dotEnv()
        expect(env['GUIDE_UPDATE_SETTING']).toBe('ajoute')
        expect(secretsOf(env)).toEqual(memo.secrets)
        expect(env['NGINX_MODE']).toBe('https')
      },
    },
  ]
}

/** The guide's blocks, in reading order. */
export const guideBlocksOfRepo = async (): Promise<GuideBlock[]> => guideBlocks(await readFile(join(PROJECT_DIR, 'DEPLOYMENT_VPS_GUIDE.md'), 'utf8'))

/**
 * Registers, inside the caller's describe(): one test that every block has exactly one step
 * (and every step one block), one test per block in order (run, exit 0, the step's check, no
 * secret printed), and one that every override was used. A failed block skips the ones after it.
 */
export function guideBlockTests(options: {
  blocks: readonly GuideBlock[]
  target: GuideTarget
  steps: readonly Step[]
  overrides: () => Override[]
  /** Per block (vitest's testTimeout when unset). */
  timeoutMs?: number
  /** Told how long each block took. */
  log?: (line: string) => void
}): { failed: () => string | undefined } {
  const { blocks } = options
  const used = new Map<Override, number>()
  const state: { failed?: string; overrides?: Override[] } = {}
  const stepOf = (block: GuideBlock) => options.steps.filter((step) => step.match.test(block.script))

  it('has exactly one step for each block and one block for each step', () => {
    for (const block of blocks) expect(stepOf(block).length, `line ${block.line}:\n${block.script}`).toBe(1)
    for (const step of options.steps) expect(blocks.filter((block) => step.match.test(block.script)).length, String(step.match)).toBe(1)
  })

  for (const block of blocks) {
    it(`§ ${block.section}, line ${block.line}: ${block.script.split('\n').join(' ; ')}`, async (context) => {
      if (state.failed !== undefined) context.skip(`an earlier block failed (${state.failed})`)
      const [step] = stepOf(block)
      state.failed = `line ${block.line}`
      if (step === undefined) throw new Error('no step for this block')
      state.overrides ??= options.overrides()
      const { target } = options
      const started = Date.now()
      let phase = 'before'
      try {
        await step.before?.()
        phase = 'run'
        const result = await target.runBlock(applyOverrides(block.script, state.overrides, used), step.answers)
        expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
        phase = 'check'
        await step.check(result)
        const env = await guideProbes(target).dotEnv().catch(() => ({}) as Record<string, string>)
        for (const name of SECRET_NAMES) {
          const secret = env[name]
          if (secret !== undefined && secret.length >= 8) expect(`${result.stdout}${result.stderr}`.includes(secret), `${name} printed`).toBe(false)
        }
        phase = 'ok'
      } finally {
        options.log?.(`§ ${block.section.split(' ')[0]} line ${block.line}: ${phase === 'ok' ? 'ok' : `FAILED in ${phase}`} (${((Date.now() - started) / 1000).toFixed(1)} s) ${block.script.split('\n').join(' ; ').slice(0, 90)}`)
      }
      state.failed = undefined
    }, options.timeoutMs)
  }

  it('used every override (a guide edit that bypasses one fails here)', () => {
    const overrides = state.overrides ?? options.overrides()
    expect(overrides.length).toBeGreaterThan(0)
    for (const override of overrides) expect(used.get(override) ?? 0, override.why).toBeGreaterThan(0)
  })

  return { failed: () => state.failed }
}
