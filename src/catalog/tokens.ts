// CREATE/DROP TOKEN against a catalog version (issue 18 item 1). Pure, like users.ts: checks the
// statement against the current version and yields the next one. By the time a statement gets
// here the node that received it has named its user (FOR USER, or the session's) and put the
// hash of the secret it drew in it (exec/token-ddl.ts); who may run it was decided before
// (security/privileges.ts).
import { ScratchBirdError } from '../core/errors'
import type { TokenStatement } from '../sql/ast'
import { Catalog } from './catalog'
import { MAX_TOKENS, MAX_TOKENS_PER_USER, type TokenInfo } from './token-records'

export interface TokenDdlResult { catalog: Catalog, warnings: string[] }

/** The catalog's tokens (none in documents written before tokens existed). */
export function tokensOf (c: Catalog): readonly TokenInfo[] {
  return c.state.tokens ?? []
}

/** The token whose text hashes to `hash`, if any (the HTTP Bearer check). */
export function tokenByHash (c: Catalog, hash: string): TokenInfo | undefined {
  return tokensOf(c).find(t => t.hash === hash)
}

export function applyTokenStatement (c: Catalog, s: TokenStatement): TokenDdlResult {
  if (s.user === null) throw new Error('ScratchBird assertion: a token statement reaches the catalog with its user named')
  const u = c.user(s.user)
  if (u === undefined) throw new ScratchBirdError('SB_UNDEFINED_USER', `role "${s.user}" does not exist`, { user: s.user })
  const tokens = tokensOf(c)
  const mine = tokens.filter(t => t.userId === u.id)
  const existing = mine.find(t => t.name === s.name)
  if (s.kind === 'drop_token') {
    if (existing === undefined) {
      if (s.ifExists) return { catalog: c, warnings: [`token "${s.name}" of user "${u.name}" does not exist, skipping`] }
      throw new ScratchBirdError('SB_UNDEFINED_TOKEN', `token "${s.name}" of user "${u.name}" does not exist`, { token: s.name, user: u.name })
    }
    return { catalog: new Catalog({ ...c.state, version: c.version + 1, tokens: tokens.filter(t => t !== existing) }), warnings: [] }
  }
  if (s.hash === null) throw new Error('ScratchBird assertion: CREATE TOKEN reaches the catalog with its hash')
  if (existing !== undefined) throw new ScratchBirdError('SB_DUPLICATE_TOKEN', `user "${u.name}" already has a token "${s.name}"; drop it first`, { token: s.name, user: u.name })
  if (mine.length >= MAX_TOKENS_PER_USER || tokens.length >= MAX_TOKENS) {
    throw new ScratchBirdError('SB_TOKEN_REFUSED', `user "${u.name}" holds ${mine.length} tokens (at most ${MAX_TOKENS_PER_USER} per user, ${MAX_TOKENS} in all); drop some first`, { user: u.name, max: MAX_TOKENS_PER_USER })
  }
  // The same secret twice would be one credential under two names; 256 random bits never collide, a HASH written by hand might.
  if (tokenByHash(c, s.hash) !== undefined) throw new ScratchBirdError('SB_DUPLICATE_TOKEN', 'a token with that hash already exists', { token: s.name, user: u.name })
  const token: TokenInfo = { name: s.name, userId: u.id, hash: s.hash, validUntil: s.validUntil, version: c.version + 1 }
  return { catalog: new Catalog({ ...c.state, version: c.version + 1, tokens: [...tokens, token] }), warnings: [] }
}

/** The catalog without the tokens of user `userId` (DROP USER, in the same version). */
export function withoutUserTokens (state: Catalog['state'], userId: number): Catalog['state'] {
  const tokens = state.tokens ?? []
  return tokens.some(t => t.userId === userId) ? { ...state, tokens: tokens.filter(t => t.userId !== userId) } : state
}
