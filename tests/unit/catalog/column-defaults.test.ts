import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ddlContext } from '../../../src/plan/column-default'
import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { CATALOG_FILE, loadCatalog, saveCatalog } from '../../../src/catalog/store'
import type { CreateTableStatement } from '../../../src/sql/ast'
import { SYSTEM_TABLES } from '../../../src/plan/system-tables'
import { parseExpression, parseOne } from '../../../src/sql/parser'

const ctx = ddlContext(1)

function create (c: Catalog, sql: string): Catalog {
  return c.createTable(parseOne(sql) as CreateTableStatement, ctx).catalog
}

const defaultsOf = (c: Catalog, table: string): Array<[string, string | null]> =>
  c.mustTable(table).columns.map(x => [x.name, x.default])

describe('column defaults in the catalog', () => {
  it('stores each default as canonical SQL text, null when there is none', () => {
    const c = create(new Catalog(), `CREATE TABLE d (
      id UUID PRIMARY KEY DEFAULT gen_uuidv8_hlc(),
      v7 UUID default GEN_UUIDV7(),
      at TIMESTAMP NOT NULL DEFAULT now(),
      n INTEGER DEFAULT -(1 + 2) * 3,
      s VARCHAR(10) DEFAULT 'it''s',
      dec DECIMAL(6,2) DEFAULT CAST('1.5' AS DECIMAL(6,2)),
      day DATE DEFAULT '2026-01-02',
      b BOOLEAN DEFAULT true,
      maybe TEXT DEFAULT NULL,
      plain TEXT)`)
    expect(defaultsOf(c, 'd')).toEqual([
      ['id', 'gen_uuidv8_hlc()'],
      ['v7', 'gen_uuidv7()'],
      ['at', 'now()'],
      ['n', '-(1 + 2) * 3'],
      ['s', "'it''s'"],
      ['dec', "CAST('1.5' AS DECIMAL(6, 2))"],
      ['day', "'2026-01-02'"],
      ['b', 'TRUE'],
      ['maybe', 'NULL'],
      ['plain', null]
    ])
    // the stored text parses back to an expression
    for (const [, text] of defaultsOf(c, 'd')) if (text !== null) expect(() => parseExpression(text)).not.toThrow()
  })

  it('rejects bad defaults with SB_INVALID_TABLE_DEFINITION naming the column', () => {
    const bad: Array<[string, RegExp]> = [
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT DEFAULT k + 1)', /column "a".*cannot refer to column "k"/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT DEFAULT $1)', /column "a".*parameter \$1/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT DEFAULT count(*))', /column "a".*aggregate function count\(\)/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT DEFAULT nope())', /column "a".*function nope\(\) does not exist/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT DEFAULT \'abc\')', /column "a".*invalid input syntax for type integer/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a SMALLINT DEFAULT 40000)', /column "a".*out of range/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a VARCHAR(3) DEFAULT \'toolong\')', /column "a".*too long/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT DEFAULT now())', /column "a".*cannot cast/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a UUID DEFAULT 5)', /column "a".*cannot cast/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT DEFAULT 1 / 0)', /column "a".*division by zero/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT NOT NULL DEFAULT NULL)', /column "a".*NOT NULL/],
      ['CREATE TABLE t (k INT PRIMARY KEY, a INT NOT NULL DEFAULT CAST(NULL AS INT))', /column "a".*evaluates to NULL/],
      // a table-level primary key makes its column NOT NULL too
      ['CREATE TABLE t (k INT DEFAULT NULL, PRIMARY KEY (k))', /column "k".*NOT NULL/]
    ]
    for (const [sql, message] of bad) {
      expect(() => create(new Catalog(), sql), sql).toThrow(expect.objectContaining({ code: 'SB_INVALID_TABLE_DEFINITION', message: expect.stringMatching(message), details: expect.objectContaining({ column: expect.any(String) }) }))
    }
  })

  it('round-trips through catalog.json, and a catalog written without defaults still loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cat-def-'))
    const c = create(new Catalog(), "CREATE TABLE t (id UUID PRIMARY KEY DEFAULT gen_uuidv7(), note TEXT DEFAULT 'x' || 'y', n INT)")
    saveCatalog(dir, c)
    const back = loadCatalog(dir)
    expect(back.mustTable('t')).toEqual(c.mustTable('t'))
    expect(defaultsOf(back, 't')).toEqual([['id', 'gen_uuidv7()'], ['note', "'x' || 'y'"], ['n', null]])

    // An older node's file: columns have no "default" key at all.
    const doc = JSON.parse(readFileSync(join(dir, CATALOG_FILE), 'utf8')) as { catalog: { tables: Array<{ columns: Array<Record<string, unknown>> }> } }
    for (const t of doc.catalog.tables) for (const col of t.columns) delete col.default
    writeFileSync(join(dir, CATALOG_FILE), JSON.stringify(doc))
    const old = loadCatalog(dir)
    expect(defaultsOf(old, 't')).toEqual([['id', null], ['note', null], ['n', null]])
    expect(SYSTEM_TABLES.sys_columns!.rows(old).map(r => r[8])).toEqual([null, null, null])

    // A default that is not text is a corrupt document.
    doc.catalog.tables[0]!.columns[0]!.default = 7
    writeFileSync(join(dir, CATALOG_FILE), JSON.stringify(doc))
    expect(() => loadCatalog(dir)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })

  it('shows the default in sys_columns.column_default, the ninth column', () => {
    const c = create(new Catalog(), 'CREATE TABLE t (id UUID PRIMARY KEY DEFAULT gen_uuidv8_hlc(), n INT)')
    const sys = SYSTEM_TABLES.sys_columns!
    expect(sys.columns[8]).toEqual({ name: 'column_default', type: { kind: 'text' } })
    expect(sys.rows(c).map(r => [r[2], r[8]])).toEqual([['id', 'gen_uuidv8_hlc()'], ['n', null]])
  })
})
