// Column DEFAULT expressions (DESIGN §5 "Catalog"). Checked once at CREATE TABLE and stored in the
// catalog as canonical SQL text (format.ts), so they round-trip through catalog.json and the
// cluster-wide catalog document. An INSERT compiles a column's default into each VALUES row
// program where the column is omitted or given as DEFAULT, exactly like a VALUES expression: a
// volatile default (gen_uuidv8_hlc(), gen_uuidv7(), now()) is evaluated per row on the
// coordinator, before the row's shard is computed from its partition key.
import type { Clock } from '../core/clock'
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import type { DdlContext, DefaultTarget } from '../catalog/catalog'
import { SEED_TABLE_DEFAULTS, type TableDefaults } from '../catalog/replication-options'
import { Vm } from '../vm/vm'
import { trialContext } from './trial-context'
import type { Expr } from '../sql/ast'
import { assignValue } from '../types/cast'
import { encodeRow } from '../types/row-codec'
import { formatExpr } from '../sql/format'
import { parseExpression } from '../sql/parser'
import { T } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import { AGGREGATE_NAMES, compileExpr, exprChildren, type TypedReg } from './compile-expr'
import { ProgramBuilder } from './program-builder'
import { sqlTypeOf } from './table-types'
import { domainChecker } from './domain-rules'

export type { DefaultTarget } from '../catalog/catalog'

function invalid (t: DefaultTarget, why: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_INVALID_TABLE_DEFINITION', `invalid DEFAULT for column "${t.column}" of table "${t.table}": ${why}`,
    { table: t.table, column: t.column, ...details })
}

/** What a default may not contain: it is computed without a row, a request or a group. */
function checkShape (t: DefaultTarget, e: Expr): void {
  switch (e.kind) {
    case 'column': throw invalid(t, `cannot refer to column "${e.table === null ? e.name : `${e.table}.${e.name}`}" (a default is computed without a row)`)
    case 'param': throw invalid(t, `cannot use parameter $${e.index}`)
    case 'default': throw invalid(t, 'DEFAULT cannot be nested')
    case 'call':
      if (AGGREGATE_NAMES.has(e.name)) throw invalid(t, `aggregate function ${e.name}() is not allowed`)
      break
  }
  for (const c of exprChildren(e)) checkShape(t, c)
}

function compile (e: Expr, b: ProgramBuilder): TypedReg {
  return compileExpr(e, { columns: [], clause: 'DEFAULT expressions' }, b)
}

/**
 * Validates a column's DEFAULT and returns its canonical text. The expression must be made of
 * literals, casts, operators and non-aggregate function calls (gen_uuidv8_hlc(), now() …); it is
 * compiled and evaluated once, and the value must pass the column's assignment cast (the rule
 * INSERT applies) and, for a NOT NULL column, must not be NULL. Every rejection is
 * SB_INVALID_TABLE_DEFINITION naming the column (details.cause: the underlying error's code).
 */
export function checkColumnDefault (t: DefaultTarget, e: Expr): string {
  checkShape(t, e)
  if (e.kind === 'null' && t.notNull) throw invalid(t, 'the column is NOT NULL, so its default cannot be NULL')
  let value
  try {
    const b = new ProgramBuilder([], [])
    const r = compile(e, b)
    b.emit('EMIT', r.reg, 1)
    const out = new Vm(b.build([{ name: t.column, type: r.type.kind === 'null' ? T.text : r.type }]), trialContext()).run()
    value = assignValue(out?.[0] ?? null, sqlTypeOf(t.type))
  } catch (x) {
    if (!isScratchBirdError(x)) throw x
    throw invalid(t, x.message, { cause: x.code })
  }
  if (value === null && t.notNull) throw invalid(t, 'the column is NOT NULL, but its default evaluates to NULL')
  const text = formatExpr(e)
  // What INSERT will read back (canonical text can outgrow the statement it came from).
  try { parseExpression(text) } catch (x) {
    if (!isScratchBirdError(x)) throw x
    throw invalid(t, `its text cannot be stored: ${x.message}`, { cause: x.code })
  }
  return text
}

/** The parsed form of a stored default (the catalog holds canonical SQL text). */
export function parseColumnDefault (table: string, column: string, text: string): Expr {
  try {
    return parseExpression(text)
  } catch (x) {
    if (!isScratchBirdError(x)) throw x
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `the catalog's DEFAULT for column "${column}" of table "${table}" is unreadable: ${x.message}`, { table, column })
  }
}

/** Emits a stored default's code into an INSERT row program; the value lands in the returned register. */
export function compileColumnDefault (e: Expr, b: ProgramBuilder): TypedReg {
  return compile(e, b)
}

/**
 * The value the rows already stored read for a column ALTER TABLE … ADD COLUMN adds with DEFAULT
 * `e` (catalog ColumnInfo.missing): evaluated once, with now() = `clock`'s time, on the node that
 * runs the DDL; the catalog document carries the value, so every node reads the same. A default
 * different per row (gen_uuidv7(), gen_uuidv8_hlc()) would need every stored row rewritten:
 * refused (SB_FEATURE_NOT_SUPPORTED). Call after checkColumnDefault accepted `e`.
 */
export function missingColumnValue (t: DefaultTarget, e: Expr, clock: Clock): string | null {
  const b = new ProgramBuilder([], [])
  const r = compile(e, b)
  if (b.volatile) {
    throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
      `ALTER TABLE ${t.table} ADD COLUMN ${t.column}: its DEFAULT ${formatExpr(e)} gives each row a different value, so the rows already stored would need rewriting; ` +
      'add the column with a constant DEFAULT (or none), then UPDATE the rows', { table: t.table, column: t.column })
  }
  b.emit('EMIT', r.reg, 1)
  const type = sqlTypeOf(t.type)
  let raw: SqlValue
  let value: SqlValue = null
  try {
    raw = new Vm(b.build([{ name: t.column, type: r.type.kind === 'null' ? T.text : r.type }]), { ...trialContext(), clock }).run()?.[0] ?? null
    if (t.admit === undefined) value = assignValue(raw, type)
  } catch (x) {
    if (!isScratchBirdError(x)) throw x
    throw invalid(t, x.message, { cause: x.code })
  }
  // A column of a domain: the domain's rules, whose errors (22P02, 23502, 23514) name the rule broken.
  if (t.admit !== undefined) value = t.admit(raw)
  if (value === null) {
    if (t.notNull) throw invalid(t, 'the column is NOT NULL, but its default evaluates to NULL')
    return null
  }
  return Buffer.from(encodeRow([type], [value])).toString('base64')
}

/**
 * The context catalog DDL runs with: `liveNodes` bounds replication_factor, `defaults` are the
 * replication options of new tables (the node's config); column defaults are checked here, and
 * an added column's value for the stored rows is taken at `clock`'s time (now() in its DEFAULT).
 */
export function ddlContext (liveNodes: number, defaults: TableDefaults = SEED_TABLE_DEFAULTS, clock: Clock = trialContext().clock): DdlContext {
  return { liveNodes, defaults, checkDefault: checkColumnDefault, missingValue: (t, e) => missingColumnValue(t, e, clock), domains: domainChecker }
}
