import { describe, expect, it } from 'vitest'
import { type ErrorCode, isScratchBirdError } from '../../../src/core/errors'
import { parseUuid } from '../../../src/core/uuid'
import { castValue, assignValue } from '../../../src/types/cast'
import { Decimal, parseDecimal } from '../../../src/types/decimal'
import { parseDate, parseTimestamp, SqlDate, SqlTimestamp } from '../../../src/types/datetime'
import { charType, decimalType, numericResultType, T, typeFromName, typeName } from '../../../src/types/sql-types'
import {
  and3, compareText, compareValues, not3, or3, sameGroup, sortCompare, SqlUuid, type SqlValue, valueToJson, valueToText
} from '../../../src/types/values'

function code (f: () => unknown): ErrorCode | 'no error' | 'other' {
  try { f(); return 'no error' } catch (e) { return isScratchBirdError(e) ? e.code : 'other' }
}

describe('three-valued logic', () => {
  const U = null
  const vals = [true, false, U] as const
  it('AND truth table', () => {
    const expected = [[true, false, U], [false, false, false], [U, false, U]]
    vals.forEach((a, i) => vals.forEach((b, j) => expect(and3(a, b)).toBe(expected[i]![j])))
  })
  it('OR truth table', () => {
    const expected = [[true, true, true], [true, false, U], [true, U, U]]
    vals.forEach((a, i) => vals.forEach((b, j) => expect(or3(a, b)).toBe(expected[i]![j])))
  })
  it('NOT', () => {
    expect([not3(true), not3(false), not3(null)]).toEqual([false, true, null])
  })
})

describe('casts', () => {
  it('text to integers, with range and syntax errors', () => {
    expect(castValue(' 42 ', T.integer)).toBe(42n)
    expect(castValue('-32768', T.smallint)).toBe(-32768n)
    expect(code(() => castValue('32768', T.smallint))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(code(() => castValue('9223372036854775808', T.bigint))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(castValue('9223372036854775807', T.bigint)).toBe(9223372036854775807n)
    expect(code(() => castValue('1.5', T.integer))).toBe('SB_INVALID_TEXT_REPRESENTATION')
    expect(code(() => castValue('abc', T.bigint))).toBe('SB_INVALID_TEXT_REPRESENTATION')
  })
  it('numbers between numeric types', () => {
    expect(castValue(2.5, T.integer)).toBe(2n) // rint: half to even, as PostgreSQL
    expect(castValue(3.5, T.integer)).toBe(4n)
    expect(castValue(new Decimal(25n, 1), T.integer)).toBe(3n) // numeric rounds half away from zero
    expect(castValue(new Decimal(-25n, 1), T.integer)).toBe(-3n)
    expect(code(() => castValue(NaN, T.integer))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(code(() => castValue(70000n, T.smallint))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(castValue(1n, T.double)).toBe(1)
    expect(code(() => castValue(1e300, T.real))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(castValue('Infinity', T.double)).toBe(Infinity)
    expect(code(() => castValue('1e999', T.double))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(code(() => castValue('0x10', T.double))).toBe('SB_INVALID_TEXT_REPRESENTATION')
    expect(castValue(0.1, T.numeric)).toEqual(new Decimal(1n, 1))
    expect(castValue('123.456', decimalType(5, 2))).toEqual(new Decimal(12346n, 2))
    expect(code(() => castValue('1234.5', decimalType(5, 2)))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(code(() => castValue(Infinity, T.numeric))).toBe('SB_NUMERIC_OUT_OF_RANGE')
  })
  it('to text, CHAR and VARCHAR', () => {
    expect(castValue(12n, T.text)).toBe('12')
    expect(castValue(new Decimal(1230n, 2), T.text)).toBe('12.30')
    expect(castValue(true, T.text)).toBe('true')
    expect(castValue('ab', charType('char', 4))).toBe('ab  ')
    expect(castValue('abcdef', charType('varchar', 3))).toBe('abc') // explicit CAST truncates
    expect(code(() => assignValue('abcdef', charType('varchar', 3)))).toBe('SB_STRING_DATA_RIGHT_TRUNCATION')
    expect(assignValue('abc   ', charType('varchar', 3))).toBe('abc') // trailing blanks may go
    expect(castValue('😀😀x', charType('varchar', 2))).toBe('😀😀') // length in characters
    expect(castValue(Uint8Array.of(0xde, 0xad), T.text)).toBe('\\xdead')
  })
  it('booleans, bytea, uuid, dates', () => {
    expect(castValue('yes', T.boolean)).toBe(true)
    expect(castValue('f', T.boolean)).toBe(false)
    expect(code(() => castValue('maybe', T.boolean))).toBe('SB_INVALID_TEXT_REPRESENTATION')
    expect(castValue('\\x00ff', T.bytea)).toEqual(Uint8Array.of(0, 255))
    expect(code(() => castValue('\\x0', T.bytea))).toBe('SB_INVALID_TEXT_REPRESENTATION')
    const u = castValue('01890A5D-AC96-8B3C-8000-000000000000', T.uuid) as SqlUuid
    expect(valueToText(u)).toBe('01890a5d-ac96-8b3c-8000-000000000000')
    expect(code(() => castValue('not-a-uuid', T.uuid))).toBe('SB_UUID_INVALID')
    expect(castValue('2024-02-29', T.date)).toEqual(new SqlDate(19782))
    expect(code(() => castValue('2023-02-29', T.date))).toBe('SB_DATETIME_FIELD_OVERFLOW')
    expect(code(() => castValue('yesterday', T.date))).toBe('SB_INVALID_TEXT_REPRESENTATION')
    expect(castValue(parseTimestamp('2024-02-29 23:59:59.5'), T.date)).toEqual(new SqlDate(19782))
    expect(castValue(new SqlDate(1), T.timestamp)).toEqual(new SqlTimestamp(86_400_000_000n))
    expect(code(() => castValue(1n, T.date))).toBe('SB_DATATYPE_MISMATCH')
    expect(code(() => castValue(new SqlDate(0), T.integer))).toBe('SB_DATATYPE_MISMATCH')
    expect(castValue(null, T.integer)).toBe(null)
  })
  it('timestamps parse with zones and render as PostgreSQL and ISO', () => {
    const ts = parseTimestamp('2026-01-01T01:30:00+01:30')
    expect(valueToText(ts)).toBe('2026-01-01 00:00:00')
    expect(valueToJson(parseTimestamp('2026-01-01 12:00:00.123456'))).toBe('2026-01-01T12:00:00.123456Z')
    expect(valueToJson(parseTimestamp('2026-01-01 12:00:00.5'))).toBe('2026-01-01T12:00:00.500Z')
    expect(valueToJson(parseTimestamp('0001-01-01'))).toBe('0001-01-01T00:00:00.000Z')
    expect(valueToJson(parseDate('9999-12-31'))).toBe('9999-12-31')
    expect(valueToJson(parseTimestamp('1969-12-31 23:59:59.999999'))).toBe('1969-12-31T23:59:59.999999Z')
  })
})

describe('DECIMAL exactness', () => {
  it('0.1 + 0.2 = 0.3 through casts', () => {
    const a = castValue('0.1', T.numeric) as Decimal
    const b = castValue('0.2', T.numeric) as Decimal
    expect(compareValues(new Decimal(a.unscaled + b.unscaled, 1), parseDecimal('0.3'))).toBe(0)
  })
})

describe('comparison and ORDER BY', () => {
  it('numbers compare across classes exactly', () => {
    expect(compareValues(1n, new Decimal(10n, 1))).toBe(0)
    expect(compareValues(9007199254740993n, 9007199254740992)).toBe(1)
    expect(compareValues(2n, 2.5)).toBe(-1)
    expect(compareValues(-3n, -3.5)).toBe(1)
    expect(compareValues(NaN, Infinity)).toBe(1)
    expect(compareValues(NaN, NaN)).toBe(0)
    expect(code(() => compareValues('a', 1n))).toBe('SB_DATATYPE_MISMATCH')
  })
  it('text compares by code point, not UTF-16 unit', () => {
    expect(compareText('\uffff', '😀')).toBe(-1) // JS '<' says the opposite
    expect('\uffff' < '😀').toBe(false)
    expect(compareText('a', 'ab')).toBe(-1)
  })
  it('NULLS LAST ascending, NULLS FIRST descending by default', () => {
    const vals: SqlValue[] = [3n, null, 1n, 2n]
    expect([...vals].sort((a, b) => sortCompare(a, b))).toEqual([1n, 2n, 3n, null])
    expect([...vals].sort((a, b) => sortCompare(a, b, { desc: true }))).toEqual([null, 3n, 2n, 1n])
    expect([...vals].sort((a, b) => sortCompare(a, b, { nullsFirst: true }))).toEqual([null, 1n, 2n, 3n])
    expect(sameGroup(null, null)).toBe(true)
    expect(sameGroup(1n, new Decimal(100n, 2))).toBe(true)
  })
})

describe('JSON rendering', () => {
  it('renders per type', () => {
    expect(valueToJson(5n, T.integer)).toBe(5)
    expect(valueToJson(5n, T.bigint)).toBe('5')
    expect(valueToJson(new Decimal(-5n, 3))).toBe('-0.005')
    expect(valueToJson(1.5)).toBe(1.5)
    expect(valueToJson(NaN)).toBe('NaN')
    expect(valueToJson(new SqlUuid(parseUuid('01890a5d-ac96-8b3c-8000-000000000001')))).toBe('01890a5d-ac96-8b3c-8000-000000000001')
    expect(valueToJson(new SqlDate(0))).toBe('1970-01-01')
    expect(valueToJson(null)).toBe(null)
    expect(valueToJson(true)).toBe(true)
  })
})

describe('types', () => {
  it('names and modifiers', () => {
    expect(typeName(typeFromName('numeric', [10, 2]))).toBe('DECIMAL(10,2)')
    expect(typeName(typeFromName('double  precision'))).toBe('DOUBLE PRECISION')
    expect(typeName(typeFromName('character varying', [20]))).toBe('VARCHAR(20)')
    expect(typeName(typeFromName('char'))).toBe('CHAR(1)')
    expect(code(() => typeFromName('decimal', [5, 6]))).toBe('SB_DATATYPE_MISMATCH')
    expect(code(() => typeFromName('blob'))).toBe('SB_DATATYPE_MISMATCH')
    expect(code(() => typeFromName('int', [3]))).toBe('SB_DATATYPE_MISMATCH')
  })
})

describe('REAL rendering', () => {
  it('uses the shortest float32 digits', () => {
    expect(valueToJson(Math.fround(0.1), T.real)).toBe(0.1)
    expect(valueToJson(Math.fround(0.1), T.double)).toBe(Math.fround(0.1))
    expect(valueToJson(Math.fround(3.4e38), T.real)).toBe(3.4e38)
  })
})

describe('numeric promotion', () => {
  it('follows PostgreSQL', () => {
    expect(numericResultType(T.smallint, T.integer)).toEqual(T.integer)
    expect(numericResultType(T.bigint, T.integer)).toEqual(T.bigint)
    expect(numericResultType(T.integer, decimalType(5, 2))).toEqual(T.numeric)
    expect(numericResultType(T.real, T.integer)).toEqual(T.real)
    expect(numericResultType(T.real, T.double)).toEqual(T.double)
    expect(() => numericResultType(T.text, T.integer)).toThrow(expect.objectContaining({ code: 'SB_DATATYPE_MISMATCH' }))
  })
})
