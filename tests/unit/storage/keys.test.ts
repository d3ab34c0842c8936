import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import {
  backKey, backRangeOfRow, compareBytes, decodeRowKey, decodeTuple, encodeTuple, rowKey, rowScanRange,
  type Tuple, type TupleValue
} from '../../../src/storage/keys'

// Reference orders, written independently of the encoder.

const sign = (n: number): number => n < 0 ? -1 : n > 0 ? 1 : 0

function cmpBigint (a: bigint, b: bigint): number { return a < b ? -1 : a > b ? 1 : 0 }

/** IEEE total order as documented in keys.ts: -Inf < … < -0 < +0 < … < +Inf < NaN. */
function cmpDouble (a: number, b: number): number {
  const an = Number.isNaN(a)
  const bn = Number.isNaN(b)
  if (an || bn) return an && bn ? 0 : an ? 1 : -1
  if (a < b) return -1
  if (a > b) return 1
  if (a === 0 && b === 0) return Object.is(a, b) ? 0 : Object.is(a, -0) ? -1 : 1
  return 0
}

/** Text compares by Unicode code points (explicitly NOT JavaScript's UTF-16 `<`). */
function cmpText (a: string, b: string): number {
  const ca = Array.from(a, c => c.codePointAt(0)!)
  const cb = Array.from(b, c => c.codePointAt(0)!)
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i]! - cb[i]!
  return ca.length - cb.length
}

function cmpRawBytes (a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

type ColType = 'int' | 'double' | 'text' | 'bytes' | 'uuid' | 'bool'

function cmpValue (t: ColType, a: TupleValue, b: TupleValue): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1
  switch (t) {
    case 'int': return cmpBigint(a as bigint, b as bigint)
    case 'double': return cmpDouble(a as number, b as number)
    case 'text': return cmpText(a as string, b as string)
    case 'bytes': return cmpRawBytes(a as Uint8Array, b as Uint8Array)
    case 'uuid': return cmpRawBytes((a as { uuid: Uint8Array }).uuid, (b as { uuid: Uint8Array }).uuid)
    case 'bool': return Number(a) - Number(b)
  }
}

const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n

const int64 = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: -70_000n, max: 70_000n }),
  fc.constantFrom(0n, 1n, -1n, 255n, 256n, -255n, -256n, INT64_MIN, INT64_MAX, (1n << 53n), -(1n << 53n))
)
const doubleArb = fc.oneof(fc.double(), fc.constantFrom(0, -0, Infinity, -Infinity, NaN, Number.MIN_VALUE, -Number.MIN_VALUE))
const textArb = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('', '\0', 'a\0', 'a\0b', 'a', 'ab', '\uffff', '\u{10000}', '\ufeffbom'))
const bytesArb = fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.constantFrom(Uint8Array.of(), Uint8Array.of(0), Uint8Array.of(0, 0xff), Uint8Array.of(0xff)))
const uuidArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map(u => ({ uuid: u }))

function valueArb (t: ColType, nullable: boolean): fc.Arbitrary<TupleValue> {
  const base: fc.Arbitrary<TupleValue> = t === 'int'
    ? int64
    : t === 'double' ? doubleArb : t === 'text' ? textArb : t === 'bytes' ? bytesArb : t === 'uuid' ? uuidArb : fc.boolean()
  return nullable ? fc.option(base, { nil: null, freq: 4 }) : base
}

const colTypes: ColType[] = ['int', 'double', 'text', 'bytes', 'uuid', 'bool']

/** A schema (column types, nullability) and two tuples of it. */
const schemaPair = fc.array(fc.record({ t: fc.constantFrom(...colTypes), nullable: fc.boolean() }), { minLength: 1, maxLength: 4 })
  .chain(schema => {
    const tuple = fc.tuple(...schema.map(c => valueArb(c.t, c.nullable)))
    return fc.tuple(fc.constant(schema.map(c => c.t)), tuple, tuple)
  })

function cmpTuple (schema: ColType[], a: Tuple, b: Tuple): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = cmpValue(schema[i]!, a[i]!, b[i]!)
    if (c !== 0) return sign(c)
  }
  return sign(a.length - b.length)
}

/** decode(encode(x)) = x, with -0 and NaN compared exactly. */
function sameTuple (a: Tuple, b: Tuple): boolean {
  if (a.length !== b.length) return false
  return a.every((x, i) => {
    const y = b[i]
    if (typeof x === 'number') return typeof y === 'number' && Object.is(x, y)
    if (x instanceof Uint8Array) return y instanceof Uint8Array && cmpRawBytes(x, y) === 0
    if (x !== null && typeof x === 'object') return y !== null && typeof y === 'object' && !(y instanceof Uint8Array) && cmpRawBytes(x.uuid, y.uuid) === 0
    return x === y
  })
}

describe('tuple encoding order = value order (unsigned bytes)', () => {
  const prop = <T extends TupleValue>(arb: fc.Arbitrary<T>, cmp: (a: T, b: T) => number): void => {
    fc.assert(fc.property(arb, arb, (a, b) => {
      expect(sign(compareBytes(encodeTuple([a]), encodeTuple([b])))).toBe(sign(cmp(a, b)))
    }), { numRuns: 2000 })
  }

  it('int64 bigints incl. negatives and extremes', () => prop(int64, cmpBigint))
  it('doubles in IEEE total order (-0 < +0, NaN last)', () => prop(doubleArb, cmpDouble))
  it('text by code point (= UTF-8 bytes), incl. embedded NUL and astral chars', () => prop(textArb, cmpText))
  it('bytes, incl. 0x00 and 0xff', () => prop(bytesArb, cmpRawBytes))
  it('UUIDs as unsigned 16 bytes', () => prop(uuidArb, (a, b) => cmpRawBytes(a.uuid, b.uuid)))
  it('booleans', () => prop(fc.boolean(), (a, b) => Number(a) - Number(b)))

  it('composite tuples of one schema, NULL first in each column', () => {
    fc.assert(fc.property(schemaPair, ([schema, a, b]) => {
      expect(sign(compareBytes(encodeTuple(a), encodeTuple(b)))).toBe(cmpTuple(schema, a, b))
    }), { numRuns: 3000 })
  })

  it('NULL sorts before every other value; a prefix tuple before its extensions', () => {
    fc.assert(fc.property(fc.constantFrom(...colTypes).chain(t => valueArb(t, false)), v => {
      expect(compareBytes(encodeTuple([null]), encodeTuple([v]))).toBeLessThan(0)
      expect(compareBytes(encodeTuple([v]), encodeTuple([v, null]))).toBeLessThan(0)
    }))
  })

  it('JS string < is not the order used (documented: code points)', () => {
    const a = '\uffff'
    const b = '\u{10000}' // surrogate pair 0xd800…: UTF-16 says b < a, code points say a < b
    expect(b < a).toBe(true)
    expect(compareBytes(encodeTuple([a]), encodeTuple([b]))).toBeLessThan(0)
  })
})

describe('tuple round trip', () => {
  it('decode(encode(x)) = x for any schema', () => {
    fc.assert(fc.property(schemaPair, ([, a]) => {
      expect(sameTuple(decodeTuple(encodeTuple(a)), a)).toBe(true)
    }), { numRuns: 3000 })
  })

  it('garbage either decodes to a tuple that re-encodes to the same bytes, or is SB_STORAGE_CORRUPT', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), bytes => {
      let t: TupleValue[]
      try {
        t = decodeTuple(bytes)
      } catch (e) {
        expect(isScratchBirdError(e, 'SB_STORAGE_CORRUPT')).toBe(true)
        return
      }
      expect(Buffer.from(encodeTuple(t)).equals(Buffer.from(bytes))).toBe(true)
    }), { numRuns: 5000 })
  })

  it('rejects bad input values with SB_BAD_ARGUMENT', () => {
    for (const bad of [[1n << 63n], [-(1n << 63n) - 1n], ['\ud800'], ['x\udc00y'], [{ uuid: new Uint8Array(15) }], [undefined as unknown as TupleValue]]) {
      expect(() => encodeTuple(bad as Tuple)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    }
  })

  it('canonical NaN: -NaN encodes like NaN', () => {
    const negNaN = new Float64Array(new BigUint64Array([0xfff8000000000001n]).buffer)[0]!
    expect(Number.isNaN(negNaN)).toBe(true)
    expect(Buffer.from(encodeTuple([negNaN])).equals(Buffer.from(encodeTuple([NaN])))).toBe(true)
  })
})

describe('key spaces', () => {
  it('row keys group by table, then pk order; decodeRowKey finds the pk', () => {
    const k1 = rowKey(7, [1n, 'a'])
    const k2 = rowKey(7, [1n, 'b'])
    const k3 = rowKey(8, [0n])
    expect(compareBytes(k1, k2)).toBeLessThan(0)
    expect(compareBytes(k2, k3)).toBeLessThan(0)
    const { tableId, pkOffset } = decodeRowKey(k2)
    expect(tableId).toBe(7)
    expect(decodeTuple(k2, pkOffset)).toEqual([1n, 'b'])
  })

  it('back versions of a row sit in its back range, ordered by version id', () => {
    const rk = rowKey(3, ['x'])
    const other = rowKey(3, ['x\0'])
    const v1 = new Uint8Array(16).fill(1)
    const v2 = new Uint8Array(16).fill(2)
    const r = backRangeOfRow(rk)
    for (const v of [v1, v2]) {
      const bk = backKey(rk, v)
      expect(compareBytes(bk, r.gte)).toBeGreaterThanOrEqual(0)
      expect(compareBytes(bk, r.lt)).toBeLessThan(0)
    }
    expect(compareBytes(backKey(rk, v1), backKey(rk, v2))).toBeLessThan(0)
    const ob = backKey(other, v1)
    expect(compareBytes(ob, r.gte) < 0 || compareBytes(ob, r.lt) >= 0).toBe(true)
  })

  it('scan ranges treat a shorter bound tuple as a prefix', () => {
    const inRange = (r: { gte: Uint8Array, lt: Uint8Array }, k: Uint8Array): boolean => compareBytes(k, r.gte) >= 0 && compareBytes(k, r.lt) < 0
    const k = (a: bigint, b: bigint): Uint8Array => rowKey(1, [a, b])
    expect(inRange(rowScanRange(1, { gte: [5n] }), k(5n, -9n))).toBe(true)
    expect(inRange(rowScanRange(1, { gt: [5n] }), k(5n, 9n))).toBe(false)
    expect(inRange(rowScanRange(1, { gt: [5n] }), k(6n, -9n))).toBe(true)
    expect(inRange(rowScanRange(1, { lt: [5n] }), k(5n, -9n))).toBe(false)
    expect(inRange(rowScanRange(1, { lte: [5n] }), k(5n, 9n))).toBe(true)
    expect(inRange(rowScanRange(1, { lte: [5n] }), k(6n, -9n))).toBe(false)
    expect(inRange(rowScanRange(1, {}), rowKey(2, [0n, 0n]))).toBe(false)
    expect(inRange(rowScanRange(1, { gte: [1n, 2n], lte: [1n, 2n] }), k(1n, 2n))).toBe(true)
  })
})
