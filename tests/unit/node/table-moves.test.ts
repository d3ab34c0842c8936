import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import type { TableDdlStatement } from '../../../src/sql/ast'
import { asNodeId } from '../../../src/core/ids'
import { TableMoveShell } from '../../../src/node/table-moves'
import { ddlContext } from '../../../src/plan/column-default'
import { parseOne } from '../../../src/sql/parser'

// The shell resuming table moves (node/table-moves.ts): which node runs a move left in the catalog.

function moving (coordinator: number): Catalog {
  let c = new Catalog()
  for (const sql of ['CREATE TABLE orders (id BIGINT PRIMARY KEY, user_id TEXT NOT NULL)', `ALTER TABLE orders MOVE START BY NODE ${coordinator} SHARDS 4 SET partition_key_columns = 'user_id'`]) {
    c = c.apply(parseOne(sql) as TableDdlStatement, ddlContext(3)).catalog
  }
  return c
}

function shell (self: number, catalog: Catalog, live: number[], current = true): { runs: string[], takeOvers: string[], s: TableMoveShell } {
  const runs: string[] = []
  const takeOvers: string[] = []
  const s = new TableMoveShell({
    selfId: asNodeId(self),
    catalog: () => catalog,
    live: () => live.map(n => asNodeId(n)),
    catalogCurrent: () => current,
    run: async (table) => { runs.push(table) },
    takeOver: async (table, node) => { takeOvers.push(`${table}:${node}`) },
    log: pino({ level: 'silent' })
  })
  return { runs, takeOvers, s }
}

describe('TableMoveShell', () => {
  it('the coordinator resumes its move; others leave it while it is alive; the lowest live node takes it over when not', async () => {
    const c = moving(2)
    const a = shell(2, c, [1, 2, 3])
    a.s.check()
    await new Promise(resolve => setImmediate(resolve))
    expect(a.runs).toEqual(['orders'])
    expect(a.takeOvers).toEqual([])
    const b = shell(1, c, [1, 2, 3])
    b.s.check()
    await new Promise(resolve => setImmediate(resolve))
    expect(b.runs).toEqual([])
    const d = shell(1, c, [1, 3])
    d.s.check()
    await new Promise(resolve => setImmediate(resolve))
    expect(d.takeOvers).toEqual(['orders:1'])
    expect(d.runs).toEqual(['orders'])
  })

  it('waits while this node\'s catalog is behind', async () => {
    const a = shell(2, moving(2), [2], false)
    a.s.check()
    await new Promise(resolve => setImmediate(resolve))
    expect(a.runs).toEqual([])
  })
})
