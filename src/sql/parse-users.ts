// Users and grants (issue 18 item 2), PostgreSQL's spelling where it has one:
//   CREATE USER name PASSWORD '…' [SUPERUSER | ADMIN]
//   ALTER USER name PASSWORD '…' | ALTER USER name RENAME TO new
//   DROP USER [IF EXISTS] name
//   GRANT {SELECT | INSERT | UPDATE | DELETE}[, …] | ALL [PRIVILEGES] ON [TABLE] t TO user
//   GRANT {ADMIN | SUPERUSER} TO user, and REVOKE … FROM user in both forms.
// Called before the table statements: answers null when the tokens do not start one of these.
import { TABLE_PRIVILEGES, type GrantTarget, type TablePrivilege, type UserRole, type UserStatement } from './ast'
import type { Cursor } from './cursor'

/** Longest password text accepted (bounded like every input; a verifier is far shorter). */
export const MAX_PASSWORD_LENGTH = 1024

export function parseUserStatement (c: Cursor): UserStatement | null {
  const t = c.peek()
  if (t.kind !== 'word') return null
  if ((t.value === 'create' || t.value === 'alter' || t.value === 'drop') && !c.isWord('user', 1)) return null
  switch (t.value) {
    case 'create': {
      c.next(); c.next()
      const name = c.identifier('user name')
      const password = parsePassword(c)
      const role = c.acceptWord('superuser') ? 'superuser' : c.acceptWord('admin') ? 'admin' : null
      return { kind: 'create_user', pos: t.pos, name, password, role }
    }
    case 'alter': {
      c.next(); c.next()
      const name = c.identifier('user name')
      if (c.acceptWord('rename')) {
        c.wantWord('to')
        return { kind: 'alter_user', pos: t.pos, name, action: { kind: 'rename', to: c.identifier('user name') } }
      }
      if (!c.isWord('password')) throw c.error('PASSWORD or RENAME')
      return { kind: 'alter_user', pos: t.pos, name, action: { kind: 'password', password: parsePassword(c) } }
    }
    case 'drop': {
      c.next(); c.next()
      let ifExists = false
      if (c.acceptWord('if')) { c.wantWord('exists'); ifExists = true }
      return { kind: 'drop_user', pos: t.pos, name: c.identifier('user name'), ifExists }
    }
    case 'grant': case 'revoke': {
      c.next()
      const target = parseGrantTarget(c)
      c.wantWord(t.value === 'grant' ? 'to' : 'from')
      return { kind: t.value, pos: t.pos, target, user: c.identifier('user name') }
    }
    default: return null
  }
}

function parsePassword (c: Cursor): string {
  c.wantWord('password')
  const p = c.peek()
  if (p.kind !== 'string') throw c.error('a password in single quotes')
  if (p.value.length === 0 || p.value.length > MAX_PASSWORD_LENGTH) throw c.errorAt(`a password must have 1 to ${MAX_PASSWORD_LENGTH} characters`, p.pos, '')
  c.next()
  return p.value
}

function parseGrantTarget (c: Cursor): GrantTarget {
  const role: UserRole | null = c.acceptWord('admin') ? 'admin' : c.acceptWord('superuser') ? 'superuser' : null
  if (role !== null) return { kind: 'role', role }
  let privileges: TablePrivilege[]
  if (c.acceptWord('all')) {
    c.acceptWord('privileges')
    privileges = [...TABLE_PRIVILEGES]
  } else {
    privileges = [parsePrivilege(c)]
    while (c.acceptOp(',')) {
      const p = parsePrivilege(c)
      if (!privileges.includes(p)) privileges.push(p)
    }
  }
  c.wantWord('on')
  c.acceptWord('table')
  return { kind: 'table', privileges, table: c.identifier('table name') }
}

function parsePrivilege (c: Cursor): TablePrivilege {
  for (const p of TABLE_PRIVILEGES) if (c.acceptWord(p)) return p
  throw c.error('SELECT, INSERT, UPDATE, DELETE, ALL, ADMIN or SUPERUSER')
}
