import { describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/core/clock'
import { parse } from '../../../src/sql/parser'
import type { SelectStatement } from '../../../src/sql/ast'
import { compileExpr } from '../../../src/plan/compile-expr'
import { ProgramBuilder } from '../../../src/plan/program-builder'
import { runQuery } from '../../../src/shard/drivers/query-driver'
import { decodeRows, encodeRows } from '../../../src/shard/protocol/value-rows'
import type { Row } from '../../../src/storage/engine'
import { encodeRow } from '../../../src/types/row-codec'
import { T } from '../../../src/types/sql-types'
import type { Program } from '../../../src/sblr/program'
import { decodeAggState, type AggState } from '../../../src/vm/aggregates'

// The QUERY driver a shard worker runs (issue 16 made it turn stored rows into row images in its
// loop instead of through a per-request generator): what it returns, how many rows it reports as
// scanned, and that a LIMIT stops reading and closes the scan (a LevelDB iterator in the worker).

const columns = [{ name: 'id', type: T.bigint }, { name: 'v', type: T.bigint }]
const scope = columns.map(c => ({ ...c, table: 't' }))

/** SELECT <exprs> FROM t WHERE <where>, as a shard program over t's stored rows. */
function program (exprs: string, where: string | null): Program {
  const s = parse(`SELECT ${exprs} FROM t${where === null ? '' : ` WHERE ${where}`}`)[0] as SelectStatement
  const b = new ProgramBuilder([], columns)
  const skip = b.label()
  if (s.where !== null) {
    const w = compileExpr(s.where, { columns: scope }, b)
    b.emit('JUMP_IF_NOT_TRUE', w.reg, skip)
  }
  const regs = s.columns.map(c => compileExpr((c as { expr: Parameters<typeof compileExpr>[0] }).expr, { columns: scope }, b))
  const first = b.regs(regs.length)
  regs.forEach((r, i) => b.emit('MOVE', first + i, r.reg))
  b.emit('EMIT', first, regs.length)
  b.place(skip)
  b.emit('SKIP')
  return b.build(regs.map((r, i) => ({ name: `c${i}`, type: r.type })))
}

/** Rows (id, id * 10) for id 1..n, noting how many were read and whether the scan was closed. */
function table (n: number): { rows: AsyncIterable<Row>, read: () => number, closed: () => boolean } {
  let read = 0
  let closed = false
  async function * gen (): AsyncIterable<Row> {
    try {
      for (let id = 1; id <= n; id++) {
        read++
        yield { pk: [BigInt(id)], row: encodeRow([T.bigint, T.bigint], [BigInt(id), BigInt(id * 10)]) }
      }
    } finally {
      closed = true
    }
  }
  return { rows: gen(), read: () => read, closed: () => closed }
}

const query = (p: Program, extra: { limit?: number, aggregate?: { keys: number, kinds: Array<'count_star' | 'sum'> } } = {}) =>
  ({ program: new Uint8Array(0), params: encodeRows([[]]), ...extra, decode: () => p })

describe('runQuery (shard QUERY driver)', () => {
  it('returns the program\'s output rows and counts every stored row it read', async () => {
    const t = table(10)
    const q = query(program('id, v + 1', 'v > 50'))
    const r = await runQuery(t.rows, q, systemClock, q.decode)
    expect(decodeRows(r.rows)).toEqual([6n, 7n, 8n, 9n, 10n].map(id => [id, id * 10n + 1n]))
    expect(r.scanned).toBe(10)
    expect(t.closed()).toBe(true)
  })

  it('stops reading at the LIMIT and closes the scan', async () => {
    const t = table(1000)
    const q = query(program('id', null), { limit: 3 })
    const r = await runQuery(t.rows, q, systemClock, q.decode)
    expect(decodeRows(r.rows)).toEqual([[1n], [2n], [3n]])
    expect(r.scanned).toBe(3)
    expect(t.read()).toBe(3)
    expect(t.closed()).toBe(true)
  })

  it('returns one row per group with partial aggregate states', async () => {
    const t = table(6)
    const q = query(program('id % 2, 1, v', null), { aggregate: { keys: 1, kinds: ['count_star', 'sum'] } })
    const r = await runQuery(t.rows, q, systemClock, q.decode)
    const groups = decodeRows(r.rows).map(([k, c, s]) => [k, decodeAggState(c!), decodeAggState(s!)])
    expect(groups.map(g => g[0])).toEqual([1n, 0n])
    expect(groups.map(g => (g[1] as AggState).count)).toEqual([3n, 3n])
    // sum(v) per parity: odd ids 1, 3, 5 → 90; even ids 2, 4, 6 → 120
    expect(groups.map(g => (g[2] as AggState).acc)).toEqual([90n, 120n])
    expect(r.scanned).toBe(6)
  })

  it('with no stored rows returns nothing and reports none scanned', async () => {
    const t = table(0)
    const q = query(program('id', null))
    const r = await runQuery(t.rows, q, systemClock, q.decode)
    expect(decodeRows(r.rows)).toEqual([])
    expect(r.scanned).toBe(0)
  })
})
