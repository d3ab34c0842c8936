import { describe, expect, it } from 'vitest'
import type { Op } from './history'
import { checkLinearizableRegisters } from './linearizable'

// The register linearizability checker, on histories built by hand: each anomaly is named, each
// legal interleaving accepted.

let p = 0
const op = (f: 'read' | 'write', value: number | null, start: number, end: number, outcome: Op['outcome'] = 'ok', key = 1): Op =>
  ({ process: p++, node: 1, f, key, value, start, end, outcome })

describe('checkLinearizableRegisters', () => {
  it('accepts sequential and overlapping histories that have an order', () => {
    expect(checkLinearizableRegisters([op('write', 1, 0, 10), op('read', 1, 11, 12), op('write', 2, 13, 20), op('read', 2, 21, 22)]).counts).toEqual({})
    // A read overlapping a write may see either value.
    expect(checkLinearizableRegisters([op('write', 1, 0, 10), op('write', 2, 11, 30), op('read', 1, 12, 14), op('read', 2, 15, 40)]).counts).toEqual({})
    // Before any write: null.
    expect(checkLinearizableRegisters([op('read', null, 0, 1), op('write', 5, 2, 3)]).counts).toEqual({})
  })

  it('names a stale read (the value was overwritten before the read started)', () => {
    const r = checkLinearizableRegisters([op('write', 1, 0, 10), op('write', 2, 11, 20), op('read', 1, 21, 22)])
    expect(r.counts).toEqual({ 'non-linearizable': 1 })
    expect(r.examples[0]).toMatch(/key 1: no order explains read 1/)
  })

  it('names a read of a value never written, and a read going back in time', () => {
    expect(checkLinearizableRegisters([op('write', 1, 0, 10), op('read', 7, 11, 12)]).counts).toEqual({ 'non-linearizable': 1 })
    // Two sequential reads see 2 then 1, while the writes of 1 then 2 overlap both: 1 after 2 is impossible.
    expect(checkLinearizableRegisters([op('write', 1, 0, 100), op('write', 2, 0, 100), op('read', 2, 10, 20), op('read', 1, 30, 40), op('read', 2, 50, 60)]).counts).toEqual({ 'non-linearizable': 1 })
  })

  it('an unknown write may have happened at any time after it started, or never; failed ones never', () => {
    expect(checkLinearizableRegisters([op('write', 1, 0, 10), op('write', 2, 11, 12, 'unknown'), op('read', 2, 100, 101), op('read', 2, 102, 103)]).counts).toEqual({})
    expect(checkLinearizableRegisters([op('write', 1, 0, 10), op('write', 2, 11, 12, 'unknown'), op('read', 1, 100, 101)]).counts).toEqual({})
    // Once 2 was read, 1 cannot come back (unless written again).
    expect(checkLinearizableRegisters([op('write', 1, 0, 10), op('write', 2, 11, 12, 'unknown'), op('read', 2, 100, 101), op('read', 1, 102, 103)]).counts).toEqual({ 'non-linearizable': 1 })
    expect(checkLinearizableRegisters([op('write', 1, 0, 10), op('write', 2, 11, 12, 'fail'), op('read', 2, 100, 101)]).counts).toEqual({ 'non-linearizable': 1 })
  })

  it('checks keys independently and reports a key whose search ran out of budget as undecided', () => {
    const h = [op('write', 1, 0, 10, 'ok', 1), op('read', 1, 11, 12, 'ok', 1), op('write', 9, 0, 10, 'ok', 2), op('read', 8, 11, 12, 'ok', 2)]
    const r = checkLinearizableRegisters(h)
    expect(r.counts).toEqual({ 'non-linearizable': 1 })
    expect(r.examples[0]).toMatch(/^non-linearizable: key 2/)
    const many = Array.from({ length: 40 }, (_, i) => op('write', i, 0, 1000))
    many.push(op('read', 12345, 2000, 2001))
    expect(checkLinearizableRegisters(many, { budget: 1000 }).undecided).toEqual([1])
  })

  it('drops unknown writes nobody read before searching (a partition leaves hundreds of them)', () => {
    // 40 unknown writes overlapping everything, none read: without the pruning the search tries
    // their orders and runs out of a small budget; with it the history is two operations.
    const h = Array.from({ length: 40 }, (_, i) => op('write', 100 + i, 0, 0, 'unknown'))
    h.push(op('write', 1, 0, 10), op('read', 1, 2000, 2001))
    expect(checkLinearizableRegisters(h, { budget: 1000 })).toEqual({ counts: {}, examples: [], undecided: [] })
    // One of them read: it stays, and a later read of the older value is still caught.
    const g = [...h.slice(0, 40), op('write', 1, 0, 10), op('read', 105, 2000, 2001), op('read', 1, 2002, 2003)]
    expect(checkLinearizableRegisters(g, { budget: 100_000 }).counts).toEqual({ 'non-linearizable': 1 })
  })
})
