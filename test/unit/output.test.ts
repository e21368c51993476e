import { afterEach, describe, expect, it } from 'vitest'
import { clearSecrets, registerSecrets } from '../../lib/exec/mask.ts'
import { createOutput, wantsPlainOutput } from '../../lib/ui/output.ts'

afterEach(clearSecrets)

function sink(isTTY: boolean) {
  const chunks: string[] = []
  return { chunks, isTTY, write: (chunk: string) => chunks.push(chunk) > 0 }
}

describe('output', () => {
  it('is plain when not a TTY, or when CI or NO_COLOR is set', () => {
    expect(wantsPlainOutput(sink(false), {})).toBe(true)
    expect(wantsPlainOutput(sink(true), { CI: 'true' })).toBe(true)
    expect(wantsPlainOutput(sink(true), { NO_COLOR: '' })).toBe(true)
    expect(wantsPlainOutput(sink(true), {})).toBe(false)
  })

  it('writes timestamped lines, errors to stderr, secrets masked', async () => {
    registerSecrets(['pa55word-long'])
    const stdout = sink(false)
    const stderr = sink(false)
    const out = createOutput({ stdout, stderr, env: {}, now: () => new Date('2026-11-25T10:00:00Z') })
    out.info('using pa55word-long')
    out.error('failed')
    await out.step('migrate', async () => 1)
    await expect(out.step('boom', async () => Promise.reject(new Error('x')))).rejects.toThrow('x')
    expect(stdout.chunks[0]).toBe('2026-11-25T10:00:00.000Z info  using ***\n')
    expect(stdout.chunks[1]).toBe('2026-11-25T10:00:00.000Z step  migrate …\n')
    expect(stdout.chunks[2]).toMatch(/ok    migrate \(\d+ms\)\n$/)
    expect(stderr.chunks).toEqual(['2026-11-25T10:00:00.000Z error failed\n', expect.stringMatching(/fail  boom \(\d+ms\)\n$/)])
  })
})
