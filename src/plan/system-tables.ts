// sys_tables and sys_columns (DESIGN §5 "Catalog"): virtual tables computed from the node's
// catalog, so they are always what the catalog says; SELECT filters, projects and orders them
// like any table (the rows run through the same programs on the coordinator).
import { Catalog } from '../catalog/catalog'
import type { ProgramColumn } from '../sblr/program'
import { T, typeName } from '../types/sql-types'
import type { SqlValue } from '../types/values'
import type { PlanEnv } from './plan-env'
import { sqlTypeOf } from './table-types'
import { USER_SYSTEM_TABLES } from './system-tables-users'
import { DOMAIN_SYSTEM_TABLES } from './system-tables-domains'

export interface SystemTable {
  readonly columns: readonly ProgramColumn[]
  rows (c: Catalog, env?: PlanEnv): SqlValue[][]
}

const list = (cols: readonly string[] | null): string | null => cols === null ? null : cols.join(',')

export const SYSTEM_TABLES: Readonly<Record<string, SystemTable>> = {
  sys_tables: {
    columns: [
      { name: 'table_id', type: T.integer },
      { name: 'table_name', type: T.text },
      { name: 'replication_mode', type: T.text },
      { name: 'replication_factor', type: T.integer },
      { name: 'write_quorum', type: T.integer },
      { name: 'read_quorum', type: T.integer },
      { name: 'uuid_type', type: T.text },
      { name: 'partition_key_columns', type: T.text },
      { name: 'primary_key_columns', type: T.text },
      { name: 'catalog_version', type: T.integer }
    ],
    rows: (c) => c.userTables.map(t => [
      BigInt(t.id), t.name, t.replication.replication_mode, BigInt(t.replication.replication_factor),
      BigInt(t.replication.write_quorum), BigInt(t.replication.read_quorum), t.replication.uuid_type,
      list(t.replication.partition_key_columns), list(t.primaryKey), BigInt(t.version)
    ])
  },
  sys_columns: {
    columns: [
      { name: 'table_id', type: T.integer },
      { name: 'table_name', type: T.text },
      { name: 'column_name', type: T.text },
      { name: 'ordinal_position', type: T.integer },
      { name: 'data_type', type: T.text },
      { name: 'is_nullable', type: T.boolean },
      { name: 'is_primary_key', type: T.boolean },
      { name: 'is_partition_key', type: T.boolean },
      { name: 'column_default', type: T.text },
      // The domain the column was declared with (data_type is then its storage type); NULL: a base type.
      { name: 'domain', type: T.text }
    ],
    rows: (c) => c.userTables.flatMap(t => t.columns.filter(col => col.dropped !== true).map(col => [
      BigInt(t.id), t.name, col.name, BigInt(col.position), typeName(sqlTypeOf(col.type)), !col.notNull,
      t.primaryKey.includes(col.name), Catalog.partitionKey(t).includes(col.name), col.default, col.domain ?? null
    ]))
  },
  // Indexes (issue 19 items 1–2): the constraint ones (a primary key or UNIQUE key that does not
  // hold the partition key, every UNIQUE key) and CREATE INDEX ones; `global`: partitioned by its
  // key, else colocated with the rows; `state`: 'building' while CREATE INDEX writes the entries
  // of the rows already there (not used by queries yet), then 'ready'.
  sys_indexes: {
    columns: [
      { name: 'index_id', type: T.integer },
      { name: 'index_name', type: T.text },
      { name: 'table_name', type: T.text },
      { name: 'key_columns', type: T.text },
      { name: 'include_columns', type: T.text },
      { name: 'is_unique', type: T.boolean },
      { name: 'is_global', type: T.boolean },
      { name: 'constraint_type', type: T.text },
      { name: 'state', type: T.text }
    ],
    rows: (c) => c.tables.flatMap(i => {
      if (i.index === undefined || i.moving !== undefined) return [] // a move's hidden relations are no user's (catalog/table-move.ts)
      const x = i.index
      const kind = x.constraint === null ? null : x.constraint === 'primary_key' ? 'PRIMARY KEY' : 'UNIQUE'
      return [[BigInt(i.id), i.name, c.tableById(x.of)?.name ?? null, list(x.columns), list(x.include.length === 0 ? null : x.include),
        x.unique, x.global, kind, x.building === true ? 'building' : 'ready']]
    })
  },
  // Hinted handoff on this node (DESIGN §6 Mode 3 "Hints"): what it keeps for each target node.
  sys_hints: {
    columns: [
      { name: 'target_node', type: T.integer },
      { name: 'hints', type: T.bigint },
      { name: 'bytes', type: T.bigint }
    ],
    rows: (_c, env) => (env?.hints?.stats() ?? []).map(h => [BigInt(h.target), BigInt(h.count), BigInt(h.bytes)])
  },
  // Views (issue 19 item 4): the stored SELECT (canonical text, `*` expanded), its column names,
  // the tables and views it reads, and the catalog version that created or last replaced it.
  sys_views: {
    columns: [
      { name: 'view_name', type: T.text },
      { name: 'definition', type: T.text },
      { name: 'columns', type: T.text },
      { name: 'reads', type: T.text },
      { name: 'catalog_version', type: T.integer }
    ],
    rows: (c) => c.views.map(v => [v.name, v.definition, v.columns.map(x => x.name).join(','), v.reads.join(','), BigInt(v.version)])
  },
  // Users and their table grants (issue 18 item 2; no verifiers shown).
  ...USER_SYSTEM_TABLES,
  // Domains (issue 19 item 4).
  ...DOMAIN_SYSTEM_TABLES
}
