import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { applyUserStatement } from '../../../src/catalog/users'
import { ddlContext } from '../../../src/plan/column-default'
import { allowed, checkStatement, statementNeeds, tablesRead, type Need, type Principal } from '../../../src/security/privileges'
import type { CreateTableStatement, UserStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import { encodeVerifier, newScramVerifier } from '../../../src/security/scram-verifier'
import { SeededRng } from '../../../src/core/rng'

const verifier = encodeVerifier(newScramVerifier('pw', new SeededRng(3), 16))

function catalog (): Catalog {
  let c = new Catalog()
  for (const t of ['t', 'u']) c = c.createTable(parseOne(`CREATE TABLE ${t} (k INTEGER PRIMARY KEY, v INTEGER)`) as CreateTableStatement, ddlContext(1)).catalog
  const run = (sql: string): void => {
    const s = parseOne(sql) as UserStatement
    c = applyUserStatement(c, s.kind === 'create_user' ? { ...s, password: verifier } : s, () => {}).catalog
  }
  run("CREATE USER root PASSWORD 'x' SUPERUSER")
  run("CREATE USER ops PASSWORD 'x' ADMIN")
  run("CREATE USER reader PASSWORD 'x'")
  run('GRANT SELECT ON t TO reader')
  return c
}

const as = (c: Catalog, name: string): Principal => ({ kind: 'user', id: c.user(name)!.id, name })

describe('privilege rules', () => {
  const c = catalog()
  const needs = (sql: string, self = 'reader'): Need[] => statementNeeds(parseOne(sql), c, c.user(self)!)

  it('derives each statement\'s needs: reads, the written table, RETURNING, ON CONFLICT, admin and superuser', () => {
    expect(needs('SELECT * FROM t JOIN u ON t.k = u.k WHERE t.v IN (SELECT v FROM sys_tables)')).toEqual([
      { kind: 'table', privilege: 'select', table: 't' }, { kind: 'table', privilege: 'select', table: 'u' }, { kind: 'table', privilege: 'select', table: 'sys_tables' }])
    expect(needs('INSERT INTO t VALUES (1, (SELECT max(v) FROM u)) ON CONFLICT (k) DO UPDATE SET v = 2 RETURNING k')).toEqual([
      { kind: 'table', privilege: 'insert', table: 't' }, { kind: 'table', privilege: 'select', table: 'u' },
      { kind: 'table', privilege: 'update', table: 't' }, { kind: 'table', privilege: 'select', table: 't' }])
    expect(needs('DELETE FROM t WHERE k = 1')).toEqual([{ kind: 'table', privilege: 'delete', table: 't' }])
    expect(needs('EXPLAIN UPDATE t SET v = 1')).toEqual([{ kind: 'table', privilege: 'update', table: 't' }])
    expect(needs('CREATE TABLE x (k INTEGER PRIMARY KEY)')).toEqual([{ kind: 'admin', what: 'DDL' }])
    expect(needs('DELIVER HINTS TO NODE 2')).toEqual([{ kind: 'admin', what: 'cluster commands' }])
    expect(needs('ALTER CLUSTER SET shards = 32')).toEqual([{ kind: 'admin', what: 'cluster commands' }])
    expect(needs("CREATE USER x PASSWORD 'p' SUPERUSER")[0]!.kind).toBe('superuser')
    expect(needs('DROP USER root')[0]!.kind).toBe('superuser')
    expect(needs('GRANT ADMIN TO reader')[0]!.kind).toBe('admin')
    expect(needs('REVOKE SUPERUSER FROM ops')[0]!.kind).toBe('superuser')
    expect(needs("ALTER USER reader PASSWORD 'new'")).toEqual([])
    expect(needs("ALTER USER ops PASSWORD 'new'")).toEqual([{ kind: 'admin', what: 'ALTER USER' }])
    expect(needs('SHOW CLUSTER MEMBERS')).toEqual([])
    expect([...tablesRead(parseOne('SELECT (SELECT 1 FROM u) FROM t AS x'))]).toEqual(['u', 't'])
  })

  it('decides a need by role and grant (the decision table)', () => {
    const table = (privilege: 'select' | 'insert' | 'update' | 'delete', t = 't'): Need => ({ kind: 'table', privilege, table: t })
    const rows: Array<[string, Need, boolean]> = [
      ['root', { kind: 'superuser', what: '' }, true],
      ['ops', { kind: 'superuser', what: '' }, false],
      ['ops', { kind: 'admin', what: '' }, true],
      ['ops', table('delete'), true],
      ['reader', { kind: 'admin', what: '' }, false],
      ['reader', table('select'), true],
      ['reader', table('insert'), false],
      ['reader', table('select', 'u'), false],
      ['reader', table('select', 'sys_users'), true]
    ]
    for (const [user, need, ok] of rows) expect([user, need, allowed(c, c.user(user)!, need)]).toEqual([user, need, ok])
  })

  it('throws SB_INSUFFICIENT_PRIVILEGE (42501) naming the privilege, and SB_AUTH_FAILED for a dropped user', () => {
    expect(() => checkStatement(c, as(c, 'reader'), parseOne('SELECT * FROM t'))).not.toThrow()
    expect(() => checkStatement(c, as(c, 'reader'), parseOne('INSERT INTO t VALUES (1, 1)')))
      .toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE', sqlstate: '42501', details: expect.objectContaining({ privilege: 'INSERT', table: 't' }) }))
    expect(() => checkStatement(c, as(c, 'ops'), parseOne('DROP USER root'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
    expect(() => checkStatement(c, { kind: 'trusted', name: 'dev' }, parseOne('DROP TABLE t'))).not.toThrow()
    expect(() => checkStatement(c, { kind: 'user', id: 999, name: 'gone' }, parseOne('SELECT 1'))).toThrow(expect.objectContaining({ code: 'SB_AUTH_FAILED' }))
  })
})
