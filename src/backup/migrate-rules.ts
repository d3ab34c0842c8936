import { ScratchBirdError } from '../core/errors'

// Data-directory formats and the alpha → beta migration (issue 17 item 6; the seeds' "Step 2").
//
// A data directory records its format in <data_dir>/format.json ({"format": 2, "name": "beta"}).
// alpha (1) is the format whose catalog has no replication columns; beta (2) is this release's. A
// directory without the file is judged by its catalog: tables without their replication options
// are alpha, anything else (a new directory, or one of an earlier beta release) is beta.
//
// The migration is the seeds' six statements, each adding one column of sys_tables with its
// default to every table that lacks it. They are not SQL a client may send: they run only here,
// as the catalog-document change each one names, so the migration is idempotent (a column a table
// already has is left as it is) and can be shown without running (--dry-run).

export const FORMAT_FILE = 'format.json'
export const DATA_FORMATS = ['alpha', 'beta'] as const
export type DataFormatName = typeof DATA_FORMATS[number]
/** The format this release writes and opens. */
export const CURRENT_FORMAT = 2
export const CURRENT_FORMAT_NAME: DataFormatName = 'beta'

export function formatNumber (name: DataFormatName): number { return DATA_FORMATS.indexOf(name) + 1 }

export const ALPHA_TO_BETA = [
  { sql: "ALTER TABLE sys_tables ADD COLUMN replication_mode VARCHAR(20) DEFAULT 'primary_replica'", column: 'replication_mode', value: 'primary_replica' },
  { sql: 'ALTER TABLE sys_tables ADD COLUMN replication_factor INTEGER DEFAULT 1', column: 'replication_factor', value: 1 },
  { sql: 'ALTER TABLE sys_tables ADD COLUMN write_quorum INTEGER DEFAULT 1', column: 'write_quorum', value: 1 },
  { sql: 'ALTER TABLE sys_tables ADD COLUMN read_quorum INTEGER DEFAULT 1', column: 'read_quorum', value: 1 },
  { sql: "ALTER TABLE sys_tables ADD COLUMN uuid_type VARCHAR(10) DEFAULT 'v7'", column: 'uuid_type', value: 'v7' },
  { sql: 'ALTER TABLE sys_tables ADD COLUMN partition_key_columns TEXT DEFAULT NULL', column: 'partition_key_columns', value: null }
] as const

/** The command that upgrades a directory of format `from`. */
export function migrateCommand (from: DataFormatName, dataDir: string): string {
  return `scratchbird_migrate --from=${from} --to=${CURRENT_FORMAT_NAME} --target=${dataDir}`
}

interface CatalogDoc { format?: unknown, catalog?: { tables?: Array<Record<string, unknown>> } }

function tablesOf (doc: CatalogDoc): Array<Record<string, unknown>> {
  const t = doc?.catalog?.tables
  if (!Array.isArray(t)) throw new ScratchBirdError('SB_STORAGE_CORRUPT', 'the catalog document has no table list')
  return t
}

/** Does a catalog document lack any of the replication columns (alpha)? */
export function catalogIsAlpha (doc: CatalogDoc): boolean {
  return tablesOf(doc).some(t => {
    const r = t.replication as Record<string, unknown> | undefined
    return r === undefined || r === null || ALPHA_TO_BETA.some(s => !(s.column in r))
  })
}

export interface MigrationStep { readonly sql: string, readonly tables: string[] }

/** The alpha → beta catalog: each statement's column added with its default where missing. */
export function migrateCatalog (doc: CatalogDoc): { doc: CatalogDoc, steps: MigrationStep[] } {
  const tables: Array<Record<string, unknown>> = tablesOf(doc).map(t => ({ ...t, replication: { ...(t.replication as Record<string, unknown> | undefined ?? {}) } }))
  const steps = ALPHA_TO_BETA.map(s => {
    const changed: string[] = []
    for (const t of tables) {
      const r = t.replication as Record<string, unknown>
      if (!(s.column in r)) { r[s.column] = s.value; changed.push(String(t.name)) }
    }
    return { sql: s.sql, tables: changed }
  })
  return { doc: { ...doc, catalog: { ...doc.catalog, tables } }, steps }
}

/** Parse format.json's text: the format number, or SB_DATA_FORMAT when it is not one. */
export function parseFormatFile (text: string, path: string): number {
  let v: { format?: unknown }
  try { v = JSON.parse(text) as { format?: unknown } } catch { v = {} }
  if (typeof v?.format !== 'number' || !Number.isInteger(v.format) || v.format < 1) {
    throw new ScratchBirdError('SB_DATA_FORMAT', `${path} does not name a data-directory format`, { path })
  }
  return v.format
}
