// sys_domains (issue 19 item 4): one row per domain of the catalog, computed from it like
// sys_tables. `members` lists ENUM / SET labels in declaration order as SQL string literals
// ('a', 'b'), `variant_types` a VARIANT's member types; `check_constraints` is `name: expr`
// per CHECK, joined by '; '; `used_by` the columns (table.column) declared with the domain.
import type { Catalog } from '../catalog/catalog'
import { columnTypeText, domainUsers } from '../catalog/domains'
import { T } from '../types/sql-types'
import type { ProgramColumn } from '../sblr/program'
import type { SqlValue } from '../types/values'

/** system-tables.ts's SystemTable, catalog rows only (that module spreads these in; importing it back would be a cycle). */
interface CatalogSystemTable {
  readonly columns: readonly ProgramColumn[]
  rows (c: Catalog): SqlValue[][]
}

const nonEmpty = (s: string): string | null => s === '' ? null : s

export const DOMAIN_SYSTEM_TABLES: Readonly<Record<string, CatalogSystemTable>> = {
  sys_domains: {
    columns: [
      { name: 'domain_name', type: T.text },
      { name: 'domain_kind', type: T.text },
      { name: 'data_type', type: T.text },
      { name: 'members', type: T.text },
      { name: 'variant_types', type: T.text },
      { name: 'domain_default', type: T.text },
      { name: 'is_nullable', type: T.boolean },
      { name: 'check_constraints', type: T.text },
      { name: 'used_by', type: T.text },
      { name: 'catalog_version', type: T.integer },
      // The domain this one is declared over (CREATE DOMAIN d2 AS d1), whose rules apply too; NULL: none.
      { name: 'base_domain', type: T.text }
    ],
    rows: (c: Catalog): SqlValue[][] => c.domains.map(d => [
      d.name, d.kind, columnTypeText(d.type),
      nonEmpty(d.members.map(m => `'${m.replaceAll('\'', '\'\'')}'`).join(', ')),
      nonEmpty(d.variants.map(columnTypeText).join(', ')),
      d.default, !d.notNull,
      nonEmpty(d.checks.map(k => `${k.name}: ${k.expr}`).join('; ')),
      nonEmpty(domainUsers(c.tables, d.name).map(u => `${u.table}.${u.column}`).join(', ')),
      BigInt(d.version), d.parent ?? null
    ])
  }
}
