// The statements on a session's temporary tables (temp-tables.ts holds them): CREATE TEMPORARY
// TABLE, DROP TABLE of one, what is refused on them, and the session's view of the catalog in
// which they exist. That view (an overlay: the node's catalog with the session's temporary tables
// added, each hiding a permanent table or view of its name, as PostgreSQL's pg_temp schema comes
// first in the search path) is what SELECT, INSERT, UPDATE, DELETE and EXPLAIN of the session plan
// against — so sys_tables / sys_columns show the session its own temporary tables and no one
// else's. DDL keeps the node's catalog: a temporary table never enters a catalog version, so it is
// never replicated, stored in catalog.json, nor seen by another node.
import { Catalog, type TableInfo } from '../catalog/catalog'
import { ScratchBirdError } from '../core/errors'
import { ddlContext } from '../plan/column-default'
import { posDetails } from '../plan/compile-expr'
import { SYSTEM_TABLES } from '../plan/system-tables'
import { tablesRead } from '../security/privileges'
import type { CreateTableStatement, DropTableStatement, Statement } from '../sql/ast'
import type { ExecEnv } from './env'
import { commandResult, type StatementResult } from './result'
import { registerTempAccess } from './temp-access'
import type { SessionTempTables } from './temp-tables'

/** Every temporary table: one copy, on this node, with nothing to replicate. */
const TEMP_REPLICATION = { replication_mode: 'primary_replica', replication_factor: 1, write_quorum: 1, read_quorum: 1 } as const

function unsupported (message: string, s: { pos: Parameters<typeof posDetails>[0] }, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', message, { ...details, ...posDetails(s.pos) })
}

/** CREATE TEMPORARY TABLE: the table in the session (in its transaction, when one is open). */
export function createTempTable (env: ExecEnv, temp: SessionTempTables, s: CreateTableStatement): StatementResult {
  const spec = s.temporary!
  if (temp.has(s.name)) {
    if (s.ifNotExists) return commandResult('CREATE TABLE', 0, [`relation "${s.name}" already exists, skipping`])
    throw new ScratchBirdError('SB_DUPLICATE_TABLE', `relation "${s.name}" already exists`, { table: s.name, ...posDetails(s.pos) })
  }
  if (SYSTEM_TABLES[s.name] !== undefined) throw unsupported(`${s.name} is a system table; a temporary table cannot take its name`, s, { table: s.name })
  // Rows in the session's memory, on no shard: nothing to partition or replicate.
  if (s.partitionBy !== null || s.options.length > 0) throw unsupported(`temporary table "${s.name}": PARTITION BY and WITH (…) do not apply (its rows stay in the session, on this node)`, s, { table: s.name })
  // A foreign key would tie a session's rows to shared ones (or the reverse), which PostgreSQL refuses too.
  if (s.columns.some(c => c.references !== null) || s.constraints.some(c => c.kind === 'foreign_key')) {
    throw unsupported(`temporary table "${s.name}": REFERENCES is not supported on temporary tables`, s, { table: s.name })
  }
  if (s.columns.some(c => c.unique === true) || s.constraints.some(c => c.kind === 'unique')) {
    throw unsupported(`temporary table "${s.name}": UNIQUE constraints are not supported on temporary tables (they keep no index; the primary key is unique)`, s, { table: s.name })
  }
  // The catalog's own checks (columns, types, domains, defaults, primary key or hidden row id) on
  // a catalog holding nothing but the node's domains, with the temporary id as the next one.
  const base = env.catalog()
  const scratch = new Catalog({ version: 0, nextTableId: temp.nextTableId(), tables: [], domains: [...base.domains] })
  const { temporary: _, ...permanentForm } = s
  const res = scratch.createTable(permanentForm, ddlContext(1, TEMP_REPLICATION, env.clock))
  const table = res.table!
  const info: TableInfo = { ...table, temporary: true }
  const created = temp.create(info, spec.onCommit)
  registerTempAccess(env, temp, created)
  return commandResult('CREATE TABLE', 0, res.warnings)
}

/** DROP TABLE of a temporary table of the session (which it names first); null: not one of them. */
export function dropTempTable (temp: SessionTempTables, s: DropTableStatement): StatementResult | null {
  return temp.drop(s.name) === undefined ? null : commandResult('DROP TABLE')
}

/** Refuses DDL that would change a temporary table through the catalog (it is in none). */
export function refuseTempDdl (temp: SessionTempTables, s: Statement): void {
  if (temp.size === 0) return
  if (s.kind === 'alter_table' && temp.has(s.table)) throw unsupported(`ALTER TABLE on temporary table "${s.table}" is not supported: drop and create it again`, s, { table: s.table })
  if (s.kind === 'create_index' && temp.has(s.table)) throw unsupported(`temporary table "${s.table}" cannot be indexed: its rows are in the session's memory and every read scans them`, s, { table: s.table })
  if (s.kind === 'create_view' && [...tablesRead(s.select)].some(n => temp.has(n))) throw unsupported('a view cannot read a temporary table (views are shared by every session)', s)
}

/**
 * The node's catalog with the session's temporary tables, whose foreign keys still mean the
 * permanent tables: a permanent table's foreign key to a name a temporary table hides checks the
 * permanent parent, and rows of the temporary table are no one's parent (it takes no part in
 * foreign keys) — so a DELETE on it can neither be refused by, nor cascade into, permanent rows.
 */
class SessionCatalog extends Catalog {
  constructor (state: Catalog['state'], private readonly base: Catalog) { super(state) }
  override foreignKeyTable (name: string): TableInfo | undefined { return this.base.table(name) }
  override referencing (name: string): readonly TableInfo[] { return this.table(name)?.temporary === true ? [] : super.referencing(name) }
}

interface Overlay { readonly base: Catalog, readonly generation: number, readonly env: ExecEnv }
const overlays = new WeakMap<SessionTempTables, Overlay>()

/**
 * The environment the session's statements plan against: `env` itself when it has no temporary
 * table, else one whose catalog is the node's with them added. Kept until the node's catalog or
 * the session's tables change, so plans cached under it stay valid for the session (and only it).
 */
export function sessionEnv (env: ExecEnv, temp: SessionTempTables): ExecEnv {
  if (temp.size === 0) return env
  const base = env.catalog()
  const held = overlays.get(temp)
  if (held !== undefined && held.base === base && held.generation === temp.generation) return held.env
  const mine = temp.tables.map(t => t.info)
  const names = new Set(mine.map(t => t.name))
  const state = base.state
  const catalog = new SessionCatalog({
    ...state,
    tables: [...state.tables.filter(t => !names.has(t.name)), ...mine],
    views: (state.views ?? []).filter(v => !names.has(v.name))
  }, base)
  const overlay: ExecEnv = Object.create(env) as ExecEnv
  Object.defineProperty(overlay, 'catalog', { value: () => catalog })
  overlays.set(temp, { base, generation: temp.generation, env: overlay })
  return overlay
}

/** Statements planned against the session's view of the catalog; DDL keeps the node's (see the header). */
export function usesSessionCatalog (s: Statement): boolean {
  return s.kind === 'select' || s.kind === 'insert' || s.kind === 'update' || s.kind === 'delete' || s.kind === 'explain'
}

/**
 * Statements that need no privilege of the session's user: creating a temporary table (as
 * PostgreSQL's TEMPORARY privilege, granted to everyone by default) and dropping one's own. Reads
 * and writes of them need none either: the privilege check does not find their names among the
 * catalog's tables (security/privileges.ts allowed()).
 */
export function ownTempStatement (temp: SessionTempTables, s: Statement): boolean {
  return (s.kind === 'create_table' && s.temporary !== undefined) || (s.kind === 'drop_table' && temp.has(s.name))
}

/** Runs the statements that are about temporary tables alone; null: any other statement (refusing what they may not do to one). */
export function runTempStatement (env: ExecEnv, temp: SessionTempTables, s: Statement): StatementResult | null {
  if (s.kind === 'create_table' && s.temporary !== undefined) return createTempTable(env, temp, s)
  if (s.kind === 'drop_table') return dropTempTable(temp, s)
  refuseTempDdl(temp, s)
  return null
}
