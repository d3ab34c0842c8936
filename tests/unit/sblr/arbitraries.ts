// fast-check arbitraries of SQL types and values, shared by the sql, sblr and vm tests.
import fc from 'fast-check'
import { Decimal } from '../../../src/sql/decimal'
import { MAX_DAYS, MAX_MICROS, MIN_DAYS, MIN_MICROS, SqlDate, SqlTimestamp } from '../../../src/sql/datetime'
import { charType, decimalType, INT_RANGES, type SqlType, T } from '../../../src/sql/types'
import { SqlUuid, type SqlValue } from '../../../src/sql/values'

/** Well-formed strings over all of Unicode (no lone surrogates: they cannot be stored as UTF-8). */
export const textArb = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => {
  try { encodeURIComponent(s); return true } catch { return false }
})

export const typeArb: fc.Arbitrary<SqlType> = fc.oneof(
  fc.constantFrom<SqlType>(T.boolean, T.smallint, T.integer, T.bigint, T.numeric, T.real, T.double, T.text,
    T.varchar, T.bytea, T.uuid, T.date, T.timestamp),
  fc.integer({ min: 1, max: 30 }).chain((p) => fc.integer({ min: 0, max: p }).map((s) => decimalType(p, s))),
  fc.integer({ min: 1, max: 8 }).map((n) => charType('char', n)),
  fc.integer({ min: 1, max: 8 }).map((n) => charType('varchar', n))
)

export function decimalArb (precision = 30, scale?: number): fc.Arbitrary<Decimal> {
  const lim = 10n ** BigInt(precision) - 1n
  const scaleArb = scale === undefined ? fc.integer({ min: 0, max: precision }) : fc.constant(scale)
  return fc.tuple(fc.bigInt({ min: -lim, max: lim }), scaleArb).map(([u, s]) => new Decimal(u, s))
}

/** A non-NULL value of type t, in t's representation (char values blank-padded). */
export function valueArb (t: SqlType): fc.Arbitrary<NonNullable<SqlValue>> {
  switch (t.kind) {
    case 'boolean': return fc.boolean()
    case 'smallint': case 'integer': case 'bigint': return fc.bigInt(INT_RANGES[t.kind])
    case 'decimal': return t.precision === undefined ? decimalArb() : decimalArb(t.precision, t.scale)
    case 'real': return fc.float()
    case 'double': return fc.double()
    case 'text': return textArb
    case 'varchar': return t.length === undefined ? textArb : textArb.map((s) => [...s].slice(0, t.length).join(''))
    case 'char': return textArb.map((s) => { const cps = [...s].slice(0, t.length); return cps.join('') + ' '.repeat(t.length! - cps.length) })
    case 'bytea': return fc.uint8Array({ maxLength: 12 })
    case 'uuid': return fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => new SqlUuid(b))
    case 'date': return fc.integer({ min: MIN_DAYS, max: MAX_DAYS }).map((d) => new SqlDate(d))
    case 'timestamp': return fc.bigInt({ min: MIN_MICROS, max: MAX_MICROS }).map((m) => new SqlTimestamp(m))
  }
  throw new Error(`no arbitrary for ${t.kind}`)
}

export function nullableValueArb (t: SqlType): fc.Arbitrary<SqlValue> {
  return fc.option(valueArb(t), { freq: 5, nil: null })
}
