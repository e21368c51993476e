import { existsSync } from 'node:fs'
import { copyFile, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PROJECT_DIR } from '../../lib/stack/context.ts'
import { box, boxExec, boxInfo, boxOk, boxPrerequisites, Phases } from './box/box.ts'
import { runCommand } from './helpers/run.ts'

/**
 * A fresh Debian 13 (trixie) server in a box on this machine (test/e2e/box/box.sh: a
 * debootstrap chroot with its own network namespace, address and dockerd), made ready by
 * scripts/bootstrap-vps.sh as an operator would on a new VPS: Docker 26 and Compose v2 from
 * Debian's archive, Node.js >= 20, an image served from the box to the host, and still served
 * after a "reboot" of the box's Docker. The box is destroyed afterwards, also on a failure
 * (E2E_KEEP_BOX=1 keeps it to look around: bash test/e2e/box/box.sh exec bash).
 *
 * This file does not use the suite's shared stack: it only needs the host's Docker for the
 * stand-in image it loads into the box.
 */
const IMAGE = 'aiko-standin/nginx:test'
const MARKER = 'AI-KO e2e stand-in for the official nginx image'
const phases = new Phases('11-fresh-debian')
let boxIp = ''
let boxDir = ''
let created = false

/** GET http://BOX_IP/ from the host with curl (never through a proxy): the HTTP code and the body. */
async function fetchPage(): Promise<{ status: number; body: string }> {
  const result = await runCommand('curl', ['-sS', '--noproxy', '*', '--max-time', '5', '-o', '-', '-w', '\n%{http_code}', `http://${boxIp}/`], { timeoutMs: 10_000 })
  if (result.code !== 0) return { status: 0, body: result.stderr.trim() }
  const cut = result.stdout.lastIndexOf('\n')
  return { status: Number(result.stdout.slice(cut + 1)), body: result.stdout.slice(0, cut) }
}

/** Polls the box's page until it answers 200 with the stand-in's text; bounded. */
async function waitForPage(timeoutMs: number): Promise<number> {
  const started = Date.now()
  let last = { status: 0, body: '' }
  while (Date.now() - started < timeoutMs) {
    last = await fetchPage()
    if (last.status === 200 && last.body.includes(MARKER)) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  throw new Error(`http://${boxIp}/ did not serve the stand-in page within ${timeoutMs / 1000} s; last answer: ${last.status} ${last.body.slice(0, 300)}`)
}

beforeAll(async () => {
  const missing = await boxPrerequisites()
  if (missing !== undefined) throw new Error(`11-fresh-debian cannot make its Debian 13 box: ${missing}`)
  // a box left by an interrupted run goes first (destroy is idempotent)
  await phases.run('destroy leftovers', () => boxOk(['destroy'], { timeoutMs: 180_000 }))
  await phases.run('create the box (debootstrap cached, mounts, netns, NAT)', () => boxOk(['create'], { timeoutMs: 15 * 60_000 }))
  created = true
  ;({ ip: boxIp, dir: boxDir } = await boxInfo())
}, 20 * 60_000)

afterAll(async () => {
  try {
    if (process.env['E2E_KEEP_BOX'] === '1') {
      process.stderr.write(`[11-fresh-debian] E2E_KEEP_BOX=1: box kept at ${boxDir} (${boxIp}); remove it with: bash test/e2e/box/box.sh destroy\n`)
      return
    }
    const result = await phases.run('destroy the box', () => box(['destroy'], { timeoutMs: 300_000 }))
    if (result.code !== 0) throw new Error(`box.sh destroy left something behind (exit ${result.code}):\n${result.stderr.slice(-3000)}`)
  } finally {
    process.stderr.write(`[11-fresh-debian] timings:\n${phases.summary()}\n`)
  }
}, 6 * 60_000)

describe('a fresh Debian 13 server (a box on this machine)', () => {
  it('is made ready by scripts/bootstrap-vps.sh (exit 0), and a second run has nothing left to do', async () => {
    expect(created, 'the box was not created (see beforeAll)').toBe(true)
    const script = join(PROJECT_DIR, 'scripts', 'bootstrap-vps.sh')
    expect(existsSync(script), `${script} is missing`).toBe(true)
    // the operator's checkout on the server: only the script is needed for this step
    await mkdir(join(boxDir, 'root', 'aiko', 'scripts'), { recursive: true })
    await copyFile(script, join(boxDir, 'root', 'aiko', 'scripts', 'bootstrap-vps.sh'))
    const first = await phases.run('bootstrap-vps.sh (apt-get install from Debian\'s archive)', () =>
      box(['exec', 'cd /root/aiko && bash scripts/bootstrap-vps.sh'], { timeoutMs: 15 * 60_000 }))
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0)
    const second = await phases.run('bootstrap-vps.sh again (idempotent)', () =>
      box(['exec', 'cd /root/aiko && bash scripts/bootstrap-vps.sh'], { timeoutMs: 5 * 60_000 }))
    expect(second.code, `${second.stdout}\n${second.stderr}`).toBe(0)
    expect(second.stdout).toMatch(/packages \(already done\)/)
    expect(second.stdout).not.toMatch(/installing from Debian's archive/)
  }, 25 * 60_000)

  it('starts its dockerd: Docker answers, `docker compose version` is v2, Node.js is 20 or later', async () => {
    await phases.run('start the box\'s dockerd', () => boxOk(['start-docker'], { timeoutMs: 180_000 }))
    const server = await boxExec("docker version --format '{{.Server.Version}}'")
    const compose = await boxExec('docker compose version --short')
    const node = await boxExec('node --version')
    process.stderr.write(`[11-fresh-debian] in the box: Docker ${server}, Compose ${compose}, Node.js ${node}\n`)
    expect(server).toMatch(/^\d+\.\d+\.\d+/)
    expect(compose).toMatch(/^v?2\.\d+\.\d+/)
    expect(Number(/^v(\d+)\./.exec(node)?.[1] ?? 0)).toBeGreaterThanOrEqual(20)
  }, 5 * 60_000)

  it('runs the stand-in nginx loaded from the host, published on port 80 and served to the host', async () => {
    await phases.run(`host image ${IMAGE}`, async () => {
      const inspect = await runCommand('docker', ['image', 'inspect', IMAGE], { timeoutMs: 30_000 })
      if (inspect.code === 0) return
      const build = await runCommand('bash', ['test/e2e/images/build.sh', 'nginx'], { timeoutMs: 15 * 60_000 })
      expect(build.code, `test/e2e/images/build.sh nginx:\n${build.stdout}\n${build.stderr}`).toBe(0)
    })
    await phases.run('load the image into the box', () => boxOk(['load-images', IMAGE], { timeoutMs: 300_000 }))
    await phases.run('docker run in the box', () =>
      boxExec(`docker run -d --name web --restart unless-stopped -p 80:80 ${IMAGE}`, { timeoutMs: 120_000 }))
    const waited = await phases.run(`GET http://${boxIp}/ from the host`, () => waitForPage(60_000))
    expect(waited).toBeLessThan(60_000)
    // bootstrap-vps.sh's /etc/docker/daemon.json is what the box's dockerd runs with
    const logConfig = await boxExec("docker inspect --format '{{json .HostConfig.LogConfig}}' web")
    expect(logConfig).toContain('"max-size":"10m"')
    // `docker exec` runs in the container: not on the box's files (/etc/aiko-box-ip), nor the host's
    const seen = await boxExec(`docker exec web sh -c 'for f in /docker-entrypoint.sh /etc/aiko-box-ip ${PROJECT_DIR}; do [ -e "$f" ] && echo "$f"; done; true'`)
    expect(seen.split('\n')).toEqual(['/docker-entrypoint.sh'])
  }, 20 * 60_000)

  it('runs a compose v2 project on a user network whose service names resolve', async () => {
    await mkdir(join(boxDir, 'root', 'smoke'), { recursive: true })
    await writeFile(join(boxDir, 'root', 'smoke', 'compose.yml'), `services:\n  site:\n    image: ${IMAGE}\n`)
    const page = await phases.run('docker compose up, a request by service name, down', () =>
      boxExec('cd /root/smoke && docker compose up -d --wait >&2 && docker compose exec -T site wget -q -O - http://site/; rc=$?; docker compose down >&2; exit $rc', { timeoutMs: 180_000 }))
    expect(page).toContain(MARKER)
  }, 5 * 60_000)

  it('serves the same page again within 2 minutes after a reboot of its Docker (--restart unless-stopped)', async () => {
    await phases.run('stop the box\'s dockerd and containerd', () => boxOk(['stop-docker'], { timeoutMs: 240_000 }))
    const down = await fetchPage()
    expect(down.status, 'the page still answered with the box\'s dockerd stopped').toBe(0)
    await phases.run('start the box\'s dockerd again', () => boxOk(['start-docker'], { timeoutMs: 180_000 }))
    const waited = await phases.run(`GET http://${boxIp}/ after the reboot`, () => waitForPage(120_000))
    expect(waited).toBeLessThan(120_000)
    expect(await boxExec("docker ps --filter name=^web$ --format '{{.Status}}'")).toMatch(/^Up /)
  }, 10 * 60_000)
})
