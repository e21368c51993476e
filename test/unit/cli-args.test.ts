import { describe, expect, it } from 'vitest'
import { wholeNumberFlag } from '../../lib/cli/args.ts'
import { ExitCode, ToolkitError } from '../../lib/errors.ts'

describe('wholeNumberFlag', () => {
  it('returns the number when it is whole and at least the minimum', () => {
    expect(wholeNumberFlag('keep', '14', 1, 'backups')).toBe(14)
    expect(wholeNumberFlag('keep', '2', 2, 'releases')).toBe(2)
  })

  it.each(['0', '1', '-3', '2.5', '1e3', ' 5', '', 'soon'])('refuses %j with a usage error naming the flag, the value and a fix', (value) => {
    const error = (() => {
      try {
        wholeNumberFlag('keep', value, 2, 'releases kept')
      } catch (caught) {
        return caught
      }
    })()
    expect(error).toBeInstanceOf(ToolkitError)
    expect((error as ToolkitError).exitCode).toBe(ExitCode.usage)
    expect((error as ToolkitError).message).toBe(`--keep ${value} must be a whole number of at least 2 (releases kept)`)
    expect((error as ToolkitError).hint).toBe('pass a whole number, for example --keep 10')
  })
})
