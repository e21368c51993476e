import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { recorded } from '../../lib/release/record.ts'
import type { StackContext } from '../../lib/stack/context.ts'

/** Only what recorded() touches: the var folder, the dry-run flag, warnings. */
const context = (varDir: string): StackContext => ({ varDir, executor: { dryRun: false }, output: { warn: () => undefined } }) as unknown as StackContext
const values = (text: string) => text.split('\n').filter((line) => line !== '' && !line.startsWith('#') && !line.includes('timestamp'))

describe('recorded: the result of a deploy or rollback, for Prometheus (DeployFailed)', () => {
  let varDir = ''
  beforeEach(async () => void (varDir = await mkdtemp(join(tmpdir(), 'aiko-release-metric-'))))
  afterEach(() => rm(varDir, { recursive: true, force: true }))

  it('a failed deploy: 0 with its release and one failure in a row; the next good one: 1 and none', async () => {
    await expect(recorded(context(varDir), { id: 'r2', sha: 'abc', action: 'deploy', previous: 'r1' }, async () => Promise.reject(new Error('the new release is not healthy')))).rejects.toThrow('not healthy')
    expect(values(await readFile(join(varDir, 'metrics', 'aiko_deploy.prom'), 'utf8'))).toEqual([
      'aiko_operation_last_run_success{operation="deploy",release="r2"} 0',
      'aiko_operation_consecutive_failures{operation="deploy"} 1',
    ])
    await recorded(context(varDir), { id: 'r3', sha: 'def', action: 'deploy', previous: 'r1' }, async () => undefined)
    expect(values(await readFile(join(varDir, 'metrics', 'aiko_deploy.prom'), 'utf8'))).toEqual([
      'aiko_operation_last_run_success{operation="deploy",release="r3"} 1',
      'aiko_operation_consecutive_failures{operation="deploy"} 0',
    ])
    await recorded(context(varDir), { id: 'r1', sha: 'abc', action: 'rollback', previous: 'r3' }, async () => undefined)
    expect(values(await readFile(join(varDir, 'metrics', 'aiko_rollback.prom'), 'utf8'))).toEqual([
      'aiko_operation_last_run_success{operation="rollback",release="r1"} 1',
      'aiko_operation_consecutive_failures{operation="rollback"} 0',
    ])
  })
})
