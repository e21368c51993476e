import { describe, expect, it } from 'vitest'
import { generateSecret, SECRET_ALPHABET } from '../../lib/env/secrets.ts'

describe('generateSecret', () => {
  it('has the requested length and only letters and digits', () => {
    for (const length of [16, 32, 64]) {
      const secret = generateSecret(length)
      expect(secret).toHaveLength(length)
      expect(secret).toMatch(/^[A-Za-z0-9]+$/)
    }
  })

  it('draws from the whole alphabet and never repeats a secret', () => {
    const secrets = Array.from({ length: 200 }, () => generateSecret(32))
    expect(new Set(secrets).size).toBe(200)
    const seen = new Set(secrets.join(''))
    expect(seen.size).toBe(SECRET_ALPHABET.length)
  })

  it('refuses a length too short to be a secret', () => {
    expect(() => generateSecret(8)).toThrow(RangeError)
  })
})
