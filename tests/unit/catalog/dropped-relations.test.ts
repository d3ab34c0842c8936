import { describe, expect, it } from 'vitest'
import { Catalog, FIRST_USER_TABLE_ID } from '../../../src/catalog/catalog'
import { droppedRelationIds } from '../../../src/catalog/dropped-relations'
import { ddlContext } from '../../../src/plan/column-default'
import type { TableDdlStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

// Which relation ids a catalog has dropped (issue 17): derived from nextTableId and the relations
// it holds — a dropped table's index relations with it, a dropped index alone, never a live one,
// never an id the catalog has not handed out yet.

const ctx = ddlContext(3)
const run = (c: Catalog, sql: string): Catalog => c.apply(parseOne(sql) as TableDdlStatement, ctx).catalog

describe('droppedRelationIds', () => {
  it('names dropped tables with their index relations and dropped indexes, nothing live', () => {
    let c = new Catalog()
    expect(droppedRelationIds(c.state)).toEqual([])
    c = run(c, 'CREATE TABLE a (id INT PRIMARY KEY, u TEXT UNIQUE)')
    c = run(c, 'CREATE TABLE b (id INT PRIMARY KEY, v TEXT)')
    c = run(c, 'CREATE INDEX b_v ON b (v)')
    const a = c.mustTable('a')
    const aRelations = c.tables.filter(t => t.id === a.id || t.index?.of === a.id).map(t => t.id)
    expect(aRelations.length).toBeGreaterThan(1) // the table and its UNIQUE index relation
    const bv = c.tables.find(t => t.name === 'b_v')!.id
    expect(droppedRelationIds(c.state)).toEqual([])

    c = run(c, 'DROP TABLE a')
    expect(droppedRelationIds(c.state)).toEqual(aRelations.sort((x, y) => x - y))
    c = run(c, 'DROP INDEX b_v')
    expect(droppedRelationIds(c.state)).toEqual([...aRelations, bv].sort((x, y) => x - y))
    // a new table with the same name gets new ids: its rows are never the dropped ones'
    c = run(c, 'CREATE TABLE a (id INT PRIMARY KEY)')
    expect(c.mustTable('a').id).toBeGreaterThan(Math.max(...aRelations, bv))
    expect(droppedRelationIds(c.state)).toEqual([...aRelations, bv].sort((x, y) => x - y))
    for (const t of c.tables) expect(droppedRelationIds(c.state)).not.toContain(t.id)
    expect(Math.min(...droppedRelationIds(c.state))).toBeGreaterThanOrEqual(FIRST_USER_TABLE_ID)
  })
})
