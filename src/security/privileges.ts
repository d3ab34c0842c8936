// Who may run what (issue 18 item 2), as pure functions: statementNeeds says what a statement
// requires of its session's user, allowed() decides one need against the catalog's users and
// grants, checkStatement() puts them together and throws the coded error. The executor calls it
// before any work (exec/executor.ts), so a refused statement has touched nothing.
//
// The rules:
//  - superuser: everything.
//  - admin: DDL, cluster commands (DELIVER HINTS, DRAIN NODE, REPAIR), backups, users and grants
//    (except creating, changing or dropping a superuser, and GRANT/REVOKE SUPERUSER), and every
//    privilege on every table (a table has no owner, so whoever creates it must be able to use it).
//  - any other user: SELECT on every table a statement reads — through a view too: reading a view
//    needs SELECT on every table behind it (a view grants nothing of its own) —, INSERT/UPDATE/DELETE on the table it
//    writes (UPDATE also for INSERT … ON CONFLICT DO UPDATE, SELECT also for RETURNING), as
//    granted; system tables, SHOW and transaction control need nothing; ALTER USER of oneself
//    may change one's own password; CREATE/DROP TOKEN of one's own tokens needs nothing (of another
//    user's: admin, superuser for a superuser's), but a session signed in with a token cannot
//    create tokens.
//  - a session whose user has been dropped is refused outright (SB_AUTH_FAILED).
import type { Catalog } from '../catalog/catalog'
import { truncateSet } from '../catalog/truncate-set'
import type { UserInfo } from '../catalog/user-records'
import { ScratchBirdError } from '../core/errors'
import type { Statement, TablePrivilege } from '../sql/ast'

/** The session's user: a catalog user by id, or everyone-is-superuser (security.auth trust, or no users yet on loopback). */
export type Principal =
  | { readonly kind: 'trusted', readonly name: string }
  /** `token`: signed in with that bearer token (CREATE TOKEN), not a password. */
  | { readonly kind: 'user', readonly id: number, readonly name: string, readonly token?: string }

export type Need =
  | { readonly kind: 'table', readonly privilege: TablePrivilege, readonly table: string }
  | { readonly kind: 'admin', readonly what: string }
  | { readonly kind: 'superuser', readonly what: string }

/** Every table name a statement reads through FROM, JOIN or subqueries (AST nodes of kind table_ref). */
export function tablesRead (node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const x of node) tablesRead(x, out)
  } else if (typeof node === 'object' && node !== null) {
    const n = node as { kind?: unknown, name?: unknown }
    if (n.kind === 'table_ref' && typeof n.name === 'string') out.add(n.name)
    for (const [k, v] of Object.entries(node)) if (k !== 'pos' && typeof v === 'object') tablesRead(v, out)
  }
  return out
}

/** `names` with each view replaced by the tables it reads, through views of views. */
export function throughViews (c: Catalog, names: Iterable<string>, out = new Set<string>(), seen = new Set<string>()): Set<string> {
  for (const n of names) {
    const v = c.view(n)
    if (v === undefined) { out.add(n); continue }
    if (seen.has(n)) continue
    seen.add(n)
    throughViews(c, v.reads, out, seen)
  }
  return out
}

/** What `s` requires of the session's user, for `self` (ALTER USER of oneself). */
export function statementNeeds (s: Statement, c: Catalog, self: UserInfo | null): Need[] {
  const reads = (names: Iterable<string>, except?: string): Need[] =>
    [...throughViews(c, names)].filter(t => t !== except).map(table => ({ kind: 'table', privilege: 'select', table }))
  switch (s.kind) {
    case 'select': return reads(tablesRead(s))
    case 'insert': {
      const out: Need[] = [{ kind: 'table', privilege: 'insert', table: s.table }, ...reads(tablesRead(s), s.table)]
      if (s.onConflict?.action === 'update') out.push({ kind: 'table', privilege: 'update', table: s.table })
      if (s.returning !== null) out.push({ kind: 'table', privilege: 'select', table: s.table })
      return out
    }
    case 'update': case 'delete': {
      const out: Need[] = [{ kind: 'table', privilege: s.kind, table: s.table }, ...reads(tablesRead(s), s.table)]
      if (s.returning !== null) out.push({ kind: 'table', privilege: 'select', table: s.table })
      return out
    }
    case 'explain': return statementNeeds(s.statement, c, self)
    // DELETE on each table emptied, a CASCADE's referencing tables included (RESTRICT's refusal is the executor's to give).
    case 'truncate': return truncateSet(c, s.tables, true).map(table => ({ kind: 'table', privilege: 'delete', table }))
    case 'create_table': case 'alter_table': case 'drop_table': case 'create_index': case 'drop_index': case 'alter_index':
    case 'create_domain': case 'alter_domain': case 'drop_domain': return [{ kind: 'admin', what: 'DDL' }]
    case 'deliver_hints': case 'drain_node': case 'repair': case 'alter_cluster': return [{ kind: 'admin', what: 'cluster commands' }]
    case 'create_user': return [{ kind: s.role === 'superuser' ? 'superuser' : 'admin', what: s.role === 'superuser' ? 'creating a superuser' : 'CREATE USER' }]
    case 'alter_user': case 'drop_user': {
      if (s.kind === 'alter_user' && s.action.kind === 'password' && self !== null && self.name === s.name) return []
      const target = c.user(s.name)
      return target?.role === 'superuser'
        ? [{ kind: 'superuser', what: `changing or dropping superuser "${s.name}"` }]
        : [{ kind: 'admin', what: s.kind === 'alter_user' ? 'ALTER USER' : 'DROP USER' }]
    }
    case 'grant': case 'revoke': {
      if (s.target.kind === 'role' && s.target.role === 'superuser') return [{ kind: 'superuser', what: `${s.kind.toUpperCase()} SUPERUSER` }]
      if (c.user(s.user)?.role === 'superuser') return [{ kind: 'superuser', what: `${s.kind.toUpperCase()} on superuser "${s.user}"` }]
      return [{ kind: 'admin', what: s.kind.toUpperCase() }]
    }
    case 'create_view': case 'drop_view': return [{ kind: 'admin', what: 'DDL' }]
    case 'create_token': case 'drop_token': {
      // One's own tokens need nothing; another user's are managed like that user (ALTER USER).
      if (s.user === null || (self !== null && self.name === s.user)) return []
      const what = `${s.kind === 'create_token' ? 'CREATE' : 'DROP'} TOKEN for another user`
      return c.user(s.user)?.role === 'superuser' ? [{ kind: 'superuser', what: `${what} (superuser "${s.user}")` }] : [{ kind: 'admin', what }]
    }
    case 'begin': case 'commit': case 'rollback': case 'show': case 'set': case 'reset': case 'show_setting': return []
  }
}

/** Does `user` meet `need` under the catalog's grants? */
export function allowed (c: Catalog, user: UserInfo, need: Need): boolean {
  if (user.role === 'superuser') return true
  if (need.kind === 'superuser') return false
  if (user.role === 'admin') return true
  if (need.kind === 'admin') return false
  const table = c.table(need.table)
  // A name that is no table (a system table, or none: the planner says so) needs no grant.
  if (table === undefined) return true
  return c.grants.some(g => g.userId === user.id && g.tableId === table.id && g.privileges.includes(need.privilege))
}

/** The catalog user a principal is now; SB_AUTH_FAILED when it has been dropped. null: trusted. */
export function currentUser (c: Catalog, p: Principal): UserInfo | null {
  if (p.kind === 'trusted') return null
  const u = c.userById(p.id)
  if (u === undefined) throw new ScratchBirdError('SB_AUTH_FAILED', `user "${p.name}" no longer exists; sign in again`, { user: p.name })
  return u
}

/** Throws SB_INSUFFICIENT_PRIVILEGE (42501) unless the principal may run `s`. */
export function checkStatement (c: Catalog, p: Principal, s: Statement): void {
  const user = currentUser(c, p)
  if (user === null) return
  // A token cannot mint tokens: one that leaks (or expires soon) must not be able to outlive itself.
  if (s.kind === 'create_token' && p.kind === 'user' && p.token !== undefined) {
    throw new ScratchBirdError('SB_INSUFFICIENT_PRIVILEGE', `permission denied: CREATE TOKEN needs a password sign-in; this session signed in with token "${p.token}"`, { privilege: 'PASSWORD_LOGIN', user: user.name })
  }
  for (const need of statementNeeds(s, c, user)) {
    if (allowed(c, user, need)) continue
    throw need.kind === 'table'
      ? new ScratchBirdError('SB_INSUFFICIENT_PRIVILEGE', `permission denied for table ${need.table}: user "${user.name}" lacks ${need.privilege.toUpperCase()}`, { privilege: need.privilege.toUpperCase(), table: need.table, user: user.name })
      : new ScratchBirdError('SB_INSUFFICIENT_PRIVILEGE', `permission denied: ${need.what} needs ${need.kind === 'admin' ? 'admin rights (GRANT ADMIN)' : 'a superuser'}; user "${user.name}" has ${user.role === null ? 'neither' : 'admin rights only'}`, { privilege: need.kind.toUpperCase(), user: user.name })
  }
}

/** May the principal take backups (GET /v1/admin/backup)? Admin rights. */
export function mayBackup (c: Catalog, p: Principal): boolean {
  const user = currentUser(c, p)
  return user === null || allowed(c, user, { kind: 'admin', what: 'backups' })
}
