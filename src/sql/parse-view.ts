// CREATE [OR REPLACE] VIEW name [(col, …)] AS SELECT …, DROP VIEW [IF EXISTS] name (issue 19 item 4, P-009).
import type { ViewStatement } from './ast'
import type { Cursor } from './cursor'
import { parseSelect } from './parse-dml'

/** The view statement at the cursor, or null (and nothing consumed) when it is not one. */
export function parseViewStatement (c: Cursor): ViewStatement | null {
  if (c.isWord('create') && (c.isWord('view', 1) || (c.isWord('or', 1) && c.isWord('replace', 2) && c.isWord('view', 3)))) {
    const pos = c.next().pos
    const orReplace = c.acceptWord('or')
    if (orReplace) c.wantWord('replace')
    c.wantWord('view')
    const name = c.identifier('view name')
    const columns = c.isOp('(') ? c.identifierList() : null
    c.wantWord('as')
    return { kind: 'create_view', pos, name, orReplace, columns, select: parseSelect(c) }
  }
  if (c.isWord('drop') && c.isWord('view', 1)) {
    const pos = c.next().pos
    c.wantWord('view')
    let ifExists = false
    if (c.acceptWord('if')) { c.wantWord('exists'); ifExists = true }
    return { kind: 'drop_view', pos, name: c.identifier('view name'), ifExists }
  }
  return null
}
