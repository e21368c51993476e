import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { ExampleSyntaxError, parseExample } from '../../lib/env/example.ts'
import { envSchema, SECRET_NAMES } from '../../lib/env/schema.ts'

describe('parseExample', () => {
  it('reads tags, defaults and the comment block of each variable', () => {
    const example = parseExample(['# Général', '', '# Le domaine', '# @required @prompt', 'DOMAIN=', '', '# Un secret', '# @secret=48', 'KEY=', 'PORT=80', ''].join('\n'))
    expect(example.variables).toEqual([
      { name: 'DOMAIN', defaultValue: '', required: true, prompt: true, secretLength: undefined, comment: ['# Le domaine', '# @required @prompt'] },
      { name: 'KEY', defaultValue: '', required: false, prompt: false, secretLength: 48, comment: ['# Un secret', '# @secret=48'] },
      { name: 'PORT', defaultValue: '80', required: false, prompt: false, secretLength: undefined, comment: [] },
    ])
  })

  it('defaults a secret to 32 characters and accepts CRLF', () => {
    expect(parseExample('# @secret\r\nA=\r\n').variables[0]?.secretLength).toBe(32)
  })

  it('rejects an unknown tag and a line that is not an assignment', () => {
    expect(() => parseExample('# @secrte\nA=\n')).toThrow(/unknown tag @secrte above line 2/)
    expect(() => parseExample('just text\n')).toThrow(ExampleSyntaxError)
  })

  it('the shipped env.example declares exactly the variables of the schema, secrets included', async () => {
    const example = parseExample(await readFile(new URL('../../env.example', import.meta.url), 'utf8'))
    const names = example.variables.map((variable) => variable.name).sort()
    expect(names).toEqual(Object.keys(envSchema('production').shape).sort())
    const generated = example.variables.filter((variable) => variable.secretLength !== undefined).map((variable) => variable.name)
    expect([...generated, 'ADMIN_PASSWORD', 'AWS_SECRET_ACCESS_KEY', 'ALERT_SMTP_PASSWORD'].sort()).toEqual([...SECRET_NAMES].sort())
    for (const variable of example.variables) expect(variable.comment.length, `${variable.name} has a comment`).toBeGreaterThan(0)
  })
})
