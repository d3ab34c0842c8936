import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { applyUserStatement } from '../../../src/catalog/users'
import { applyViewStatement } from '../../../src/catalog/views'
import { ddlContext } from '../../../src/plan/column-default'
import { checkStatement, statementNeeds, throughViews, type Principal } from '../../../src/security/privileges'
import type { CreateTableStatement, UserStatement, ViewStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import { encodeVerifier, newScramVerifier } from '../../../src/security/scram-verifier'
import { SeededRng } from '../../../src/core/rng'

// The rule chosen for views (issue 19 item 4): a view grants nothing of its own — reading it needs
// SELECT on every table behind it, through views of views; creating or dropping one needs admin.

const verifier = encodeVerifier(newScramVerifier('pw', new SeededRng(3), 16))

function catalog (): Catalog {
  let c = new Catalog()
  for (const t of ['t', 'u']) c = c.createTable(parseOne(`CREATE TABLE ${t} (k INTEGER PRIMARY KEY, v INTEGER)`) as CreateTableStatement, ddlContext(1)).catalog
  const view = (name: string, reads: string[]): void => {
    c = applyViewStatement(c, parseOne(`CREATE VIEW ${name} AS SELECT 1 AS one`) as ViewStatement, () => ({ definition: 'SELECT 1 AS one', columns: [{ name: 'one', type: 'INTEGER' }], reads })).catalog
  }
  view('vt', ['t'])
  view('vtu', ['vt', 'u'])
  const run = (sql: string): void => {
    const s = parseOne(sql) as UserStatement
    c = applyUserStatement(c, s.kind === 'create_user' ? { ...s, password: verifier } : s, () => {}).catalog
  }
  run("CREATE USER root PASSWORD 'x' SUPERUSER")
  run("CREATE USER reader PASSWORD 'x'")
  run('GRANT SELECT ON t TO reader')
  return c
}

const as = (c: Catalog, name: string): Principal => ({ kind: 'user', id: c.user(name)!.id, name })

describe('privileges through views', () => {
  const c = catalog()
  it('a view read needs SELECT on the tables behind it, through views of views', () => {
    expect([...throughViews(c, ['vtu', 't'])]).toEqual(['t', 'u'])
    expect(statementNeeds(parseOne('SELECT * FROM vtu'), c, c.user('reader')!)).toEqual([
      { kind: 'table', privilege: 'select', table: 't' }, { kind: 'table', privilege: 'select', table: 'u' }])
    expect(() => checkStatement(c, as(c, 'reader'), parseOne('SELECT * FROM vt'))).not.toThrow()
    expect(() => checkStatement(c, as(c, 'reader'), parseOne('SELECT * FROM vtu')))
      .toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE', details: expect.objectContaining({ table: 'u' }) }))
    expect(() => checkStatement(c, as(c, 'reader'), parseOne('SELECT * FROM (SELECT * FROM vtu) AS d'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
  })

  it('CREATE VIEW and DROP VIEW need admin rights', () => {
    for (const sql of ['CREATE VIEW x AS SELECT k FROM t', 'DROP VIEW vt']) {
      expect(statementNeeds(parseOne(sql), c, c.user('reader')!)).toEqual([{ kind: 'admin', what: 'DDL' }])
      expect(() => checkStatement(c, as(c, 'reader'), parseOne(sql))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
    }
  })
})
