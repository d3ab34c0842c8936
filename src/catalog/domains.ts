// Domains (issue 19 item 4, P-002…P-006): named column types with a default, NOT NULL and CHECK
// constraints, over a base type or as an ENUM, SET or VARIANT. They are catalog objects like
// tables: versioned in the one catalog document, so the DDL path carries them to every node (a
// domain created on node 1 is enforced by node 3's writers once it holds that version).
//
// Pure: each statement against the current state yields the next state. Checking DEFAULT and
// CHECK expressions compiles and runs them — the planner's and VM's job — so DdlContext.checkDomain
// (plan/domain-rules.ts) does it. Whether rows already stored satisfy a new NOT NULL or CHECK is a
// question for the shards (exec/domain-ddl.ts asks it before the statement gets here).
//
// A column of a domain stores values of the domain's storage type (`type`): the base type, or TEXT
// for ENUM (the label), SET (the labels it holds, in declaration order, joined by ',': 'a,c'; ''
// is the empty set) and VARIANT (`TYPE:value`, e.g. 'INTEGER:42' — the text keeps the member type).
//
// A domain over a domain (CREATE DOMAIN d2 AS d1, `parent`) takes d1's kind, storage type, labels
// and VARIANT types (copied: fixed at creation, except labels, which ADD VALUE on d1 adds to every
// domain over it) and keeps its own DEFAULT, NOT NULL and CHECKs; d1's are looked up through the
// chain each time a rule is built (plan/domain-rules.ts), so ALTER DOMAIN d1 applies through d2.
import { ScratchBirdError } from '../core/errors'
import type { DataType, Expr } from '../sql/ast'
import type { SqlValue } from '../types/values'
import type { AlterDomainStatement, CreateDomainStatement, DomainKind, DomainStatement, DropDomainStatement } from '../sql/ast'

/** A column's type as the catalog stores it (catalog.ts re-exports it: this module cannot import catalog.ts, which imports it). */
export interface ColumnType { name: DataType['name'], length: number | null, precision: number | null, scale: number | null }
/** The part of a catalog table the in-use checks read. */
interface TableColumns { readonly name: string, readonly index?: unknown, readonly columns: ReadonlyArray<{ readonly name: string, readonly domain?: string }> }

export interface DomainCheckInfo {
  /** The constraint's name (given, or `<domain>_check[n]` as PostgreSQL names them). */
  name: string
  /** The CHECK expression as canonical SQL text; VALUE names the value. */
  expr: string
}

export interface DomainInfo {
  name: string
  kind: DomainKind
  /** What columns of the domain store: the base type; TEXT for ENUM, SET and VARIANT. */
  type: ColumnType
  /** ENUM / SET labels in declaration order (ENUM values sort in this order); empty otherwise. */
  members: string[]
  /** VARIANT member types in declaration order; empty otherwise. */
  variants: ColumnType[]
  /** DEFAULT as canonical SQL text; null: none. A column's own DEFAULT overrides it. */
  default: string | null
  notNull: boolean
  checks: DomainCheckInfo[]
  /** Catalog version that last changed this domain. */
  version: number
  /** The domain this one is declared over (CREATE DOMAIN d2 AS d1), whose rules apply too; absent: over a base type or a list. */
  parent?: string
}

/** A domain by name in the catalog's list (domain-rules.ts follows `parent` through it). */
export type DomainLookup = (name: string) => DomainInfo | undefined

/** How many domains deep a chain of domains over domains may go (a bounded catalog entry). */
export const MAX_DOMAIN_DEPTH = 16

/** What DDL needs from the layers above to check a domain's expressions (plan/domain-rules.ts). */
export interface DomainChecker {
  /** Validates a DEFAULT against the domain (and the domains it is over, found by `lookup`); returns its canonical text. */
  default: (d: DomainInfo, e: Expr, lookup: DomainLookup) => string
  /** Validates a CHECK expression (boolean over VALUE); returns its canonical text. */
  check: (d: DomainInfo, e: Expr) => string
  /** What a value written to column `column` of `table` of domain `d` must pass (ALTER TABLE … ADD COLUMN: the stored rows' value). */
  admission: (d: DomainInfo, lookup: DomainLookup, table: string, column: string) => DomainAdmission
}

export interface DomainAdmission {
  /** The domain's DEFAULT (its own, else that of the domain it is over); null: none. */
  default: Expr | null
  /** The value as a column of the domain stores it; throws the rule's own error (22P02, 23502, 23514) naming the column. */
  admit: (v: SqlValue) => SqlValue
}

/** Longest ENUM / SET label, in characters (PostgreSQL's enum labels take 63 bytes; we allow more). */
export const MAX_LABEL_LENGTH = 255

const TEXT: ColumnType = { name: 'text', length: null, precision: null, scale: null }

function fail (code: 'SB_DUPLICATE_OBJECT' | 'SB_UNDEFINED_OBJECT' | 'SB_INVALID_TABLE_DEFINITION' | 'SB_DEPENDENT_OBJECTS_EXIST' | 'SB_FEATURE_NOT_SUPPORTED' | 'SB_STORAGE_CORRUPT', message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError(code, message, details)
}

export function columnTypeOf (t: DataType): ColumnType {
  return { name: t.name, length: t.length, precision: t.precision, scale: t.scale }
}

/** The canonical spelling of a column type, for VARIANT tags and sys_domains. */
export function columnTypeText (t: ColumnType): string {
  const name = t.name === 'double' ? 'DOUBLE PRECISION' : t.name.toUpperCase()
  if (t.length !== null) return `${name}(${t.length})`
  if (t.precision !== null) return t.scale === null ? `${name}(${t.precision})` : `${name}(${t.precision},${t.scale})`
  return name
}

/**
 * Domain `d` and the domains it is over, nearest first. A chain longer than MAX_DOMAIN_DEPTH, or
 * naming a missing domain, can only come from a damaged catalog document: SB_STORAGE_CORRUPT.
 */
export function domainChain (d: DomainInfo, lookup: DomainLookup): DomainInfo[] {
  const out = [d]
  for (let x = d; x.parent !== undefined;) {
    const p = lookup(x.parent)
    if (p === undefined || out.length > MAX_DOMAIN_DEPTH) throw fail('SB_STORAGE_CORRUPT', `the catalog's chain of domains over domains from "${d.name}" is broken at "${x.parent}"`, { domain: d.name })
    out.push(p)
    x = p
  }
  return out
}

/** Domain `name` and every domain over it, directly or through others (whose columns its rules reach). */
export function domainFamily (domains: readonly DomainInfo[], name: string): string[] {
  const out = [name]
  for (let i = 0; i < out.length && out.length <= domains.length; i++) {
    for (const d of domains) if (d.parent === out[i] && !out.includes(d.name)) out.push(d.name)
  }
  return out
}

/** The columns (table, column) typed by domain `name`, user tables only. */
export function domainUsers (tables: readonly TableColumns[], name: string): Array<{ table: string, column: string }> {
  const out: Array<{ table: string, column: string }> = []
  for (const t of tables) {
    if (t.index !== undefined) continue
    for (const c of t.columns) if (c.domain === name) out.push({ table: t.name, column: c.name })
  }
  return out
}

export interface DomainChange {
  domains: DomainInfo[]
  /** The domain as it is after the statement; null when dropped or when nothing changed. */
  domain: DomainInfo | null
  warnings: string[]
}

/**
 * One domain statement against `domains` (the catalog's list) at catalog version `version` (the
 * version the change gets); `tables` for DROP DOMAIN's in-use check. Domain names are a namespace
 * of their own (types and relations are distinct, as in PostgreSQL).
 */
export function applyDomainStatement (domains: readonly DomainInfo[], tables: readonly TableColumns[], s: DomainStatement, version: number, checker: DomainChecker): DomainChange {
  switch (s.kind) {
    case 'create_domain': return createDomain(domains, s, version, checker)
    case 'alter_domain': return alterDomain(domains, s, version, checker)
    case 'drop_domain': return dropDomain(domains, tables, s)
  }
}

const lookupIn = (domains: readonly DomainInfo[]): DomainLookup => name => domains.find(d => d.name === name)

function mustDomain (domains: readonly DomainInfo[], name: string): DomainInfo {
  const d = domains.find(x => x.name === name)
  if (d === undefined) throw fail('SB_UNDEFINED_OBJECT', `type "${name}" does not exist`, { domain: name })
  return d
}

function checkLabels (name: string, labels: readonly string[], kind: DomainKind): void {
  if (labels.length === 0) throw fail('SB_INVALID_TABLE_DEFINITION', `${kind.toUpperCase()} domain "${name}" needs at least one label`, { domain: name })
  const seen = new Set<string>()
  for (const l of labels) {
    if (l.length === 0 || l.length > MAX_LABEL_LENGTH) throw fail('SB_INVALID_TABLE_DEFINITION', `label of domain "${name}" must be 1 to ${MAX_LABEL_LENGTH} characters`, { domain: name })
    if (kind === 'set' && l.includes(',')) throw fail('SB_INVALID_TABLE_DEFINITION', `SET label "${l}" of domain "${name}" cannot contain ',' (a SET value is its labels joined by ',')`, { domain: name })
    if (seen.has(l)) throw fail('SB_INVALID_TABLE_DEFINITION', `label "${l}" is listed more than once in domain "${name}"`, { domain: name })
    seen.add(l)
  }
}

function checkName (d: DomainInfo, given: string | null): string {
  if (given !== null) {
    if (d.checks.some(k => k.name === given)) throw fail('SB_DUPLICATE_OBJECT', `constraint "${given}" for domain "${d.name}" already exists`, { domain: d.name })
    return given
  }
  let name = `${d.name}_check`
  for (let n = 1; d.checks.some(k => k.name === name); n++) name = `${d.name}_check${n}`
  return name
}

function createDomain (domains: readonly DomainInfo[], s: CreateDomainStatement, version: number, checker: DomainChecker): DomainChange {
  if (domains.some(d => d.name === s.name)) throw fail('SB_DUPLICATE_OBJECT', `type "${s.name}" already exists`, { domain: s.name })
  if (s.domainKind === 'enum' || s.domainKind === 'set') checkLabels(s.name, s.members, s.domainKind)
  // Over another domain: its kind, storage type, labels and VARIANT types; its rules stay its own.
  const over = s.base?.domain === undefined ? undefined : mustDomain(domains, s.base.domain)
  if (over !== undefined && domainChain(over, lookupIn(domains)).length >= MAX_DOMAIN_DEPTH) {
    throw fail('SB_INVALID_TABLE_DEFINITION', `domain "${s.name}" would be more than ${MAX_DOMAIN_DEPTH} domains deep over "${over.name}"`, { domain: s.name })
  }
  const variants = s.variants.map(columnTypeOf)
  if (s.domainKind === 'variant') {
    const names = variants.map(columnTypeText)
    const dup = names.find((n, i) => names.indexOf(n) !== i)
    if (dup !== undefined) throw fail('SB_INVALID_TABLE_DEFINITION', `type ${dup} is listed more than once in VARIANT domain "${s.name}"`, { domain: s.name })
  }
  let d: DomainInfo = over !== undefined
    ? { name: s.name, kind: over.kind, type: { ...over.type }, members: [...over.members], variants: over.variants.map(v => ({ ...v })), default: null, notNull: s.notNull, checks: [], version, parent: over.name }
    : {
        name: s.name,
        kind: s.domainKind,
        type: s.base === null ? { ...TEXT } : columnTypeOf(s.base),
        members: [...s.members],
        variants,
        default: null,
        notNull: s.notNull,
        checks: [],
        version
      }
  for (const k of s.checks) d = { ...d, checks: [...d.checks, { name: checkName(d, k.name), expr: checker.check(d, k.expr) }] }
  if (s.default !== null) d = { ...d, default: checker.default(d, s.default, lookupIn(domains)) }
  return { domains: [...domains, d], domain: d, warnings: [] }
}

function alterDomain (domains: readonly DomainInfo[], s: AlterDomainStatement, version: number, checker: DomainChecker): DomainChange {
  const d = mustDomain(domains, s.name)
  const a = s.action
  let next: DomainInfo
  switch (a.kind) {
    case 'set_default': next = { ...d, default: checker.default(d, a.expr, lookupIn(domains)) }; break
    case 'drop_default': next = { ...d, default: null }; break
    case 'set_not_null': next = { ...d, notNull: true }; break
    case 'drop_not_null': next = { ...d, notNull: false }; break
    case 'add_check': next = { ...d, checks: [...d.checks, { name: checkName(d, a.check.name), expr: checker.check(d, a.check.expr) }] }; break
    case 'drop_constraint': {
      if (!d.checks.some(k => k.name === a.name)) {
        if (a.ifExists) return { domains: [...domains], domain: null, warnings: [`constraint "${a.name}" of domain "${d.name}" does not exist, skipping`] }
        throw fail('SB_UNDEFINED_OBJECT', `constraint "${a.name}" of domain "${d.name}" does not exist`, { domain: d.name, constraint: a.name })
      }
      next = { ...d, checks: d.checks.filter(k => k.name !== a.name) }
      break
    }
    case 'add_value': {
      if (d.kind !== 'enum' && d.kind !== 'set') throw fail('SB_FEATURE_NOT_SUPPORTED', `"${d.name}" is not an ENUM or SET domain; ADD VALUE adds a label to one`, { domain: d.name })
      // The labels are the innermost domain's; the domains over it carry copies.
      if (d.parent !== undefined) throw fail('SB_FEATURE_NOT_SUPPORTED', `domain "${d.name}" takes its labels from domain "${d.parent}": add the label there`, { domain: d.name, parent: d.parent })
      if (d.members.includes(a.value)) {
        if (a.ifNotExists) return { domains: [...domains], domain: null, warnings: [`label "${a.value}" already exists in domain "${d.name}", skipping`] }
        throw fail('SB_DUPLICATE_OBJECT', `label "${a.value}" already exists in domain "${d.name}"`, { domain: d.name })
      }
      const anchor = a.before ?? a.after
      let at = d.members.length
      if (anchor !== null) {
        const i = d.members.indexOf(anchor)
        if (i < 0) throw fail('SB_INVALID_TABLE_DEFINITION', `"${anchor}" is not a label of domain "${d.name}"`, { domain: d.name })
        at = a.before !== null ? i : i + 1
      }
      const members = [...d.members.slice(0, at), a.value, ...d.members.slice(at)]
      checkLabels(d.name, members, d.kind)
      // A SET value stores its labels in declaration order: a label placed before the last
      // one would leave stored values out of that order, so SET labels are only appended.
      if (d.kind === 'set' && at !== d.members.length) throw fail('SB_FEATURE_NOT_SUPPORTED', 'a SET domain\'s new label goes last (stored values keep their labels in declaration order)', { domain: d.name })
      next = { ...d, members }
      break
    }
  }
  next = { ...next, version }
  // A new label reaches every domain over this one (they hold its labels, and their values are its values).
  const family = a.kind === 'add_value' ? new Set(domainFamily(domains, d.name).slice(1)) : new Set<string>()
  return { domains: domains.map(x => x === d ? next : family.has(x.name) ? { ...x, members: [...next.members], version } : x), domain: next, warnings: [] }
}

function dropDomain (domains: readonly DomainInfo[], tables: readonly TableColumns[], s: DropDomainStatement): DomainChange {
  const d = domains.find(x => x.name === s.name)
  if (d === undefined) {
    if (s.ifExists) return { domains: [...domains], domain: null, warnings: [`type "${s.name}" does not exist, skipping`] }
    throw fail('SB_UNDEFINED_OBJECT', `type "${s.name}" does not exist`, { domain: s.name })
  }
  const over = domains.find(x => x.parent === d.name)
  if (over !== undefined) throw fail('SB_DEPENDENT_OBJECTS_EXIST', `cannot drop type "${d.name}": domain "${over.name}" is declared over it`, { domain: d.name, dependent: over.name })
  const users = domainUsers(tables, d.name)
  if (users.length > 0) {
    const u = users[0]!
    throw fail('SB_DEPENDENT_OBJECTS_EXIST', `cannot drop type "${d.name}": column "${u.column}" of table "${u.table}" depends on it${users.length > 1 ? ` (and ${users.length - 1} more)` : ''}`,
      { domain: d.name, table: u.table, column: u.column })
  }
  return { domains: domains.filter(x => x !== d), domain: null, warnings: [] }
}

/** The shape of a stored DomainInfo (the catalog document comes from disk and from peers). */
export function validDomain (x: unknown): boolean {
  const d = x as Partial<DomainInfo> | null
  const strings = (v: unknown): boolean => Array.isArray(v) && v.every(n => typeof n === 'string')
  const type = (v: unknown): boolean => typeof v === 'object' && v !== null && typeof (v as ColumnType).name === 'string'
  return typeof d === 'object' && d !== null && typeof d.name === 'string' && ['base', 'enum', 'set', 'variant'].includes(d.kind as string) &&
    type(d.type) && strings(d.members) && Array.isArray(d.variants) && d.variants.every(type) &&
    (d.default === null || typeof d.default === 'string') && typeof d.notNull === 'boolean' &&
    Array.isArray(d.checks) && d.checks.every(k => typeof k?.name === 'string' && typeof k?.expr === 'string') && Number.isInteger(d.version) &&
    (d.parent === undefined || typeof d.parent === 'string')
}
