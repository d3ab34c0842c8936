// CREATE/DROP TOKEN on the node that received them (issue 18 item 1). The secret is drawn here
// and never leaves this node except in the statement's result: the statement that travels to the
// catalog coordinator (and is stored, and reaches every node) carries only its SHA-256. The
// owner is named here too — FOR USER, or the session's own user — because the coordinator does
// not know the session. The catalog change itself is catalog/tokens.ts.
import { ScratchBirdError } from '../core/errors'
import type { DdlStatement, TokenStatement } from '../sql/ast'
import { posDetails } from '../plan/compile-expr'
import { T } from '../types/sql-types'
import { timestampFromMillis } from '../types/datetime'
import type { CatalogPort, Generators, UsersPort } from './env'
import { rowsResult, type StatementResult } from './result'
import type { SessionState } from './txn'

export const TOKEN_RESULT_COLUMNS = [
  { name: 'token_name', type: T.text },
  { name: 'user_name', type: T.text },
  { name: 'token', type: T.text },
  { name: 'valid_until', type: T.timestamp }
] as const

export async function executeTokenStatement (env: CatalogPort & UsersPort & Pick<Generators, 'clock'>, session: SessionState, s: TokenStatement,
  ddl: (s: DdlStatement) => Promise<StatementResult>): Promise<StatementResult> {
  const user = s.user ?? ownUser(env, session)
  if (user === null) {
    throw new ScratchBirdError('SB_TOKEN_REFUSED', `${s.kind === 'create_token' ? 'CREATE' : 'DROP'} TOKEN needs FOR USER here: this session is not signed in as a catalog user`, posDetails(s.pos))
  }
  if (s.kind === 'drop_token') return await ddl({ ...s, user })
  if (s.validUntil !== null && s.validUntil <= env.clock.now()) {
    throw new ScratchBirdError('SB_TOKEN_REFUSED', `VALID UNTIL ${new Date(s.validUntil).toISOString()} is not in the future: the token could never be used`, { ...posDetails(s.pos), valid_until: s.validUntil })
  }
  // A HASH written by the client is taken as is (it knows the token); otherwise a fresh secret.
  let token: string | null = null
  let hash = s.hash
  if (hash === null) {
    if (env.newToken === undefined) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'tokens need the node\'s user support (no token source here)', posDetails(s.pos))
    const t = env.newToken()
    token = t.token
    hash = t.hash
  }
  const r = await ddl({ ...s, user, hash })
  return rowsResult('CREATE TOKEN', TOKEN_RESULT_COLUMNS, [[s.name, user, token, s.validUntil === null ? null : timestampFromMillis(s.validUntil)]],
    [...r.warnings, ...(token === null ? [] : ['the token is shown only now: the catalog keeps its SHA-256, not the token'])])
}

/** The session's catalog user's current name (a rename since sign-in is followed); null: none. */
function ownUser (env: CatalogPort, session: SessionState): string | null {
  const p = session.principal
  if (p === undefined || p.kind !== 'user') return null
  return env.catalog().userById(p.id)?.name ?? null
}
