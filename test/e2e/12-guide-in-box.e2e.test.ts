import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEFAULT_BACKUP_CRON_FILE } from '../../lib/backup/cron.ts'
import { DEFAULT_CRON_FILE } from '../../lib/ssl/cron.ts'
import { PROJECT_DIR } from '../../lib/stack/context.ts'
import { box, BOX_SCRIPT, boxOk, boxPrerequisites, Phases } from './box/box.ts'
import { type Override } from './helpers/guide.ts'
import { guideBlocksOfRepo, guideBlockTests, guideProbes, guideSteps, publishWorkingTree, type GuideMemo, type GuideTarget } from './helpers/guide-steps.ts'
import { runCommand, type RunResult } from './helpers/run.ts'

/**
 * DEPLOYMENT_VPS_GUIDE.md followed literally on a fresh Debian 13 server: the box of
 * test/e2e/box/box.sh (debootstrap trixie, its own namespaces, address and dockerd). Every
 * block runs in order as root in the box, from `apt-get install -y git` and the real
 * bootstrap-vps.sh to the off-site backups and status, in /srv/ai-ko, on ports 80 and 443,
 * with the cron files in /etc/cron.d; the checks are the guide test's (helpers/guide-steps.ts,
 * shared with 05-guide). Then the box reboots (its dockerd and containerd stopped and started
 * again) and, within two minutes, serves the same release over HTTPS to this machine and
 * `status.mts` exits 0.
 *
 * What differs from a real VPS, and why:
 * - the repository is a bare copy of this working tree inside the box; the domain is
 *   aiko.test (the box's address stands in for its DNS records); Let's Encrypt is Pebble, in
 *   the stack (compose.e2e.yml, as COMPOSE_FILE, which the cron jobs keep); the backup host
 *   is the SFTP stand-in, run by the box's dockerd on the box's 127.0.0.1:23;
 * - no image registry is reachable: the stand-in images of compose.e2e.yml are loaded from
 *   this machine's Docker right after bootstrap-vps.sh (as `docker compose` would pull them);
 * - no init system runs in the box: box.sh start-docker does what systemd does once docker.io
 *   is installed, and cron's daemon is not running (the jobs are run as cron would start them).
 *
 * E2E_BOX_NAME, E2E_BOX_HOST_IP and E2E_BOX_IP give the box another name or /30 (the
 * default is aiko-guide at 10.213.0.6, apart from box.sh's own default aiko-box);
 * E2E_KEEP_BOX=1 keeps it afterwards (bash test/e2e/box/box.sh exec bash, with BOX_NAME set).
 */
const BOX = {
  name: process.env['E2E_BOX_NAME'] || 'aiko-guide',
  hostIp: process.env['E2E_BOX_HOST_IP'] || '10.213.0.5',
  ip: process.env['E2E_BOX_IP'] || '10.213.0.6',
}
const BOX_DIR = `/var/tmp/aiko-box-${BOX.name}`
// box.sh reads these: every box() call of this file is about this box.
Object.assign(process.env, { BOX_NAME: BOX.name, BOX_HOST_IP: BOX.hostIp, BOX_IP: BOX.ip, BOX_DIR })

const DOMAIN = 'aiko.test'
const APP = '/srv/ai-ko'
/** The test's own folder in the box: the operator's remote and the guide's curl configuration. */
const TEST_DIR = '/var/lib/aiko-guide-test'
const BLOCK_ENV = [
  // The stand-ins and Pebble: the toolkit keeps COMPOSE_FILE in its cron jobs.
  'COMPOSE_FILE=docker-compose.yml:test/e2e/compose.e2e.yml',
  // The guide's curl trusts Pebble's root and reaches the domain at the box's address (its DNS record).
  `CURL_HOME=${TEST_DIR}/curl`,
  // Plain output (no colours) for the checks.
  'CI=true',
]
const phases = new Phases('12-guide-in-box')
const log = (line: string) => process.stderr.write(`[12-guide-in-box] ${line}\n`)
const hostPath = (path: string) => join(BOX_DIR, path)

let tmp = ''
let created = false
const blockTimes: string[] = []

/** The images compose.e2e.yml runs and the fixture apps build on, and the SFTP stand-in. */
async function standInImages(): Promise<string[]> {
  const texts = await Promise.all(['test/e2e/compose.e2e.yml', 'test/e2e/fixtures/backend/Dockerfile', 'test/e2e/fixtures/frontend/Dockerfile'].map((file) => readFile(join(PROJECT_DIR, file), 'utf8')))
  const images = new Set(texts.flatMap((text) => text.match(/aiko-standin\/[a-z0-9-]+:test/g) ?? []))
  images.add('aiko-standin/sftp:test')
  return [...images].sort()
}

const result = (run: { code: number; stdout: string; stderr: string }): RunResult => ({ code: run.code, stdout: run.stdout, stderr: run.stderr })

/** Runs one block as root in the box (a root login's environment plus BLOCK_ENV), with bash -e; in a terminal when it prompts. */
async function runBlock(script: string, answers: readonly string[] | undefined): Promise<RunResult> {
  const cwd = existsSync(hostPath(APP)) ? APP : '/root'
  const argv = ['exec', 'env', ...BLOCK_ENV, 'bash', '-euo', 'pipefail', '-c', `cd "$0"\n${script}`, cwd]
  if (answers === undefined) return result(await box(argv, { timeoutMs: 900_000, echo: false }))
  return runCommand('python3', [join(PROJECT_DIR, 'test/e2e/helpers/answer-prompts.py'), '>', JSON.stringify(answers), '--', 'bash', BOX_SCRIPT, ...argv], { env: { ANSWER_PROMPTS_TIMEOUT: '180' }, timeoutMs: 600_000 })
}

const target: GuideTarget = {
  domain: DOMAIN,
  // compose's default: the clone's folder name
  project: 'ai-ko',
  app: APP,
  // --install-cron's own files, where cron reads them
  cronFiles: { initSsl: DEFAULT_CRON_FILE, backup: DEFAULT_BACKUP_CRON_FILE },
  sshDir: '/root/.ssh',
  curlHome: `${TEST_DIR}/curl`,
  get hostCurlHome() { return join(tmp, 'curl') },
  httpPort: 80,
  grafanaPort: 3001,
  sftp: { name: 'aiko-backup-host', port: 23 },
  reach: { http: `${BOX.ip}:80`, https: `${BOX.ip}:443` },
  insideHttps: `${BOX.ip}:443`,
  bare: hostPath(`${TEST_DIR}/ai-ko.git`),
  get upstream() { return join(tmp, 'upstream') },
  hostPath,
  runBlock,
  exec: async (argv, options) => result(await box(['exec', ...argv], { echo: false, input: options?.input, timeoutMs: 300_000 })),
  // As cron starts it: a bare environment plus the variables of the cron.d file (SHELL, PATH, COMPOSE_FILE...).
  runCronJob: async (job, cronFile) => {
    const variables = cronFile.split('\n').filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
    return result(await box(['exec', 'env', '-i', 'HOME=/root', 'LOGNAME=root', ...variables, '/bin/sh', '-c', job], { echo: false, timeoutMs: 300_000 }))
  },
  prepared: async (run) => {
    // bootstrap-vps.sh ran for real: Debian's packages, Docker's log limits, the time zone, the firewall.
    expect(run.stdout).toMatch(/^\[bootstrap\] installing from Debian's archive: .*\bdocker\.io\b/m)
    expect(run.stdout).toMatch(/^\[bootstrap\] ready in \d+ s/m)
    expect(await readFile(hostPath('/etc/docker/daemon.json'), 'utf8')).toContain('"max-size": "10m"')
    expect((await target.exec(['readlink', '/etc/localtime'])).stdout.trim()).toBe('/usr/share/zoneinfo/Europe/Paris')
    const ufw = (await target.exec(['ufw', 'status'])).stdout
    expect(ufw).toMatch(/^Status: active$/m)
    for (const port of ['22', '80', '443']) expect(ufw).toMatch(new RegExp(`^${port}/tcp +ALLOW`, 'm'))
    // Run again, the script has nothing left to do: every step says so, nothing is installed.
    const again = await phases.run('bootstrap-vps.sh again (idempotent)', () => target.exec(['bash', '-c', `cd ${APP} && bash scripts/bootstrap-vps.sh`]))
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0)
    expect(again.stdout).toMatch(/packages \(already done\)/)
    expect(again.stdout).not.toMatch(/installing from Debian's archive/)
    // What systemd does once docker.io is installed, and what `docker compose` would pull.
    await phases.run("start the box's dockerd (no systemd in the box)", () => boxOk(['start-docker'], { timeoutMs: 180_000, echo: false }))
    // What Debian 13 installed: Compose v2 as a docker plugin, Node.js 20 or later.
    expect((await target.exec(['docker', 'compose', 'version', '--short'])).stdout.trim()).toMatch(/^v?2\.\d+\.\d+/)
    expect(Number(/^v(\d+)\./.exec((await target.exec(['node', '--version'])).stdout.trim())?.[1] ?? 0)).toBeGreaterThanOrEqual(20)
    const images = await standInImages()
    await phases.run(`load ${images.length} stand-in images into the box`, () => boxOk(['load-images', ...images], { timeoutMs: 600_000, echo: false }))
  },
}

function overrides(): Override[] {
  return [
    { why: 'the repository is a bare copy of this working tree, inside the box', pattern: /https:\/\/git\.example\.invalid\/ai-ko\/ai-ko\.git/, replacement: `${TEST_DIR}/ai-ko.git` },
    { why: 'the test domain (.test never resolves outside this machine)', pattern: /<votre-domaine>/, replacement: DOMAIN },
    { why: 'the e-mail addresses the interactive run typed', pattern: /<email-technique>/, replacement: 'tech@mon-ecole.fr' },
    { why: 'the e-mail addresses the interactive run typed', pattern: /<email-admin>/, replacement: 'direction@mon-ecole.fr' },
    { why: "Pebble, in the stack, instead of Let's Encrypt", pattern: /npx zx scripts\/init-env\.mts(?! --check)/, replacement: 'npx zx scripts/init-env.mts --set ACME_DIRECTORY_URL=https://pebble:14000/dir' },
    { why: "the backup host is the SFTP stand-in on the box's loopback (port 23, as in the guide)", pattern: /<serveur-de-sauvegarde>/, replacement: '127.0.0.1' },
  ]
}

const memo: GuideMemo = {}
const steps = guideSteps(target, memo)
const probe = guideProbes(target)
const blocks = await guideBlocksOfRepo()

/** GET https://aiko.test/PATH from this machine, at the box's address, trusting Pebble's root. */
async function httpsFromHost(path: string): Promise<{ status: number; body: string; error: string }> {
  const run = await runCommand('curl', ['-sS', '--noproxy', '*', '--max-time', '5', '--connect-to', `${DOMAIN}:443:${BOX.ip}:443`, '--cacert', join(target.hostCurlHome, 'pebble-root.pem'), '-w', '\n%{http_code}', `https://${DOMAIN}${path}`], { timeoutMs: 10_000 })
  if (run.code !== 0) return { status: 0, body: '', error: run.stderr.trim() }
  const cut = run.stdout.lastIndexOf('\n')
  return { status: Number(run.stdout.slice(cut + 1)), body: run.stdout.slice(0, cut), error: '' }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('DEPLOYMENT_VPS_GUIDE.md on a fresh Debian 13 box, every block in order, then a reboot', () => {
  beforeAll(async () => {
    const missing = await boxPrerequisites()
    if (missing !== undefined) throw new Error(`12-guide-in-box cannot make its Debian 13 box: ${missing}`)
    tmp = await mkdtemp(join(tmpdir(), 'aiko-guide-box-'))
    const images = await standInImages()
    await phases.run('stand-in images on this machine', async () => {
      const absent: string[] = []
      for (const image of images) if ((await runCommand('docker', ['image', 'inspect', image])).code !== 0) absent.push(image.replace(/^aiko-standin\/|:test$/g, ''))
      if (absent.length === 0) return
      const build = await runCommand('bash', ['test/e2e/images/build.sh', ...absent], { timeoutMs: 15 * 60_000 })
      expect(build.code, `test/e2e/images/build.sh ${absent.join(' ')}:\n${build.stdout}\n${build.stderr}`).toBe(0)
    })
    await phases.run('destroy leftovers', () => boxOk(['destroy'], { timeoutMs: 180_000, echo: false }))
    await phases.run('create the box', () => boxOk(['create'], { timeoutMs: 15 * 60_000, echo: false }))
    created = true
    await mkdir(hostPath(TEST_DIR), { recursive: true })
    memo.published = await phases.run('publish the working tree in the box', () => publishWorkingTree({ index: join(tmp, 'index'), bare: target.bare, upstream: target.upstream }))
  }, 20 * 60_000)

  afterAll(async () => {
    try {
      if (process.env['E2E_KEEP_BOX'] === '1') {
        log(`E2E_KEEP_BOX=1: box kept at ${BOX_DIR} (${BOX.ip}); remove it with: BOX_NAME=${BOX.name} BOX_HOST_IP=${BOX.hostIp} BOX_IP=${BOX.ip} bash test/e2e/box/box.sh destroy`)
        return
      }
      if (created || existsSync(BOX_DIR)) {
        const destroyed = await phases.run('destroy the box', () => box(['destroy'], { timeoutMs: 300_000, echo: false }))
        if (destroyed.code !== 0) throw new Error(`box.sh destroy left something behind (exit ${destroyed.code}):\n${destroyed.stderr.slice(-3000)}`)
      }
    } finally {
      if (tmp !== '') await rm(tmp, { recursive: true, force: true })
      process.stderr.write(`[12-guide-in-box] blocks:\n${blockTimes.map((line) => `[12-guide-in-box]   ${line}`).join('\n')}\n[12-guide-in-box] timings:\n${phases.summary()}\n`)
    }
  }, 6 * 60_000)

  const guide = guideBlockTests({ blocks, target, steps, overrides, timeoutMs: 15 * 60_000, log: (line) => {
    blockTimes.push(line)
    log(line)
  } })

  it('after a reboot (its dockerd and containerd stopped, then started), serves the same release over HTTPS within 2 minutes, status.mts exits 0, and the cron jobs are still there', async (context) => {
    if (guide.failed() !== undefined || memo.release === undefined) context.skip('the guide did not run to its end')
    const release = await probe.currentRelease()
    const before = await httpsFromHost('/api/version')
    expect(before.status, before.error).toBe(200)
    expect(JSON.parse(before.body)).toMatchObject({ version: release })
    const cronFiles = (await readdir(hostPath('/etc/cron.d'))).filter((name) => name.startsWith('aiko-')).sort().map((name) => `/etc/cron.d/${name}`)
    expect(cronFiles).toEqual(expect.arrayContaining([DEFAULT_BACKUP_CRON_FILE, DEFAULT_CRON_FILE]))
    const cronBefore = await Promise.all(cronFiles.map((file) => readFile(hostPath(file), 'utf8')))
    for (const text of cronBefore) expect(text).toMatch(new RegExp(`^\\d+ [\\d,]+ \\* \\* [\\d*] root cd '${APP}' && npx zx scripts/`, 'm'))

    await phases.run('reboot: stop the box\'s dockerd and containerd', () => boxOk(['stop-docker'], { timeoutMs: 240_000, echo: false }))
    const down = await httpsFromHost('/api/version')
    expect(down.status, 'the site still answered with the box\'s Docker stopped').toBe(0)
    await phases.run('reboot: start the box\'s dockerd', () => boxOk(['start-docker'], { timeoutMs: 180_000, echo: false }))
    const booted = Date.now()
    const deadline = booted + 120_000

    let last = down
    await phases.run('reboot: the same release over HTTPS', async () => {
      while (Date.now() < deadline) {
        last = await httpsFromHost('/api/version')
        if (last.status === 200) break
        await sleep(2000)
      }
    })
    expect(last.status, `no answer within 2 minutes of the reboot: ${last.status} ${last.error} ${last.body.slice(0, 300)}`).toBe(200)
    expect(JSON.parse(last.body)).toMatchObject({ version: release })
    log(`the site served ${release} again ${((Date.now() - booted) / 1000).toFixed(1)} s after dockerd started`)

    let status: RunResult = { code: -1, stdout: '', stderr: '' }
    await phases.run('reboot: npx zx scripts/status.mts exits 0', async () => {
      while (Date.now() < deadline) {
        status = await runBlock('npx zx scripts/status.mts', undefined)
        if (status.code === 0) break
        await sleep(5000)
      }
    })
    expect(status.code, `status.mts did not exit 0 within 2 minutes of the reboot:\n${status.stdout}\n${status.stderr}`).toBe(0)
    expect(status.stdout).toContain(release)
    log(`status.mts exited 0 ${((Date.now() - booted) / 1000).toFixed(1)} s after dockerd started`)

    const cronAfter = await Promise.all(cronFiles.map((file) => readFile(hostPath(file), 'utf8')))
    expect(cronAfter).toEqual(cronBefore)
  }, 10 * 60_000)
})
