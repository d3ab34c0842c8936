// CREATE [UNIQUE] INDEX … ON t (cols) [INCLUDE (cols)] [GLOBAL | LOCAL], DROP INDEX (issue 19 item 2).
import type { AlterIndexStatement, CreateIndexStatement, DropIndexStatement } from './ast'
import type { Cursor } from './cursor'

/** Is the statement at the cursor CREATE [UNIQUE] INDEX (not CREATE TABLE)? */
export function atCreateIndex (c: Cursor): boolean {
  return c.isWord('create') && (c.isWord('index', 1) || (c.isWord('unique', 1) && c.isWord('index', 2)))
}

export function parseCreateIndex (c: Cursor): CreateIndexStatement {
  const pos = c.wantWord('create').pos
  const unique = c.acceptWord('unique')
  c.wantWord('index')
  let ifNotExists = false
  if (c.acceptWord('if')) { c.wantWord('not'); c.wantWord('exists'); ifNotExists = true }
  const name = c.identifier('index name')
  c.wantWord('on')
  const table = c.identifier('table name')
  const columns = c.identifierList()
  const include = c.acceptWord('include') ? c.identifierList() : []
  const scope = c.acceptWord('global') ? 'global' : c.acceptWord('local') ? 'local' : null
  return { kind: 'create_index', pos, name, table, unique, ifNotExists, columns, include, scope }
}

/** Is the statement at the cursor DROP INDEX? */
export function atDropIndex (c: Cursor): boolean {
  return c.isWord('drop') && c.isWord('index', 1)
}

export function parseDropIndex (c: Cursor): DropIndexStatement {
  const pos = c.wantWord('drop').pos
  c.wantWord('index')
  let ifExists = false
  if (c.acceptWord('if')) { c.wantWord('exists'); ifExists = true }
  return { kind: 'drop_index', pos, name: c.identifier('index name'), ifExists }
}

/** Is the statement at the cursor ALTER INDEX? */
export function atAlterIndex (c: Cursor): boolean {
  return c.isWord('alter') && c.isWord('index', 1)
}

export function parseAlterIndex (c: Cursor): AlterIndexStatement {
  const pos = c.wantWord('alter').pos
  c.wantWord('index')
  const name = c.identifier('index name')
  c.wantWord('set')
  c.wantWord('ready')
  return { kind: 'alter_index', pos, name }
}
