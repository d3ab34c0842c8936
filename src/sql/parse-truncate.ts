// TRUNCATE [TABLE] [ONLY] t [, t2 …] [RESTART IDENTITY | CONTINUE IDENTITY] [CASCADE | RESTRICT],
// PostgreSQL's grammar (issue 19). What it does is exec/truncate.ts's.
import type { TruncateStatement } from './ast'
import type { Cursor } from './cursor'

/** The statement when TRUNCATE starts it, else null (nothing consumed). */
export function parseTruncate (c: Cursor): TruncateStatement | null {
  if (!c.isWord('truncate')) return null
  const pos = c.next().pos
  c.acceptWord('table')
  // ONLY: no table inherits here, so every table is its own only.
  c.acceptWord('only')
  const tables = [c.identifier('table name')]
  while (c.acceptOp(',')) tables.push(c.identifier('table name'))
  let identity: TruncateStatement['identity'] = 'continue'
  if (c.acceptWord('restart')) { c.wantWord('identity'); identity = 'restart' } else if (c.acceptWord('continue')) c.wantWord('identity')
  const cascade = c.acceptWord('cascade')
  if (!cascade) c.acceptWord('restrict')
  return { kind: 'truncate', pos, tables, identity, cascade }
}
