// A query string of the PostgreSQL protocol split into its statements, as the SQL tokenizer sees
// them (a `;` inside a string, quoted name or comment does not split), with where each starts
// (error positions) and the highest $n it uses (Parse's parameter count). A statement of only
// comments or blanks is dropped, as PostgreSQL drops it.
import { tokenize } from '../../sql/lexer'

export interface Piece {
  /** The statement's text from its first token to before its `;`. */
  readonly text: string
  /** Offset of `text` in the query string (0-based). */
  readonly offset: number
  /** Highest $n in the statement (0: none). */
  readonly params: number
}

/** Throws SB_SYNTAX_ERROR when the text cannot be tokenized (an unterminated string …). */
export function splitStatements (sql: string): Piece[] {
  const tokens = tokenize(sql)
  const out: Piece[] = []
  let start = -1
  let params = 0
  for (const t of tokens) {
    const end = t.kind === 'eof' || (t.kind === 'op' && t.value === ';')
    if (end) {
      if (start >= 0) out.push({ text: sql.slice(start, t.pos.offset).trimEnd(), offset: start, params })
      start = -1
      params = 0
      continue
    }
    if (start < 0) start = t.pos.offset
    if (t.kind === 'param') params = Math.max(params, Number(t.value))
  }
  return out
}
