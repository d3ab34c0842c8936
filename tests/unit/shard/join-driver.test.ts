import { describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/core/clock'
import { isScratchBirdError } from '../../../src/core/errors'
import type { Hlc } from '../../../src/core/hlc'
import type { UuidV7Generator } from '../../../src/core/uuid'
import { parse } from '../../../src/sql/parser'
import type { SelectStatement } from '../../../src/sql/ast'
import { compileExpr } from '../../../src/plan/compile-expr'
import type { ExecEnv } from '../../../src/exec/env'
import { joinRows, MAX_JOIN_ROWS, type JoinStep } from '../../../src/shard/drivers/join-driver'
import { joinOnCoordinator } from '../../../src/exec/join-exec'
import type { JoinPlan } from '../../../src/plan/join-plan'
import { ProgramBuilder } from '../../../src/plan/program-builder'
import { passthrough } from '../../../src/exec/local-vm'
import { encodeRows } from '../../../src/shard/protocol/value-rows'
import { timestampFromMillis } from '../../../src/types/datetime'
import { T } from '../../../src/types/sql-types'
import type { SqlValue } from '../../../src/types/values'
import { Vm } from '../../../src/vm/vm'

// The join algorithm shared by the shard worker and the coordinator: hash matches, ON re-checks,
// NULL keys never matching, LEFT JOIN NULL-extension, and the coordinator's row bound.

const ctx = { params: [], hlc: {} as Hlc, uuidV7: {} as UuidV7Generator, clock: systemClock }

/** An ON program over columns a (left) and b (right), both BIGINT. */
function on (condition: string): Vm {
  const s = parse(`SELECT ${condition}`)[0] as SelectStatement
  const e = (s.columns[0] as { expr: Parameters<typeof compileExpr>[0] }).expr
  const cols = [{ name: 'a', type: T.bigint }, { name: 'la', type: T.text }, { name: 'b', type: T.bigint }, { name: 'lb', type: T.text }]
  const b = new ProgramBuilder([], cols)
  const r = compileExpr(e, { columns: cols.map(c => ({ ...c, table: 't' })) }, b)
  b.emit('EMIT', r.reg, 1)
  return new Vm(b.build([{ name: 'on', type: T.boolean }]), ctx)
}

async function all (rows: AsyncIterable<SqlValue[]>): Promise<SqlValue[][]> {
  const out: SqlValue[][] = []
  for await (const r of rows) out.push(r)
  return out
}

const left: SqlValue[][] = [[1n, 'a'], [2n, 'b'], [null, 'c']]
const right: SqlValue[][] = [[1n, 'x'], [1n, 'y'], [3n, 'z'], [null, 'n']]

describe('joinRows', () => {
  const step = (kind: JoinStep['kind'], cond: string, keys = true): JoinStep =>
    ({ kind, leftKeys: keys ? [0] : [], rightKeys: keys ? [0] : [], on: on(cond), width: 2 })

  it('inner hash join: matches only, NULL keys never match', async () => {
    expect(await all(joinRows(left, [right], [step('inner', 'a = b')]))).toEqual([[1n, 'a', 1n, 'x'], [1n, 'a', 1n, 'y']])
  })

  it('left join NULL-extends rows without a match, also when ON rejects every candidate', async () => {
    expect(await all(joinRows(left, [right], [step('left', "a = b AND lb = 'y'")]))).toEqual([
      [1n, 'a', 1n, 'y'], [2n, 'b', null, null], [null, 'c', null, null]])
  })

  it('nested loop when ON has no equality', async () => {
    const rows = await all(joinRows(left, [right], [step('inner', 'a < b', false)]))
    expect(rows).toEqual([[1n, 'a', 3n, 'z'], [2n, 'b', 3n, 'z']])
  })

  it('chains steps left-deep', async () => {
    const third: SqlValue[][] = [[1n], [1n]]
    const s2: JoinStep = { kind: 'inner', leftKeys: [2], rightKeys: [0], on: null, width: 1 }
    expect(await all(joinRows(left, [right, third], [step('inner', 'a = b'), s2]))).toHaveLength(4)
  })
})

describe('joinOnCoordinator', () => {
  it('refuses more than MAX_JOIN_ROWS rows of a table with SB_JOIN_ROW_LIMIT', async () => {
    const cols = [{ name: 'a', type: T.bigint }]
    const half = encodeRows(Array.from({ length: MAX_JOIN_ROWS / 2 + 1 }, (_, i) => [BigInt(i)]))
    const env = { request: async () => ({ rows: half, scanned: 0 }) } as unknown as ExecEnv
    const plan = {
      sides: [{ kind: 'table', shape: { info: { id: 1, name: 't' } }, alias: 't', filter: passthrough(cols), routing: { shards: [0, 1], options: {}, routing: '' }, nullable: false }],
      steps: []
    } as unknown as JoinPlan
    const err = await joinOnCoordinator(env, plan, p => new Vm(p, ctx), [], timestampFromMillis(0), null, async () => []).then(() => null, (e: unknown) => e)
    expect(isScratchBirdError(err) && err.code).toBe('SB_JOIN_ROW_LIMIT')
  })
})
