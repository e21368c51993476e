import { describe, expect, it } from 'vitest'
import { confirmLoss, mustConfirm } from '../../lib/cli/confirm.ts'
import { ToolkitError } from '../../lib/errors.ts'

const asked: string[] = []
const answer = (reply: string) => async (prompt: string) => {
  asked.push(prompt)
  return reply
}

describe('confirmation of actions that lose data', () => {
  it('--yes and --dry-run need none, even without a terminal', () => {
    expect(mustConfirm('restore', { yes: true, dryRun: false, interactive: false })).toBe(false)
    expect(mustConfirm('restore', { yes: false, dryRun: true, interactive: false })).toBe(false)
  })

  it('without a terminal and without --yes: a usage error naming --yes', () => {
    const error = (() => {
      try {
        return mustConfirm('rollback --with-db', { yes: false, dryRun: false, interactive: false })
      } catch (caught) {
        return caught
      }
    })()
    expect(error).toBeInstanceOf(ToolkitError)
    expect(error).toMatchObject({ exitCode: 2, message: 'rollback --with-db needs a confirmation and no one can answer (stdin is not a terminal)' })
    expect((error as ToolkitError).hint).toContain('--yes')
  })

  it('asks with every fact, and goes on only on a typed "yes"', async () => {
    asked.length = 0
    await confirmLoss('Restore X', ['fact one', 'fact two'], { yes: false, dryRun: false, interactive: true }, answer(' yes\n'))
    expect(asked).toEqual(['Restore X:\n  fact one\n  fact two\nType "yes" to go on:\n> '])
  })

  it('anything else cancels, nothing changed', async () => {
    await expect(confirmLoss('Restore X', [], { yes: false, dryRun: false, interactive: true }, answer('y'))).rejects.toMatchObject({ exitCode: 2, message: 'Restore X: cancelled, nothing was changed' })
  })

  it('--yes does not ask', async () => {
    asked.length = 0
    await confirmLoss('Restore X', ['fact'], { yes: true, dryRun: false, interactive: true }, answer('no'))
    expect(asked).toEqual([])
  })
})
