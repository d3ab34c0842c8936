// What a domain (catalog/domains.ts) asks of each value written to a column of it: the
// assignment to its storage type (ENUM label membership, SET canonical form, VARIANT member type
// chosen and tagged), NOT NULL, and its CHECK constraints compiled to SBLR programs over VALUE.
// Rules are built once per domain version (cached on the DomainInfo object, which a catalog
// version never mutates) and applied by exec/write-rows.ts assignRow, so INSERT, UPDATE and
// ON CONFLICT DO UPDATE enforce them alike. The checker validates DEFAULT and CHECK at DDL.
//
// Value forms (documented in README "Domains"):
//   ENUM    the label; values sort in declaration order (ORDER BY, see enumSortKey)
//   SET     the labels held, in declaration order, joined by ',' ('a,c'); '' is the empty set;
//           input labels may come in any order, repeated, with blanks around them
//   VARIANT 'TYPE:value' (e.g. 'INTEGER:42', 'TEXT:hello'): the member type is kept with the
//           value. Input 'TYPE:value' picks that member; any other value takes the first member
//           of its own kind (integer, text, …), else the first member it converts to.
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import type { DomainChecker, DomainInfo, DomainLookup } from '../catalog/domains'
import { columnTypeText, domainChain } from '../catalog/domains'
import type { Catalog, TableInfo } from '../catalog/catalog'
import type { Program } from '../sblr/program'
import type { Expr } from '../sql/ast'
import { formatExpr } from '../sql/format'
import { parseExpression } from '../sql/parser'
import { assignValue } from '../types/cast'
import { isIntegerKind, isTextKind, T, type SqlType } from '../types/sql-types'
import { valueClass, valueToText, type SqlValue } from '../types/values'
import { Vm } from '../vm/vm'
import { AGGREGATE_NAMES, compileExpr, exprChildren } from './compile-expr'
import { trialContext } from './trial-context'
import { ProgramBuilder } from './program-builder'
import { sqlTypeOf, type TableShape } from './table-types'

export interface DomainRule {
  readonly info: DomainInfo
  /** The domain's DEFAULT, parsed (its own, else that of the domain it is over); null: none. */
  readonly default: Expr | null
  /** NOT NULL of the domain or of any domain it is over. */
  readonly notNull: boolean
  /** The value as the column stores it (cast, label checked, SET canonical, VARIANT tagged). */
  assign: (v: SqlValue) => SqlValue
  /** Throws SB_CHECK_VIOLATION when a CHECK of the domain, or of a domain it is over, is false for `v` (not NULL). */
  check: (v: SqlValue, table: string, column: string) => void
}

function badValue (d: DomainInfo, why: string): ScratchBirdError {
  return new ScratchBirdError('SB_INVALID_TEXT_REPRESENTATION', `invalid input value for ${d.kind === 'base' ? 'domain' : d.kind.toUpperCase()} domain "${d.name}": ${why}`, { domain: d.name })
}

function shown (v: SqlValue): string {
  const t = valueToText(v) ?? 'NULL'
  return JSON.stringify(t.length > 64 ? t.slice(0, 64) + '…' : t)
}

function assignEnum (d: DomainInfo, v: SqlValue): SqlValue {
  const s = assignValue(v, T.text)
  if (s === null) return null
  if (!d.members.includes(s as string)) throw badValue(d, `${shown(s)} is not one of ${d.members.map(m => `'${m}'`).join(', ')}`)
  return s
}

function assignSet (d: DomainInfo, v: SqlValue): SqlValue {
  const s = assignValue(v, T.text)
  if (s === null) return null
  const held = new Set<string>()
  for (const part of (s as string).split(',')) {
    const label = part.trim()
    if (label === '') continue
    if (!d.members.includes(label)) throw badValue(d, `"${label}" is not one of ${d.members.map(m => `'${m}'`).join(', ')}`)
    held.add(label)
  }
  return d.members.filter(m => held.has(m)).join(',')
}

/** Does a value of this class belong to a member type of this kind without conversion? */
function sameKind (cls: string, t: SqlType): boolean {
  switch (cls) {
    case 'integer': return isIntegerKind(t.kind)
    case 'float': return t.kind === 'real' || t.kind === 'double'
    case 'text': return isTextKind(t.kind)
    default: return cls === t.kind
  }
}

function assignVariant (d: DomainInfo, v: SqlValue): SqlValue {
  if (v === null) return null
  const names = d.variants.map(columnTypeText)
  const types = d.variants.map(sqlTypeOf)
  const tagged = (i: number, x: SqlValue): SqlValue => x === null ? null : `${names[i]!}:${valueToText(x)!}`
  if (typeof v === 'string') {
    const colon = v.indexOf(':')
    const i = colon > 0 ? names.indexOf(v.slice(0, colon)) : -1
    if (i >= 0) return tagged(i, assignValue(v.slice(colon + 1), types[i]!))
  }
  const cls = valueClass(v)
  const order = [...types.keys()].sort((a, b) => Number(sameKind(cls, types[b]!)) - Number(sameKind(cls, types[a]!)))
  for (const i of order) {
    try { return tagged(i, assignValue(v, types[i]!)) } catch (e) { if (!isScratchBirdError(e)) throw e }
  }
  throw badValue(d, `${shown(v)} is a value of none of its types (${names.join(', ')})`)
}

/** What a CHECK may hold: VALUE, literals, operators, casts and functions; no row, request or group. */
function checkShape (d: DomainInfo, e: Expr): void {
  const refuse = (why: string): never => { throw new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `CHECK of domain "${d.name}": ${why}`, { domain: d.name }) }
  switch (e.kind) {
    case 'column': if (e.table !== null || e.name !== 'value') refuse(`"${e.table === null ? e.name : `${e.table}.${e.name}`}" is not VALUE (a domain check sees only the value)`); break
    case 'param': refuse('cannot use parameters'); break
    case 'default': refuse('DEFAULT is not a value'); break
    case 'subquery': case 'exists': case 'in_subquery': refuse('subqueries are not allowed'); break
    case 'call': if (AGGREGATE_NAMES.has(e.name)) refuse(`aggregate function ${e.name}() is not allowed`); break
  }
  for (const c of exprChildren(e)) checkShape(d, c)
}

function checkProgram (d: DomainInfo, e: Expr): Program {
  const type = sqlTypeOf(d.type)
  const b = new ProgramBuilder([], [{ name: 'value', type }])
  const r = compileExpr(e, { columns: [{ name: 'value', type, table: '' }], clause: 'domain CHECK constraints' }, b)
  if (r.type.kind !== 'boolean' && r.type.kind !== 'null') {
    throw new ScratchBirdError('SB_DATATYPE_MISMATCH', `CHECK of domain "${d.name}" must be boolean, not ${r.type.kind}`, { domain: d.name })
  }
  b.emit('EMIT', r.reg, 1)
  return b.build([{ name: 'check', type: T.boolean }])
}

function parseStored (d: DomainInfo, text: string): Expr {
  try { return parseExpression(text) } catch (x) {
    if (!isScratchBirdError(x)) throw x
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `the catalog's expression of domain "${d.name}" is unreadable: ${x.message}`, { domain: d.name })
  }
}

/** A rule, and the rule of the domain it is over that it was built on (null: none). */
const rules = new WeakMap<DomainInfo, { rule: DomainRule, parent: DomainRule | null }>()

/**
 * The rule of domain `d` (one per catalog version of it and of the domains it is over, which
 * `lookup` finds: a domain over d1 is rebuilt when ALTER DOMAIN d1 makes a new d1).
 */
export function domainRule (d: DomainInfo, lookup: DomainLookup): DomainRule {
  const over = domainChain(d, lookup)[1]
  const parent = over === undefined ? null : domainRule(over, lookup)
  const held = rules.get(d)
  if (held !== undefined && held.parent === parent) return held.rule
  const r = buildRule(d, parent)
  rules.set(d, { rule: r, parent })
  return r
}

function buildRule (d: DomainInfo, parent: DomainRule | null): DomainRule {
  const type = sqlTypeOf(d.type)
  const checks = d.checks.map(k => ({ name: k.name, program: checkProgram(d, parseStored(d, k.expr)) }))
  const assign = (v: SqlValue): SqlValue => {
    // Over a domain: its assignment (labels, tags, casts) is this one's.
    if (parent !== null) return parent.assign(v)
    switch (d.kind) {
      case 'enum': return assignEnum(d, v)
      case 'set': return assignSet(d, v)
      case 'variant': return assignVariant(d, v)
      case 'base': return assignValue(v, type)
    }
  }
  return {
    info: d,
    default: d.default === null ? parent?.default ?? null : parseStored(d, d.default),
    notNull: d.notNull || parent?.notNull === true,
    assign,
    check (v, table, column) {
      if (v === null) return
      parent?.check(v, table, column)
      for (const k of checks) {
        // A CHECK that is NULL (unknown) passes, as in SQL.
        if (new Vm(k.program, trialContext()).run([v])?.[0] === false) {
          throw new ScratchBirdError('SB_CHECK_VIOLATION', `value for domain "${d.name}" violates check constraint "${k.name}"${table === '' ? '' : ` (column "${column}" of relation "${table}")`}`,
            { domain: d.name, constraint: k.name, ...(table === '' ? {} : { table, column }) })
        }
      }
    }
  }
}

/** The rules of a table's columns (null where a column has no domain); undefined when none has one. */
export function domainRules (catalog: Catalog, info: TableInfo): ReadonlyArray<DomainRule | null> | undefined {
  if (!info.columns.some(c => c.domain !== undefined)) return undefined
  return info.columns.map(c => {
    if (c.domain === undefined) return null
    const d = catalog.domain(c.domain)
    if (d === undefined) throw new ScratchBirdError('SB_STORAGE_CORRUPT', `column "${c.name}" of "${info.name}" names domain "${c.domain}", which the catalog lacks`, { table: info.name, column: c.name })
    return domainRule(d, name => catalog.domain(name))
  })
}

/** A table's shape with the rules of its domain-typed columns (what INSERT and UPDATE write through). */
export type DomainShape = TableShape & { readonly domains?: ReadonlyArray<DomainRule | null> }

export function withDomains (shape: TableShape, catalog: Catalog): DomainShape {
  const domains = domainRules(catalog, shape.info)
  return domains === undefined ? shape : { ...shape, domains }
}

function wrapDdl<R> (d: DomainInfo, what: string, body: () => R): R {
  try { return body() } catch (x) {
    if (!isScratchBirdError(x) || x.code === 'SB_INVALID_TABLE_DEFINITION') throw x
    throw new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `invalid ${what} for domain "${d.name}": ${x.message}`, { domain: d.name, cause: x.code })
  }
}

/** Catalog DDL's view of domains (DdlContext.domains): DEFAULT and CHECK validated, stored as canonical text. */
export const domainChecker: DomainChecker = {
  admission (d, lookup, table, column) {
    const rule = domainRule(d, lookup)
    return {
      default: rule.default,
      admit (v) {
        const x = rule.assign(v)
        if (x === null && rule.notNull) {
          throw new ScratchBirdError('SB_NOT_NULL_VIOLATION', `column "${column}" of relation "${table}" would be NULL in the rows already stored, but domain "${d.name}" is NOT NULL: give the column or the domain a DEFAULT`,
            { domain: d.name, table, column })
        }
        rule.check(x, table, column)
        return x
      }
    }
  },
  check (d, e) {
    return wrapDdl(d, 'CHECK', () => {
      checkShape(d, e)
      checkProgram(d, e)
      return roundTrip(e)
    })
  },
  default (d, e, lookup) {
    return wrapDdl(d, 'DEFAULT', () => {
      for (const c of exprChildren(e).concat([e])) if (c.kind === 'column' || c.kind === 'param' || c.kind === 'subquery') throw new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `DEFAULT of domain "${d.name}" must be computed without a row or request`, { domain: d.name })
      // The value must pass the domain as INSERT would apply it (a volatile default is tried once).
      const rule = domainRule({ ...d, default: null }, lookup)
      const v = rule.assign(trialValue(e))
      if (v === null && rule.notNull) throw new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `domain "${d.name}" is NOT NULL, so its default cannot be NULL`, { domain: d.name })
      rule.check(v, '', '')
      return roundTrip(e)
    })
  }
}

/** The value of a constant expression (a domain's DEFAULT), computed in the trial context. */
function trialValue (e: Expr): SqlValue {
  const b = new ProgramBuilder([], [])
  const r = compileExpr(e, { columns: [], clause: 'DEFAULT expressions' }, b)
  b.emit('EMIT', r.reg, 1)
  return new Vm(b.build([{ name: 'value', type: r.type.kind === 'null' ? T.text : r.type }]), trialContext()).run()?.[0] ?? null
}

function roundTrip (e: Expr): string {
  const text = formatExpr(e)
  parseExpression(text)
  return text
}
