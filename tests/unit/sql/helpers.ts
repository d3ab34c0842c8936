// Shared test helpers: AST comparisons without positions, error assertions, and small builders
// so expected ASTs stay readable.

import { expect } from 'vitest'
import { ScratchBirdError } from '../../../src/core/errors'
import type { BinaryOp, DataType, Expr, TypeName } from '../../../src/sql/ast'
import { parse, parseOne } from '../../../src/sql/parser'

/** Deep copy without `pos` fields, so trees from different texts compare by shape. */
export function stripPos (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripPos)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (k !== 'pos') out[k] = stripPos(x)
    return out
  }
  return v
}

export function ast (sql: string): unknown { return stripPos(parseOne(sql)) }
export function asts (sql: string): unknown { return stripPos(parse(sql)) }

/** The single SELECT item expression of `SELECT <expr>`, positions stripped. */
export function expr (text: string): unknown {
  const s = parseOne(`SELECT ${text}`)
  if (s.kind !== 'select' || s.columns[0]?.kind !== 'select_expr') throw new Error('not an expression')
  return stripPos(s.columns[0].expr)
}

export function syntaxErrorOf (sql: string): ScratchBirdError {
  try {
    parse(sql)
  } catch (e) {
    expect(e).toBeInstanceOf(ScratchBirdError)
    expect((e as ScratchBirdError).code).toBe('SB_SYNTAX_ERROR')
    return e as ScratchBirdError
  }
  throw new Error(`expected a syntax error for: ${sql}`)
}

// ---- builders (positions omitted: compare with stripPos) -----------------------------------

type E = Record<string, unknown>
export const col = (name: string, table: string | null = null): E => ({ kind: 'column', table, name })
export const int = (n: number | bigint): E => ({ kind: 'integer', value: BigInt(n) })
export const dec = (text: string): E => ({ kind: 'decimal', text })
export const str = (value: string): E => ({ kind: 'string', value })
export const bool = (value: boolean): E => ({ kind: 'boolean', value })
export const nul = (): E => ({ kind: 'null' })
export const param = (index: number): E => ({ kind: 'param', index })
export const bin = (op: BinaryOp, left: E, right: E): E => ({ kind: 'binary', op, left, right })
export const not = (operand: E): E => ({ kind: 'unary', op: 'not', operand })
export const neg = (operand: E): E => ({ kind: 'unary', op: '-', operand })
export const call = (name: string, ...args: E[]): E => ({ kind: 'call', name, args, distinct: false, star: false })
export const type = (name: TypeName, mods: Partial<Pick<DataType, 'length' | 'precision' | 'scale'>> = {}): E =>
  ({ kind: 'type', name, length: null, precision: null, scale: null, ...mods })
export const item = (e: E, alias: string | null = null): E => ({ kind: 'select_expr', expr: e, alias })
export const table = (name: string, alias: string | null = null): E => ({ kind: 'table_ref', name, alias })

export const select = (fields: E): E => ({
  kind: 'select',
  distinct: false,
  columns: [],
  from: null,
  where: null,
  groupBy: [],
  having: null,
  orderBy: [],
  limit: null,
  offset: null,
  ...fields
})

export const columnDef = (name: string, t: E, fields: E = {}): E => ({
  kind: 'column_def', name, type: t, notNull: false, primaryKey: false, default: null, references: null, ...fields
})

export type { Expr }
