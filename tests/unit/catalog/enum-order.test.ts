import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { isScratchBirdError } from '../../../src/core/errors'
import { ddlContext } from '../../../src/plan/column-default'
import { withEnumOrder } from '../../../src/plan/enum-order'
import type { CreateTableStatement, DomainStatement, SelectStatement } from '../../../src/sql/ast'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'

// ENUM comparisons compiled to label positions (issue 19 item 4): the statement rewrite the
// planner applies before compiling (plan/enum-order.ts), checked on its SQL text.

const ctx = ddlContext(1)
const run = (c: Catalog, sql: string): Catalog => {
  const s = parseOne(sql)
  return s.kind === 'create_table' ? c.createTable(s as CreateTableStatement, ctx).catalog : c.apply(s as DomainStatement, ctx).catalog
}
let cat = run(new Catalog(), "CREATE DOMAIN sz AS ENUM ('s', 'm', 'l')")
cat = run(cat, 'CREATE TABLE t (id INT PRIMARY KEY, a sz, b sz, note TEXT)')
cat = run(cat, 'CREATE TABLE u (id INT PRIMARY KEY, a sz)')
const pos = (col: string): string => `CASE ${col} WHEN 's' THEN 0 WHEN 'm' THEN 1 WHEN 'l' THEN 2 END`
const rewrite = (sql: string): string => formatStatement(withEnumOrder(cat, parseOne(sql) as SelectStatement))

describe('ENUM comparisons by declaration order', () => {
  it('compares an ENUM column with a label by position, either side; = and <> stay on the label', () => {
    expect(rewrite("SELECT id FROM t WHERE a < 'l' AND 'm' <= a")).toBe(`SELECT id FROM t WHERE ${pos('a')} < 2 AND 1 <= ${pos('a')}`)
    expect(rewrite("SELECT id FROM t WHERE a = 'm' OR a <> 's'")).toBe("SELECT id FROM t WHERE a = 'm' OR a <> 's'")
    expect(rewrite("SELECT id FROM t WHERE note < 'm'")).toBe("SELECT id FROM t WHERE note < 'm'")
  })

  it('BETWEEN, two columns of the domain, min/max (keeping the output name), joins', () => {
    expect(rewrite("SELECT id FROM t WHERE a BETWEEN 's' AND 'm'")).toBe(`SELECT id FROM t WHERE ${pos('a')} BETWEEN 0 AND 1`)
    expect(rewrite('SELECT id FROM t WHERE a > b')).toBe(`SELECT id FROM t WHERE ${pos('a')} > ${pos('b')}`)
    expect(rewrite('SELECT min(a) FROM t')).toBe(`SELECT CASE min(${pos('a')}) WHEN 0 THEN 's' WHEN 1 THEN 'm' WHEN 2 THEN 'l' END AS min FROM t`)
    expect(rewrite("SELECT t.id FROM t JOIN u ON u.a >= t.a WHERE u.a > 's' ORDER BY u.a")).toBe(
      `SELECT t.id FROM t INNER JOIN u ON ${pos('u.a')} >= ${pos('t.a')} WHERE ${pos('u.a')} > 0 ORDER BY ${pos('u.a')} ASC`)
    // an unqualified name both tables have is left to the planner (which calls it ambiguous)
    expect(rewrite("SELECT t.id FROM t JOIN u ON u.id = t.id WHERE a > 's'")).toBe("SELECT t.id FROM t INNER JOIN u ON u.id = t.id WHERE a > 's'")
  })

  it('ORDER BY an alias sorts by the item it names (an ENUM column, or not)', () => {
    expect(rewrite('SELECT a AS x FROM t ORDER BY x')).toBe(`SELECT a AS x FROM t ORDER BY ${pos('a')} ASC`)
    expect(rewrite('SELECT note AS a FROM t ORDER BY a')).toBe('SELECT note AS a FROM t ORDER BY a ASC')
    expect(rewrite('SELECT max(a) AS top FROM t GROUP BY b ORDER BY top DESC')).toBe(
      `SELECT CASE max(${pos('a')}) WHEN 0 THEN 's' WHEN 1 THEN 'm' WHEN 2 THEN 'l' END AS top FROM t GROUP BY b ORDER BY max(${pos('a')}) DESC`)
  })

  it('a literal that is no label is SB_INVALID_TEXT_REPRESENTATION', () => {
    let code = 'no error'
    try { rewrite("SELECT id FROM t WHERE a > 'xl'") } catch (e) { if (isScratchBirdError(e)) code = e.code }
    expect(code).toBe('SB_INVALID_TEXT_REPRESENTATION')
  })
})
