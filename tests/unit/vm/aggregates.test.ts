import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import type { AggKind } from '../../../src/sblr/opcodes'
import { parseDecimal } from '../../../src/types/decimal'
import { T } from '../../../src/types/sql-types'
import type { SqlValue } from '../../../src/types/values'
import { decodeAggState } from '../../../src/vm/aggregates'
import { Vm } from '../../../src/vm/vm'
import { decimalArb } from '../sblr/arbitraries'
import { cols, context, program } from './helpers'

const KINDS: AggKind[] = ['count_star', 'count', 'sum', 'avg', 'min', 'max']
const slots = KINDS.map((_, i) => i)

// Per row: fold column 0 into every slot.
const step = program({
  columns: [{ name: 'x', type: T.numeric }],
  aggregates: KINDS,
  asm: [['LOAD_COLUMN', 0, 0], ...slots.map((i) => ['AGG_STEP', i, 0] as const), ['SKIP']]
})
// Once per shard: the partial states, as bytes.
const partial = program({
  aggregates: KINDS,
  outputs: cols(...KINDS),
  asm: [...slots.map((i) => ['AGG_PARTIAL', i, i] as const), ['EMIT', 0, KINDS.length]]
})
// On the coordinator, per partial row: merge.
const merge = program({
  columns: cols(...KINDS),
  aggregates: KINDS,
  asm: [...slots.flatMap((i) => [['LOAD_COLUMN', i, i] as const, ['AGG_MERGE', i, i] as const]), ['SKIP']]
})
// Once at the end: the results.
const final = program({
  aggregates: KINDS,
  outputs: cols(...KINDS),
  asm: [...slots.map((i) => ['AGG_FINAL', i, i] as const), ['EMIT', 0, KINDS.length]]
})

function onePass (rows: SqlValue[]): SqlValue[] {
  const ctx = context()
  const s = new Vm(step, ctx)
  const aggs = s.newAggregates()
  for (const x of rows) s.run([x], aggs)
  return new Vm(final, ctx).run([], aggs)!
}

function sharded (shards: SqlValue[][]): SqlValue[] {
  const ctx = context()
  const s = new Vm(step, ctx)
  const p = new Vm(partial, ctx)
  const partials = shards.map((rows) => {
    const aggs = s.newAggregates()
    for (const x of rows) s.run([x], aggs)
    return p.run([], aggs)!
  })
  const m = new Vm(merge, ctx)
  const aggs = m.newAggregates()
  for (const row of partials) m.run(row, aggs)
  return new Vm(final, ctx).run([], aggs)!
}

function split<T> (xs: T[], cuts: number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (xs.length + 1)))].sort((a, b) => a - b)
  const out: T[][] = []
  let prev = 0
  for (const p of [...points, xs.length]) { out.push(xs.slice(prev, p)); prev = p }
  return out
}

describe('aggregates', () => {
  it('count, sum, avg, min, max with NULLs', () => {
    expect(onePass([1n, null, 5n, 3n])).toEqual([4n, 3n, 9n, parseDecimal('3.0000000000000000'), 1n, 5n])
    expect(onePass([])).toEqual([0n, 0n, null, null, null, null])
    expect(onePass([null])).toEqual([1n, 0n, null, null, null, null])
    expect(onePass([parseDecimal('0.1'), parseDecimal('0.2')])[2]).toEqual(parseDecimal('0.3'))
    expect(onePass([1.5, 2.5])).toEqual([2n, 2n, 4, 2, 1.5, 2.5])
  })

  it('sum of bigints past 64 bits → SB_NUMERIC_OUT_OF_RANGE at the end', () => {
    let err: unknown
    try { onePass([(1n << 62n), (1n << 62n)]) } catch (e) { err = e }
    expect(isScratchBirdError(err, 'SB_NUMERIC_OUT_OF_RANGE')).toBe(true)
  })

  it('merged partial aggregates equal the one-pass aggregate (property)', () => {
    const valueArb = fc.oneof(
      fc.array(fc.option(fc.bigInt({ min: -(1n << 40n), max: 1n << 40n }), { nil: null }), { maxLength: 30 }),
      fc.array(fc.option(decimalArb(15), { nil: null }), { maxLength: 30 }),
      fc.array(fc.option(fc.integer({ min: -1000, max: 1000 }).map((n) => n / 4), { nil: null }), { maxLength: 30 })
    ) as fc.Arbitrary<SqlValue[]>
    fc.assert(fc.property(valueArb, fc.array(fc.nat(), { maxLength: 5 }), (rows, cuts) => {
      expect(sharded(split(rows, cuts))).toEqual(onePass(rows))
    }), { numRuns: 300 })
  })

  it('malformed partial states → SB_SBLR_INVALID', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      try { decodeAggState(b) } catch (e) { expect(isScratchBirdError(e, 'SB_SBLR_INVALID')).toBe(true) }
    }), { numRuns: 2000 })
    const m = new Vm(merge, context())
    expect(() => m.run(['x', null, null, null, null, null])).toThrow(expect.objectContaining({ code: 'SB_SBLR_INVALID' }))
  })

  it('AGG_INIT resets a slot', () => {
    const p = program({
      constants: [1n],
      aggregates: ['sum'],
      outputs: cols('s'),
      asm: [['LOAD_CONST', 0, 0], ['AGG_STEP', 0, 0], ['AGG_INIT', 0], ['AGG_STEP', 0, 0], ['AGG_FINAL', 1, 0], ['EMIT', 1, 1]]
    })
    const vm = new Vm(p, context())
    expect(vm.run()).toEqual([1n])
    expect(vm.run()).toEqual([1n])
  })
})
