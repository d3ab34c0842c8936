import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { ManualClock } from '../../../src/core/clock'
import { ddlContext } from '../../../src/plan/column-default'
import { tableShape } from '../../../src/plan/table-types'
import type { AlterTableStatement, CreateIndexStatement, CreateTableStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import { formatStatement } from '../../../src/sql/format'
import { SqlTimestamp } from '../../../src/types/datetime'
import { decodeRow, encodeRow } from '../../../src/types/row-codec'

// ALTER TABLE … ADD/DROP COLUMN without rewriting rows (catalog/alter-columns.ts): what the
// catalog records, and how rows stored under each version decode under the next.
const clock = new ManualClock(Date.UTC(2026, 0, 10, 15, 30))
const ctx = ddlContext(3, undefined, clock)

function run (c: Catalog, sql: string): { c: Catalog, warnings: string[] } {
  const s = parseOne(sql) as CreateTableStatement | AlterTableStatement | CreateIndexStatement
  const r = c.apply(s, ctx)
  return { c: r.catalog, warnings: r.warnings }
}
const code = (f: () => unknown): string => {
  try { f(); return 'ok' } catch (e) { return (e as { code?: string }).code ?? String(e) }
}

describe('ALTER TABLE ADD/DROP COLUMN', () => {
  it('ADD COLUMN: rows stored before read its DEFAULT as of the statement; new rows store their own value', () => {
    let c = run(new Catalog(), 'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)').c
    const before = tableShape(c.table('t')!)
    const old = encodeRow(before.types, [1n, 'x'])
    const v = c.version
    c = run(c, 'ALTER TABLE t ADD COLUMN b INTEGER NOT NULL DEFAULT 6 * 7').c
    c = run(c, 'ALTER TABLE t ADD COLUMN IF NOT EXISTS at TIMESTAMP DEFAULT now()').c
    c = run(c, 'ALTER TABLE t ADD COLUMN n TEXT').c
    expect(c.version).toBe(v + 3)
    expect(c.layoutFloor).toBe(c.version)
    const after = tableShape(c.table('t')!)
    expect(decodeRow(after.types, old, after.missing)).toEqual([1n, 'x', 42n, new SqlTimestamp(BigInt(clock.now()) * 1000n), null])
    expect(c.table('t')!.columns.map(x => [x.name, x.default])).toEqual([['id', null], ['a', null], ['b', '6 * 7'], ['at', 'now()'], ['n', null]])
    // The value travels in the catalog document: a JSON round trip reads the same.
    const back = tableShape(Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON()))).table('t')!)
    expect(back.missing).toEqual(after.missing)
    // IF NOT EXISTS on an existing column changes nothing.
    const same = run(c, 'ALTER TABLE t ADD COLUMN IF NOT EXISTS b TEXT')
    expect(same.c).toBe(c)
    expect(same.warnings[0]).toMatch(/already exists, skipping/)
  })

  it('ADD COLUMN refusals are coded and change nothing', () => {
    const c = run(new Catalog(), 'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)').c
    expect(code(() => run(c, 'ALTER TABLE t ADD COLUMN a TEXT'))).toBe('SB_DUPLICATE_COLUMN')
    expect(code(() => run(c, 'ALTER TABLE t ADD COLUMN b INTEGER NOT NULL'))).toBe('SB_INVALID_TABLE_DEFINITION')
    expect(code(() => run(c, 'ALTER TABLE t ADD COLUMN b UUID DEFAULT gen_uuidv7()'))).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(code(() => run(c, 'ALTER TABLE t ADD COLUMN b INTEGER PRIMARY KEY'))).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(code(() => run(c, 'ALTER TABLE t ADD COLUMN b INTEGER UNIQUE'))).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(code(() => run(c, "ALTER TABLE t ADD COLUMN b INTEGER DEFAULT 'x'"))).toBe('SB_INVALID_TABLE_DEFINITION')
    expect(code(() => run(c, 'ALTER TABLE nope ADD COLUMN b INTEGER'))).toBe('SB_UNDEFINED_TABLE')
    expect(c.table('t')!.columns).toHaveLength(2)
  })

  it('DROP COLUMN keeps the slot: old rows decode, its values never reappear, not even under a re-added name', () => {
    let c = run(new Catalog(), 'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)').c
    const old = encodeRow(tableShape(c.table('t')!).types, [1n, 'gone', 7n])
    c = run(c, 'ALTER TABLE t DROP COLUMN a').c
    expect(c.layoutFloor).toBe(c.version)
    expect(Catalog.visibleColumns(c.table('t')!).map(x => x.name)).toEqual(['id', 'b'])
    c = run(c, "ALTER TABLE t ADD COLUMN a TEXT DEFAULT 'new'").c
    const shape = tableShape(c.table('t')!)
    const row = decodeRow(shape.types, old, shape.missing)
    const named = Object.fromEntries(c.table('t')!.columns.map((x, i) => [x.name, row[i]]).filter(([n]) => n !== ''))
    expect(named).toEqual({ id: 1n, b: 7n, a: 'new' })
    expect(c.table('t')!.columns.filter(x => x.dropped === true)).toHaveLength(1)
    // A dropped name can be dropped only once; IF EXISTS skips.
    const again = run(c, 'ALTER TABLE t DROP COLUMN IF EXISTS zz')
    expect(again.c).toBe(c)
    expect(code(() => run(c, 'ALTER TABLE t DROP COLUMN zz'))).toBe('SB_UNDEFINED_COLUMN')
  })

  it('refuses dropping a key, partition-key, indexed or foreign-key column (SB_COLUMN_IN_USE), and the last column', () => {
    let c = run(new Catalog(), 'CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT, city TEXT, note TEXT)').c
    c = run(c, 'CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), region TEXT, total INTEGER) PARTITION BY (region)').c
    c = run(c, 'CREATE INDEX users_city ON users (city) INCLUDE (note)').c
    for (const sql of ['ALTER TABLE users DROP COLUMN id', 'ALTER TABLE users DROP COLUMN email', 'ALTER TABLE users DROP COLUMN city',
      'ALTER TABLE users DROP COLUMN note', 'ALTER TABLE orders DROP COLUMN region', 'ALTER TABLE orders DROP COLUMN user_id']) {
      expect(code(() => run(c, sql)), sql).toBe('SB_COLUMN_IN_USE')
    }
    expect(code(() => run(c, 'ALTER TABLE users DROP COLUMN name'))).toBe('ok')
    let k = run(new Catalog(), 'CREATE TABLE k (v TEXT, w TEXT)').c
    expect(code(() => run(k, 'ALTER TABLE k DROP COLUMN rowid'))).toBe('SB_COLUMN_IN_USE')
    k = run(k, 'ALTER TABLE k DROP COLUMN w').c
    expect(code(() => run(k, 'ALTER TABLE k DROP COLUMN v'))).toBe('SB_INVALID_TABLE_DEFINITION')
  })

  it('a catalog document with a malformed dropped/missing field is refused', () => {
    const c = run(new Catalog(), 'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)').c
    const doc = JSON.parse(JSON.stringify(c.toJSON()))
    doc.tables[0].columns[1].dropped = 'yes'
    expect(code(() => Catalog.fromJSON(doc))).toBe('SB_STORAGE_CORRUPT')
    doc.tables[0].columns[1].dropped = undefined
    doc.tables[0].columns[1].missing = 'not base64 of a row'
    expect(code(() => tableShape(Catalog.fromJSON(doc).table('t')!))).toBe('SB_STORAGE_CORRUPT')
  })
})

describe('ALTER TABLE RENAME COLUMN', () => {
  it('the same slot under the new name, no layout floor; refused for keys, indexes, foreign keys, a taken name', () => {
    let c = run(new Catalog(), 'CREATE TABLE p (id INTEGER PRIMARY KEY)').c
    c = run(c, 'CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT, r TEXT, p INTEGER REFERENCES p (id)) PARTITION BY (r)').c
    c = run(c, 'CREATE INDEX t_b ON t (b)').c
    const floor = c.layoutFloor
    const before = tableShape(c.table('t')!)
    const row = encodeRow(before.types, [1n, 'x', 'y', 'z', null])
    expect(formatStatement(parseOne('ALTER TABLE t RENAME a TO aa'))).toBe('ALTER TABLE t RENAME COLUMN a TO aa')
    c = run(c, 'ALTER TABLE t RENAME COLUMN a TO aa').c
    expect(c.table('t')!.columns.map(x => x.name)).toEqual(['id', 'aa', 'b', 'r', 'p'])
    expect(c.layoutFloor).toBe(floor)
    const after = tableShape(c.table('t')!)
    expect(decodeRow(after.types, row, after.missing)).toEqual([1n, 'x', 'y', 'z', null])
    expect(code(() => run(c, 'ALTER TABLE t RENAME COLUMN id TO k'))).toBe('SB_COLUMN_IN_USE')
    expect(code(() => run(c, 'ALTER TABLE t RENAME COLUMN r TO region'))).toBe('SB_COLUMN_IN_USE')
    expect(code(() => run(c, 'ALTER TABLE t RENAME COLUMN b TO bb'))).toBe('SB_COLUMN_IN_USE')
    expect(code(() => run(c, 'ALTER TABLE t RENAME COLUMN p TO parent'))).toBe('SB_COLUMN_IN_USE')
    expect(code(() => run(c, 'ALTER TABLE p RENAME COLUMN id TO pid'))).toBe('SB_COLUMN_IN_USE')
    expect(code(() => run(c, 'ALTER TABLE t RENAME COLUMN aa TO b'))).toBe('SB_DUPLICATE_COLUMN')
    expect(code(() => run(c, 'ALTER TABLE t RENAME COLUMN a TO c'))).toBe('SB_UNDEFINED_COLUMN')
  })
})
