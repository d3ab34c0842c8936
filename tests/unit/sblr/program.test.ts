import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { disassemble } from '../../../src/sblr/disassemble'
import { OP } from '../../../src/sblr/opcodes'
import { deserialize, type Program, SBLR_MAGIC, serialize } from '../../../src/sblr/program'
import { verifyProgram } from '../../../src/sblr/verify'
import { Decimal } from '../../../src/types/decimal'
import { decimalType, T } from '../../../src/types/sql-types'
import { programArb } from './arbitraries'

/** SELECT price * 2 AS doubled FROM t WHERE qty > $1 */
const FILTER_FIXED: Program = {
  registers: 4,
  params: 1,
  constants: [2n],
  types: [decimalType(12, 2)],
  columns: [{ name: 'price', type: decimalType(10, 2) }, { name: 'qty', type: T.integer }],
  outputs: [{ name: 'doubled', type: decimalType(12, 2) }],
  aggregates: [],
  code: [
    /* 00 */ OP.LOAD_COLUMN, 0, 1,
    /* 03 */ OP.LOAD_PARAM, 1, 0,
    /* 06 */ OP.GT, 2, 0, 1,
    /* 10 */ OP.JUMP_IF_NOT_TRUE, 2, 27,
    /* 13 */ OP.LOAD_COLUMN, 0, 0,
    /* 16 */ OP.LOAD_CONST, 1, 0,
    /* 19 */ OP.MUL, 3, 0, 1, 0,
    /* 24 */ OP.EMIT, 3, 1,
    /* 27 */ OP.SKIP
  ]
}

function code (f: () => unknown): string {
  try { f(); return 'ok' } catch (e) { return isScratchBirdError(e) ? e.code : `other: ${String(e)}` }
}

describe('SBLR programs', () => {
  it('a hand-assembled program verifies, round-trips and disassembles', () => {
    verifyProgram(FILTER_FIXED)
    const bytes = serialize(FILTER_FIXED)
    expect([...bytes.subarray(0, 4)]).toEqual([...SBLR_MAGIC])
    expect(deserialize(bytes)).toEqual(FILTER_FIXED)
    const lines = disassemble(FILTER_FIXED)
    expect(lines).toHaveLength(9)
    expect(lines[0]).toMatch(/^00 LOAD_COLUMN +r0, c1 +; r0 = column qty$/)
    expect(lines[1]).toContain('r1 = $1')
    expect(lines[3]).toContain('if r2 is false or NULL go to @27')
    expect(lines[5]).toContain('r1 = 2')
    expect(lines[6]).toContain('r3 = r0 * r1 as DECIMAL(12,2)')
    expect(lines[7]).toMatch(/EMIT +r3, #1 +; output row \(r3\)/)
  })

  it('round-trips random valid programs exactly (property)', () => {
    fc.assert(fc.property(programArb, (p) => {
      verifyProgram(p)
      const bytes = serialize(p)
      expect(deserialize(bytes)).toEqual(p)
      expect(serialize(deserialize(bytes))).toEqual(bytes)
      expect(disassemble(p).length).toBeGreaterThan(0)
    }), { numRuns: 500 })
  })

  it('random bytes → SB_SBLR_INVALID, never another exception (fuzz)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (b, withMagic) => {
      const bytes = withMagic ? new Uint8Array([...SBLR_MAGIC, 1, ...b]) : b
      const c = code(() => deserialize(bytes))
      expect(['ok', 'SB_SBLR_INVALID']).toContain(c)
    }), { numRuns: 5000 })
  })

  it('damaged serialisations of valid programs → SB_SBLR_INVALID or a valid program (fuzz)', () => {
    fc.assert(fc.property(programArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -4, max: 2 }), (p, at, byte, grow) => {
      const good = serialize(p)
      const bad = new Uint8Array(Math.max(0, good.length + grow))
      bad.set(good.subarray(0, bad.length))
      if (bad.length > 0) bad[at % bad.length] = byte
      const c = code(() => deserialize(bad))
      expect(['ok', 'SB_SBLR_INVALID']).toContain(c)
    }), { numRuns: 3000 })
  })

  it('the verifier rejects bad programs', () => {
    const base = FILTER_FIXED
    const cases: Array<[string, Partial<Program>]> = [
      ['unknown opcode', { code: [0xff, OP.SKIP] }],
      ['register out of range', { code: [OP.LOAD_NULL, 4, OP.SKIP] }],
      ['constant out of range', { code: [OP.LOAD_CONST, 0, 1, OP.SKIP] }],
      ['param out of range', { code: [OP.LOAD_PARAM, 0, 1, OP.SKIP] }],
      ['column out of range', { code: [OP.LOAD_COLUMN, 0, 2, OP.SKIP] }],
      ['jump into an instruction', { code: [OP.JUMP, 1] }],
      ['jump past the end', { code: [OP.JUMP, 2] }],
      ['falls off the end', { code: [OP.LOAD_NULL, 0] }],
      ['truncated instruction', { code: [OP.SKIP, OP.LOAD_NULL] }],
      ['empty', { code: [] }],
      ['EMIT count ≠ outputs', { code: [OP.EMIT, 0, 2] }],
      ['range past the registers', { code: [OP.COALESCE, 0, 2, 3, OP.SKIP] }],
      ['non-numeric arithmetic type', { types: [T.text], code: [OP.ADD, 0, 0, 0, 0, OP.SKIP] }],
      ['negative operand', { code: [OP.LOAD_NULL, -1, OP.SKIP] }],
      ['fractional operand', { code: [OP.LOAD_NULL, 0.5, OP.SKIP] }],
      ['aggregate slot missing', { code: [OP.AGG_INIT, 0, OP.SKIP] }],
      ['bad type', { types: [{ kind: 'decimal', precision: 2, scale: 3 }] }],
      ['bad constant', { constants: [{} as unknown as Decimal] }]
    ]
    for (const [name, change] of cases) {
      expect(code(() => verifyProgram({ ...base, ...change })), name).toBe('SB_SBLR_INVALID')
      if (name !== 'bad constant') expect(code(() => serialize({ ...base, ...change })), name).toBe('SB_SBLR_INVALID')
    }
  })

  it('input columns carry the value a stored row lacking them reads (ADD COLUMN); one that does not fit its type is refused', () => {
    const p: Program = { ...FILTER_FIXED, columns: [FILTER_FIXED.columns[0]!, { ...FILTER_FIXED.columns[1]!, missing: 5n }] }
    expect(serialize(p)[4]).toBe(2)
    expect(deserialize(serialize(p)).columns[1]).toEqual({ ...FILTER_FIXED.columns[1]!, missing: 5n })
    // Without one, format 1 (what earlier releases read).
    expect(serialize(FILTER_FIXED)[4]).toBe(1)
    expect(deserialize(serialize(FILTER_FIXED)).columns[1]).not.toHaveProperty('missing')
    const bad = serialize({ ...FILTER_FIXED, columns: [FILTER_FIXED.columns[0]!, { ...FILTER_FIXED.columns[1]!, missing: 'text' }] })
    expect(() => deserialize(bad)).toThrow(expect.objectContaining({ code: 'SB_SBLR_INVALID' }))
  })

  it('constants keep their exact values', () => {
    const p: Program = { ...FILTER_FIXED, constants: [new Decimal(-12345678901234567890123n, 7)] }
    expect(deserialize(serialize(p)).constants[0]).toEqual(new Decimal(-12345678901234567890123n, 7))
  })
})
