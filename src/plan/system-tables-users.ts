// sys_users and sys_grants (issue 18 item 2): the catalog's users and table grants as virtual
// tables. No verifier is shown — not even its salt or iteration count: sys_users is readable by
// every user, and a verifier is what an offline password guess is checked against.
import type { Catalog } from '../catalog/catalog'
import { tokensOf } from '../catalog/tokens'
import { timestampFromMillis } from '../types/datetime'
import type { ProgramColumn } from '../sblr/program'
import { T } from '../types/sql-types'
import type { SqlValue } from '../types/values'

/** system-tables.ts's SystemTable, catalog rows only (that module spreads these in; importing it back would be a cycle). */
interface CatalogSystemTable {
  readonly columns: readonly ProgramColumn[]
  rows (c: Catalog): SqlValue[][]
}

export const USER_SYSTEM_TABLES: Readonly<Record<string, CatalogSystemTable>> = {
  sys_users: {
    columns: [
      { name: 'user_id', type: T.integer },
      { name: 'user_name', type: T.text },
      { name: 'superuser', type: T.boolean },
      { name: 'admin', type: T.boolean },
      { name: 'catalog_version', type: T.integer }
    ],
    rows: (c: Catalog) => c.users.map(u => [BigInt(u.id), u.name, u.role === 'superuser', u.role !== null, BigInt(u.version)])
  },
  sys_grants: {
    columns: [
      { name: 'user_name', type: T.text },
      { name: 'table_name', type: T.text },
      { name: 'privilege', type: T.text }
    ],
    rows: (c: Catalog) => c.grants.flatMap(g => {
      const user = c.userById(g.userId)
      const table = c.tableById(g.tableId)
      if (user === undefined || table === undefined) return []
      return g.privileges.map(p => [user.name, table.name, p.toUpperCase()])
    })
  },
  // Bearer tokens (issue 18 item 1): names and expiry only — the catalog holds no secret to show,
  // and not even the hash is listed (it is what a presented token is matched against).
  sys_tokens: {
    columns: [
      { name: 'token_name', type: T.text },
      { name: 'user_name', type: T.text },
      { name: 'valid_until', type: T.timestamp },
      { name: 'catalog_version', type: T.integer }
    ],
    rows: (c: Catalog) => tokensOf(c).flatMap(t => {
      const user = c.userById(t.userId)
      if (user === undefined) return []
      return [[t.name, user.name, t.validUntil === null ? null : timestampFromMillis(t.validUntil), BigInt(t.version)]]
    })
  }
}
