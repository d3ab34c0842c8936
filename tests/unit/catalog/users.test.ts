import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { applyUserStatement, withoutTableGrants } from '../../../src/catalog/users'
import { ddlContext } from '../../../src/plan/column-default'
import type { CreateTableStatement, UserStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'

const V = 'SCRAM-SHA-256$4096:c2FsdA==$' + Buffer.alloc(32, 1).toString('base64') + ':' + Buffer.alloc(32, 2).toString('base64')
const noCheck = (): void => {}

function run (c: Catalog, sql: string): { c: Catalog, warnings: string[] } {
  const s = parseOne(sql.replace('$V', V)) as UserStatement
  const r = applyUserStatement(c, s, noCheck)
  return { c: r.catalog, warnings: r.warnings }
}
function table (c: Catalog, name: string): Catalog {
  return c.createTable(parseOne(`CREATE TABLE ${name} (k INTEGER PRIMARY KEY)`) as CreateTableStatement, ddlContext(1)).catalog
}

describe('users and grants in the catalog', () => {
  it('creates, renames, re-passwords and drops users, each a new catalog version, keeping grants by id', () => {
    let c = table(new Catalog(), 't')
    c = run(c, "CREATE USER root PASSWORD '$V' SUPERUSER").c
    c = run(c, "CREATE USER alice PASSWORD '$V'").c
    c = run(c, 'GRANT SELECT, INSERT ON t TO alice').c
    expect(c.version).toBe(4)
    c = run(c, 'ALTER USER alice RENAME TO alicia').c
    expect(c.user('alice')).toBeUndefined()
    expect(c.grants).toEqual([{ userId: c.user('alicia')!.id, tableId: c.mustTable('t').id, privileges: ['select', 'insert'] }])
    // CREATE TABLE keeps users and grants (a regression: it once rebuilt the document from tables alone).
    c = table(c, 'u')
    expect(c.users.map(u => u.name)).toEqual(['root', 'alicia'])
    expect(c.grants).toHaveLength(1)
    // A round trip through the document.
    const back = Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON())))
    expect(back.users).toEqual(c.users)
    expect(back.grants).toEqual(c.grants)
    expect(back.nextUserId).toBe(3)
    c = run(c, 'DROP USER alicia').c
    expect(c.grants).toEqual([])
    expect(run(c, 'DROP USER IF EXISTS alicia').warnings).toEqual(['role "alicia" does not exist, skipping'])
  })

  it('refuses duplicates, unknown users and tables, and dropping or demoting the last superuser', () => {
    let c = table(new Catalog(), 't')
    c = run(c, "CREATE USER root PASSWORD '$V' SUPERUSER").c
    expect(() => run(c, "CREATE USER root PASSWORD '$V'")).toThrow(expect.objectContaining({ code: 'SB_DUPLICATE_USER' }))
    expect(() => run(c, 'GRANT SELECT ON t TO nobody')).toThrow(expect.objectContaining({ code: 'SB_UNDEFINED_USER' }))
    expect(() => run(c, 'GRANT SELECT ON nope TO root')).toThrow(expect.objectContaining({ code: 'SB_UNDEFINED_TABLE' }))
    expect(() => run(c, 'DROP USER root')).toThrow(expect.objectContaining({ code: 'SB_LAST_SUPERUSER' }))
    expect(() => run(c, 'REVOKE SUPERUSER FROM root')).toThrow(expect.objectContaining({ code: 'SB_LAST_SUPERUSER' }))
    c = run(c, "CREATE USER root2 PASSWORD '$V' SUPERUSER").c
    c = run(c, 'REVOKE SUPERUSER FROM root').c
    expect(c.user('root')!.role).toBeNull()
    c = run(c, 'GRANT ADMIN TO root').c
    expect(c.user('root')!.role).toBe('admin')
  })

  it('revokes privileges one by one, drops an empty grant, and drops a table\'s grants with it', () => {
    let c = table(new Catalog(), 't')
    c = run(c, "CREATE USER a PASSWORD '$V'").c
    c = run(c, 'GRANT ALL ON t TO a').c
    c = run(c, 'REVOKE INSERT, DELETE ON t FROM a').c
    expect(c.grants[0]!.privileges).toEqual(['select', 'update'])
    const same = run(c, 'REVOKE INSERT ON t FROM a')
    expect(same.c).toBe(c)
    c = run(c, 'REVOKE ALL ON t FROM a').c
    expect(c.grants).toEqual([])
    c = run(c, 'GRANT SELECT ON t TO a').c
    expect(withoutTableGrants(c, c.mustTable('t').id).grants).toEqual([])
  })

  it('reads a document without users as none, and refuses malformed user entries', () => {
    const doc = table(new Catalog(), 't').toJSON()
    expect(Catalog.fromJSON(JSON.parse(JSON.stringify(doc))).users).toEqual([])
    expect(() => Catalog.fromJSON({ ...doc, users: [{ id: 'x' }] })).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    expect(() => Catalog.fromJSON({ ...doc, grants: [{ userId: 1, tableId: 1, privileges: ['truncate'] }] })).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
  })
})
