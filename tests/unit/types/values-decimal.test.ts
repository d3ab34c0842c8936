import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import {
  compareDecimal, Decimal, decimalAdd, decimalDiv, decimalMod, decimalMul, decimalRound, decimalSub, formatDecimal,
  MAX_DECIMAL_DIGITS, normalizeDecimal, parseDecimal
} from '../../../src/types/decimal'
import { decimalArb } from '../sblr/arbitraries'

const d = parseDecimal

describe('DECIMAL', () => {
  it('0.1 + 0.2 = 0.3 exactly', () => {
    expect(formatDecimal(decimalAdd(d('0.1'), d('0.2')))).toBe('0.3')
    expect(compareDecimal(decimalAdd(d('0.1'), d('0.2')), d('0.3'))).toBe(0)
  })
  it('arithmetic keeps scales as PostgreSQL does', () => {
    expect(formatDecimal(decimalMul(d('1.10'), d('2.5')))).toBe('2.750')
    expect(formatDecimal(decimalSub(d('1'), d('0.001')))).toBe('0.999')
    expect(formatDecimal(decimalDiv(d('1'), d('3')))).toBe('0.3333333333333333')
    expect(formatDecimal(decimalDiv(d('2'), d('3')))).toBe('0.6666666666666667')
    expect(formatDecimal(decimalDiv(d('-2'), d('3')))).toBe('-0.6666666666666667')
    expect(formatDecimal(decimalMod(d('-7.5'), d('2')))).toBe('-1.5')
    expect(formatDecimal(decimalRound(d('2.5'), 0))).toBe('3')
    expect(formatDecimal(decimalRound(d('-2.5'), 0))).toBe('-3')
    expect(formatDecimal(decimalRound(d('1234.5678'), -2))).toBe('1200')
    expect(formatDecimal(decimalRound(d('1.5'), 3))).toBe('1.500')
  })
  it('parses and formats', () => {
    expect(formatDecimal(d(' -.5 '))).toBe('-0.5')
    expect(formatDecimal(d('1e3'))).toBe('1000')
    expect(formatDecimal(d('1.5e-3'))).toBe('0.0015')
    expect(formatDecimal(d('00012.300'))).toBe('12.300')
    expect(formatDecimal(d('0.000'))).toBe('0.000')
    for (const bad of ['', '.', '1.2.3', 'abc', '1e', '--1', '1 2', 'NaN']) {
      expect(() => d(bad), bad).toThrow(expect.objectContaining({ code: 'SB_INVALID_TEXT_REPRESENTATION' }))
    }
    expect(() => d('1e5000')).toThrow(expect.objectContaining({ code: 'SB_NUMERIC_OUT_OF_RANGE' }))
    expect(formatDecimal(d('1e-5000'))).toMatch(/^0\.0+$/)
  })
  it('division by zero and digit bounds', () => {
    expect(() => decimalDiv(d('1'), d('0.00'))).toThrow(expect.objectContaining({ code: 'SB_DIVISION_BY_ZERO' }))
    expect(() => decimalMod(d('1'), d('0'))).toThrow(expect.objectContaining({ code: 'SB_DIVISION_BY_ZERO' }))
    const big = d('9'.repeat(600))
    let err: unknown
    try { decimalMul(big, big) } catch (e) { err = e }
    expect(isScratchBirdError(err, 'SB_NUMERIC_OUT_OF_RANGE')).toBe(true)
    expect(MAX_DECIMAL_DIGITS).toBe(1000)
  })
  it('format/parse round trip and exact add/sub (property)', () => {
    fc.assert(fc.property(decimalArb(), decimalArb(), (a, b) => {
      expect(parseDecimal(formatDecimal(a))).toEqual(a)
      expect(compareDecimal(decimalSub(decimalAdd(a, b), b), a)).toBe(0)
      // Order agrees with exact rational comparison: a/10^sa vs b/10^sb ⇔ a·10^sb vs b·10^sa.
      const x = a.unscaled * 10n ** BigInt(b.scale)
      const y = b.unscaled * 10n ** BigInt(a.scale)
      expect(compareDecimal(a, b)).toBe(x < y ? -1 : x > y ? 1 : 0)
      expect(compareDecimal(normalizeDecimal(a), a)).toBe(0)
    }))
  })
  it('division is within half a unit of the last place (property)', () => {
    fc.assert(fc.property(decimalArb(12), decimalArb(12).filter((b) => b.unscaled !== 0n), (a, b) => {
      const q = decimalDiv(a, b)
      // |q·b − a| ≤ |b| · 0.5·10^-q.scale, checked in integers.
      const lhs = q.unscaled * b.unscaled * 10n ** BigInt(a.scale) - a.unscaled * 10n ** BigInt(q.scale + b.scale)
      const bound = (b.unscaled < 0n ? -b.unscaled : b.unscaled) * 10n ** BigInt(a.scale)
      expect(2n * (lhs < 0n ? -lhs : lhs) <= bound).toBe(true)
    }))
  })
  it('Decimal is a plain value object', () => {
    expect(new Decimal(5n, 1).toString()).toBe('0.5')
  })
})
