import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { ddlContext } from '../../../src/plan/column-default'
import { domainRule } from '../../../src/plan/domain-rules'
import type { CreateTableStatement, DomainStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import { isScratchBirdError } from '../../../src/core/errors'

// Domains as catalog objects (issue 19 item 4): versioned like tables, stored in the one catalog
// document (so they travel to every node with it), read back checked; the rules a column of a
// domain is written through.

const ctx = ddlContext(1)
const run = (c: Catalog, sql: string): Catalog => {
  const s = parseOne(sql)
  return s.kind === 'create_table' ? c.createTable(s as CreateTableStatement, ctx).catalog : c.apply(s as DomainStatement, ctx).catalog
}
const codeOf = (f: () => unknown): string => {
  try { f() } catch (e) { if (isScratchBirdError(e)) return e.code; throw e }
  return 'no error'
}

describe('domains in the catalog', () => {
  it('each domain statement is a new catalog version; columns keep the domain name and its storage type', () => {
    let c = run(new Catalog(), "CREATE DOMAIN mood AS ENUM ('sad', 'ok') DEFAULT 'ok' CHECK (VALUE <> 'sad')")
    expect(c.version).toBe(1)
    expect(c.domain('mood')).toMatchObject({ kind: 'enum', type: { name: 'text' }, members: ['sad', 'ok'], default: "'ok'", checks: [{ name: 'mood_check', expr: "value <> 'sad'" }], version: 1 })
    c = run(c, 'CREATE TABLE p (id INT PRIMARY KEY, m mood)')
    expect(c.mustTable('p').columns[1]).toMatchObject({ name: 'm', type: { name: 'text' }, domain: 'mood', notNull: false })
    c = run(c, "ALTER DOMAIN mood ADD VALUE 'glad' BEFORE 'ok'")
    expect(c.version).toBe(3)
    expect(c.domain('mood')!.members).toEqual(['sad', 'glad', 'ok'])
    // IF [NOT] EXISTS that changes nothing keeps the version.
    expect(run(c, "ALTER DOMAIN mood ADD VALUE IF NOT EXISTS 'ok'").version).toBe(3)
    expect(run(c, 'DROP DOMAIN IF EXISTS nope').version).toBe(3)
    expect(codeOf(() => run(c, 'DROP DOMAIN mood'))).toBe('SB_DEPENDENT_OBJECTS_EXIST')
    c = run(run(c, 'DROP TABLE p'), 'DROP DOMAIN mood')
    expect(c.domains).toEqual([])
  })

  it('round-trips through the catalog document and refuses a malformed domain in it', () => {
    const c = run(run(new Catalog(), 'CREATE DOMAIN qty AS DECIMAL(6, 2) NOT NULL CHECK (VALUE >= 0)'), 'CREATE DOMAIN v AS VARIANT (INTEGER, TEXT)')
    const back = Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON())))
    expect(back.domains).toEqual(c.domains)
    const doc = JSON.parse(JSON.stringify(c.toJSON())) as { domains: Array<Record<string, unknown>> }
    doc.domains[0]!.checks = 'VALUE >= 0'
    expect(codeOf(() => Catalog.fromJSON(doc))).toBe('SB_STORAGE_CORRUPT')
  })

  it('a domain over a domain: takes its type and labels, adds its own rules to the inner ones, follows ALTER DOMAIN of the inner one', () => {
    let c = run(new Catalog(), 'CREATE DOMAIN pos AS INTEGER CHECK (VALUE > 0)')
    c = run(c, 'CREATE DOMAIN small_pos AS pos DEFAULT 5 CHECK (VALUE < 100)')
    expect(c.domain('small_pos')).toMatchObject({ kind: 'base', type: { name: 'integer' }, parent: 'pos', default: '5', notNull: false, checks: [{ name: 'small_pos_check' }] })
    const lookup = (cat: Catalog) => (n: string) => cat.domain(n)
    const r = domainRule(c.domain('small_pos')!, lookup(c))
    expect(r.assign('7')).toBe(7n)
    expect(() => r.check(50n, 't', 'c')).not.toThrow()
    expect(codeOf(() => r.check(0n, 't', 'c'))).toBe('SB_CHECK_VIOLATION') // pos's CHECK
    expect(codeOf(() => r.check(200n, 't', 'c'))).toBe('SB_CHECK_VIOLATION') // its own
    expect(r.notNull).toBe(false)
    // the inner domain's DEFAULT when it has none; its DEFAULT must pass the inner CHECK
    expect(domainRule(run(c, 'CREATE DOMAIN tiny AS small_pos').domain('tiny')!, lookup(run(c, 'CREATE DOMAIN tiny AS small_pos'))).default).toMatchObject({ kind: 'integer', value: 5n })
    expect(codeOf(() => run(c, 'CREATE DOMAIN bad AS pos DEFAULT 0'))).toBe('SB_INVALID_TABLE_DEFINITION')
    expect(codeOf(() => run(c, 'CREATE DOMAIN bad AS nope'))).toBe('SB_UNDEFINED_OBJECT')
    // ALTER DOMAIN pos reaches small_pos's rule (a new rule for the new pos)
    const c2 = run(c, 'ALTER DOMAIN pos SET NOT NULL')
    expect(domainRule(c2.domain('small_pos')!, lookup(c2)).notNull).toBe(true)
    expect(domainRule(c.domain('small_pos')!, lookup(c)).notNull).toBe(false)
    // the inner domain cannot go while a domain is over it
    expect(codeOf(() => run(c, 'DROP DOMAIN pos'))).toBe('SB_DEPENDENT_OBJECTS_EXIST')
    expect(run(run(c, 'DROP DOMAIN small_pos'), 'DROP DOMAIN pos').domains).toEqual([])
    // round-trips through the document
    expect(Catalog.fromJSON(JSON.parse(JSON.stringify(c.toJSON()))).domains).toEqual(c.domains)
  })

  it('a domain over an ENUM takes its labels, and the labels ADD VALUE adds to the inner one', () => {
    let c = run(new Catalog(), "CREATE DOMAIN mood AS ENUM ('sad', 'ok')")
    c = run(c, "CREATE DOMAIN calm AS mood CHECK (VALUE <> 'sad')")
    expect(c.domain('calm')).toMatchObject({ kind: 'enum', members: ['sad', 'ok'], parent: 'mood' })
    c = run(c, "ALTER DOMAIN mood ADD VALUE 'glad' BEFORE 'ok'")
    expect(c.domain('calm')!.members).toEqual(['sad', 'glad', 'ok'])
    const r = domainRule(c.domain('calm')!, n => c.domain(n))
    expect(r.assign('glad')).toBe('glad')
    expect(codeOf(() => r.assign('mad'))).toBe('SB_INVALID_TEXT_REPRESENTATION')
    expect(codeOf(() => r.check('sad', 't', 'c'))).toBe('SB_CHECK_VIOLATION')
    expect(codeOf(() => run(c, "ALTER DOMAIN calm ADD VALUE 'zen'"))).toBe('SB_FEATURE_NOT_SUPPORTED')
  })

  it('a rule casts, checks labels, canonicalises SETs and tags VARIANTs', () => {
    let c = run(new Catalog(), "CREATE DOMAIN s AS SET ('r', 'w', 'x')")
    c = run(c, 'CREATE DOMAIN v AS VARIANT (BIGINT, TEXT, BOOLEAN)')
    c = run(c, 'CREATE DOMAIN q AS SMALLINT CHECK (VALUE % 2 = 0)')
    const s = domainRule(c.domain('s')!, n => c.domain(n))
    expect(s.assign(' x ,r,x')).toBe('r,x')
    expect(codeOf(() => s.assign('r,q'))).toBe('SB_INVALID_TEXT_REPRESENTATION')
    const v = domainRule(c.domain('v')!, n => c.domain(n))
    expect([v.assign(5n), v.assign('five'), v.assign(true), v.assign('BOOLEAN:false'), v.assign(null)]).toEqual(['BIGINT:5', 'TEXT:five', 'BOOLEAN:true', 'BOOLEAN:false', null])
    const q = domainRule(c.domain('q')!, n => c.domain(n))
    expect(q.assign('4')).toBe(4n)
    expect(codeOf(() => q.assign(70000n))).toBe('SB_NUMERIC_OUT_OF_RANGE')
    expect(() => q.check(4n, 't', 'c')).not.toThrow()
    expect(() => q.check(null, 't', 'c')).not.toThrow()
    expect(codeOf(() => q.check(3n, 't', 'c'))).toBe('SB_CHECK_VIOLATION')
  })
})
