import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import type { SqlValue } from '../../../src/types/values'
import { Vm } from '../../../src/vm/vm'
import { nullableValueArb, programArb } from '../sblr/arbitraries'
import { context } from './helpers'

describe('VM fuzz', () => {
  it('random valid programs on random rows: a result or a coded error, never a crash or a hang', () => {
    const arb = programArb.chain((p) => fc.tuple(
      fc.constant(p),
      fc.tuple(...p.columns.map((c) => nullableValueArb(c.type))) as fc.Arbitrary<SqlValue[]>,
      fc.array(fc.oneof(fc.bigInt(), fc.string(), fc.constant(null)), { minLength: p.params, maxLength: p.params })
    ))
    fc.assert(fc.property(arb, ([p, row, params]) => {
      const vm = new Vm(p, { ...context(params), maxInstructionsPerRow: 1000 })
      try {
        const out = vm.run(row)
        if (out !== null) expect(out).toHaveLength(p.outputs.length)
      } catch (e) {
        expect(isScratchBirdError(e), String(e)).toBe(true)
        expect((e as { code: string }).code).not.toBe('SB_INTERNAL')
      }
    }), { numRuns: 3000 })
  })
})
