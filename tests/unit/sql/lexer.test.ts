import { describe, expect, it } from 'vitest'
import { tokenize } from '../../../src/sql/lexer'

// Tokens carry line, column and offset so every later error can point at the source.

const brief = (sql: string): unknown => tokenize(sql).map((t) => [t.kind, t.value, t.pos.line, t.pos.column, t.pos.offset])

describe('tokenize', () => {
  it('words, quoted names, numbers, strings, params and operators with positions', () => {
    expect(brief('SELECT "My Col", a1$ FROM t\n  WHERE x >= $12 || \'it\'\'s\' :: int <> 1.5e-3')).toEqual([
      ['word', 'select', 1, 1, 0],
      ['quoted', 'My Col', 1, 8, 7],
      ['op', ',', 1, 16, 15],
      ['word', 'a1$', 1, 18, 17],
      ['word', 'from', 1, 22, 21],
      ['word', 't', 1, 27, 26],
      ['word', 'where', 2, 3, 30],
      ['word', 'x', 2, 9, 36],
      ['op', '>=', 2, 11, 38],
      ['param', '12', 2, 14, 41],
      ['op', '||', 2, 18, 45],
      ['string', "it's", 2, 21, 48],
      ['op', '::', 2, 29, 56],
      ['word', 'int', 2, 32, 59],
      ['op', '<>', 2, 36, 63],
      ['decimal', '1.5e-3', 2, 39, 66],
      ['eof', '', 2, 45, 72]
    ])
  })

  it('comments and multi-line strings advance lines', () => {
    expect(brief("-- c1\n/* c2\n c3 */ 'a\nb' x")).toEqual([
      ['string', 'a\nb', 3, 8, 19],
      ['word', 'x', 4, 4, 25],
      ['eof', '', 4, 5, 26]
    ])
  })

  it('keeps the source text of a token for messages', () => {
    const [t] = tokenize('SeLeCt')
    expect(t).toMatchObject({ kind: 'word', value: 'select', text: 'SeLeCt' })
  })

  it('numbers: integers, decimals with point or exponent, not an exponent without digits', () => {
    expect(tokenize('1 2. .5 3e4 3E+4 007').map((t) => [t.kind, t.value])).toEqual([
      ['integer', '1'], ['decimal', '2.'], ['decimal', '.5'], ['decimal', '3e4'], ['decimal', '3E+4'], ['integer', '007'], ['eof', '']
    ])
  })

  it('a minus pair starts a comment, a single minus is an operator', () => {
    expect(tokenize('1 - -2 --3').map((t) => t.value)).toEqual(['1', '-', '-', '2', ''])
  })

  it('a byte-order mark is blank space', () => {
    expect(brief('\uFEFFSELECT')).toEqual([['word', 'select', 1, 2, 1], ['eof', '', 1, 8, 7]])
  })
})
