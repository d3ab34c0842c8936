import { describe, expect, it } from 'vitest'
import { bin, bool, call, col, dec, int, neg, not, nul, param, str, type, expr } from './helpers'

// Operator precedence and the expression forms, as trees: the resolver and planner trust these
// shapes, so a precedence slip would silently change query results.

describe('precedence', () => {
  const a = col('a')
  const b = col('b')
  const c = col('c')
  const cases: Array<[string, unknown]> = [
    ['a OR b AND c', bin('or', a, bin('and', b, c))],
    ['a AND b OR c', bin('or', bin('and', a, b), c)],
    ['NOT a AND b', bin('and', not(a), b)],
    ['NOT a = b', not(bin('=', a, b))],
    ['NOT NOT a', not(not(a))],
    ['a = 1 OR b <> 2 AND c != 3', bin('or', bin('=', a, int(1)), bin('and', bin('<>', b, int(2)), bin('<>', c, int(3))))],
    ['a + b * c', bin('+', a, bin('*', b, c))],
    ['a * b + c', bin('+', bin('*', a, b), c)],
    ['a - b - c', bin('-', bin('-', a, b), c)],
    ['a - (b - c)', bin('-', a, bin('-', b, c))],
    ['a / b % c', bin('%', bin('/', a, b), c)],
    ['a || b + c', bin('||', a, bin('+', b, c))],
    ['a || b = c', bin('=', bin('||', a, b), c)],
    ['a < b + 1', bin('<', a, bin('+', b, int(1)))],
    ['a <= b AND b >= c', bin('and', bin('<=', a, b), bin('>=', b, c))],
    ['-a * b', bin('*', neg(a), b)],
    ['-a::int', neg({ kind: 'cast', operand: a, type: type('integer') })],
    ['- 5 * 2', bin('*', int(-5), int(2))],
    ['2 - -3', bin('-', int(2), int(-3))],
    ['-(-1.5)', dec('1.5')],
    ['+4', int(4)],
    ['a = b IS NULL', { kind: 'is_null', not: false, operand: bin('=', a, b) }],
    ['a IS NOT NULL AND b IS NULL', bin('and', { kind: 'is_null', not: true, operand: a }, { kind: 'is_null', not: false, operand: b })],
    ['NOT a IS NULL', not({ kind: 'is_null', not: false, operand: a })],
    ['a BETWEEN 1 AND 2 AND c', bin('and', { kind: 'between', not: false, operand: a, low: int(1), high: int(2) }, c)],
    ['a NOT BETWEEN b + 1 AND c * 2', { kind: 'between', not: true, operand: a, low: bin('+', b, int(1)), high: bin('*', c, int(2)) }],
    ['a = b BETWEEN 1 AND 2', bin('=', a, { kind: 'between', not: false, operand: b, low: int(1), high: int(2) })],
    ['a NOT IN (1, b + 2) OR c', bin('or', { kind: 'in', not: true, operand: a, list: [int(1), bin('+', b, int(2))] }, c)],
    ["a || 'x' LIKE 'p%'", { kind: 'like', not: false, operand: bin('||', a, str('x')), pattern: str('p%') }],
    ["a NOT LIKE 'p%' AND TRUE", bin('and', { kind: 'like', not: true, operand: a, pattern: str('p%') }, bool(true))],
    ['(a OR b) AND c', bin('and', bin('or', a, b), c)],
    ['a = NULL', bin('=', a, nul())]
  ]
  for (const [text, tree] of cases) {
    it(text, () => { expect(expr(text)).toEqual(tree) })
  }
})

describe('expression forms', () => {
  it('function calls: zero args, nested, qualified columns, parameters', () => {
    expect(expr('uuidv8_timestamp(gen_uuidv8_hlc())')).toEqual(call('uuidv8_timestamp', call('gen_uuidv8_hlc')))
    expect(expr('uuid_compare(t.a, $2)')).toEqual(call('uuid_compare', col('a', 't'), param(2)))
    expect(expr('now()')).toEqual(call('now'))
    expect(expr('"MyFunc"(1)')).toEqual(call('MyFunc', int(1)))
  })

  it('CAST and :: give the same tree', () => {
    const tree = { kind: 'cast', operand: col('a'), type: type('decimal', { precision: 10, scale: 2 }) }
    expect(expr('CAST(a AS NUMERIC(10, 2))')).toEqual(tree)
    expect(expr('a::decimal(10,2)')).toEqual(tree)
    expect(expr("'1'::int::bigint")).toEqual({ kind: 'cast', operand: { kind: 'cast', operand: str('1'), type: type('integer') }, type: type('bigint') })
  })

  it('searched and simple CASE', () => {
    expect(expr("CASE WHEN a > 1 THEN 'big' WHEN a IS NULL THEN NULL ELSE 'small' END")).toEqual({
      kind: 'case',
      operand: null,
      whens: [{ when: bin('>', col('a'), int(1)), then: str('big') }, { when: { kind: 'is_null', not: false, operand: col('a') }, then: nul() }],
      else: str('small')
    })
    expect(expr('CASE a WHEN 1 THEN 2 END')).toEqual({ kind: 'case', operand: col('a'), whens: [{ when: int(1), then: int(2) }], else: null })
  })

  it('comparison operators', () => {
    for (const op of ['=', '<>', '<', '<=', '>', '>='] as const) {
      expect(expr(`a ${op} 1`)).toEqual(bin(op, col('a'), int(1)))
    }
    expect(expr('a != 1')).toEqual(bin('<>', col('a'), int(1)))
  })
})
