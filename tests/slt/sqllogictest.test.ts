import { describe, expect, it } from 'vitest'
import { checkQuery, formatValue, hashValues, parseTestFile, resultValues } from './sqllogictest'
import { formatLines, parseLines } from './baseline'

// The runner's own parts, without a node: a runner that always says "pass" would hide everything.
describe('sqllogictest runner', () => {
  it('parses records, sort modes, hash-threshold, skipif/onlyif and halt', () => {
    const f = parseTestFile([
      'hash-threshold 3', '',
      'statement ok', 'CREATE TABLE t1(a INTEGER)', '',
      'skipif scratchbird', 'statement ok', 'SELECT nonsense', '',
      'onlyif mysql', 'query I nosort', 'SELECT 1', '----', '1', '',
      'onlyif scratchbird', 'query II rowsort label-1', 'SELECT a, a FROM t1', '----', '1', '2', '',
      'query I valuesort', 'SELECT a', '  FROM t1', '----', '6 values hashing to 0123456789abcdef0123456789abcdef', '',
      'statement error', 'DROP TABLE nope', '',
      'halt', '',
      'statement ok', 'SELECT 2'
    ].join('\n'))
    expect(f.skipped).toBe(2)
    expect(f.records.map(r => [r.kind, r.line, r.sort])).toEqual([['ok', 3, 'nosort'], ['query', 17, 'rowsort'], ['query', 23, 'valuesort'], ['error', 29, 'nosort']])
    expect(f.records[1]!.expected).toEqual(['1', '2'])
    expect(f.records[2]!.sql).toBe('SELECT a\n  FROM t1')
    expect(f.records[2]!.hash).toEqual({ count: 6, md5: '0123456789abcdef0123456789abcdef' })
    expect(f.records[2]!.hashThreshold).toBe(3)
  })

  it('prints values as the reference runner does', () => {
    expect(formatValue('12', 'I')).toBe('12')
    expect(formatValue('-12.75', 'I')).toBe('-12')
    expect(formatValue(2.5, 'R')).toBe('2.500')
    expect(formatValue('174.36666666', 'R')).toBe('174.367')
    expect(formatValue(null, 'I')).toBe('NULL')
    expect(formatValue('', 'T')).toBe('(empty)')
    expect(formatValue('a\tb', 'T')).toBe('a@b')
  })

  it('sorts rows or values and hashes them', () => {
    const rows = [['10', 'b'], ['9', 'a'], ['10', 'a']]
    expect(resultValues(rows, 'IT', 'nosort')).toEqual(['10', 'b', '9', 'a', '10', 'a'])
    expect(resultValues(rows, 'IT', 'rowsort')).toEqual(['10', 'a', '10', 'b', '9', 'a'])
    expect(resultValues(rows, 'IT', 'valuesort')).toEqual(['10', '10', '9', 'a', 'a', 'b'])
    // md5("1\n2\n") — the reference runner's hash of the values 1 and 2.
    expect(hashValues(['1', '2'])).toBe('6ddb4095eb719e2a9f0a3f95677d24e0')
    const [q] = parseTestFile(`query I nosort\nSELECT 1\n----\n2 values hashing to ${hashValues(['1', '2'])}\n`).records
    expect(checkQuery(q!, [['1'], ['2']], 1)).toBeNull()
    expect(checkQuery(q!, [['2'], ['1']], 1)).toMatch(/hashing/)
    expect(checkQuery(q!, [['1', '2']], 2)).toMatch(/column/)
  })

  it('keeps the baseline short and exact', () => {
    expect(formatLines([5, 1, 2, 3, 7, 8])).toBe('1-3,5,7-8')
    expect(parseLines('1-3,5,7-8')).toEqual([1, 2, 3, 5, 7, 8])
    expect(parseLines('')).toEqual([])
  })
})
