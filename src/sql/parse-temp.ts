// The words that make a CREATE TABLE temporary (issue 19, P-001), as PostgreSQL spells them:
// CREATE [GLOBAL | LOCAL] {TEMPORARY | TEMP} TABLE … [ON COMMIT {PRESERVE ROWS | DELETE ROWS | DROP}].
// GLOBAL and LOCAL are accepted and mean the same (PostgreSQL ignores them too: its temporary
// tables are always the session's own).
import type { TempTableSpec } from './ast'
import type { Cursor } from './cursor'

/** After CREATE: consumes `[GLOBAL|LOCAL] TEMPORARY|TEMP` and says whether it was there. */
export function acceptTemporary (c: Cursor): boolean {
  const scoped = (c.isWord('global') || c.isWord('local')) && (c.isWord('temporary', 1) || c.isWord('temp', 1))
  if (scoped) c.next()
  return c.acceptWord('temporary') || c.acceptWord('temp')
}

/** `ON COMMIT …` when present (only a temporary table takes it); null when absent. */
export function parseOnCommit (c: Cursor): TempTableSpec['onCommit'] | null {
  if (!(c.isWord('on') && c.isWord('commit', 1))) return null
  c.next()
  c.next()
  if (c.acceptWord('drop')) return 'drop'
  if (c.acceptWord('preserve')) { c.wantWord('rows'); return 'preserve_rows' }
  c.wantWord('delete')
  c.wantWord('rows')
  return 'delete_rows'
}
