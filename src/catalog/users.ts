// CREATE/ALTER/DROP USER and GRANT/REVOKE against a catalog version (issue 18 item 2). Pure, like
// the table DDL of catalog.ts: each checks the statement against the current version and yields
// the next one plus the warnings for the client. Who may run them is decided before, by the
// privilege rules (security/privileges.ts); passwords have become verifiers before (the
// executor), so what arrives here and what is stored is a verifier only.
import { ScratchBirdError } from '../core/errors'
import { TABLE_PRIVILEGES, type GrantStatement, type TablePrivilege, type UserStatement } from '../sql/ast'
import { Catalog, type CatalogState } from './catalog'
import { MAX_USERS, type GrantInfo, type UserInfo } from './user-records'
import { withoutUserTokens } from './tokens'

export interface UserDdlResult { catalog: Catalog, warnings: string[] }

/**
 * Checks that a verifier text is acceptable to store; passed in because decoding it is the
 * security layer's (above the catalog). Throws SB_INVALID_PASSWORD.
 */
export type VerifierCheck = (verifier: string) => void

function undefinedUser (name: string): ScratchBirdError {
  return new ScratchBirdError('SB_UNDEFINED_USER', `role "${name}" does not exist`, { user: name })
}

function mustUser (c: Catalog, name: string): UserInfo {
  const u = c.user(name)
  if (u === undefined) throw undefinedUser(name)
  return u
}

function next (c: Catalog, change: Partial<CatalogState>): Catalog {
  return new Catalog({ ...c.state, ...change, version: c.version + 1 })
}

function superusers (users: readonly UserInfo[]): number {
  return users.filter(u => u.role === 'superuser').length
}

/** Refuses a change leaving no superuser where there was one (nobody could manage users any more). */
function keepASuperuser (before: readonly UserInfo[], after: readonly UserInfo[], name: string): void {
  if (superusers(before) > 0 && superusers(after) === 0) {
    throw new ScratchBirdError('SB_LAST_SUPERUSER', `user "${name}" is the last superuser; create or promote another one first`, { user: name })
  }
}

export function applyUserStatement (c: Catalog, s: UserStatement, checkVerifier: VerifierCheck): UserDdlResult {
  switch (s.kind) {
    case 'create_user': {
      if (c.user(s.name) !== undefined) throw new ScratchBirdError('SB_DUPLICATE_USER', `role "${s.name}" already exists`, { user: s.name })
      if (c.users.length >= MAX_USERS) throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `at most ${MAX_USERS} users`, { max: MAX_USERS })
      checkVerifier(s.password)
      const user: UserInfo = { id: c.nextUserId, name: s.name, verifier: s.password, role: s.role, version: c.version + 1 }
      return { catalog: next(c, { users: [...c.users, user], nextUserId: user.id + 1 }), warnings: [] }
    }
    case 'alter_user': {
      const u = mustUser(c, s.name)
      let changed: UserInfo
      if (s.action.kind === 'rename') {
        if (s.action.to !== s.name && c.user(s.action.to) !== undefined) throw new ScratchBirdError('SB_DUPLICATE_USER', `role "${s.action.to}" already exists`, { user: s.action.to })
        changed = { ...u, name: s.action.to, version: c.version + 1 }
      } else {
        checkVerifier(s.action.password)
        changed = { ...u, verifier: s.action.password, version: c.version + 1 }
      }
      return { catalog: next(c, { users: c.users.map(x => x === u ? changed : x) }), warnings: [] }
    }
    case 'drop_user': {
      const u = c.user(s.name)
      if (u === undefined) {
        if (s.ifExists) return { catalog: c, warnings: [`role "${s.name}" does not exist, skipping`] }
        throw undefinedUser(s.name)
      }
      const users = c.users.filter(x => x !== u)
      keepASuperuser(c.users, users, s.name)
      // Its grants and bearer tokens go with it, in the same version.
      return { catalog: next(new Catalog(withoutUserTokens(c.state, u.id)), { users, grants: c.grants.filter(g => g.userId !== u.id) }), warnings: [] }
    }
    case 'grant': case 'revoke': return s.target.kind === 'role' ? roleChange(c, s) : tableGrant(c, s)
  }
}

function roleChange (c: Catalog, s: GrantStatement): UserDdlResult {
  if (s.target.kind !== 'role') throw new Error('ScratchBird assertion: role grant expected')
  const u = mustUser(c, s.user)
  const role = s.target.role
  let to = u.role
  const warnings: string[] = []
  if (s.kind === 'grant') {
    if (u.role === 'superuser' && role === 'admin') warnings.push(`user "${u.name}" is a superuser, which includes admin rights`)
    else to = role
  } else if (u.role === role) {
    to = null
  } else {
    warnings.push(u.role === 'superuser'
      ? `user "${u.name}" is a superuser (which includes admin rights): REVOKE SUPERUSER to take them`
      : `user "${u.name}" does not have ${role.toUpperCase()}`)
  }
  if (to === u.role) return { catalog: c, warnings }
  const changed: UserInfo = { ...u, role: to, version: c.version + 1 }
  const users = c.users.map(x => x === u ? changed : x)
  keepASuperuser(c.users, users, u.name)
  return { catalog: next(c, { users }), warnings }
}

function tableGrant (c: Catalog, s: GrantStatement): UserDdlResult {
  if (s.target.kind !== 'table') throw new Error('ScratchBird assertion: table grant expected')
  const u = mustUser(c, s.user)
  const table = c.mustTable(s.target.table)
  const asked = s.target.privileges
  const old = c.grants.find(g => g.userId === u.id && g.tableId === table.id)
  const held = new Set<TablePrivilege>(old?.privileges ?? [])
  for (const p of asked) { if (s.kind === 'grant') held.add(p); else held.delete(p) }
  const privileges = TABLE_PRIVILEGES.filter(p => held.has(p))
  const warnings: string[] = []
  if (u.role !== null) warnings.push(`user "${u.name}" is ${u.role === 'admin' ? 'an admin' : 'a superuser'} and has every privilege on every table whatever its grants`)
  if (old !== undefined && privileges.join() === old.privileges.join()) return { catalog: c, warnings }
  if (old === undefined && privileges.length === 0) {
    warnings.push(`no privileges were revoked: user "${u.name}" holds none on "${table.name}"`)
    return { catalog: c, warnings }
  }
  const others = c.grants.filter(g => g !== old)
  const grants: GrantInfo[] = privileges.length === 0 ? others : [...others, { userId: u.id, tableId: table.id, privileges }]
  return { catalog: next(c, { grants }), warnings }
}

/** A catalog without the grants on a dropped table (DROP TABLE; table ids are never reused, this keeps the document tidy). */
export function withoutTableGrants (c: Catalog, tableId: number): Catalog {
  if (!c.grants.some(g => g.tableId === tableId)) return c
  return new Catalog({ ...c.state, grants: c.grants.filter(g => g.tableId !== tableId) })
}
