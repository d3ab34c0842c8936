import { describe, expect, it } from 'vitest'
import { parseDecimal } from '../../../src/types/decimal'
import { T } from '../../../src/types/sql-types'
import { aggFinal } from '../../../src/vm/aggregates'
import { groupKey, GroupTable } from '../../../src/vm/group'
import { Vm } from '../../../src/vm/vm'
import { context, program } from './helpers'

describe('GROUP BY table', () => {
  it('groups SQL-equal values together, NULLs together', () => {
    expect(groupKey([parseDecimal('1.50')])).toBe(groupKey([parseDecimal('1.5')]))
    expect(groupKey([-0])).toBe(groupKey([0]))
    expect(groupKey([NaN])).toBe(groupKey([-NaN]))
    expect(groupKey([null, 'a'])).toBe(groupKey([null, 'a']))
    expect(groupKey(['a', null])).not.toBe(groupKey([null, 'a']))
  })

  it('SELECT k, sum(v) … GROUP BY k with a step program per row', () => {
    const step = program({
      columns: [{ name: 'k', type: T.text }, { name: 'v', type: T.integer }],
      aggregates: ['sum'],
      asm: [['LOAD_COLUMN', 0, 1], ['AGG_STEP', 0, 0], ['SKIP']]
    })
    const vm = new Vm(step, context())
    const table = new GroupTable(() => vm.newAggregates())
    for (const row of [['a', 1n], ['b', 2n], [null, 3n], ['a', 4n], [null, 5n]]) {
      vm.run(row, table.get([row[0]!]).aggregates)
    }
    expect([...table.values()].map((g) => [g.key[0], aggFinal(g.aggregates[0]!)])).toEqual([['a', 5n], ['b', 2n], [null, 8n]])
  })

  it('bounds the number of groups', () => {
    const table = new GroupTable(() => [], 2)
    table.get([1n]); table.get([2n]); table.get([1n])
    expect(() => table.get([3n])).toThrow(expect.objectContaining({ code: 'SB_PROGRAM_LIMIT_EXCEEDED' }))
  })
})
