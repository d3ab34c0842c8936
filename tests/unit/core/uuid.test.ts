import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ManualClock } from '../../../src/core/clock'
import { isScratchBirdError } from '../../../src/core/errors'
import { SeededRng } from '../../../src/core/rng'
import {
  compareUuid, formatUuid, randomUuidV4, isRfc9562Variant, parseUuid, UuidV7Generator, uuidVersion
} from '../../../src/core/uuid'

function codeOf (fn: () => unknown): string | undefined {
  try { fn() } catch (e) { return isScratchBirdError(e) ? e.code : 'not a ScratchBirdError' }
  return undefined
}

describe('parseUuid / formatUuid', () => {
  it('parses canonical text in either case and formats lowercase', () => {
    const text = '0190F3C4-AB12-8cde-8f00-0123456789AB'
    const u = parseUuid(text)
    expect(u).toHaveLength(16)
    expect(u[0]).toBe(0x01)
    expect(u[15]).toBe(0xab)
    expect(formatUuid(u)).toBe(text.toLowerCase())
  })

  it('round-trips arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      const text = formatUuid(bytes)
      expect(text).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      expect(parseUuid(text)).toEqual(bytes)
      expect(parseUuid(text.toUpperCase())).toEqual(bytes)
    }))
  })

  it.each([
    '',
    'not-a-uuid',
    '0190f3c4ab128cde8f000123456789ab', // no dashes
    '{0190f3c4-ab12-8cde-8f00-0123456789ab}',
    '0190f3c4-ab12-8cde-8f00-0123456789a', // short
    '0190f3c4-ab12-8cde-8f00-0123456789abc', // long
    '0190f3c4_ab12-8cde-8f00-0123456789ab',
    '0190f3c4-ab12-8cde-8f00-0123456789ag',
    '0190f3c4-ab12-8cde-8f00-0123456789a\u00e9',
    ' 0190f3c4-ab12-8cde-8f00-0123456789a'
  ])('rejects %j with SB_UUID_INVALID', (text) => {
    expect(codeOf(() => parseUuid(text))).toBe('SB_UUID_INVALID')
  })

  it('says what is wrong', () => {
    expect(() => parseUuid('0190f3c4-ab12-8cde-8f00-0123456789ag')).toThrow(/non-hex character at position 35/)
    expect(() => parseUuid(42 as unknown as string)).toThrow(/not a string/)
  })

  it('rejects byte arrays that are not 16 long', () => {
    expect(codeOf(() => formatUuid(new Uint8Array(15)))).toBe('SB_UUID_INVALID')
    expect(codeOf(() => uuidVersion(new Uint8Array(17)))).toBe('SB_UUID_INVALID')
  })
})

describe('compareUuid', () => {
  it('is unsigned lexicographic byte order', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (a, b) => {
      const expected = Buffer.compare(Buffer.from(a), Buffer.from(b))
      expect(compareUuid(a, b)).toBe(expected)
      expect(compareUuid(b, a)).toBe(-expected)
    }))
    const lo = parseUuid('7fffffff-ffff-ffff-ffff-ffffffffffff')
    const hi = parseUuid('80000000-0000-0000-0000-000000000000')
    expect(compareUuid(lo, hi)).toBe(-1) // no signed-byte surprise
    expect(compareUuid(hi, hi.slice())).toBe(0)
  })
})

describe('UuidV7Generator', () => {
  it('makes version 7, RFC variant, strictly increasing ids', () => {
    const clock = new ManualClock()
    const gen = new UuidV7Generator(clock, new SeededRng(7))
    let prev = gen.generate()
    let bad = 0 // counted, not expect()ed per id: 20k expect calls dominate the run time
    for (let i = 0; i < 20_000; i++) {
      if (i % 3000 === 0) clock.advance(1)
      if (i === 10_000) clock.setWall(clock.now() - 5000) // NTP step backwards
      const u = gen.generate()
      if (uuidVersion(u) !== 7 || !isRfc9562Variant(u) || compareUuid(prev, u) !== -1) bad++
      prev = u
    }
    expect(bad).toBe(0)
  })

  it('carries the wall-clock millisecond in the first 48 bits', () => {
    const clock = new ManualClock(1_767_225_600_123)
    const u = new UuidV7Generator(clock, new SeededRng(1)).generate()
    expect(Buffer.from(u).readUIntBE(0, 6)).toBe(1_767_225_600_123)
  })

  it('generateInto writes at an offset without touching neighbours', () => {
    const gen = new UuidV7Generator(new ManualClock(), new SeededRng(2))
    const buf = new Uint8Array(34).fill(0xee)
    gen.generateInto(buf, 1)
    expect(buf[0]).toBe(0xee)
    expect(buf[17]).toBe(0xee)
    expect(uuidVersion(buf.subarray(1, 17))).toBe(7)
  })
})

describe('randomUuidV4', () => {
  it('makes RFC 9562 version-4 ids from the injected Rng, reproducibly', () => {
    const a = randomUuidV4(new SeededRng(7))
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(randomUuidV4(new SeededRng(7))).toBe(a)
    expect(randomUuidV4(new SeededRng(8))).not.toBe(a)
  })
})
