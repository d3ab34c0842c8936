// SELECT, INSERT, UPDATE, DELETE.

import type {
  Assignment, DeleteStatement, DerivedTable, Expr, FromItem, InsertStatement, JoinType, OnConflict, OrderItem, SelectItem,
  SelectStatement, TableRef, UpdateStatement
} from './ast'
import type { Cursor } from './cursor'
import { parseExpr, parseExprList } from './parse-expr'

export function parseSelect (c: Cursor): SelectStatement {
  const pos = c.wantWord('select').pos
  const distinct = c.acceptWord('distinct')
  if (!distinct) c.acceptWord('all')
  const columns = parseSelectList(c)
  const from = c.acceptWord('from') ? parseFrom(c) : null
  const where = c.acceptWord('where') ? parseExpr(c) : null
  let groupBy: Expr[] = []
  if (c.acceptWord('group', 'GROUP BY')) {
    c.wantWord('by')
    groupBy = parseExprList(c)
  }
  const having = c.acceptWord('having') ? parseExpr(c) : null
  let orderBy: OrderItem[] = []
  if (c.acceptWord('order', 'ORDER BY')) {
    c.wantWord('by')
    orderBy = [parseOrderItem(c)]
    while (c.acceptOp(',')) orderBy.push(parseOrderItem(c))
  }
  // PostgreSQL accepts LIMIT and OFFSET in either order; so do we.
  let limit: Expr | null = null
  let offset: Expr | null = null
  for (;;) {
    if (limit === null && c.acceptWord('limit')) limit = parseExpr(c)
    else if (offset === null && c.acceptWord('offset')) offset = parseExpr(c)
    else break
  }
  return { kind: 'select', pos, distinct, columns, from, where, groupBy, having, orderBy, limit, offset }
}

/** Select list or RETURNING list: `*`, `t.*`, `expr [[AS] alias]`. */
export function parseSelectList (c: Cursor): SelectItem[] {
  const items = [parseSelectItem(c)]
  while (c.acceptOp(',')) items.push(parseSelectItem(c))
  return items
}

function parseSelectItem (c: Cursor): SelectItem {
  const pos = c.pos
  if (c.isOp('*')) {
    c.next()
    return { kind: 'star', pos, table: null }
  }
  if (c.atIdentifier() && c.isOp('.', 1) && c.isOp('*', 2)) {
    const table = c.identifier()
    c.next()
    c.next()
    return { kind: 'star', pos, table }
  }
  const expr = parseExpr(c)
  return { kind: 'select_expr', pos, expr, alias: parseAlias(c) }
}

/** `AS name` (any word after AS) or a bare non-reserved name; null when neither. */
function parseAlias (c: Cursor): string | null {
  if (c.acceptWord('as', 'alias')) return c.identifier('alias', true)
  if (c.atIdentifier()) return c.identifier()
  c.expect('alias')
  return null
}

function parseTableRef (c: Cursor): TableRef {
  const pos = c.pos
  const name = c.identifier('table name')
  return { kind: 'table_ref', pos, name, alias: parseAlias(c) }
}

/** A table name or a derived table `(SELECT …) [AS] alias [(cols)]`. */
function parseFromEntry (c: Cursor): TableRef | DerivedTable {
  if (!c.isOp('(')) return parseTableRef(c)
  const pos = c.next().pos
  c.enter()
  const select = parseSelect(c)
  c.leave()
  c.wantOp(')')
  // PostgreSQL (before 16) requires the alias too: the columns need a table name to be qualified by.
  const alias = parseAlias(c)
  if (alias === null) throw c.errorAt('subquery in FROM must have an alias', c.pos, c.peek().text)
  const columns = c.isOp('(') ? c.identifierList() : null
  return { kind: 'derived', pos, select, alias, columns }
}

function parseFrom (c: Cursor): FromItem {
  let from: FromItem = parseFromEntry(c)
  for (;;) {
    const pos = c.pos
    let type: JoinType
    if (c.acceptOp(',')) {
      type = 'cross'
    } else if (c.acceptWord('cross')) {
      c.wantWord('join')
      type = 'cross'
    } else if (c.acceptWord('join')) {
      type = 'inner'
    } else if (c.acceptWord('inner')) {
      c.wantWord('join')
      type = 'inner'
    } else if (c.acceptWord('left')) {
      c.acceptWord('outer')
      c.wantWord('join')
      type = 'left'
    } else {
      return from
    }
    const right = parseFromEntry(c)
    let on: Expr | null = null
    if (type !== 'cross') {
      c.wantWord('on')
      on = parseExpr(c)
    }
    from = { kind: 'join', pos, type, left: from, right, on }
  }
}

function parseOrderItem (c: Cursor): OrderItem {
  const pos = c.pos
  const expr = parseExpr(c)
  let direction: 'asc' | 'desc' = 'asc'
  if (c.acceptWord('desc')) direction = 'desc'
  else c.acceptWord('asc')
  let nulls: 'first' | 'last' | null = null
  if (c.acceptWord('nulls')) {
    if (c.acceptWord('first')) nulls = 'first'
    else if (c.acceptWord('last')) nulls = 'last'
    else throw c.error()
  }
  return { pos, expr, direction, nulls }
}

function parseReturning (c: Cursor): SelectItem[] | null {
  return c.acceptWord('returning') ? parseSelectList(c) : null
}

/** A VALUES item or SET value: an expression or the word DEFAULT. */
function parseValue (c: Cursor): Expr {
  if (c.isWord('default')) return { kind: 'default', pos: c.next().pos }
  return parseExpr(c)
}

export function parseInsert (c: Cursor): InsertStatement {
  const pos = c.wantWord('insert').pos
  c.wantWord('into')
  const table = c.identifier('table name')
  const columns = c.isOp('(') ? c.identifierList() : null
  c.wantWord('values')
  const rows: Expr[][] = []
  do {
    const rowPos = c.wantOp('(').pos
    const row = [parseValue(c)]
    while (c.acceptOp(',')) row.push(parseValue(c))
    c.wantOp(')')
    // Row shape is visible without the catalog, so it is checked here (PostgreSQL: 42601 too).
    const width = columns?.length ?? rows[0]?.length
    if (width !== undefined && row.length !== width) {
      const what = columns === null ? 'VALUES lists must all be the same length' : `INSERT has ${row.length} values for ${width} columns`
      throw c.errorAt(`${what} (row ${rows.length + 1})`, rowPos, '(')
    }
    rows.push(row)
  } while (c.acceptOp(','))
  const onConflict = c.isWord('on') ? parseOnConflict(c) : null
  return { kind: 'insert', pos, table, columns, rows, onConflict, returning: parseReturning(c) }
}

function parseOnConflict (c: Cursor): OnConflict {
  const pos = c.wantWord('on').pos
  c.wantWord('conflict')
  const columns = c.isOp('(') ? c.identifierList() : null
  c.wantWord('do')
  if (c.acceptWord('nothing')) return { pos, columns, action: 'nothing', assignments: [], where: null }
  c.wantWord('update')
  c.wantWord('set')
  const assignments = parseAssignments(c)
  const where = c.acceptWord('where') ? parseExpr(c) : null
  return { pos, columns, action: 'update', assignments, where }
}

function parseAssignments (c: Cursor): Assignment[] {
  const assignments: Assignment[] = []
  do {
    const apos = c.pos
    const column = c.identifier('column name')
    c.wantOp('=')
    assignments.push({ pos: apos, column, value: parseValue(c) })
  } while (c.acceptOp(','))
  return assignments
}

export function parseUpdate (c: Cursor): UpdateStatement {
  const pos = c.wantWord('update').pos
  const table = c.identifier('table name')
  c.wantWord('set')
  const assignments = parseAssignments(c)
  const where = c.acceptWord('where') ? parseExpr(c) : null
  return { kind: 'update', pos, table, assignments, where, returning: parseReturning(c) }
}

export function parseDelete (c: Cursor): DeleteStatement {
  const pos = c.wantWord('delete').pos
  c.wantWord('from')
  const table = c.identifier('table name')
  const where = c.acceptWord('where') ? parseExpr(c) : null
  return { kind: 'delete', pos, table, where, returning: parseReturning(c) }
}
