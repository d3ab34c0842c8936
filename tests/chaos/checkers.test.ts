import { describe, expect, it } from 'vitest'
import { checkBank, checkRegister, checkSet } from './checkers'
import type { Op } from './history'

// The chaos checkers must be able to fail: each anomaly kind, built by hand, is named.

const op = (f: Op['f'], key: number, start: number, end: number, outcome: Op['outcome'], value: number | null = null): Op =>
  ({ process: 0, node: 1, f, key, value, start, end, outcome })

describe('set checker', () => {
  const history = [
    op('insert', 1, 0, 10, 'ok'), op('insert', 2, 0, 10, 'ok'), op('insert', 3, 0, 10, 'unknown'),
    op('insert', 4, 0, 10, 'ok'), op('delete', 4, 20, 30, 'ok'), op('insert', 5, 0, 10, 'ok'), op('delete', 5, 20, 30, 'unknown')
  ]
  it('a clean final state has no anomaly (unknown inserts and deletes may go either way)', () => {
    const fin = new Set([1, 2, 3])
    expect(checkSet(history, new Map([[1, fin], [2, new Set(fin)]])).counts).toEqual({})
    const alt = new Set([1, 2, 5])
    expect(checkSet(history, new Map([[1, alt], [2, new Set(alt)]])).counts).toEqual({})
  })
  it('names a lost acknowledged insert, a resurrected delete, a phantom and divergent replicas', () => {
    const a = checkSet(history, new Map([[1, new Set([1, 4, 9])], [2, new Set([1, 2, 4, 9])]]))
    expect(a.counts).toEqual({ lost: 1, resurrected: 2, phantom: 2, divergent: 1 })
    expect(a.examples.join('\n')).toMatch(/key 2 acknowledged .* missing on node 1/)
  })
})

describe('register checker', () => {
  it('accepts the newest value, a concurrent one, and one within the clock tolerance', () => {
    const h = [
      op('write', 1, 0, 10, 'ok', 1), op('write', 1, 20, 30, 'ok', 2),
      op('read', 1, 40, 50, 'ok', 2),
      op('write', 1, 45, 60, 'ok', 3), op('read', 1, 50, 55, 'ok', 3), // concurrent write, visible early
      op('read', 1, 100, 110, 'ok', 3)
    ]
    expect(checkRegister(h, 5).counts).toEqual({})
    // 1 was superseded by 2 only 10 ms later: within a 15 ms tolerance a read of 1 is allowed.
    expect(checkRegister([...h, op('read', 1, 40, 50, 'ok', 1)], 15).counts).toEqual({})
  })
  it('names a stale read, a read of no row after an acknowledged write, and a value from the future', () => {
    const h = [
      op('write', 1, 0, 10, 'ok', 1), op('write', 1, 20, 30, 'ok', 2),
      op('read', 1, 40, 50, 'ok', 1),
      op('read', 1, 40, 50, 'ok', null),
      op('read', 1, 40, 50, 'ok', 7), op('write', 1, 60, 70, 'unknown', 7)
    ]
    const a = checkRegister(h, 5)
    expect(a.counts).toEqual({ 'stale-read': 2, 'future-read': 1 })
  })
})

describe('checkBank', () => {
  it('names a total read that is not the starting sum; ignores failed and unknown reads', () => {
    const op = (value: number | null, outcome: Op['outcome'] = 'ok'): Op => ({ process: 1, node: 2, f: 'read', key: 0, value, start: 1, end: 2, outcome })
    expect(checkBank([op(600), op(600), op(590, 'unknown'), op(null, 'fail')], 600).counts).toEqual({})
    const r = checkBank([op(600), op(590)], 600)
    expect(r.counts).toEqual({ 'bank-total': 1 })
    expect(r.examples[0]).toMatch(/total 590 read on node 2/)
  })
})
