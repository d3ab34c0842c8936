import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { applyViewStatement, type DescribedView } from '../../../src/catalog/views'
import type { ViewStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

// The catalog's view objects (issue 19 item 4) as pure decisions: versions, the document read back
// from disk or a peer (a malformed entry is SB_STORAGE_CORRUPT, never a crash), DROP VIEW IF EXISTS.

const described: DescribedView = { definition: 'SELECT 1 AS one', columns: [{ name: 'one', type: 'INTEGER' }], reads: [] }
const run = (c: Catalog, sql: string): Catalog => applyViewStatement(c, parseOne(sql) as ViewStatement, () => described).catalog

describe('view objects of the catalog', () => {
  it('each CREATE / OR REPLACE / DROP is the next version; the view records the version that made it', () => {
    const a = run(new Catalog(), 'CREATE VIEW v AS SELECT 1 AS one')
    expect(a.version).toBe(1)
    expect(a.view('v')).toMatchObject({ definition: 'SELECT 1 AS one', version: 1 })
    const b = run(a, 'CREATE OR REPLACE VIEW v AS SELECT 1 AS one')
    expect(b.version).toBe(2)
    expect(b.view('v')!.version).toBe(2)
    const c = run(b, 'DROP VIEW v')
    expect([c.version, c.views]).toEqual([3, []])
    const d = applyViewStatement(c, parseOne('DROP VIEW IF EXISTS v') as ViewStatement, () => described)
    expect(d.catalog).toBe(c)
    expect(d.warnings).toEqual(['view "v" does not exist, skipping'])
  })

  it('reads the views of a catalog document back, and refuses malformed ones with SB_STORAGE_CORRUPT', () => {
    const doc = run(new Catalog(), 'CREATE VIEW v AS SELECT 1 AS one').toJSON()
    expect(Catalog.fromJSON(JSON.parse(JSON.stringify(doc))).view('v')).toEqual(doc.views![0])
    expect(Catalog.fromJSON({ ...doc, views: undefined }).views).toEqual([])
    for (const views of [{}, [{ name: 'v' }], [{ ...doc.views![0], columns: [] }], [{ ...doc.views![0], reads: [1] }], [{ ...doc.views![0], columns: [{ name: 'a' }] }]]) {
      expect(() => Catalog.fromJSON({ ...doc, views })).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    }
  })
})
