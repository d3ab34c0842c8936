// CREATE DOMAIN, ALTER DOMAIN, DROP DOMAIN (issue 19 item 4, P-002…P-006), and the column type
// that may name a domain. Syntax (PostgreSQL's, plus ENUM / SET / VARIANT as MySQL and the seeds
// name them):
//
//   CREATE DOMAIN d [AS] base_type | domain [DEFAULT expr] [NOT NULL | NULL] [[CONSTRAINT c] CHECK (expr)]…
//   CREATE DOMAIN d [AS] ENUM ('a', 'b', …)      [DEFAULT …] [NOT NULL] [CHECK …]
//   CREATE DOMAIN d [AS] SET ('a', 'b', …)       [DEFAULT …] [NOT NULL] [CHECK …]
//   CREATE DOMAIN d [AS] VARIANT (type, type, …) [DEFAULT …] [NOT NULL] [CHECK …]
//   ALTER DOMAIN d SET DEFAULT expr | DROP DEFAULT | SET NOT NULL | DROP NOT NULL
//                | ADD [CONSTRAINT c] CHECK (expr) | DROP CONSTRAINT [IF EXISTS] c
//                | ADD VALUE [IF NOT EXISTS] 'x' [BEFORE 'y' | AFTER 'y']
//   DROP DOMAIN [IF EXISTS] d [RESTRICT]
//
// A CHECK expression names the value being checked as VALUE (a column reference named "value").
import type { DataType, Expr } from './ast'
import type { AlterDomainAction, AlterDomainStatement, CreateDomainStatement, DomainCheck, DomainKind, DomainStatement, DropDomainStatement } from './ast'
import type { Cursor } from './cursor'
import { parseCastType, parseExpr, parseType } from './parse-expr'

/** At most this many ENUM / SET labels or VARIANT types in one domain (a bounded catalog entry). */
export const MAX_DOMAIN_MEMBERS = 1000

/** A domain statement at the cursor, or null when the statement is something else. */
export function parseDomainStatement (c: Cursor): DomainStatement | null {
  if (!c.isWord('domain', 1)) return null
  if (c.isWord('create')) return parseCreateDomain(c)
  if (c.isWord('alter')) return parseAlterDomain(c)
  if (c.isWord('drop')) return parseDropDomain(c)
  return null
}

/**
 * A column's type: a base type, or a name that is no type's spelling, taken as a domain (the
 * catalog refuses it if no such domain exists), as a CAST's type is read.
 */
export function parseColumnType (c: Cursor): DataType {
  return parseCastType(c)
}

function parseCreateDomain (c: Cursor): CreateDomainStatement {
  const pos = c.wantWord('create').pos
  c.wantWord('domain')
  const name = c.identifier('domain name')
  c.acceptWord('as')
  let domainKind: DomainKind = 'base'
  let base: DataType | null = null
  let members: string[] = []
  const variants: DataType[] = []
  // ENUM / SET / VARIANT are kinds only when a parenthesised list follows (a domain over a type
  // named like them is not possible: they are no base type's spelling).
  if ((c.isWord('enum') || c.isWord('set')) && c.isOp('(', 1)) {
    domainKind = c.next().value as 'enum' | 'set'
    members = parseStringList(c)
  } else if (c.isWord('variant') && c.isOp('(', 1)) {
    c.next()
    domainKind = 'variant'
    c.wantOp('(')
    do {
      if (variants.length >= MAX_DOMAIN_MEMBERS) throw c.errorAt(`a VARIANT lists at most ${MAX_DOMAIN_MEMBERS} types`, c.pos, c.peek().text)
      variants.push(parseType(c))
    } while (c.acceptOp(','))
    c.wantOp(')')
  } else {
    // A base type, or another domain's name (a domain over a domain: catalog/domains.ts).
    base = parseColumnType(c)
  }
  let dflt: Expr | null = null
  let nullability: 'null' | 'not null' | null = null
  const checks: DomainCheck[] = []
  for (;;) {
    const t = c.peek()
    if (c.acceptWord('default')) {
      if (dflt !== null) throw c.errorAt('DEFAULT given more than once', t.pos, t.text)
      dflt = parseExpr(c)
    } else if (c.acceptWord('not')) {
      c.wantWord('null')
      if (nullability !== null) throw c.errorAt('NULL/NOT NULL given more than once', t.pos, t.text)
      nullability = 'not null'
    } else if (c.acceptWord('null')) {
      if (nullability !== null) throw c.errorAt('NULL/NOT NULL given more than once', t.pos, t.text)
      nullability = 'null'
    } else if (c.isWord('constraint') || c.isWord('check')) {
      checks.push(parseCheck(c))
    } else {
      break
    }
  }
  return { kind: 'create_domain', pos, name, domainKind, base, members, variants, default: dflt, notNull: nullability === 'not null', checks }
}

function parseStringList (c: Cursor): string[] {
  c.wantOp('(')
  const out: string[] = []
  do {
    const t = c.peek()
    if (t.kind !== 'string') throw c.error('a quoted label')
    if (out.length >= MAX_DOMAIN_MEMBERS) throw c.errorAt(`a domain lists at most ${MAX_DOMAIN_MEMBERS} labels`, t.pos, t.text)
    c.next()
    out.push(t.value)
  } while (c.acceptOp(','))
  c.wantOp(')')
  return out
}

function parseCheck (c: Cursor): DomainCheck {
  const pos = c.pos
  const name = c.acceptWord('constraint') ? c.identifier('constraint name') : null
  c.wantWord('check')
  c.wantOp('(')
  const expr = parseExpr(c)
  c.wantOp(')')
  return { pos, name, expr }
}

function parseAlterDomain (c: Cursor): AlterDomainStatement {
  const pos = c.wantWord('alter').pos
  c.wantWord('domain')
  const name = c.identifier('domain name')
  let action: AlterDomainAction
  if (c.acceptWord('set')) {
    if (c.acceptWord('default')) action = { kind: 'set_default', expr: parseExpr(c) }
    else { c.wantWord('not'); c.wantWord('null'); action = { kind: 'set_not_null' } }
  } else if (c.acceptWord('drop')) {
    if (c.acceptWord('default')) action = { kind: 'drop_default' }
    else if (c.acceptWord('not')) { c.wantWord('null'); action = { kind: 'drop_not_null' } } else {
      c.wantWord('constraint')
      let ifExists = false
      if (c.acceptWord('if')) { c.wantWord('exists'); ifExists = true }
      action = { kind: 'drop_constraint', name: c.identifier('constraint name'), ifExists }
    }
  } else if (c.acceptWord('add')) {
    if (c.acceptWord('value')) {
      let ifNotExists = false
      if (c.acceptWord('if')) { c.wantWord('not'); c.wantWord('exists'); ifNotExists = true }
      const value = wantString(c)
      const before = c.acceptWord('before') ? wantString(c) : null
      const after = before === null && c.acceptWord('after') ? wantString(c) : null
      action = { kind: 'add_value', value, ifNotExists, before, after }
    } else {
      action = { kind: 'add_check', check: parseCheck(c) }
    }
  } else {
    throw c.error('SET, DROP or ADD')
  }
  return { kind: 'alter_domain', pos, name, action }
}

function wantString (c: Cursor): string {
  const t = c.peek()
  if (t.kind !== 'string') throw c.error('a quoted label')
  c.next()
  return t.value
}

function parseDropDomain (c: Cursor): DropDomainStatement {
  const pos = c.wantWord('drop').pos
  c.wantWord('domain')
  let ifExists = false
  if (c.acceptWord('if')) { c.wantWord('exists'); ifExists = true }
  const name = c.identifier('domain name')
  // RESTRICT is the only behaviour (a domain in use is never dropped), so it may be written.
  c.acceptWord('restrict')
  return { kind: 'drop_domain', pos, name, ifExists }
}
