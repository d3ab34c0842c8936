// Expressions and type names. Precedence, loosest first (PostgreSQL's order):
//   OR · AND · NOT · IS [NOT] NULL · comparison · [NOT] IN/BETWEEN/LIKE · || · + - · * / % ·
//   unary - + · :: · primary
// Binary levels are left-associative loops; only parentheses, prefix operators and nested
// constructs recurse, and those go through Cursor.enter so depth stays bounded.

import type {
  BinaryOp, Case, DataType, Expr, FuncCall, Literal, Pos, SelectStatement, TypeName, WhenClause
} from './ast'
import type { Cursor } from './cursor'
import { kindOfTypeName } from '../types/sql-types'
import { LIMITS } from '../core/limits'

/** Highest `$n` accepted; the HTTP API bounds parameter arrays well below this. */
export const MAX_PARAM_INDEX = LIMITS.sqlParams
/** Largest CHAR/VARCHAR length or DECIMAL precision written in a type (the catalog checks more). */
export const MAX_TYPE_MODIFIER = LIMITS.charLength

const COMPARISON_OPS: Readonly<Record<string, BinaryOp>> = {
  '=': '=', '<>': '<>', '!=': '<>', '<': '<', '<=': '<=', '>': '>', '>=': '>='
}

export function parseExpr (c: Cursor): Expr {
  c.enter()
  const e = parseOr(c)
  c.leave()
  return e
}

function binary (c: Cursor, op: BinaryOp, left: Expr, right: Expr): Expr {
  return c.node({ kind: 'binary', pos: left.pos, op, left, right }, [left, right])
}

function parseOr (c: Cursor): Expr {
  let left = parseAnd(c)
  while (c.isWord('or')) {
    c.next()
    left = binary(c, 'or', left, parseAnd(c))
  }
  return left
}

function parseAnd (c: Cursor): Expr {
  let left = parseNot(c)
  while (c.isWord('and')) {
    c.next()
    left = binary(c, 'and', left, parseNot(c))
  }
  return left
}

function parseNot (c: Cursor): Expr {
  if (!c.isWord('not')) return parseIs(c)
  const pos = c.next().pos
  c.enter()
  const operand = parseNot(c)
  c.leave()
  return c.node({ kind: 'unary', pos, op: 'not', operand }, [operand])
}

function parseIs (c: Cursor): Expr {
  let left = parseComparison(c)
  while (c.isWord('is')) {
    c.next()
    const not = c.acceptWord('not')
    c.wantWord('null')
    left = c.node({ kind: 'is_null', pos: left.pos, not, operand: left }, [left])
  }
  return left
}

function parseComparison (c: Cursor): Expr {
  let left = parsePredicate(c)
  for (;;) {
    const t = c.peek()
    const op = t.kind === 'op' ? COMPARISON_OPS[t.value] : undefined
    if (op === undefined) return left
    c.next()
    left = binary(c, op, left, parsePredicate(c))
  }
}

/** [NOT] IN (…), [NOT] BETWEEN a AND b, [NOT] LIKE p. */
function parsePredicate (c: Cursor): Expr {
  let left = parseConcat(c)
  for (;;) {
    const not = c.isWord('not') && (c.isWord('in', 1) || c.isWord('between', 1) || c.isWord('like', 1))
    if (not) c.next()
    const pos = left.pos
    if (c.isWord('in') && c.isOp('(', 1) && c.isWord('select', 2)) {
      c.next()
      const select = parseSubquery(c)
      left = c.node({ kind: 'in_subquery', pos, not, operand: left, select }, [left])
    } else if (c.isWord('in')) {
      c.next()
      c.wantOp('(')
      const list = parseExprList(c)
      c.wantOp(')')
      left = c.node({ kind: 'in', pos, not, operand: left, list }, [left, ...list])
    } else if (c.isWord('between')) {
      c.next()
      const low = parseConcat(c)
      c.wantWord('and')
      const high = parseConcat(c)
      left = c.node({ kind: 'between', pos, not, operand: left, low, high }, [left, low, high])
    } else if (c.isWord('like')) {
      c.next()
      const pattern = parseConcat(c)
      left = c.node({ kind: 'like', pos, not, operand: left, pattern }, [left, pattern])
    } else {
      return left
    }
  }
}

function parseConcat (c: Cursor): Expr {
  let left = parseAdditive(c)
  while (c.isOp('||')) {
    c.next()
    left = binary(c, '||', left, parseAdditive(c))
  }
  return left
}

function parseAdditive (c: Cursor): Expr {
  let left = parseMultiplicative(c)
  while (c.isOp('+') || c.isOp('-')) {
    const op = c.next().value as BinaryOp
    left = binary(c, op, left, parseMultiplicative(c))
  }
  return left
}

function parseMultiplicative (c: Cursor): Expr {
  let left = parseUnary(c)
  while (c.isOp('*') || c.isOp('/') || c.isOp('%')) {
    const op = c.next().value as BinaryOp
    left = binary(c, op, left, parseUnary(c))
  }
  return left
}

function parseUnary (c: Cursor): Expr {
  if (!c.isOp('-') && !c.isOp('+')) return parsePostfix(c)
  const t = c.next()
  c.enter()
  const operand = parseUnary(c)
  c.leave()
  // A signed number is one literal, so `-9223372036854775808` fits BIGINT and plans see constants.
  if (operand.kind === 'integer') {
    return { kind: 'integer', pos: t.pos, value: t.value === '-' ? -operand.value : operand.value }
  }
  if (operand.kind === 'decimal') {
    const text = t.value === '+' ? operand.text : operand.text.startsWith('-') ? operand.text.slice(1) : `-${operand.text}`
    return { kind: 'decimal', pos: t.pos, text }
  }
  return c.node({ kind: 'unary', pos: t.pos, op: t.value === '-' ? '-' : '+', operand }, [operand])
}

function parsePostfix (c: Cursor): Expr {
  let e = parsePrimary(c)
  while (c.isOp('::')) {
    c.next()
    const type = parseCastType(c)
    e = c.node({ kind: 'cast', pos: e.pos, operand: e, type }, [e])
  }
  return e
}

export function parseExprList (c: Cursor): Expr[] {
  const list = [parseExpr(c)]
  while (c.acceptOp(',')) list.push(parseExpr(c))
  return list
}

function parsePrimary (c: Cursor): Expr {
  const t = c.peek()
  switch (t.kind) {
    case 'integer': c.next(); return { kind: 'integer', pos: t.pos, value: BigInt(t.value) }
    case 'decimal': c.next(); return { kind: 'decimal', pos: t.pos, text: t.value }
    case 'string': c.next(); return { kind: 'string', pos: t.pos, value: t.value }
    case 'param': {
      const index = Number(t.value)
      if (index < 1 || index > MAX_PARAM_INDEX) throw c.errorAt(`parameter ${t.text} out of range ($1 to $${MAX_PARAM_INDEX})`, t.pos, t.text)
      c.next()
      return { kind: 'param', pos: t.pos, index }
    }
    case 'op':
      if (t.value === '(' && c.isWord('select', 1)) return { kind: 'subquery', pos: t.pos, select: parseSubquery(c) }
      if (t.value === '(') {
        c.next()
        const e = parseExpr(c)
        c.wantOp(')')
        return e
      }
      break
    case 'word':
      switch (t.value) {
        case 'true': case 'false': c.next(); return { kind: 'boolean', pos: t.pos, value: t.value === 'true' }
        case 'null': c.next(); return { kind: 'null', pos: t.pos }
        case 'case': return parseCase(c)
        case 'exists':
          if (c.isOp('(', 1) && c.isWord('select', 2)) {
            c.next()
            return { kind: 'exists', pos: t.pos, select: parseSubquery(c) }
          }
          break
        case 'cast': return parseCast(c)
        case 'date': case 'timestamp':
          if (c.peek(1).kind === 'string') {
            c.next()
            return { kind: 'typed_literal', pos: t.pos, type: t.value, value: c.next().value }
          }
          break
      }
      break
  }
  if (c.atIdentifier()) return parseNameOrCall(c)
  throw c.error('an expression')
}

/** `( SELECT … )`: the parenthesised query of a subquery expression. */
function parseSubquery (c: Cursor): SelectStatement {
  if (c.subquery === null) throw c.error('an expression')
  c.wantOp('(')
  c.enter()
  const select = c.subquery(c)
  c.leave()
  c.wantOp(')')
  return select
}

function parseNameOrCall (c: Cursor): Expr {
  const pos = c.pos
  const name = c.identifier()
  if (c.isOp('(')) return parseCall(c, pos, name)
  if (c.isOp('.')) {
    c.next()
    return { kind: 'column', pos, table: name, name: c.identifier('column name') }
  }
  return { kind: 'column', pos, table: null, name }
}

function parseCall (c: Cursor, pos: Pos, name: string): FuncCall {
  c.wantOp('(')
  if (c.isOp('*')) {
    c.next()
    c.wantOp(')')
    return { kind: 'call', pos, name, args: [], distinct: false, star: true }
  }
  if (c.acceptOp(')')) return { kind: 'call', pos, name, args: [], distinct: false, star: false }
  const distinct = c.acceptWord('distinct')
  const args = parseExprList(c)
  c.wantOp(')')
  return c.node({ kind: 'call', pos, name, args, distinct, star: false }, args)
}

function parseCast (c: Cursor): Expr {
  const pos = c.next().pos
  c.wantOp('(')
  const operand = parseExpr(c)
  c.wantWord('as')
  const type = parseCastType(c)
  c.wantOp(')')
  return c.node({ kind: 'cast', pos, operand, type }, [operand])
}

function parseCase (c: Cursor): Case {
  const pos = c.next().pos
  const operand = c.isWord('when') ? null : parseExpr(c)
  const whens: WhenClause[] = []
  while (c.isWord('when') || whens.length === 0) {
    const wpos = c.wantWord('when').pos
    const when = parseExpr(c)
    c.wantWord('then')
    whens.push({ pos: wpos, when, then: parseExpr(c) })
  }
  const elseExpr = c.acceptWord('else') ? parseExpr(c) : null
  c.wantWord('end')
  const children = [...whens.flatMap((w) => [w.when, w.then])]
  if (operand !== null) children.push(operand)
  if (elseExpr !== null) children.push(elseExpr)
  return c.node({ kind: 'case', pos, operand, whens, else: elseExpr }, children)
}

/** A literal option value: string, signed number, TRUE/FALSE/NULL, DATE/TIMESTAMP '…'. */
export function parseLiteral (c: Cursor): Literal {
  const t = c.peek()
  const sign = t.kind === 'op' && (t.value === '-' || t.value === '+') ? t.value : ''
  const n = c.peek(sign === '' ? 0 : 1)
  if (n.kind === 'integer' || n.kind === 'decimal') {
    if (sign !== '') c.next()
    c.next()
    if (n.kind === 'integer') return { kind: 'integer', pos: t.pos, value: sign === '-' ? -BigInt(n.value) : BigInt(n.value) }
    return { kind: 'decimal', pos: t.pos, text: sign === '-' ? `-${n.value}` : n.value }
  }
  if (sign === '') {
    if (t.kind === 'string') { c.next(); return { kind: 'string', pos: t.pos, value: t.value } }
    if (t.kind === 'word') {
      if (t.value === 'true' || t.value === 'false') { c.next(); return { kind: 'boolean', pos: t.pos, value: t.value === 'true' } }
      if (t.value === 'null') { c.next(); return { kind: 'null', pos: t.pos } }
      if ((t.value === 'date' || t.value === 'timestamp') && c.peek(1).kind === 'string') {
        c.next()
        return { kind: 'typed_literal', pos: t.pos, type: t.value, value: c.next().value }
      }
    }
  }
  throw c.error('a literal (string, number, TRUE, FALSE or NULL)')
}

// ---- types ----------------------------------------------------------------------------------

/**
 * The type of a CAST: a base type, or a name that is no type's spelling, taken as a domain (plan/domain-cast.ts
 * resolves it; parse-domain.ts parseColumnType reads a column's type the same way).
 */
export function parseCastType (c: Cursor): DataType {
  const t = c.peek()
  if (t.kind === 'quoted' || (t.kind === 'word' && t.value !== 'double' && kindOfTypeName(t.value) === undefined && c.atIdentifier())) {
    const domain = c.identifier('a type or domain name')
    return { kind: 'type', pos: t.pos, name: 'text', length: null, precision: null, scale: null, domain }
  }
  return parseType(c)
}

export function parseType (c: Cursor): DataType {
  const t = c.peek()
  // One table of type spellings (src/types/sql-types.ts); DOUBLE PRECISION and CHARACTER VARYING are
  // two words, handled here.
  let name: TypeName | undefined = t.kind === 'word' && t.value !== 'double' ? kindOfTypeName(t.value) : undefined
  if (t.kind === 'word' && t.value === 'double') {
    c.next()
    c.wantWord('precision')
    name = 'double'
  } else if (name === undefined) {
    throw c.error('a type name')
  } else {
    c.next()
  }
  if (name === 'char' && t.value === 'character' && c.acceptWord('varying')) name = 'varchar'
  let length: number | null = null
  let precision: number | null = null
  let scale: number | null = null
  if ((name === 'char' || name === 'varchar') && c.acceptOp('(')) {
    length = typeModifier(c)
    c.wantOp(')')
  } else if (name === 'decimal' && c.acceptOp('(')) {
    precision = typeModifier(c)
    if (c.acceptOp(',')) scale = typeModifier(c)
    c.wantOp(')')
  }
  return { kind: 'type', pos: t.pos, name, length, precision, scale }
}

function typeModifier (c: Cursor): number {
  const t = c.peek()
  if (t.kind !== 'integer') throw c.error('an integer')
  const n = Number(t.value)
  if (n > MAX_TYPE_MODIFIER) throw c.errorAt(`type modifier ${t.value} out of range (at most ${MAX_TYPE_MODIFIER})`, t.pos, t.text)
  c.next()
  return n
}
