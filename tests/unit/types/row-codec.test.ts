import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { Decimal } from '../../../src/types/decimal'
import { decodeColumn, decodeRow, encodeRow, RowImage } from '../../../src/types/row-codec'
import { charType, decimalType, type SqlType, T } from '../../../src/types/sql-types'
import { SqlUuid, type SqlValue } from '../../../src/types/values'
import { nullableValueArb, typeArb } from '../sblr/arbitraries'

const rowArb = fc.array(typeArb, { maxLength: 20 }).chain((types) =>
  fc.tuple(fc.constant(types), fc.tuple(...types.map(nullableValueArb)) as fc.Arbitrary<SqlValue[]>))

const TYPES: SqlType[] = [T.integer, T.text, decimalType(10, 2), T.uuid, T.boolean, charType('char', 3)]
const VALUES: SqlValue[] = [7n, 'héllo', new Decimal(12345n, 2), new SqlUuid(new Uint8Array(16).fill(1)), null, 'ab ']

describe('row codec', () => {
  it('round-trips a known row and reads single columns', () => {
    const bytes = encodeRow(TYPES, VALUES)
    expect(bytes[0]).toBe(1)
    expect(decodeRow(TYPES, bytes)).toEqual(VALUES)
    expect(decodeColumn(TYPES, bytes, 2)).toEqual(new Decimal(12345n, 2))
    const img = new RowImage(TYPES, bytes)
    expect(img.isNull(4)).toBe(true)
    expect(img.get(1)).toBe('héllo')
  })

  it('round-trips random rows (property)', () => {
    fc.assert(fc.property(rowArb, ([types, values]) => {
      const bytes = encodeRow(types, values)
      expect(decodeRow(types, bytes)).toEqual(values)
      const img = new RowImage(types, bytes)
      for (let i = types.length - 1; i >= 0; i--) expect(img.get(i)).toEqual(values[i])
    }), { numRuns: 300 })
  })

  it('reads columns added after the row was written as NULL', () => {
    const bytes = encodeRow([T.integer], [1n])
    expect(decodeRow([T.integer, T.text], bytes)).toEqual([1n, null])
  })

  it('switches to 4-byte offsets for large rows', () => {
    const big = 'x'.repeat(70_000)
    const bytes = encodeRow([T.text, T.integer], [big, 5n])
    expect(bytes[1]).toBe(1)
    expect(decodeRow([T.text, T.integer], bytes)).toEqual([big, 5n])
  })

  it('rejects values that do not have the column representation', () => {
    for (const [t, v] of [[T.integer, 'x'], [T.smallint, 40000n], [T.text, 1n], [T.uuid, new Uint8Array(16)]] as const) {
      expect(() => encodeRow([t], [v])).toThrow(expect.objectContaining({ code: 'SB_DATATYPE_MISMATCH' }))
    }
  })

  it('garbage and damaged images → SB_STORAGE_CORRUPT (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(typeArb, { maxLength: 6 }), (bytes, types) => {
      try {
        new RowImage(types, bytes).values()
      } catch (e) {
        expect(isScratchBirdError(e, 'SB_STORAGE_CORRUPT'), String(e)).toBe(true)
      }
    }), { numRuns: 2000 })
    // Bit flips, truncations and extensions of valid images: decoded or SB_STORAGE_CORRUPT.
    fc.assert(fc.property(rowArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -3, max: 3 }),
      ([types, values], at, byte, grow) => {
        const good = encodeRow(types, values)
        const bad = new Uint8Array(Math.max(0, good.length + grow))
        bad.set(good.subarray(0, bad.length))
        if (bad.length > 0) bad[at % bad.length] = byte
        try {
          new RowImage(types, bad).values()
        } catch (e) {
          expect(isScratchBirdError(e, 'SB_STORAGE_CORRUPT'), String(e)).toBe(true)
        }
      }), { numRuns: 2000 })
  })

  it('specific corruptions', () => {
    const good = encodeRow([T.boolean, T.text], [true, 'a'])
    const cases: Array<[string, (b: Uint8Array) => void]> = [
      ['format', (b) => { b[0] = 2 }],
      ['flags', (b) => { b[1] = 4 }],
      ['boolean byte', (b) => { b[b.length - 2] = 7 }],
      ['utf-8', (b) => { b[b.length - 1] = 0xff }]
    ]
    for (const [name, damage] of cases) {
      const b = good.slice()
      damage(b)
      expect(() => decodeRow([T.boolean, T.text], b), name).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    }
    // More stored columns than the reader knows is a row written under a newer catalog (ADD
    // COLUMN not seen yet): the extra ones are ignored, but still bounds-checked.
    expect(decodeRow([T.boolean], good)).toEqual([true])
    const cut = good.slice(0, good.length - 1)
    expect(() => decodeRow([T.boolean], cut)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })

  it('a row stored before ADD COLUMN reads the column\'s missing value; NULL without one', () => {
    const old = encodeRow([T.integer], [1n])
    expect(decodeRow([T.integer, T.text, T.integer], old, [null, 'dflt', null])).toEqual([1n, 'dflt', null])
    const image = new RowImage([T.integer, T.text], old, [null, 'dflt'])
    expect(image.get(1)).toBe('dflt')
    expect(image.isNull(1)).toBe(false)
    expect(decodeRow([T.integer, T.text], old)).toEqual([1n, null])
    // A stored value wins over the missing one.
    expect(decodeRow([T.integer, T.text], encodeRow([T.integer, T.text], [2n, null]), [null, 'dflt'])).toEqual([2n, null])
  })
})
