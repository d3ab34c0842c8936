import { describe, expect, it } from 'vitest'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'
import { ast, stripPos, syntaxErrorOf } from './helpers'

// The SQL of views and derived tables (issue 19 item 4): parsed, and formatted back to text that
// parses to the same tree — CREATE VIEW travels between nodes as that text, and a view's SELECT is
// stored as it.

const roundTrip = (sql: string, canonical?: string): void => {
  const tree = parseOne(sql)
  const text = formatStatement(tree)
  if (canonical !== undefined) expect(text).toBe(canonical)
  expect(stripPos(parseOne(text))).toEqual(stripPos(tree))
}

describe('view and derived-table syntax', () => {
  it('CREATE [OR REPLACE] VIEW with and without a column list, DROP VIEW [IF EXISTS]', () => {
    expect(ast('CREATE VIEW v AS SELECT a FROM t')).toMatchObject({ kind: 'create_view', name: 'v', orReplace: false, columns: null, select: { kind: 'select' } })
    expect(ast('create or replace view "V" (x, y) as select a, b from t')).toMatchObject({ kind: 'create_view', name: 'V', orReplace: true, columns: ['x', 'y'] })
    expect(ast('DROP VIEW IF EXISTS v')).toEqual({ kind: 'drop_view', name: 'v', ifExists: true })
    roundTrip('create or replace view v (x) as select count(*) from t group by a', 'CREATE OR REPLACE VIEW v (x) AS SELECT count(*) FROM t GROUP BY a')
    roundTrip('drop view v', 'DROP VIEW v')
    expect(syntaxErrorOf('CREATE VIEW v SELECT 1').message).toContain('expected AS')
    expect(syntaxErrorOf('CREATE OR VIEW v AS SELECT 1').message).toContain('expected')
  })

  it('derived tables in FROM and in joins, with aliases and column lists', () => {
    expect(ast('SELECT * FROM (SELECT a FROM t) AS d (x)')).toMatchObject({
      from: { kind: 'derived', alias: 'd', columns: ['x'], select: { kind: 'select', from: { kind: 'table_ref', name: 't' } } }
    })
    expect(ast('SELECT * FROM t JOIN (SELECT 1 AS k) d ON d.k = t.k')).toMatchObject({
      from: { kind: 'join', type: 'inner', left: { kind: 'table_ref' }, right: { kind: 'derived', alias: 'd', columns: null } }
    })
    roundTrip('select d.x from (select a x from (select a from t) i) d left join u on u.k = d.x',
      'SELECT d.x FROM (SELECT a AS x FROM (SELECT a FROM t) AS i) AS d LEFT JOIN u ON u.k = d.x')
    roundTrip('SELECT * FROM (SELECT a, b FROM t WHERE a > 1 ORDER BY b LIMIT 3) "Odd Name" ("A", b), u')
    expect(syntaxErrorOf('SELECT * FROM (SELECT 1)').message).toContain('subquery in FROM must have an alias')
    expect(syntaxErrorOf('SELECT * FROM (SELECT 1) d (')).toBeDefined()
  })
})
