import { describe, expect, it } from 'vitest'
import { numericBinary, numericFromBinary, paramValue, textOf } from '../../../../src/net/pgwire/values'
import { OID } from '../../../../src/net/pgwire/types'
import { parseDecimal, formatDecimal } from '../../../../src/types/decimal'
import { parseDate, parseTimestamp } from '../../../../src/types/datetime'
import { T } from '../../../../src/types/sql-types'
import { isScratchBirdError } from '../../../../src/core/errors'

describe('NUMERIC binary format', () => {
  it('encodes as PostgreSQL does (base-10000 digits, weight, sign, dscale)', () => {
    // SELECT '-123456789.125'::numeric sent in binary by PostgreSQL 15
    expect([...numericBinary(parseDecimal('-123456789.125'))]).toEqual([0, 4, 0, 2, 0x40, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x85, 0x04, 0xe2])
    // 0.00: no digits, weight 0, dscale 2
    expect([...numericBinary(parseDecimal('0.00'))]).toEqual([0, 0, 0, 0, 0, 0, 0, 2])
    // 10000: one digit 1 at weight 1 (trailing zero groups dropped)
    expect([...numericBinary(parseDecimal('10000'))]).toEqual([0, 1, 0, 1, 0, 0, 0, 0, 0, 1])
    // 0.0001: one digit 1 at weight -1
    expect([...numericBinary(parseDecimal('0.0001'))]).toEqual([0, 1, 0xff, 0xff, 0, 0, 0, 4, 0, 1])
  })

  it('reads back what it writes', () => {
    for (const text of ['0', '1', '-1', '0.5', '12345678901234567890.0987654321', '0.000000012', '-99990000', '100000000.00', '1.10']) {
      const d = parseDecimal(text)
      expect(numericFromBinary(numericBinary(d)), text).toBe(formatDecimal(d))
    }
  })
})

describe('text output and parameters', () => {
  it('prints values as PostgreSQL does', () => {
    expect(textOf(true, T.boolean)).toBe('t')
    expect(textOf(0.1, T.real)).toBe('0.1')
    expect(textOf(Math.fround(0.1), T.real)).toBe('0.1')
    expect(textOf(new Uint8Array([0, 255]), T.bytea)).toBe('\\x00ff')
    expect(textOf(parseDate('0099-01-02'), T.date)).toBe('0099-01-02')
    expect(textOf(parseTimestamp('2024-01-02 03:04:05.5'), T.timestamp)).toBe('2024-01-02 03:04:05.5')
    expect(textOf(null, T.text)).toBe(null)
  })

  it('reads typed text parameters strictly and leaves the rest as text', () => {
    expect(paramValue(Buffer.from(' -42 '), false, OID.int4)).toBe(-42n)
    expect(paramValue(Buffer.from('-Infinity'), false, OID.float8)).toBe(-Infinity)
    expect(paramValue(Buffer.from('on'), false, OID.bool)).toBe(true)
    expect(paramValue(Buffer.from('2024-01-01'), false, 0)).toBe('2024-01-01')
    expect(paramValue(null, true, OID.int4)).toBe(null)
    for (const [bytes, oid] of [['4x', OID.int8], ['maybe', OID.bool], ['1.5.', OID.float4]] as const) {
      let err: unknown
      try { paramValue(Buffer.from(bytes), false, oid) } catch (e) { err = e }
      expect(isScratchBirdError(err, 'SB_INVALID_TEXT_REPRESENTATION'), bytes).toBe(true)
    }
    let wrongSize: unknown
    try { paramValue(Buffer.alloc(3), true, OID.int4) } catch (e) { wrongSize = e }
    expect(isScratchBirdError(wrongSize, 'SB_INVALID_TEXT_REPRESENTATION')).toBe(true)
  })
})
