import { describe, expect, it } from 'vitest'
import { readEnvText } from '../../lib/env/dotenv-file.ts'
import { parseExample } from '../../lib/env/example.ts'
import { planEnv, type PlanInput } from '../../lib/env/plan.ts'

const example = parseExample(['# Domaine', '# @required @prompt', 'DOMAIN=', '', '# Mot de passe', '# @secret=16', 'DB_PASSWORD=', '', '# Port', 'PORT=80', '', '# Facultatif', 'OPTIONAL=', ''].join('\n'))
let counter = 0
const input = (overrides: Partial<PlanInput>): PlanInput => ({
  example,
  current: undefined,
  flags: {},
  answers: {},
  generateSecret: (length) => `gen${++counter}`.padEnd(length, 'z'),
  today: '2026-11-25',
  ...overrides,
})

describe('planEnv', () => {
  it('creates a fresh file that mirrors env.example, with generated secrets and defaults', () => {
    const plan = planEnv(input({ flags: { DOMAIN: 'aiko.fr' } }))
    expect(plan.changed).toBe(true)
    expect(plan.changes.map((change) => [change.name, change.source])).toEqual([['DOMAIN', 'flag'], ['DB_PASSWORD', 'generated'], ['PORT', 'default'], ['OPTIONAL', 'default']])
    expect(plan.text).toContain('# Mot de passe\n# @secret=16\nDB_PASSWORD=gen')
    expect(readEnvText(plan.text).values).toMatchObject({ DOMAIN: 'aiko.fr', PORT: '80', OPTIONAL: '' })
  })

  it('never overwrites a value the operator set, fills empty ones in place and appends missing ones', () => {
    const current = readEnvText('# mine\nDOMAIN=\nPORT=8080\nCUSTOM=keep me\n')
    const plan = planEnv(input({ current, answers: { DOMAIN: 'typed.fr' } }))
    expect(plan.kept).toEqual(['PORT'])
    const lines = plan.text.split('\n')
    expect(lines.slice(0, 4)).toEqual(['# mine', 'DOMAIN=typed.fr', 'PORT=8080', 'CUSTOM=keep me'])
    expect(plan.text).toContain('# Ajouté par init-env le 2026-11-25')
    expect(plan.text).toMatch(/# Mot de passe\n# @secret=16\nDB_PASSWORD=gen\w+\n\n# Facultatif\n# @required|# Facultatif\nOPTIONAL=\n$/)
  })

  it('a second run changes nothing', () => {
    const first = planEnv(input({ flags: { DOMAIN: 'aiko.fr' } }))
    const second = planEnv(input({ current: readEnvText(first.text), flags: { DOMAIN: 'aiko.fr' } }))
    expect(second.changed).toBe(false)
    expect(second.changes).toEqual([])
    expect(second.text).toBe(first.text)
  })

  it('reports a --set that would overwrite an operator value as a conflict', () => {
    const plan = planEnv(input({ current: readEnvText('DOMAIN=mine.fr\n'), flags: { DOMAIN: 'other.fr' } }))
    expect(plan.conflicts).toEqual([expect.objectContaining({ name: 'DOMAIN' })])
    expect(plan.conflicts[0]?.reason).toContain('never overwrites')
  })

  it('counts CRLF line ends as a change, to convert them', () => {
    const first = planEnv(input({ flags: { DOMAIN: 'aiko.fr' } }))
    const plan = planEnv(input({ current: readEnvText(first.text.replaceAll('\n', '\r\n')) }))
    expect(plan.changes).toEqual([])
    expect(plan.changed).toBe(true)
    expect(plan.text).not.toContain('\r')
  })

  it('quotes operator values so every reader agrees', () => {
    const plan = planEnv(input({ flags: { DOMAIN: 'aiko.fr', OPTIONAL: 'a $b #c' } }))
    expect(plan.text).toContain("OPTIONAL='a $b #c'")
  })
})
