// Bearer tokens as the catalog document holds them (issue 18 item 1). They travel with the users
// on the versioned DDL path (pushed to every node, persisted in catalog.json), so a token created
// through any node authenticates on every node once the version reaches it, and a dropped or
// expired one is refused there. Only the SHA-256 of the token text is kept: the token itself is
// shown once, to whoever created it. The secret is 256 random bits, so a plain SHA-256 suffices
// (nothing to guess offline, unlike a password; a slow hash would only cost every request).
import { ScratchBirdError } from '../core/errors'

export interface TokenInfo {
  /** Unique among the tokens of its user. */
  readonly name: string
  /** The owning user's id (a rename keeps the token; DROP USER drops it). */
  readonly userId: number
  /** SHA-256 of the token text, lower-case hex. */
  readonly hash: string
  /** Refused from this instant on (epoch milliseconds); null: never expires. */
  readonly validUntil: number | null
  /** Catalog version that created it. */
  readonly version: number
}

/** Tokens a catalog holds at most (the document travels whole). */
export const MAX_TOKENS = 10_000
/** Tokens one user may hold at most (a loop creating tokens fills its own quota, not the catalog). */
export const MAX_TOKENS_PER_USER = 100

/** The tokens of a catalog document (absent in documents written before tokens existed: none). */
export function readTokens (v: unknown): TokenInfo[] {
  if (v === undefined) return []
  if (!Array.isArray(v) || v.length > MAX_TOKENS) throw corrupt('tokens is not a list of at most ' + String(MAX_TOKENS))
  return v.map((t: Partial<TokenInfo>) => {
    if (typeof t !== 'object' || t === null || typeof t.name !== 'string' || !Number.isInteger(t.userId) || typeof t.hash !== 'string' ||
      !/^[0-9a-f]{64}$/.test(t.hash) || !(t.validUntil === null || Number.isFinite(t.validUntil)) || !Number.isInteger(t.version)) {
      throw corrupt('a token entry is malformed')
    }
    return { name: t.name, userId: t.userId!, hash: t.hash, validUntil: t.validUntil ?? null, version: t.version! }
  })
}

function corrupt (what: string): ScratchBirdError {
  return new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: ${what}`)
}
