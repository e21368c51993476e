import { describe, expect, it } from 'vitest'
import { interruptedLine } from '../../lib/release/interrupted.ts'
import { chooseRollbackDump } from '../../lib/release/rollback.ts'
import type { ReleaseLogEntry } from '../../lib/release/log.ts'

const line = (id: string, action: ReleaseLogEntry['action'], result: ReleaseLogEntry['result'], facts: Pick<ReleaseLogEntry, 'migrations' | 'backup'> = {}): ReleaseLogEntry => ({
  id, sha: 'abc1234', action, result, time: '2026-12-01T10:00:00Z', user: 'ops', durationMs: 1000, ...facts,
})
const A = '20261201-100000-aaaaaaa'
const B = '20261201-110000-bbbbbbb'
const C = '20261201-120000-ccccccc'

describe('chooseRollbackDump', () => {
  it('the dump of the next deploy whose migrations ran', () => {
    expect(chooseRollbackDump([line(A, 'deploy', 'ok'), line(B, 'deploy', 'ok', { migrations: ['0002'], backup: `pre-${B}.dump` })], A)).toEqual({ kind: 'dump', takenBy: B, name: `pre-${B}.dump` })
  })

  it('skips a deploy with no migration (it took no dump, the schema did not change) and one whose migrations failed', () => {
    const entries = [
      line(A, 'deploy', 'ok'),
      line(B, 'deploy', 'ok', { migrations: [] }),
      line('20261201-113000-fffffff', 'deploy', 'failed', { backup: 'pre-20261201-113000-fffffff.dump' }),
      line(C, 'deploy', 'ok', { migrations: ['0002'], backup: `pre-${C}.dump` }),
    ]
    expect(chooseRollbackDump(entries, A)).toEqual({ kind: 'dump', takenBy: C, name: `pre-${C}.dump` })
  })

  it('a deploy that migrated and then failed its switch changed the schema: its dump is the one', () => {
    const entries = [line(A, 'deploy', 'ok'), line(B, 'deploy', 'failed', { migrations: ['0002'], backup: `pre-${B}.dump` }), line(C, 'deploy', 'ok', { migrations: ['0003'], backup: `pre-${C}.dump` })]
    expect(chooseRollbackDump(entries, A)).toEqual({ kind: 'dump', takenBy: B, name: `pre-${B}.dump` })
  })

  it('a line written before deploys recorded their migrations: a successful deploy always took pre-<id>.dump', () => {
    expect(chooseRollbackDump([line(A, 'deploy', 'ok'), line(B, 'deploy', 'failed'), line(C, 'deploy', 'ok')], A)).toEqual({ kind: 'dump', takenBy: C, name: `pre-${C}.dump` })
  })

  it('counts from the last successful deploy of the target, not from a rollback to it (a plain rollback leaves the schema)', () => {
    const entries = [line(A, 'deploy', 'ok'), line(B, 'deploy', 'ok', { migrations: ['0002'], backup: `pre-${B}.dump` }), line(A, 'rollback', 'ok'), line(C, 'deploy', 'ok', { migrations: [] })]
    expect(chooseRollbackDump(entries, A)).toEqual({ kind: 'dump', takenBy: B, name: `pre-${B}.dump` })
  })

  it('after a rollback --with-db to the target, the dump of the next migrating deploy after that rollback (newer data, same schema)', () => {
    const entries = [
      line(A, 'deploy', 'ok'),
      line(B, 'deploy', 'ok', { migrations: ['0002'], backup: `pre-${B}.dump` }),
      line(A, 'rollback', 'ok', { backup: `pre-${B}.dump` }),
      line(C, 'deploy', 'ok', { migrations: ['0002'], backup: `pre-${C}.dump` }),
    ]
    expect(chooseRollbackDump(entries, A)).toEqual({ kind: 'dump', takenBy: C, name: `pre-${C}.dump` })
  })

  it('a killed deploy whose line the next run wrote: its dump when it took one (its migrations may have run), else skipped', () => {
    const killed = { migrations: undefined, interrupted: true }
    expect(chooseRollbackDump([line(A, 'deploy', 'ok'), { ...line(B, 'deploy', 'failed'), ...killed, backup: `pre-${B}.dump` }, line(C, 'deploy', 'ok', { migrations: ['0003'], backup: `pre-${C}.dump` })], A)).toEqual({ kind: 'dump', takenBy: B, name: `pre-${B}.dump` })
    expect(chooseRollbackDump([line(A, 'deploy', 'ok'), { ...line(B, 'deploy', 'ok'), ...killed }, line(C, 'deploy', 'ok', { migrations: [] })], A)).toEqual({ kind: 'no-schema-change' })
  })

  it('no deploy since migrated anything: nothing to restore', () => {
    expect(chooseRollbackDump([line(A, 'deploy', 'ok'), line(B, 'deploy', 'ok', { migrations: [] })], A)).toEqual({ kind: 'no-schema-change' })
  })

  it('a release never deployed successfully here: no dump holds its database', () => {
    expect(chooseRollbackDump([line(A, 'deploy', 'failed'), line(B, 'deploy', 'ok', { migrations: ['0002'], backup: `pre-${B}.dump` })], A)).toEqual({ kind: 'never-deployed' })
    expect(chooseRollbackDump([], A)).toEqual({ kind: 'never-deployed' })
  })
})

describe('interruptedLine', () => {
  const holder = { pid: 4242, host: 'vps', user: 'ops', since: '2026-12-01T12:00:00.000Z', command: 'deploy', intent: { action: 'deploy', release: C } }

  it('a deploy killed after its dump and before its switch: a failed line with its dump, marked interrupted', () => {
    expect(interruptedLine(holder, [line(A, 'deploy', 'ok')], { serving: A, backup: `pre-${C}.dump` })).toEqual({
      id: C, sha: 'ccccccc', action: 'deploy', result: 'failed', time: holder.since, user: 'ops', durationMs: 0,
      error: 'killed before it finished (deploy, pid 4242); written by the next run', interrupted: true, backup: `pre-${C}.dump`,
    })
  })

  it('killed after its switch: convergence found it serving, so the line says ok', () => {
    expect(interruptedLine(holder, [], { serving: C, backup: undefined })).toMatchObject({ id: C, result: 'ok', interrupted: true })
  })

  it('nothing to add: no killed run, no release in its intent, or a line of that run already written', () => {
    expect(interruptedLine(undefined, [], { serving: A, backup: undefined })).toBeUndefined()
    expect(interruptedLine('unreadable', [], { serving: A, backup: undefined })).toBeUndefined()
    expect(interruptedLine({ ...holder, intent: { action: 'deploy' } }, [], { serving: A, backup: undefined })).toBeUndefined()
    expect(interruptedLine({ ...holder, intent: { action: 'restore', release: 'x.dump' } }, [], { serving: A, backup: undefined })).toBeUndefined()
    expect(interruptedLine(holder, [{ ...line(C, 'deploy', 'failed'), time: '2026-12-01T12:05:00Z' }], { serving: A, backup: undefined })).toBeUndefined()
  })

  it('a rollback killed: its line, never a dump', () => {
    expect(interruptedLine({ ...holder, command: 'rollback', intent: { action: 'rollback', release: A } }, [line(A, 'deploy', 'ok')], { serving: A, backup: 'pre-x.dump' })).toMatchObject({ id: A, action: 'rollback', result: 'ok', sha: 'abc1234' })
  })
})
