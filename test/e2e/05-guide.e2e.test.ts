import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { PROJECT_DIR } from '../../lib/stack/context.ts'
import { removeComposeProject, removeReleaseImages } from './helpers/cleanup.ts'
import { type Override } from './helpers/guide.ts'
import { guideBlocksOfRepo, guideBlockTests, guideSteps, publishWorkingTree, type GuideMemo, type GuideTarget } from './helpers/guide-steps.ts'
import { runCommand, type RunResult } from './helpers/run.ts'
import { portFromEnv } from './helpers/stack.ts'

/**
 * DEPLOYMENT_VPS_GUIDE.md, run as an operator runs it: every fenced block in order, in one
 * fresh clone, on its own compose project. The test changes only what cannot be the same
 * here (the `overrides` below and the environment of `blockEnv`), and checks after each
 * block what the guide promises (helpers/guide-steps.ts, shared with 12-guide-in-box, which
 * follows the same guide on a fresh Debian 13 box). A block with no step, or a step with no
 * block, fails.
 */
/** E2E_GUIDE_PROJECT and E2E_GUIDE_*_PORT run a second guide beside another one (e.g. another compose flavour's). */
const GUIDE = {
  project: process.env['E2E_GUIDE_PROJECT'] || 'aiko-guide',
  domain: 'aiko.test',
  httpPort: portFromEnv('E2E_GUIDE_HTTP_PORT', 28080),
  httpsPort: portFromEnv('E2E_GUIDE_HTTPS_PORT', 28443),
  grafanaPort: portFromEnv('E2E_GUIDE_GRAFANA_PORT', 23001),
} as const

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
    { why: 'git comes with this machine: the package install runs for real in 12-guide-in-box', pattern: /apt-get update && apt-get install -y git/, replacement: 'command -v git' },
    { why: 'bootstrap-vps.sh is for Debian 13 and changes the server: it runs for real in the fresh Debian 13 box (12-guide-in-box); here its help is shown', pattern: /bash scripts\/bootstrap-vps\.sh$/m, replacement: 'bash scripts/bootstrap-vps.sh --help' },
    { why: 'the VPS folder is a temporary folder', pattern: /\/srv\/ai-ko/, replacement: paths.app },
    { why: 'the test domain (.test never resolves outside this machine)', pattern: /<votre-domaine>/, replacement: GUIDE.domain },
    { why: 'the e-mail addresses the interactive run typed', pattern: /<email-technique>/, replacement: 'tech@mon-ecole.fr' },
    { why: 'the e-mail addresses the interactive run typed', pattern: /<email-admin>/, replacement: 'direction@mon-ecole.fr' },
    { why: 'loopback-only high ports and Pebble instead of Let\'s Encrypt', pattern: /npx zx scripts\/init-env\.mts(?! --check)/, replacement: `npx zx scripts/init-env.mts ${sets.map((set) => `--set ${set}`).join(' ')}` },
    { why: 'restic is installed by .ci/setup-docker.sh: the test checks it is there', pattern: /apt-get install -y restic/, replacement: 'command -v restic' },
    { why: "the backup key and known hosts in a temporary folder, not root's", pattern: /\/root\/\.ssh\//, replacement: `${paths.ssh}/` },
    { why: 'the backup host is the SFTP stand-in on loopback', pattern: /<serveur-de-sauvegarde>/, replacement: '127.0.0.1' },
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

/** Only ufw is a stand-in: `docker compose` is the real compose v2 plugin (.ci/setup-docker.sh installs it). */
async function writeShims(): Promise<void> {
  await mkdir(paths.bin, { recursive: true })
  // The firewall of this machine is not the test's to change: ufw records what it was asked.
  await writeFile(join(paths.bin, 'ufw'), `#!/bin/sh\necho "$*" >> '${paths.ufwCalls}'\n`)
  await chmod(join(paths.bin, 'ufw'), 0o755)
}

// --- where the guide runs: this machine, in a temporary folder --------------------------

const target: GuideTarget = {
  domain: GUIDE.domain,
  project: GUIDE.project,
  get app() { return paths.app },
  get cronFiles() { return { initSsl: join(paths.cron, 'aiko-init-ssl'), backup: join(paths.cron, 'aiko-backup') } },
  get sshDir() { return paths.ssh },
  get curlHome() { return paths.curlHome },
  get hostCurlHome() { return paths.curlHome },
  httpPort: GUIDE.httpPort,
  grafanaPort: GUIDE.grafanaPort,
  sftp: SFTP,
  reach: { http: `127.0.0.1:${GUIDE.httpPort}`, https: `127.0.0.1:${GUIDE.httpsPort}` },
  insideHttps: `127.0.0.1:${GUIDE.httpsPort}`,
  get bare() { return paths.bare },
  get upstream() { return paths.upstream },
  hostPath: (path) => path,
  runBlock,
  exec: ([file = 'false', ...args], options) => runCommand(file, args, { input: options?.input }),
  // The job itself, as cron would start it (with the toolkit variables cron.d passes on).
  runCronJob: (job) => runCommand('sh', ['-c', job], { env: blockEnv(), inheritEnv: false }),
  // bootstrap-vps.sh --help here (see the overrides): it names its options.
  prepared: async (result) => {
    expect(result.stdout).toContain('--timezone Europe/Paris')
  },
}

const memo: GuideMemo = {}
const steps = guideSteps(target, memo)

// --- the run ----------------------------------------------------------------------------

const blocks = await guideBlocksOfRepo()

describe('DEPLOYMENT_VPS_GUIDE.md, every command block in order', () => {
  beforeAll(async () => {
    await removeComposeProject(GUIDE.project)
    tmp = await mkdtemp(join(tmpdir(), 'aiko-guide-'))
    await writeShims()
    await mkdir(paths.cron)
    memo.published = await publishWorkingTree({ index: join(tmp, 'index'), bare: paths.bare, upstream: paths.upstream })
  })

  afterAll(async () => {
    if (process.env['E2E_KEEP'] === '1') return
    await runCommand('docker', ['rm', '-f', '-v', SFTP.name])
    await removeComposeProject(GUIDE.project)
    if (tmp === '') return
    await removeReleaseImages(join(paths.app, 'var'))
    await rm(tmp, { recursive: true, force: true })
  })

  guideBlockTests({ blocks, target, steps, overrides })
})
