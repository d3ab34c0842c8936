import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { compareBytes, decodeTuple, encodeTuple } from '../../../src/storage/keys'
import { Decimal, parseDecimal } from '../../../src/types/decimal'
import { decodeDecimalKey, encodeDecimalKey, keyToValue, valueToKey } from '../../../src/types/key-codec'
import { decimalType, type SqlType, T } from '../../../src/types/sql-types'
import { compareValues, sortCompare, type SqlValue } from '../../../src/types/values'
import { decimalArb, nullableValueArb, typeArb } from '../sblr/arbitraries'

const sign = (n: number): number => n < 0 ? -1 : n > 0 ? 1 : 0

function keyBytes (v: SqlValue, t: SqlType): Uint8Array {
  return encodeTuple([valueToKey(v, t)])
}

describe('primary-key mapping', () => {
  it('key byte order = SQL order, for every type (property)', () => {
    const arb = typeArb.chain((t) => fc.tuple(fc.constant(t), nullableValueArb(t), nullableValueArb(t)))
    fc.assert(fc.property(arb, ([t, a, b]) => {
      // Keys sort NULL first (storage), i.e. SQL order with NULLS FIRST.
      const sql = sortCompare(a, b, { nullsFirst: true })
      expect(sign(compareBytes(keyBytes(a, t), keyBytes(b, t)))).toBe(sign(sql))
    }), { numRuns: 3000 })
  })

  it('key → value round trip (property)', () => {
    const arb = typeArb.chain((t) => fc.tuple(fc.constant(t), nullableValueArb(t)))
    fc.assert(fc.property(arb, ([t, v]) => {
      const back = keyToValue(decodeTuple(keyBytes(v, t))[0]!, t)
      if (v === null || back === null) expect(back).toBe(v)
      else if (v instanceof Decimal && t.precision === undefined) expect(compareValues(back, v)).toBe(0) // scale is not kept
      else if (Object.is(v, -0)) expect(back).toBe(0)
      else expect(back).toEqual(v)
    }), { numRuns: 2000 })
  })

  it('DECIMAL keys: equal values share a key; order across signs and magnitudes (property)', () => {
    expect(encodeDecimalKey(parseDecimal('1.50'))).toEqual(encodeDecimalKey(parseDecimal('1.5')))
    expect(encodeDecimalKey(parseDecimal('-0.00'))).toEqual(encodeDecimalKey(parseDecimal('0')))
    const wide = fc.oneof(decimalArb(40), decimalArb(3), fc.constantFrom(...['-0.1', '-0.10001', '-0.1001', '0.1', '0.10001', '100', '-100', '99.9', '-99.9', '1e-30', '-1e30'].map(parseDecimal)))
    fc.assert(fc.property(wide, wide, (a, b) => {
      const ka = encodeTuple([encodeDecimalKey(a)])
      const kb = encodeTuple([encodeDecimalKey(b)])
      expect(sign(compareBytes(ka, kb))).toBe(compareValues(a, b))
      expect(compareValues(decodeDecimalKey(encodeDecimalKey(a)), a)).toBe(0)
    }), { numRuns: 5000 })
  })

  it('DECIMAL(p,s) keys decode to the column scale', () => {
    const t = decimalType(8, 3)
    expect(keyToValue(valueToKey(new Decimal(1500n, 3), t), t)).toEqual(new Decimal(1500n, 3))
  })

  it('malformed key elements → SB_STORAGE_CORRUPT', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
      try { decodeDecimalKey(b) } catch (e) { expect(isScratchBirdError(e, 'SB_STORAGE_CORRUPT')).toBe(true) }
    }), { numRuns: 2000 })
    expect(() => keyToValue('x', T.integer)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    expect(() => keyToValue(70000n, T.smallint)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    expect(() => keyToValue(1n << 40n, T.date)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })
})
