// CREATE TABLE, ALTER TABLE, DROP TABLE.

import type {
  AlterAction, AlterTableStatement, ColumnDef, CreateTableStatement, DropTableStatement, Expr,
  ForeignRef, ReferentialAction, TableConstraint, TableOption, TempTableSpec
} from './ast'
import type { Cursor } from './cursor'
import { parseExpr, parseLiteral } from './parse-expr'
import { parseColumnType } from './parse-domain'
import { parseReplicasReady } from './parse-replicas-ready'
import { acceptTemporary, parseOnCommit } from './parse-temp'
import { parseMoveStep } from './parse-table-move'

export function parseCreateTable (c: Cursor): CreateTableStatement {
  const pos = c.wantWord('create').pos
  const temporary = acceptTemporary(c)
  c.wantWord('table')
  const ifNotExists = parseIfNotExists(c)
  const name = c.identifier('table name')
  c.wantOp('(')
  const columns: ColumnDef[] = []
  const constraints: TableConstraint[] = []
  do {
    if (c.isWord('constraint') || c.isWord('primary') || c.isWord('foreign') || c.isWord('unique')) {
      constraints.push(parseTableConstraint(c))
    } else {
      columns.push(parseColumnDef(c, 'column name or table constraint'))
    }
  } while (c.acceptOp(','))
  c.wantOp(')')
  let partitionBy: string[] | null = null
  let options: TableOption[] | null = null
  let onCommit: TempTableSpec['onCommit'] | null = null
  // The clauses are optional and may come in any order, each at most once (ON COMMIT: temporary tables only).
  for (;;) {
    if (temporary && onCommit === null && (onCommit = parseOnCommit(c)) !== null) continue
    if (partitionBy === null && c.acceptWord('partition')) {
      c.wantWord('by')
      partitionBy = c.isOp('(') ? c.identifierList() : [c.identifier('column name')]
    } else if (options === null && c.acceptWord('with')) {
      c.wantOp('(')
      options = parseOptionList(c)
      c.wantOp(')')
    } else {
      break
    }
  }
  const out: CreateTableStatement = { kind: 'create_table', pos, name, ifNotExists, columns, constraints, partitionBy, options: options ?? [] }
  return temporary ? { ...out, temporary: { onCommit: onCommit ?? 'preserve_rows' } } : out
}

function parseIfNotExists (c: Cursor): boolean {
  if (!c.acceptWord('if')) return false
  c.wantWord('not')
  c.wantWord('exists')
  return true
}

function parseIfExists (c: Cursor): boolean {
  if (!c.acceptWord('if')) return false
  c.wantWord('exists')
  return true
}

function parseColumnDef (c: Cursor, label = 'column name'): ColumnDef {
  const pos = c.pos
  const name = c.identifier(label)
  const type = parseColumnType(c)
  let nullability: 'null' | 'not null' | null = null
  let primaryKey = false
  let dflt: Expr | null = null
  let references: ForeignRef | null = null
  let unique = false
  // Constraints in any order; each kind once (PostgreSQL rejects repeats and NULL + NOT NULL).
  for (;;) {
    const t = c.peek()
    const once = (seen: boolean, what: string): void => {
      if (seen) throw c.errorAt(`${what} given more than once for column "${name}"`, t.pos, t.text)
    }
    if (c.acceptWord('not')) {
      c.wantWord('null')
      once(nullability !== null, 'NULL/NOT NULL')
      nullability = 'not null'
    } else if (c.acceptWord('null')) {
      once(nullability !== null, 'NULL/NOT NULL')
      nullability = 'null'
    } else if (c.acceptWord('primary')) {
      c.wantWord('key')
      once(primaryKey, 'PRIMARY KEY')
      primaryKey = true
    } else if (c.acceptWord('default')) {
      once(dflt !== null, 'DEFAULT')
      dflt = parseExpr(c)
    } else if (c.isWord('references')) {
      once(references !== null, 'REFERENCES')
      references = parseReferences(c)
    } else if (c.acceptWord('unique')) {
      once(unique, 'UNIQUE')
      unique = true
    } else {
      break
    }
  }
  return { kind: 'column_def', pos, name, type, notNull: nullability === 'not null', primaryKey, default: dflt, references, ...(unique ? { unique: true as const } : {}) }
}

function parseReferences (c: Cursor): ForeignRef {
  const pos = c.wantWord('references').pos
  const table = c.identifier('table name')
  const columns = c.isOp('(') ? c.identifierList() : null
  let onDelete: ReferentialAction | undefined
  let onUpdate: ReferentialAction | undefined
  // ON DELETE / ON UPDATE in either order, each once.
  while (c.isWord('on') && (c.isWord('delete', 1) || c.isWord('update', 1))) {
    c.next()
    const t = c.next()
    if (t.value === 'delete' ? onDelete !== undefined : onUpdate !== undefined) throw c.errorAt(`ON ${t.value.toUpperCase()} given more than once`, t.pos, t.text)
    const action = parseReferentialAction(c)
    if (t.value === 'delete') onDelete = action
    else onUpdate = action
  }
  return { pos, table, columns, ...(onDelete !== undefined ? { onDelete } : {}), ...(onUpdate !== undefined ? { onUpdate } : {}) }
}

function parseReferentialAction (c: Cursor): ReferentialAction {
  if (c.acceptWord('cascade')) return 'cascade'
  if (c.acceptWord('restrict')) return 'restrict'
  if (c.acceptWord('no')) { c.wantWord('action'); return 'no_action' }
  throw c.error()
}

function parseTableConstraint (c: Cursor): TableConstraint {
  const pos = c.pos
  const name = c.acceptWord('constraint') ? c.identifier('constraint name') : null
  if (c.acceptWord('unique')) return { kind: 'unique', pos, name, columns: c.identifierList() }
  if (c.acceptWord('primary')) {
    c.wantWord('key')
    return { kind: 'primary_key', pos, name, columns: c.identifierList() }
  }
  c.wantWord('foreign')
  c.wantWord('key')
  const columns = c.identifierList()
  return { kind: 'foreign_key', pos, name, columns, references: parseReferences(c) }
}

/** `name = literal, …` (WITH (…) and ALTER TABLE … SET). */
function parseOptionList (c: Cursor): TableOption[] {
  const options: TableOption[] = []
  do {
    const pos = c.pos
    const name = c.identifier('option name')
    c.wantOp('=')
    options.push({ pos, name, value: parseLiteral(c) })
  } while (c.acceptOp(','))
  return options
}

export function parseAlterTable (c: Cursor): AlterTableStatement {
  const pos = c.wantWord('alter').pos
  c.wantWord('table')
  const table = c.identifier('table name')
  const apos = c.pos
  let action: AlterAction
  if (c.acceptWord('set')) {
    action = parseReplicasReady(c, apos) ?? { kind: 'set_options', pos: apos, options: parseOptionList(c) }
  } else if (c.acceptWord('add')) {
    c.acceptWord('column')
    const ifNotExists = parseIfNotExists(c)
    action = { kind: 'add_column', pos: apos, column: parseColumnDef(c), ifNotExists }
  } else if (c.isWord('move')) {
    // Not offered in syntax errors: the move's own steps (exec/table-move.ts) issue it.
    c.next()
    action = parseMoveStep(c, apos, parseOptionList)
  } else if (c.acceptWord('drop')) {
    c.acceptWord('column')
    const ifExists = parseIfExists(c)
    action = { kind: 'drop_column', pos: apos, column: c.identifier('column name'), ifExists }
  } else if (c.acceptWord('rename')) {
    // RENAME TO (of the table itself) is not offered: only a column is renamed.
    if (c.isWord('to')) throw c.error('COLUMN or column name')
    c.acceptWord('column')
    const column = c.identifier('column name')
    c.wantWord('to')
    action = { kind: 'rename_column', pos: apos, column, to: c.identifier('column name') }
  } else {
    throw c.error()
  }
  return { kind: 'alter_table', pos, table, action }
}

export function parseDropTable (c: Cursor): DropTableStatement {
  const pos = c.wantWord('drop').pos
  c.wantWord('table')
  const ifExists = parseIfExists(c)
  return { kind: 'drop_table', pos, name: c.identifier('table name'), ifExists }
}
