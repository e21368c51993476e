import { afterEach, describe, expect, it } from 'vitest'
import { clearSecrets, maskSecrets, registerSecrets } from '../../lib/exec/mask.ts'

afterEach(clearSecrets)

describe('maskSecrets', () => {
  it('hides every occurrence of every registered secret', () => {
    registerSecrets(['s3cretValue', undefined, 'other-pass'])
    expect(maskSecrets('a s3cretValue b s3cretValue other-pass')).toBe('a *** b *** ***')
  })

  it('hides a longer secret whole even when it contains a shorter one', () => {
    registerSecrets(['abcd', 'xxabcdyy'])
    expect(maskSecrets('[xxabcdyy]')).toBe('[***]')
  })

  it('ignores values too short to be secrets, and leaves text alone with no secrets', () => {
    registerSecrets(['ab', ''])
    expect(maskSecrets('ab cd')).toBe('ab cd')
  })

  it('handles secrets with regex characters', () => {
    registerSecrets(['a.b*c$(d)'])
    expect(maskSecrets('x a.b*c$(d) y aXbbc')).toBe('x *** y aXbbc')
  })
})
