import { ScratchBirdError } from '../core/errors'
import { REPLICATION_MODE_RULES } from '../core/replication-modes'
import type { AlterTableStatement, CreateTableStatement, DataType, DropTableStatement, Expr, TableOption } from '../sql/ast'
import {
  createBase, fitDefaultQuorums, parseReplicationOption, validateReplicationOptions, type ReplicationOptions, type TableDefaults
} from './replication-options'
import { changeChecks } from './change-checks'
import { LIMITS } from '../core/limits'
import { FIRST_USER_ID, readGrants, readUsers, type GrantInfo, type UserInfo } from './user-records'

// The catalog (DESIGN §5): table definitions with their replication settings, versioned. Pure:
// every DDL statement is checked against the current version and, if valid, yields the next
// version plus the warnings the client should see. Persistence and cluster-wide propagation are
// shells around it (the catalog is small; it travels and is stored as one JSON document).

export interface ColumnType { name: DataType['name'], length: number | null, precision: number | null, scale: number | null }

export interface ColumnInfo {
  name: string
  type: ColumnType
  notNull: boolean
  /** Ordinal position, from 1 (sys_columns). */
  position: number
  /**
   * DEFAULT expression as canonical SQL text (format.ts), checked at CREATE TABLE; null: none.
   * Absent in catalogs written before defaults were stored, which fromJSON reads as null.
   */
  default: string | null
  /**
   * The row id of a table created without a primary key (CockroachDB's `rowid`): its key and, unless
   * PARTITION BY says otherwise, its partition key. Not in SELECT * nor in an INSERT without a column
   * list; named explicitly it reads and writes like any column. Absent: a declared column.
   */
  hidden?: true
}

export interface ForeignKeyInfo { columns: string[], table: string, refColumns: string[] }

export interface TableInfo {
  /** Stable id, used in storage keys; never reused. */
  id: number
  name: string
  columns: ColumnInfo[]
  primaryKey: string[]
  foreignKeys: ForeignKeyInfo[]
  replication: ReplicationOptions
  /** Catalog version that last changed this table. */
  version: number
}

export interface CatalogState {
  version: number
  nextTableId: number
  tables: TableInfo[]
  /**
   * The version of the last DDL that changed where or how a table's rows are kept (a change
   * needing an empty table, catalog/change-checks.ts); absent: none yet (0). A replica refuses a
   * write from a node whose catalog is older than its own floor: that node would place rows by
   * the old layout (issue 13, the write fence of exec/ddl-needs-empty.ts).
   */
  layoutFloor?: number
  /** Users and grants (user-records.ts, changed by users.ts); absent in documents written before users existed: none. */
  users?: UserInfo[]
  grants?: GrantInfo[]
  nextUserId?: number
}

/** A column whose DEFAULT expression is being checked. */
export interface DefaultTarget {
  readonly table: string
  readonly column: string
  readonly type: ColumnType
  readonly notNull: boolean
}

export interface DdlContext {
  /** Live nodes of the cluster (bounds replication_factor where change-checks.ts says so). */
  liveNodes: number
  /** Replication options of a new table where its statement does not set them (the node's config). */
  defaults: TableDefaults
  /**
   * Validates a column DEFAULT and returns its canonical SQL text (plan/column-default.ts:
   * checkColumnDefault). Passed in because checking compiles and runs the expression, which
   * needs the planner and VM — layers above the catalog.
   */
  checkDefault: (t: DefaultTarget, e: Expr) => string
}

export interface DdlResult { catalog: Catalog, table: TableInfo | null, warnings: string[] }

/** User table ids start here; lower ids are reserved for system tables. */
export const FIRST_USER_TABLE_ID = 1024
/** Columns a table may have (bounded like every input). */
export const MAX_COLUMNS = LIMITS.columns

function err (code: 'SB_DUPLICATE_TABLE' | 'SB_UNDEFINED_TABLE' | 'SB_DUPLICATE_COLUMN' | 'SB_INVALID_TABLE_DEFINITION' | 'SB_UNDEFINED_COLUMN', message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError(code, message, details)
}

/**
 * Applies WITH / SET options. leaderless_quorum needs UUIDv8-HLC versions; when a statement
 * switches a table to it without naming uuid_type, uuid_type follows (with a warning) — that is
 * what lets the seed's migration run its `SET replication_mode` line before `SET uuid_type`.
 * Naming a conflicting uuid_type explicitly is still rejected by validation.
 */
function optionsFrom (base: ReplicationOptions, options: readonly TableOption[], warnings: string[]): ReplicationOptions {
  let o = { ...base }
  for (const opt of options) o = { ...o, ...parseReplicationOption(opt.name, literalValue(opt.value)) }
  const named = new Set(options.map(opt => opt.name.toLowerCase()))
  const need = REPLICATION_MODE_RULES[o.replication_mode].requiredUuidType
  if (need !== null && base.replication_mode !== o.replication_mode && !named.has('uuid_type') && o.uuid_type !== need.type) {
    o = { ...o, uuid_type: need.type }
    warnings.push(`uuid_type set to '${need.type}': replication_mode '${o.replication_mode}' resolves conflicts by UUIDv8-HLC versions`)
  }
  return o
}

/** Option values are literals; the catalog takes them as plain values. */
function literalValue (v: TableOption['value']): unknown {
  switch (v.kind) {
    case 'string': return v.value
    case 'integer': return v.value
    case 'null': return null
    case 'boolean': return v.value
    case 'decimal': return v.text
    default: return undefined
  }
}

export class Catalog {
  private readonly byName: Map<string, TableInfo>

  constructor (readonly state: CatalogState = { version: 0, nextTableId: FIRST_USER_TABLE_ID, tables: [] }) {
    this.byName = new Map(state.tables.map(t => [t.name, t]))
  }

  get version (): number { return this.state.version }
  get layoutFloor (): number { return this.state.layoutFloor ?? 0 }
  get tables (): readonly TableInfo[] { return this.state.tables }
  table (name: string): TableInfo | undefined { return this.byName.get(name) }
  tableById (id: number): TableInfo | undefined { return this.state.tables.find(t => t.id === id) }

  get users (): readonly UserInfo[] { return this.state.users ?? [] }
  get grants (): readonly GrantInfo[] { return this.state.grants ?? [] }
  get nextUserId (): number { return this.state.nextUserId ?? FIRST_USER_ID }
  user (name: string): UserInfo | undefined { return this.users.find(u => u.name === name) }
  userById (id: number): UserInfo | undefined { return this.users.find(u => u.id === id) }

  /** The table or SB_UNDEFINED_TABLE (42P01). */
  mustTable (name: string): TableInfo {
    const t = this.byName.get(name)
    if (!t) throw err('SB_UNDEFINED_TABLE', `relation "${name}" does not exist`, { table: name })
    return t
  }

  /** Partition key columns in effect: the explicit ones, else the primary key. */
  static partitionKey (t: TableInfo): string[] {
    return t.replication.partition_key_columns ?? t.primaryKey
  }

  createTable (s: CreateTableStatement, ctx: DdlContext): DdlResult {
    if (this.byName.has(s.name)) {
      if (s.ifNotExists) return { catalog: this, table: null, warnings: [`relation "${s.name}" already exists, skipping`] }
      throw err('SB_DUPLICATE_TABLE', `relation "${s.name}" already exists`, { table: s.name })
    }
    if (s.columns.length === 0) throw err('SB_INVALID_TABLE_DEFINITION', `table "${s.name}" needs at least one column`)
    if (s.columns.length > MAX_COLUMNS) throw err('SB_INVALID_TABLE_DEFINITION', `table "${s.name}" has ${s.columns.length} columns, at most ${MAX_COLUMNS}`)
    const columns: ColumnInfo[] = []
    for (const c of s.columns) {
      if (columns.some(x => x.name === c.name)) throw err('SB_DUPLICATE_COLUMN', `column "${c.name}" specified more than once`, { column: c.name })
      columns.push({ name: c.name, type: { name: c.type.name, length: c.type.length, precision: c.type.precision, scale: c.type.scale }, notNull: c.notNull || c.primaryKey, position: columns.length + 1, default: null })
    }
    const has = (col: string): boolean => columns.some(c => c.name === col)
    const inlinePk = s.columns.filter(c => c.primaryKey).map(c => c.name)
    const tablePk = s.constraints.filter(c => c.kind === 'primary_key')
    if (tablePk.length + (inlinePk.length > 0 ? 1 : 0) > 1 || inlinePk.length > 1) {
      throw err('SB_INVALID_TABLE_DEFINITION', `multiple primary keys for table "${s.name}" are not allowed`)
    }
    const primaryKey = inlinePk.length > 0 ? inlinePk : [...(tablePk[0]?.columns ?? [])]
    // Rows are stored and routed by key: a table declared without one keys them by a hidden row id.
    const rowId = primaryKey.length === 0 ? addRowId(columns) : null
    if (rowId !== null) primaryKey.push(rowId.name)
    for (const k of primaryKey) {
      if (!has(k)) throw err('SB_UNDEFINED_COLUMN', `primary key column "${k}" does not exist`, { column: k })
      columns.find(c => c.name === k)!.notNull = true
    }
    // After the primary key: its columns are NOT NULL, which a DEFAULT NULL must not contradict.
    for (const c of s.columns) {
      if (c.default === null) continue
      const col = columns.find(x => x.name === c.name)!
      col.default = ctx.checkDefault({ table: s.name, column: col.name, type: col.type, notNull: col.notNull }, c.default)
    }
    const foreignKeys: ForeignKeyInfo[] = []
    for (const c of s.columns) {
      if (c.references) foreignKeys.push({ columns: [c.name], table: c.references.table, refColumns: [...(c.references.columns ?? [])] })
    }
    for (const fk of s.constraints) {
      if (fk.kind !== 'foreign_key') continue
      for (const col of fk.columns) if (!has(col)) throw err('SB_UNDEFINED_COLUMN', `foreign key column "${col}" does not exist`, { column: col })
      foreignKeys.push({ columns: [...fk.columns], table: fk.references.table, refColumns: [...(fk.references.columns ?? [])] })
    }
    for (const fk of foreignKeys) {
      const ref = fk.table === s.name ? null : this.mustTable(fk.table)
      if (fk.refColumns.length === 0) fk.refColumns = ref ? [...ref.primaryKey] : [...primaryKey]
      for (const rc of fk.refColumns) {
        if (ref ? !ref.columns.some(c => c.name === rc) : !has(rc)) throw err('SB_UNDEFINED_COLUMN', `referenced column "${rc}" of "${fk.table}" does not exist`, { column: rc })
      }
    }
    const warnings: string[] = []
    const named = new Set(s.options.map(o => o.name.toLowerCase()))
    const modeOption = s.options.find(o => o.name.toLowerCase() === 'replication_mode')
    const namedMode = modeOption === undefined ? undefined : parseReplicationOption(modeOption.name, literalValue(modeOption.value)).replication_mode
    let replication = fitDefaultQuorums(optionsFrom(createBase(ctx.defaults, namedMode), s.options, warnings), named, warnings)
    if (s.partitionBy) {
      for (const p of s.partitionBy) if (!has(p)) throw err('SB_UNDEFINED_COLUMN', `partition key column "${p}" does not exist`, { column: p })
      replication = { ...replication, partition_key_columns: [...s.partitionBy] }
    }
    const live = changeChecks(null, replication, primaryKey).liveNodes ? ctx.liveNodes : null
    warnings.push(...validateReplicationOptions(replication, { liveNodes: live, columns: columns.map(c => c.name) }))
    if (rowId !== null) {
      // The table's uuid_type picks the generator: time-ordered UUIDv7 (inserts are not scattered
      // across the key space), or UUIDv8-HLC on the tables whose versions are HLC ids.
      const gen: Expr = { kind: 'call', pos: s.pos, name: replication.uuid_type === 'v8_hlc' ? 'gen_uuidv8_hlc' : 'gen_uuidv7', args: [], distinct: false, star: false }
      rowId.default = ctx.checkDefault({ table: s.name, column: rowId.name, type: rowId.type, notNull: true }, gen)
    }
    const version = this.state.version + 1
    const table: TableInfo = { id: this.state.nextTableId, name: s.name, columns, primaryKey, foreignKeys, replication, version }
    warnings.push(...colocationWarnings(table))
    // Users and grants carry over (the layout floor does not: as before users existed).
    const { users, grants, nextUserId } = this.state
    return { catalog: new Catalog({ version, nextTableId: table.id + 1, tables: [...this.state.tables, table], users, grants, nextUserId }), table, warnings }
  }

  /** The columns SELECT * and an INSERT without a column list see (all but the hidden row id). */
  static visibleColumns (t: TableInfo): ColumnInfo[] {
    return t.columns.filter(c => c.hidden !== true)
  }

  alterTable (s: AlterTableStatement, ctx: DdlContext): DdlResult {
    const t = this.mustTable(s.table)
    if (s.action.kind !== 'set_options') {
      throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `ALTER TABLE … ${s.action.kind === 'add_column' ? 'ADD' : 'DROP'} COLUMN is not supported yet`)
    }
    const warnings: string[] = []
    const replication = optionsFrom(t.replication, s.action.options, warnings)
    // Live nodes bound only a change placing replicas (a raised N), never a change of W or R.
    // Changes needing an empty table are refused before the DDL (exec/ddl-needs-empty.ts):
    // whether a table holds rows is a question for the shards, not for the catalog.
    const live = changeChecks(t.replication, replication, t.primaryKey).liveNodes ? ctx.liveNodes : null
    warnings.push(...validateReplicationOptions(replication, { liveNodes: live, columns: t.columns.map(c => c.name) }))
    const version = this.state.version + 1
    const table: TableInfo = { ...t, replication, version }
    warnings.push(...colocationWarnings(table))
    const relayout = changeChecks(t.replication, replication, t.primaryKey).needsEmptyTable.length > 0
    const next = this.replace(t, table, version)
    return { catalog: relayout ? new Catalog({ ...next.state, layoutFloor: version }) : next, table, warnings }
  }

  dropTable (s: DropTableStatement): DdlResult {
    const t = this.byName.get(s.name)
    if (!t) {
      if (s.ifExists) return { catalog: this, table: null, warnings: [`table "${s.name}" does not exist, skipping`] }
      throw err('SB_UNDEFINED_TABLE', `table "${s.name}" does not exist`, { table: s.name })
    }
    const dependent = this.state.tables.find(o => o !== t && o.foreignKeys.some(fk => fk.table === t.name))
    if (dependent) throw err('SB_INVALID_TABLE_DEFINITION', `cannot drop table "${t.name}": table "${dependent.name}" references it`, { table: t.name, dependent: dependent.name })
    const version = this.state.version + 1
    return { catalog: new Catalog({ ...this.state, version, tables: this.state.tables.filter(x => x !== t) }), table: t, warnings: [] }
  }

  private replace (old: TableInfo, next: TableInfo, version: number): Catalog {
    return new Catalog({ ...this.state, version, tables: this.state.tables.map(x => x === old ? next : x) })
  }

  toJSON (): CatalogState { return this.state }

  static fromJSON (json: unknown): Catalog {
    const s = json as CatalogState
    if (typeof s !== 'object' || s === null || !Number.isInteger(s.version) || !Number.isInteger(s.nextTableId) || !Array.isArray(s.tables) ||
      (s.layoutFloor !== undefined && !Number.isInteger(s.layoutFloor))) {
      throw new ScratchBirdError('SB_STORAGE_CORRUPT', 'catalog document is unreadable')
    }
    const tables = s.tables.map(t => {
      if (typeof t !== 'object' || t === null || !Array.isArray(t.columns)) throw new ScratchBirdError('SB_STORAGE_CORRUPT', 'catalog document is unreadable')
      const columns = t.columns.map(c => {
        const d = (c as Partial<ColumnInfo>).default
        if (d !== undefined && d !== null && typeof d !== 'string') {
          throw new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: the DEFAULT of column "${c.name}" of table "${t.name}" is not text`)
        }
        return { ...c, default: d ?? null }
      })
      return { ...t, columns }
    })
    const users = readUsers(s.users)
    const grants = readGrants(s.grants)
    if (s.nextUserId !== undefined && !Number.isInteger(s.nextUserId)) throw new ScratchBirdError('SB_STORAGE_CORRUPT', 'catalog document is unreadable')
    return new Catalog({ ...s, tables, ...(s.users === undefined ? {} : { users }), ...(s.grants === undefined ? {} : { grants }) })
  }
}

/**
 * "Consider PARTITION BY user_id for colocation": a foreign key whose rows would live on other
 * shards than the rows they reference turns every join and transaction over it into a
 * cross-shard one. The column is named as the referencing statement names it.
 */
function colocationWarnings (t: TableInfo): string[] {
  const key = Catalog.partitionKey(t)
  return t.foreignKeys
    .filter(fk => fk.columns.join(',') !== key.join(','))
    .map(fk => `Consider PARTITION BY ${fk.columns.length === 1 ? fk.columns[0]! : `(${fk.columns.join(', ')})`} for colocation`)
}

/**
 * Appends the hidden row id column of a table declared without a primary key: `rowid` (`rowid_1`,
 * … if a column has that name), a NOT NULL UUID; createTable sets its default generator.
 */
function addRowId (columns: ColumnInfo[]): ColumnInfo {
  let name = 'rowid'
  for (let n = 1; columns.some(c => c.name === name); n++) name = `rowid_${n}`
  const col: ColumnInfo = { name, type: { name: 'uuid', length: null, precision: null, scale: null }, notNull: true, position: columns.length + 1, default: null, hidden: true }
  columns.push(col)
  return col
}
