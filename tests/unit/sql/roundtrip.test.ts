import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatExpr, formatScript, formatStatement } from '../../../src/sql/format'
import { parse, parseOne } from '../../../src/sql/parser'
import { exprText, statementText } from './generators'
import { stripPos } from './helpers'

// formatStatement prints SQL that parses back to the same tree: EXPLAIN, the audit log and error
// messages print statements, and whatever they print must mean what the user wrote.

describe('format → parse round trip', () => {
  it('parse(format(parse(s))) equals parse(s) for generated statements', () => {
    fc.assert(fc.property(statementText, (sql) => {
      const tree = parseOne(sql)
      const text = formatStatement(tree)
      expect(stripPos(parseOne(text))).toEqual(stripPos(tree))
      // Canonical: formatting is a fixed point after one round.
      expect(formatStatement(parseOne(text))).toBe(text)
    }), { numRuns: 1000 })
  })

  it('expressions print with the fewest parentheses that keep the tree', () => {
    fc.assert(fc.property(exprText, (e) => {
      const tree = parseOne(`SELECT ${e}`)
      const text = formatStatement(tree)
      expect(stripPos(parseOne(text))).toEqual(stripPos(tree))
    }), { numRuns: 1500 })
  })

  it('scripts round-trip statement by statement', () => {
    fc.assert(fc.property(fc.array(statementText, { minLength: 1, maxLength: 4 }), (list) => {
      const trees = parse(list.join(';\n'))
      expect(trees).toHaveLength(list.length)
      expect(stripPos(parse(formatScript(trees)))).toEqual(stripPos(trees))
    }), { numRuns: 200 })
  })

  const canonical: Array<[string, string]> = [
    ['select a from t where a=1 and (b=2 or c=3)', 'SELECT a FROM t WHERE a = 1 AND (b = 2 OR c = 3)'],
    ['SELECT (a + b) * c, a + (b * c), a - (b - c), (a - b) - c', 'SELECT (a + b) * c, a + b * c, a - (b - c), a - b - c'],
    ['SELECT -(-x), - -1, NOT (NOT a), (NOT a) IS NULL', 'SELECT -(-x), 1, NOT NOT a, (NOT a) IS NULL'],
    ['SELECT x::int, "Col", "select", u.*', 'SELECT CAST(x AS INTEGER), "Col", "select", u.*'],
    ['select count(*) n from t u left join v on u.id=v.id', 'SELECT count(*) AS n FROM t AS u LEFT JOIN v ON u.id = v.id'],
    ["create table t (a numeric(5,2) default -1.50 not null) partition by a with (uuid_type='v8_hlc')",
      "CREATE TABLE t (a DECIMAL(5, 2) NOT NULL DEFAULT -1.50) PARTITION BY (a) WITH (uuid_type = 'v8_hlc')"],
    ["insert into t values (1, 'it''s', default)", "INSERT INTO t VALUES (1, 'it''s', DEFAULT)"],
    ['select (select avg(c) from t1), a from t1 where exists(select 1 from t1 as x where x.b<t1.b) and not a in (select b from t2)',
      'SELECT (SELECT avg(c) FROM t1), a FROM t1 WHERE EXISTS (SELECT 1 FROM t1 AS x WHERE x.b < t1.b) AND NOT a IN (SELECT b FROM t2)'],
    ['select a not in (select b from t) is null, ((select 1))', 'SELECT a NOT IN (SELECT b FROM t) IS NULL, (SELECT 1)'],
    ['insert into t values (1) on conflict do nothing returning *', 'INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING RETURNING *'],
    ['insert into t (a, b) values (1, 2) on conflict (a) do update set b = excluded.b + t.b where t.b < 9 returning a',
      'INSERT INTO t (a, b) VALUES (1, 2) ON CONFLICT (a) DO UPDATE SET b = excluded.b + t.b WHERE t.b < 9 RETURNING a'],
    ['begin; start transaction isolation level read committed', 'BEGIN TRANSACTION;\nBEGIN TRANSACTION ISOLATION LEVEL READ COMMITTED;']
  ]
  for (const [input, output] of canonical) {
    it(`canonical form of: ${input}`, () => {
      const trees = parse(input)
      expect(trees.length > 1 ? formatScript(trees) : formatStatement(trees[0]!)).toBe(output)
    })
  }

  it('formatExpr never prints "--" (a comment) for nested minus signs', () => {
    const s = parseOne('SELECT - - - x, 1 - -1, -(-(-1.5))')
    if (s.kind !== 'select') throw new Error('select')
    for (const c of s.columns) if (c.kind === 'select_expr') expect(formatExpr(c.expr)).not.toContain('--')
  })
})
