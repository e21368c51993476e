import { parse } from 'dotenv'
import { describe, expect, it } from 'vitest'
import { formatValue, readAmbiguity, readEnvText } from '../../lib/env/dotenv-file.ts'

describe('readEnvText', () => {
  it('keeps the lines and finds each entry, CRLF included', () => {
    const file = readEnvText('# c\r\nA=1\r\nexport B = "x y"\r\n\r\n')
    expect(file.hadCrlf).toBe(true)
    expect(file.lines).toEqual(['# c', 'A=1', 'export B = "x y"', ''])
    expect(file.entries).toEqual([{ name: 'A', line: 1, raw: '1' }, { name: 'B', line: 2, raw: ' "x y"' }])
    expect(file.values).toEqual({ A: '1', B: 'x y' })
  })
})

describe('formatValue', () => {
  const readable = ['plain', 'aiko.fr', '/api', 'é-accentué', 'with space', ' lead and trail ', 'dollar$sign', '${NOT_EXPANDED}', 'hash # here', 'a#b', 'say "hi"', "it's", 'back`tick', '']
  it.each(readable)('writes %j so that dotenv reads it back unchanged and compose reads the same', (value) => {
    const written = formatValue('X', value)
    expect(parse(`X=${written}\n`)['X']).toBe(value)
    expect(readAmbiguity(written)).toBeUndefined()
  })

  it('quotes only when needed', () => {
    expect(formatValue('X', 'abc')).toBe('abc')
    expect(formatValue('X', 'a $b')).toBe("'a $b'")
    expect(formatValue('X', "it's")).toBe(`"it's"`)
  })

  it.each(["it's $5", `it's "x"`, 'back\\slash', "a'b\\c", 'two\nlines', 'cr\rhere'])('refuses %j, naming the variable', (value) => {
    expect(() => formatValue('ADMIN_PASSWORD', value)).toThrow(/ADMIN_PASSWORD/)
  })
})

describe('readAmbiguity', () => {
  it.each([
    ['abc$def', 'expands $'],
    ['a#b', 'cuts an unquoted value at #'],
    ['"pa$s"', 'inside double quotes'],
    ['"a\\nb"', 'backslash'],
    ["'a\\b'", 'backslash'],
    ['`x`', 'backtick'],
    ["'open", 'not closed'],
    ['it"s', 'quotes or backslashes'],
  ])('flags %j', (raw, words) => {
    expect(readAmbiguity(raw)).toContain(words)
  })

  it.each(['abc', "'a $b #c'", '"it\'s"', 'value # a comment', ''])('accepts %j', (raw) => {
    expect(readAmbiguity(raw)).toBeUndefined()
  })
})
