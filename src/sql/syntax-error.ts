// The one way the tokenizer and parser fail: SB_SYNTAX_ERROR with where and what, so a client can
// point at the offending token (PostgreSQL's 1-based `position` convention for `position`).

import { ScratchBirdError } from '../core/errors'
import type { Pos } from './ast'

export function syntaxError (what: string, pos: Pos, token: string): ScratchBirdError {
  return new ScratchBirdError('SB_SYNTAX_ERROR', `syntax error at line ${pos.line}, column ${pos.column}: ${what}`, {
    line: pos.line,
    column: pos.column,
    position: pos.offset + 1,
    token
  })
}
