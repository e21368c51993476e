import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readBackupState } from '../../lib/backup/state.ts'
import { readEnvFile } from '../../lib/env/load.ts'
import { setEnvVariable } from '../../lib/env/update.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { removeComposeProject, removeReleaseImages } from './helpers/cleanup.ts'
import { publishedBase, runAndSignalAtStep } from './helpers/crash.ts'
import { runMixedLoad } from './helpers/load.ts'
import { runCommand, runScript, type RunResult } from './helpers/run.ts'
import { E2E, e2eContext, execIn } from './helpers/stack.ts'

/**
 * Backups of everything, off the server (issue 14): a restic repository on a real OpenSSH
 * server (the sftp stand-in, published on 127.0.0.1 only), backup sets with the dump, the
 * uploads volume and the .env; `--verify` restores the newest set into a throwaway PostgreSQL;
 * a corrupted pack is caught by `--verify`; and the disaster recovery: a brand-new compose
 * project (its own .env taken from the set, empty volumes) gets the rows and the uploaded files
 * back byte-identical. The restic password never shows in output, logs or `ps`.
 */
const SFTP_PORT = E2E.httpPort + 22
const sftpName = `${E2E.project}-sftp`
const offsiteDir = join(E2E.workDir, 'offsite')
const keyFile = join(offsiteDir, 'id_ed25519')
const knownHosts = join(offsiteDir, 'known_hosts')
const sftpCommand = `ssh -i ${keyFile} -p ${SFTP_PORT} -o UserKnownHostsFile=${knownHosts} -o BatchMode=yes restic@127.0.0.1 -s sftp`
const repository = 'sftp:restic@127.0.0.1:/srv/restic/aiko'

// The new server of the disaster recovery: its own project, ports, .env and var folder.
const DR = {
  project: `${E2E.project}-dr`,
  workDir: join(E2E.workDir, 'dr'),
  httpPort: E2E.httpPort + 100,
  httpsPort: E2E.httpsPort + 100,
  get envFile() {
    return join(this.workDir, '.env')
  },
  get varDir() {
    return join(this.workDir, 'var')
  },
}
const drEnvironment = { COMPOSE_PROJECT_NAME: DR.project, AIKO_VAR_DIR: DR.varDir }

let ctx: StackContext
let password = ''
const backup = (extra: string[] = [], env: Record<string, string> = {}): Promise<RunResult> =>
  runScript('backup', ['--env-path', E2E.envFile, '--yes', ...extra], { env, timeoutMs: 600_000 })
const docker = (args: string[]) => runCommand('docker', args, { timeoutMs: 120_000 })

/** The running container of a service of a project (compose calls would follow COMPOSE_PROJECT_NAME of this process). */
async function serviceContainer(project: string, service: string): Promise<string> {
  return (await docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`, '--filter', `label=com.docker.compose.service=${service}`, '--filter', 'status=running'])).stdout.trim().split('\n')[0] ?? ''
}

/** One SQL string in the postgres container of a project (unaligned, tuples only), trimmed. */
async function psqlOf(project: string, sql: string): Promise<string> {
  const result = await docker(['exec', await serviceContainer(project, 'postgres'), 'sh', '-c', 'psql -X -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "$1"', 'psql', sql])
  expect(result.code, result.stderr).toBe(0)
  return result.stdout.trim()
}

/** Every uploaded file of a backend container as "sha256  ./path" lines, sorted, and their owner. */
async function uploadsOf(project: string): Promise<{ sums: string; owners: string }> {
  const id = await serviceContainer(project, 'backend')
  const sums = await docker(['exec', id, 'sh', '-c', 'cd /app/uploads && find . -type f -print0 | sort -z | xargs -0 sha256sum'])
  const owners = await docker(['exec', id, 'sh', '-c', 'cd /app/uploads && find . -type f -printf "%u\\n" | sort -u'])
  return { sums: sums.stdout, owners: owners.stdout.trim() }
}

/** Samples every process's command line while `until` runs: the password must be in none of them. */
async function commandLinesDuring(until: Promise<unknown>): Promise<{ samples: number; leaks: number }> {
  let done = false
  void until.finally(() => (done = true))
  let samples = 0
  let leaks = 0
  for (let i = 0; i < 2000 && !done; i++) {
    for (const pid of await readdir('/proc').catch(() => [])) {
      if (!/^\d+$/.test(pid)) continue
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
      if (cmdline.includes('restic')) samples++
      if (password !== '' && cmdline.includes(password)) leaks++
    }
    await sleep(50)
  }
  return { samples, leaks }
}

const USERS_DIGEST = "SELECT md5(string_agg(u::text, ',' ORDER BY u::text)) FROM users u"

const expectNoSecret = (result: RunResult) => {
  expect(result.stdout + result.stderr).not.toContain(password)
}

beforeAll(async () => {
  ctx = await e2eContext()
  await docker(['rm', '-f', sftpName])
  await rm(offsiteDir, { recursive: true, force: true })
  await mkdir(offsiteDir, { recursive: true, mode: 0o700 })
  expect((await runCommand('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile])).code).toBe(0)
  const publicKey = (await readFile(`${keyFile}.pub`, 'utf8')).trim()
  const started = await docker(['run', '-d', '--name', sftpName, '--label', `com.docker.compose.project=${E2E.project}`, '-p', `127.0.0.1:${SFTP_PORT}:22`, '-e', `AUTHORIZED_KEY=${publicKey}`, 'aiko-standin/sftp:test'])
  expect(started.code, started.stderr).toBe(0)
  // The host key of this server, pinned as an operator would after checking its fingerprint.
  for (let i = 0; i < 50; i++) {
    const scan = await runCommand('ssh-keyscan', ['-p', String(SFTP_PORT), '127.0.0.1'])
    if (scan.code === 0 && scan.stdout.includes('ssh-ed25519')) {
      await writeFile(knownHosts, scan.stdout, { mode: 0o600 })
      break
    }
    await sleep(200)
  }
  // Some files users uploaded: binary, nested, with a name that needs care.
  await execIn(ctx, 'backend', ['sh', '-c', 'mkdir -p "/app/uploads/cours/été 2026" && head -c 300000 /dev/urandom > "/app/uploads/cours/été 2026/support.pdf" && printf "bonjour\\n" > /app/uploads/notes.txt && head -c 70000 /dev/urandom > /app/uploads/cours/photo.jpg'])
  const set = await runScript('init-env', ['--env-path', E2E.envFile, '--yes', '--set', `RESTIC_REPOSITORY=${repository}`, '--set', `RESTIC_SFTP_COMMAND=${sftpCommand}`])
  expect(set.code, set.stderr).toBe(0)
  password = (await readEnvFile(E2E.envFile))?.values['RESTIC_PASSWORD'] ?? ''
  expect(password.length).toBeGreaterThanOrEqual(32)
}, 300_000)

afterAll(async () => {
  if (process.env['E2E_KEEP'] === '1') return
  // The shared stack's .env goes back to no off-site copy: its SFTP server is removed below,
  // and a later file's backups would fail on a repository that no longer answers.
  for (const name of ['RESTIC_REPOSITORY', 'RESTIC_SFTP_COMMAND']) await setEnvVariable(E2E.envFile, name, '')
  await docker(['rm', '-f', '-v', sftpName])
  await removeComposeProject(DR.project)
  await removeReleaseImages(DR.varDir).catch(() => undefined)
  await rm(DR.workDir, { recursive: true, force: true })
})

describe('off-site backups with restic over SFTP', () => {
  it('a backup before the repository exists keeps its local dump and names --init-offsite; --init-offsite is idempotent', async () => {
    const before = await backup()
    expect(before.code, before.stdout + before.stderr).toBe(4)
    expect(before.stdout + before.stderr).toMatch(/there is no restic repository at sftp:restic@127\.0\.0\.1:\/srv\/restic\/aiko \(RESTIC_REPOSITORY\)/)
    expect(before.stdout + before.stderr).toContain('--init-offsite')
    expect(before.stdout).toMatch(/wrote .*scheduled-\d{8}-\d{6}\.dump/)
    const created = await backup(['--init-offsite'])
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toContain('created the repository')
    const again = await backup(['--init-offsite'])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('already exists: nothing to do')
    for (const result of [before, created, again]) expectNoSecret(result)
  })

  it('a backup copies the set off the server; the password is in no output, log or command line', async () => {
    const run = backup()
    const seen = await commandLinesDuring(run)
    const result = await run
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toMatch(/copied the set off the server: snapshot [0-9a-f]{8} \(database, \.env, 3 uploaded files\)/)
    expect(result.stdout).toMatch(/keep 7 daily, 4 weekly, 6 monthly copies/)
    expect(seen.samples, 'restic processes were seen running').toBeGreaterThan(0)
    expect(seen.leaks).toBe(0)
    expectNoSecret(result)
    for (const name of await readdir(join(E2E.varDir, 'logs'))) expect(await readFile(join(E2E.varDir, 'logs', name), 'utf8')).not.toContain(password)
    const state = await readBackupState(E2E.varDir)
    expect(state.offsite?.repository).toBe(repository)
    // The staged copy (with the .env inside) does not stay on the server.
    await expect(readdir(join(E2E.varDir, 'offsite-set'))).rejects.toThrow(/ENOENT/)
    const snapshots = await runCommand('restic', ['--option', `sftp.command=${sftpCommand}`, 'snapshots', '--json'], { env: { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: password } })
    expect(snapshots.code, snapshots.stderr).toBe(0)
    const listed = JSON.parse(snapshots.stdout) as { hostname: string; tags: string[] }[]
    expect(listed.map((item) => `${item.hostname} ${item.tags.join(',')}`)).toEqual([`${E2E.domain} aiko`])
  })

  it('--verify restores the newest set into a throwaway PostgreSQL and checks it; status shows both', async () => {
    const result = await backup(['--verify'])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toMatch(/verified off-site set [0-9a-f]{8} of .*: it restores into a working database \(migration head \w+, \d+ tables, \d+ rows, admin present\)/)
    expect(result.stdout).toMatch(/uploads: 3 files \(.*\), every checksum matches/)
    expectNoSecret(result)
    const leftovers = await docker(['ps', '-aq', '--filter', 'label=io.aiko.scratch=verify'])
    expect(leftovers.stdout.trim()).toBe('')
    const status = await runScript('status', ['--env-path', E2E.envFile, '--json'])
    const report = JSON.parse(status.stdout) as { offsite: { configured: boolean; last: { snapshot: string } | null }; verify: { ok: boolean } | null; problems: { check: string }[] }
    expect(report.offsite.configured).toBe(true)
    expect(report.offsite.last?.snapshot).toMatch(/^[0-9a-f]{8}/)
    expect(report.verify?.ok).toBe(true)
    expect(report.problems.filter((problem) => problem.check === 'offsite' || problem.check === 'verify')).toEqual([])
  })

  // SIGKILL (the OOM killer, a power cut) at each step of the off-site copy and of --verify,
  // under load: the site keeps serving, and the next plain run of the same command succeeds and
  // leaves nothing behind (staged or restored copies of the .env, a throwaway PostgreSQL, a
  // restic lock that would refuse every later prune and check).
  const killPoints = [
    { args: [], step: 'stage the backup set' },
    { args: [], step: 'copy the set off the server' },
    { args: [], step: 'keep 7 daily' },
    { args: ['--verify'], step: 'check the structure of the off-site repository' },
    { args: ['--verify'], step: 'restore set ' },
    { args: ['--verify'], step: 'start a throwaway PostgreSQL' },
    { args: ['--verify'], step: 'check the restored database' },
  ] as const
  for (const point of killPoints) {
    it(`backup ${point.args.join(' ')} killed at "${point.step.trim()}": the site keeps serving, the next plain run succeeds and leaves nothing behind`, async () => {
      const args = ['--env-path', E2E.envFile, '--yes', ...point.args]
      const work = (async () => {
        const killed = await runAndSignalAtStep('backup', args, { step: point.step, signal: 'SIGKILL', timeoutMs: 300_000 })
        return { killed, rerun: killed.signalled ? await backup([...point.args]) : undefined }
      })()
      const load = await runMixedLoad(await publishedBase(), work, { maxMs: 600_000 })
      const { killed, rerun } = await work
      expect(killed.signalled, `never printed "step  ${point.step}": ${killed.stdout.slice(-5).join(' | ')} ${killed.stderr.slice(-5).join(' | ')}`).toBe(true)
      expect(rerun?.code, `${rerun?.stdout ?? ''}${rerun?.stderr ?? ''}`).toBe(0)
      expect(rerun?.stdout).toMatch(point.args.length === 0 ? /copied the set off the server: snapshot [0-9a-f]{8}/ : /verified off-site set [0-9a-f]{8}/)
      if (rerun !== undefined) expectNoSecret(rerun)
      expect(load.api.sent + load.web.sent).toBeGreaterThan(20)
      expect(load.api.failedAfterRetry + load.web.failedAfterRetry, JSON.stringify({ api: load.api.statuses, web: load.web.statuses })).toBe(0)
      await expect(readdir(join(E2E.varDir, 'offsite-set'))).rejects.toThrow(/ENOENT/)
      await expect(readdir(join(E2E.varDir, 'offsite-restore'))).rejects.toThrow(/ENOENT/)
      expect((await docker(['ps', '-aq', '--filter', 'label=io.aiko.scratch=verify'])).stdout.trim()).toBe('')
      const locks = await runCommand('restic', ['--option', `sftp.command=${sftpCommand}`, 'list', 'locks', '--no-lock'], { env: { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: password } })
      expect(locks.code, locks.stderr).toBe(0)
      expect(locks.stdout.trim()).toBe('')
    }, 900_000)
  }

  it('disaster recovery: a brand-new project gets the .env, then the rows and the uploaded files back, byte-identical', async () => {
    const marker = `dr-${Date.now()}`
    await psqlOf(E2E.project, `CREATE TABLE IF NOT EXISTS dr_marker (note text); INSERT INTO dr_marker VALUES ('${marker}')`)
    const taken = await backup()
    expect(taken.code, taken.stderr).toBe(0)
    const origin = { users: await psqlOf(E2E.project, USERS_DIGEST), marker: await psqlOf(E2E.project, 'SELECT note FROM dr_marker'), uploads: await uploadsOf(E2E.project) }
    expect(origin.marker).toBe(marker)

    await rm(DR.workDir, { recursive: true, force: true })
    await mkdir(DR.workDir, { recursive: true })
    const restic = { RESTIC_REPOSITORY: repository, RESTIC_PASSWORD: password, RESTIC_SFTP_COMMAND: sftpCommand }
    const drBackup = (extra: string[], env: Record<string, string> = {}) => runScript('backup', ['--env-path', DR.envFile, '--yes', ...extra], { env: { ...drEnvironment, ...env }, timeoutMs: 600_000 })

    const missing = await drBackup(['--restore-from-offsite', 'latest'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('RESTIC_REPOSITORY and RESTIC_PASSWORD are not set')

    const first = await drBackup(['--restore-from-offsite', 'latest'], restic)
    expect(first.code, first.stdout + first.stderr).toBe(0)
    expect(first.stdout).toContain('then run this same command again')
    expectNoSecret(first)
    const envText = await readFile(DR.envFile, 'utf8')
    expect(envText).toBe(await readFile(E2E.envFile, 'utf8'))
    // What the operator adapts on the new server: its ports here, and http until init-ssl.
    const adapted = envText
      .replace(/^HTTP_PORT=.*$/m, `HTTP_PORT=${DR.httpPort}`)
      .replace(/^HTTPS_PORT=.*$/m, `HTTPS_PORT=${DR.httpsPort}`)
      .replace(/^NGINX_MODE=.*$/m, 'NGINX_MODE=http')
    await writeFile(DR.envFile, adapted)
    await chmod(DR.envFile, 0o600)

    const deployed = await runScript('deploy', ['--env-path', DR.envFile, '--yes', '--health-timeout', '120'], { env: drEnvironment, timeoutMs: 900_000 })
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0)
    expect(await psqlOf(DR.project, "SELECT to_regclass('public.dr_marker') IS NULL")).toBe('t')

    const second = await drBackup(['--restore-from-offsite', 'latest'])
    expect(second.code, second.stdout + second.stderr).toBe(0)
    expect(second.stdout).toMatch(/restored set [0-9a-f]{8} \(database and uploads\): release \S+ serves again/)
    expectNoSecret(second)
    expect(await psqlOf(DR.project, 'SELECT note FROM dr_marker')).toBe(origin.marker)
    expect(await psqlOf(DR.project, USERS_DIGEST)).toBe(origin.users)
    const restored = await uploadsOf(DR.project)
    expect(restored.sums).toBe(origin.uploads.sums)
    expect(restored.sums.split('\n').filter(Boolean)).toHaveLength(3)
    // The files belong to the app's user, so it can write next to them.
    expect(restored.owners).toBe(origin.uploads.owners)
  }, 1_200_000)

  it('a corrupted pack in the repository makes --verify fail, and status says so', async () => {
    // Flip bytes in the middle of the largest data pack (the uploads and the dump live there).
    const pack = (await docker(['exec', sftpName, 'sh', '-c', 'ls -S /srv/restic/aiko/data/*/* | head -1'])).stdout.trim()
    expect(pack).toMatch(/\/srv\/restic\/aiko\/data\//)
    const corrupt = await docker(['exec', sftpName, 'sh', '-c', `size=$(stat -c %s "${pack}"); printf 'CORRUPTEDCORRUPTED' | dd of="${pack}" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null`])
    expect(corrupt.code, corrupt.stderr).toBe(0)
    const result = await backup(['--verify'])
    expect(result.code, result.stdout + result.stderr).not.toBe(0)
    expect(result.stdout + result.stderr).toMatch(/restore|damaged|ciphertext|check/i)
    expectNoSecret(result)
    const state = await readBackupState(E2E.varDir)
    expect(state.verify?.ok).toBe(false)
    const status = await runScript('status', ['--env-path', E2E.envFile, '--json'])
    const report = JSON.parse(status.stdout) as { problems: { check: string; message: string }[] }
    expect(report.problems.find((problem) => problem.check === 'verify')?.message).toMatch(/the last restore test failed/)
    const leftovers = await docker(['ps', '-aq', '--filter', 'label=io.aiko.scratch=verify'])
    expect(leftovers.stdout.trim()).toBe('')
  })
})
