import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { applyOverrides, guideBlocks, type Override } from '../e2e/helpers/guide.ts'
import { PROJECT_DIR } from '../../lib/stack/context.ts'

describe('guideBlocks', () => {
  it('returns each fenced block with its section, line and language', () => {
    const text = ['# T', '## 1. Un', 'texte', '```bash', 'echo a', 'echo b', '```', '## 2. Deux', '```text', 'x', '```'].join('\n')
    expect(guideBlocks(text)).toEqual([
      { line: 4, section: '1. Un', lang: 'bash', script: 'echo a\necho b' },
      { line: 9, section: '2. Deux', lang: 'text', script: 'x' },
    ])
  })

  it('refuses a block that is never closed', () => {
    expect(() => guideBlocks('## A\n```bash\necho a\n')).toThrow(/line 2 is never closed/)
  })

  it('finds only bash blocks in DEPLOYMENT_VPS_GUIDE.md, so the guide test runs every command', () => {
    const blocks = guideBlocks(readFileSync(join(PROJECT_DIR, 'DEPLOYMENT_VPS_GUIDE.md'), 'utf8'))
    expect(blocks.length).toBeGreaterThan(10)
    expect(blocks.filter((block) => block.lang !== 'bash')).toEqual([])
  })
})

describe('applyOverrides', () => {
  it('replaces every match and counts the matches per override', () => {
    const port: Override = { why: 'port', pattern: /:80\b/, replacement: ':28080' }
    const unused: Override = { why: 'never', pattern: /nothing-here/, replacement: 'x' }
    const used = new Map<Override, number>()
    expect(applyOverrides('curl h:80/a && curl h:80/b', [port, unused], used)).toBe('curl h:28080/a && curl h:28080/b')
    expect(used.get(port)).toBe(2)
    expect(used.get(unused)).toBe(0)
  })
})
