import { describe, expect, it } from 'vitest'
import { OP, OPCODE_BY_CODE, OPCODE_BY_NAME, OPCODES } from '../../../src/sblr/opcodes'

describe('opcode table', () => {
  it('has the seed\'s fixed numbers', () => {
    expect(OP.GEN_UUID_V7).toBe(0x8a)
    expect(OP.GEN_UUID_V8_HLC).toBe(0x8b)
    expect(OP.UUID_V8_TIMESTAMP).toBe(0x8c)
    expect(OP.UUID_V8_COUNTER).toBe(0x8d)
    expect(OP.UUID_V8_NODE_ID).toBe(0x8e)
    expect(OP.UUID_COMPARE).toBe(0x8f)
  })

  it('has unique codes and names, each a byte', () => {
    expect(new Set(OPCODES.map((o) => o.code)).size).toBe(OPCODES.length)
    expect(new Set(OPCODES.map((o) => o.name)).size).toBe(OPCODES.length)
    for (const o of OPCODES) {
      expect(o.code).toBeGreaterThanOrEqual(0)
      expect(o.code).toBeLessThan(256)
      expect(OPCODE_BY_CODE[o.code]).toBe(o)
      expect(OPCODE_BY_NAME.get(o.name)).toBe(o)
    }
  })

  it('OP names exactly the table', () => {
    expect(Object.keys(OP).sort()).toEqual(OPCODES.map((o) => o.name).sort())
    for (const [name, code] of Object.entries(OP)) expect(OPCODE_BY_NAME.get(name)!.code).toBe(code)
  })

  it('synopses mention exactly their operands; count operands follow a register', () => {
    for (const o of OPCODES) {
      const refs = new Set([...o.synopsis.matchAll(/\$(\d)/g)].map((m) => Number(m[1])))
      for (const r of refs) expect(r, o.name).toBeLessThanOrEqual(o.operands.length)
      o.operands.forEach((k, i) => {
        if (k === 'count') expect(o.operands[i - 1], o.name).toBe('reg')
        else expect(refs.has(i + 1), `${o.name} operand ${i + 1}`).toBe(true)
      })
    }
  })

  it('arithmetic opcodes are consecutive from ADD (the VM maps op - ADD to the operator)', () => {
    expect([OP.SUB, OP.MUL, OP.DIV, OP.MOD].map((c) => c - OP.ADD)).toEqual([1, 2, 3, 4])
  })
})
