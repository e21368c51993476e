import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'

const read = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), 'utf8')

describe('README and CI', () => {
  it('the README gives exactly two commands for a fresh machine, and CI runs the test one', async () => {
    const readme = await read('README.md')
    const section = readme.split('## Two commands for a fresh machine')[1]?.split('\n## ')[0] ?? ''
    const commands = [...section.matchAll(/```sh\n(.+)\n```/g)].map((match) => match[1])
    expect(commands).toEqual(['npm ci && npm run demo', 'npm ci && npm test'])
    const ci = await read('.ci/run')
    expect(ci.split('\n')).toContain(commands[1])
  })

  it('npm test runs every suite', async () => {
    const scripts = (JSON.parse(await read('package.json')) as { scripts: Record<string, string> }).scripts
    expect(scripts['test']).toBe('npm run typecheck && npm run test:unit && npm run test:cli && npm run test:e2e')
  })
})
