// Bearer tokens of users (issue 18 item 1):
//   CREATE TOKEN name [FOR USER u] [VALID UNTIL 'timestamp']
//   DROP TOKEN [IF EXISTS] name [FOR USER u]
// A token is a credential a user owns, so its statements read like PostgreSQL's for objects a
// user owns: FOR USER as in CREATE USER MAPPING FOR, VALID UNTIL as in CREATE ROLE … VALID UNTIL.
// Without FOR USER the statement is about the session's own user, so a user with no admin rights
// can manage its own tokens. The secret is drawn by the node that runs the statement and shown
// once in its result; what travels to the catalog coordinator carries only its SHA-256 as
// HASH 'hex' (written by formatStatement; a client has no reason to write it).
// Called before the table statements: answers null when the tokens do not start one of these.
import { parseTimestamp } from '../types/datetime'
import type { TokenStatement } from './ast'
import type { Cursor } from './cursor'

/** SHA-256 in lower-case hex, as the catalog keeps it. */
export const TOKEN_HASH_RE = /^[0-9a-f]{64}$/

export function parseTokenStatement (c: Cursor): TokenStatement | null {
  const t = c.peek()
  if (t.kind !== 'word' || (t.value !== 'create' && t.value !== 'drop') || !c.isWord('token', 1)) return null
  c.next(); c.next()
  if (t.value === 'drop') {
    let ifExists = false
    if (c.acceptWord('if')) { c.wantWord('exists'); ifExists = true }
    const name = c.identifier('token name')
    return { kind: 'drop_token', pos: t.pos, name, user: forUser(c), ifExists }
  }
  const name = c.identifier('token name')
  const user = forUser(c)
  let validUntil: number | null = null
  if (c.acceptWord('valid')) {
    c.wantWord('until')
    const v = c.peek()
    if (v.kind !== 'string') throw c.error('a timestamp in single quotes')
    validUntil = Number(parseTimestamp(v.value).micros / 1000n)
    c.next()
  }
  let hash: string | null = null
  if (c.acceptWord('hash')) {
    const h = c.peek()
    if (h.kind !== 'string') throw c.error('a SHA-256 in hexadecimal, in single quotes')
    if (!TOKEN_HASH_RE.test(h.value)) throw c.errorAt('a token hash must be 64 lower-case hexadecimal digits (SHA-256)', h.pos, h.text)
    hash = h.value
    c.next()
  }
  return { kind: 'create_token', pos: t.pos, name, user, validUntil, hash }
}

function forUser (c: Cursor): string | null {
  if (!c.acceptWord('for')) return null
  c.wantWord('user')
  return c.identifier('user name')
}
