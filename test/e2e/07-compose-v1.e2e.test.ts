import { beforeAll, describe, expect, it } from 'vitest'
import { readCurrentRelease, readReleaseLog } from '../../lib/release/log.ts'
import type { StackContext } from '../../lib/stack/context.ts'
import { runScript } from './helpers/run.ts'
import { servedVersion } from './helpers/deploy.ts'
import { E2E, e2eContext } from './helpers/stack.ts'

/**
 * docker-compose 1.29 (Debian 12's package) stays supported: the rest of the suite runs
 * `docker compose` v2, this file deploys and rolls back the shared stack with
 * AIKO_COMPOSE=v1, as an operator without the plugin would. It runs last, on whatever the
 * earlier files left (a stack started and deployed by v2).
 */
const V1 = { AIKO_COMPOSE: 'v1' }
const envArgs = ['--env-path', E2E.envFile, '--yes', '--health-timeout', '90']

let ctx: StackContext

beforeAll(async () => {
  ctx = await e2eContext()
})

describe('docker-compose 1.29 (AIKO_COMPOSE=v1)', () => {
  let deployed = ''

  it('deploys a new release with docker-compose 1.29: exit 0, the new release served', async () => {
    const before = await readCurrentRelease(E2E.varDir)
    const result = await runScript('deploy', envArgs, { env: V1, timeoutMs: 900_000 })
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
    // The pre-check names the compose the deploy ran: 1.29, not the v2 plugin.
    expect(result.stdout).toMatch(/ok {3}docker compose: docker-compose 1\.29\.\d+/)
    deployed = (await readCurrentRelease(E2E.varDir)) ?? ''
    expect(deployed).toMatch(/^\d{8}-\d{6}-[0-9a-f]{7}$/)
    expect(deployed).not.toBe(before)
    expect((await servedVersion(ctx)).version).toBe(deployed)
  })

  it('rolls back with docker-compose 1.29: exit 0, the previous release served', async () => {
    const previous = (await readReleaseLog(E2E.varDir)).filter((entry) => entry.result === 'ok' && entry.id !== deployed).at(-1)?.id
    expect(previous).toBeDefined()
    const result = await runScript('rollback', envArgs, { env: V1, timeoutMs: 900_000 })
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
    expect(await readCurrentRelease(E2E.varDir)).toBe(previous)
    expect((await servedVersion(ctx)).version).toBe(previous)
  })

  it('refuses an AIKO_COMPOSE it does not know (exit 2), naming the variable', async () => {
    const result = await runScript('status', ['--env-path', E2E.envFile], { env: { AIKO_COMPOSE: 'v3' } })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('AIKO_COMPOSE=v3 is not a Docker Compose flavour')
  })
})
