import { ScratchBirdError } from '../core/errors'
import { REPLICATION_MODE_RULES } from '../core/replication-modes'
import type {
  AlterTableStatement, MoveStepSpec, CreateIndexStatement, CreateTableStatement, DropIndexStatement, DropTableStatement, Expr, TableDdlStatement,
  ReferentialAction, TableOption
} from '../sql/ast'
import {
  createBase, fitDefaultQuorums, parseReplicationOption, validateReplicationOptions, type ReplicationOptions, type TableDefaults
} from './replication-options'
import { changeChecks } from './change-checks'
import { addColumnChange, dropColumnChange, renameColumnChange, type ColumnChange, type ColumnChangeTarget, type ColumnContext } from './alter-columns'
import { constraintIndexes, constraintIndexName, needsGlobal, type IndexInfo, type IndexSpec } from './indexes'
import { LIMITS } from '../core/limits'
import { FIRST_USER_ID, readGrants, readUsers, type GrantInfo, type UserInfo } from './user-records'
import { readTokens, type TokenInfo } from './token-records'
import { applyDomainStatement, validDomain, type ColumnType, type DomainAdmission, type DomainChecker, type DomainInfo } from './domains'
import type { DomainStatement } from '../sql/ast'
import { readViews, type ViewInfo } from './view-records'
import { bootstrapAfterChange, markReady, readBootstrap, type ReplicaBootstrap } from './replica-bootstrap'
import { refuseMovingDdl, readMove, readMoveRole, type MoveRole, type TableMove } from './table-move'
import { applyMoveStep } from './table-move-steps'

// The catalog (DESIGN §5): table definitions with their replication settings, versioned. Pure:
// every DDL statement is checked against the current version and, if valid, yields the next
// version plus the warnings the client should see. Persistence and cluster-wide propagation are
// shells around it (the catalog is small; it travels and is stored as one JSON document).

export type { ColumnType } from './domains'

export interface ColumnInfo {
  name: string
  type: ColumnType
  notNull: boolean
  /** Ordinal position, from 1 (sys_columns): the column's slot in row images, so dropped columns leave gaps. */
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
  /**
   * A column ALTER TABLE … DROP COLUMN removed (alter-columns.ts): it keeps its slot in the row
   * images so rows stored before still decode, and its type so their payloads still check; its
   * name is empty, which no identifier spells, so nothing can name it again. Absent: a live column.
   */
  dropped?: true
  /**
   * What rows stored before ALTER TABLE … ADD COLUMN read for the column: its DEFAULT evaluated
   * once by that statement, as a one-column row image (types/row-codec.ts) in base64. Absent: NULL.
   */
  missing?: string
  /** The domain (catalog/domains.ts) the column was declared with; `type` is then the domain's storage type. Absent: a base type. */
  domain?: string
}

export interface ForeignKeyInfo {
  columns: string[]
  table: string
  refColumns: string[]
  /** ON DELETE; absent: NO ACTION (refused while referenced, as RESTRICT). */
  onDelete?: ReferentialAction
  /** ON UPDATE of the referenced key; absent: NO ACTION. CASCADE is refused at CREATE TABLE. */
  onUpdate?: ReferentialAction
}

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
  /** Set on the hidden relation of an index (indexes.ts): which table it indexes and how. */
  index?: IndexInfo
  /** Leaderless replicas placed by a raised N and not yet filled (replica-bootstrap.ts); absent: none. */
  bootstrap?: ReplicaBootstrap
  /** A session's temporary table (exec/temp-tables.ts): in no catalog version, only in that session's view of one. Absent: a permanent table. */
  temporary?: true
  /** The table is being moved to a new layout (table-move.ts); absent: it is not. */
  move?: TableMove
  /** Set on a hidden relation of a move (its target, or what it retired: table-move.ts); such relations are no user's. */
  moving?: MoveRole
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
  /** Bearer tokens of users (token-records.ts, changed by tokens.ts); absent: none. */
  tokens?: TokenInfo[]
  /** Domains (domains.ts); absent in documents written before domains existed: none. */
  domains?: DomainInfo[]
  /** Views (view-records.ts, changed by views.ts); absent in documents written before views existed: none. */
  views?: ViewInfo[]
}

/** A column whose DEFAULT expression is being checked. */
export interface DefaultTarget {
  readonly table: string
  readonly column: string
  readonly type: ColumnType
  readonly notNull: boolean
  /** A column of a domain: the domain's admission of a value (DomainChecker.admission), which replaces the cast to `type`. */
  readonly admit?: DomainAdmission['admit']
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
  /**
   * The value rows already stored read for a column ALTER TABLE … ADD COLUMN adds with DEFAULT `e`:
   * the default evaluated once, now (ColumnInfo.missing's form); null when it is NULL. Refuses a
   * default that would differ per row (gen_uuidv7() …), which only a rewrite of the rows could give.
   */
  missingValue: (t: DefaultTarget, e: Expr) => string | null
  /** Validates a domain's DEFAULT and CHECK expressions (plan/domain-rules.ts), for the same reason. */
  domains: DomainChecker
}

export interface DdlResult { catalog: Catalog, table: TableInfo | null, warnings: string[] }

/** User table ids start here; lower ids are reserved for system tables. */
export const FIRST_USER_TABLE_ID = 1024
/** Columns a table may have (bounded like every input). */
export const MAX_COLUMNS = LIMITS.columns

function err (code: 'SB_DUPLICATE_TABLE' | 'SB_UNDEFINED_TABLE' | 'SB_DUPLICATE_COLUMN' | 'SB_INVALID_TABLE_DEFINITION' | 'SB_UNDEFINED_COLUMN' | 'SB_WRONG_OBJECT_TYPE' | 'SB_FEATURE_NOT_SUPPORTED' | 'SB_DEPENDENT_OBJECTS_EXIST', message: string, details: Record<string, unknown> = {}): ScratchBirdError {
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
  private readonly indexesByTable = new Map<number, TableInfo[]>()

  constructor (readonly state: CatalogState = { version: 0, nextTableId: FIRST_USER_TABLE_ID, tables: [] }) {
    this.byName = new Map(state.tables.map(t => [t.name, t]))
    for (const t of state.tables) {
      if (t.index === undefined) continue
      const list = this.indexesByTable.get(t.index.of)
      if (list === undefined) this.indexesByTable.set(t.index.of, [t])
      else list.push(t)
    }
  }

  /** The tables users name (every relation but the hidden ones of indexes). */
  get userTables (): readonly TableInfo[] { return this.state.tables.filter(t => t.index === undefined && t.moving === undefined) }
  /** The index relations of table `tableId` (indexes.ts). */
  indexesOf (tableId: number): readonly TableInfo[] { return this.indexesByTable.get(tableId) ?? [] }
  /** The tables with a foreign key to table `name`. */
  referencing (name: string): readonly TableInfo[] { return this.state.tables.filter(t => t.foreignKeys.some(fk => fk.table === name)) }

  get version (): number { return this.state.version }
  get layoutFloor (): number { return this.state.layoutFloor ?? 0 }
  get tables (): readonly TableInfo[] { return this.state.tables }
  table (name: string): TableInfo | undefined { return this.byName.get(name) }
  /** The table a foreign key naming `name` refers to (a session's view of the catalog, exec/temp-statements.ts, keeps it when a temporary table hides the name). */
  foreignKeyTable (name: string): TableInfo | undefined { return this.byName.get(name) }
  tableById (id: number): TableInfo | undefined { return this.state.tables.find(t => t.id === id) }

  get domains (): readonly DomainInfo[] { return this.state.domains ?? [] }
  domain (name: string): DomainInfo | undefined { return this.domains.find(d => d.name === name) }

  get users (): readonly UserInfo[] { return this.state.users ?? [] }
  get grants (): readonly GrantInfo[] { return this.state.grants ?? [] }
  get nextUserId (): number { return this.state.nextUserId ?? FIRST_USER_ID }
  user (name: string): UserInfo | undefined { return this.users.find(u => u.name === name) }
  userById (id: number): UserInfo | undefined { return this.users.find(u => u.id === id) }

  get views (): readonly ViewInfo[] { return this.state.views ?? [] }
  view (name: string): ViewInfo | undefined { return this.views.find(v => v.name === name) }
  /** Is `name` taken in the name space tables, indexes and views share? */
  hasRelation (name: string): boolean { return this.byName.has(name) || this.view(name) !== undefined }
  /**
   * Refuses dropping table or view `name` while a view names it (PostgreSQL refuses without
   * CASCADE, which ScratchBird does not offer: drop the views first).
   */
  checkNoDependentView (name: string, what: 'table' | 'view'): void {
    const v = this.views.find(x => x.name !== name && x.reads.includes(name))
    if (v !== undefined) throw err('SB_DEPENDENT_OBJECTS_EXIST', `cannot drop ${what} "${name}": view "${v.name}" depends on it; drop the view first`, { [what]: name, dependent: v.name })
  }

  /** The table or SB_UNDEFINED_TABLE (42P01); an index's name is SB_WRONG_OBJECT_TYPE (42809). */
  mustTable (name: string): TableInfo {
    const t = this.byName.get(name)
    if (!t && this.view(name) !== undefined) throw err('SB_WRONG_OBJECT_TYPE', `"${name}" is a view (views are read-only)`, { view: name })
    if (!t || t.moving !== undefined) throw err('SB_UNDEFINED_TABLE', `relation "${name}" does not exist`, { table: name })
    if (t.index !== undefined) throw err('SB_WRONG_OBJECT_TYPE', `"${name}" is an index`, { index: name })
    return t
  }

  /** Partition key columns in effect: the explicit ones, else the primary key. */
  static partitionKey (t: TableInfo): string[] {
    return t.replication.partition_key_columns ?? t.primaryKey
  }

  /** Any DDL statement against this version. */
  apply (s: TableDdlStatement | DomainStatement, ctx: DdlContext): DdlResult {
    switch (s.kind) {
      case 'create_domain': case 'alter_domain': case 'drop_domain': return this.applyDomain(s, ctx)
      case 'create_table': return this.createTable(s, ctx)
      case 'alter_table': return this.alterTable(s, ctx)
      case 'drop_table': return this.dropTable(s)
      case 'create_index': return this.createIndex(s)
      case 'drop_index': return this.dropIndex(s)
      case 'alter_index': {
        const i = this.byName.get(s.name)
        if (i?.index === undefined) throw err('SB_UNDEFINED_TABLE', `index "${s.name}" does not exist`, { index: s.name })
        const next = this.markIndexReady(s.name)
        return { catalog: next, table: next.table(s.name) ?? null, warnings: [] }
      }
    }
  }

  /** CREATE / ALTER / DROP DOMAIN (domains.ts): the next version, unless the statement changed nothing (IF [NOT] EXISTS). */
  private applyDomain (s: DomainStatement, ctx: DdlContext): DdlResult {
    const version = this.state.version + 1
    const r = applyDomainStatement(this.domains, this.state.tables, s, version, ctx.domains)
    const changed = r.domain !== null || (s.kind === 'drop_domain' && r.domains.length < this.domains.length)
    return { catalog: changed ? new Catalog({ ...this.state, version, domains: r.domains }) : this, table: null, warnings: r.warnings }
  }

  /**
   * CREATE [UNIQUE] INDEX: a new index relation, `building` until its entries for the rows already
   * there are written (exec/index-build.ts), then made usable by markIndexReady. Writers maintain it
   * from this version on; the layout floor makes every node's writers do so before they write again.
   */
  createIndex (s: CreateIndexStatement): DdlResult {
    if (this.hasRelation(s.name)) {
      if (s.ifNotExists) return { catalog: this, table: null, warnings: [`relation "${s.name}" already exists, skipping`] }
      throw err('SB_DUPLICATE_TABLE', `relation "${s.name}" already exists`, { table: s.name })
    }
    const t = this.mustTable(s.table)
    refuseMovingDdl(t, 'CREATE INDEX')
    if (t.replication.replication_mode === 'leaderless_quorum') {
      throw err('SB_FEATURE_NOT_SUPPORTED', `leaderless_quorum table "${t.name}" cannot be indexed: leaderless tables keep no indexes (their rows converge by last write wins, with no transaction to write a row and its entry together)`, { table: t.name })
    }
    for (const c of [...s.columns, ...s.include]) {
      if (!t.columns.some(x => x.name === c)) throw err('SB_UNDEFINED_COLUMN', `column "${c}" does not exist`, { table: t.name, column: c })
    }
    if (new Set(s.columns).size !== s.columns.length) throw err('SB_DUPLICATE_COLUMN', 'a column is named more than once in the index key', { table: t.name })
    const partition = Catalog.partitionKey(t)
    const global = s.scope === null ? needsGlobal(partition, s.columns) : s.scope === 'global'
    if (s.unique && !global && needsGlobal(partition, s.columns)) {
      throw err('SB_INVALID_TABLE_DEFINITION', `a LOCAL UNIQUE index must hold the partition key (${partition.join(', ')}) of "${t.name}": equal keys elsewhere would sit on other shards`, { table: t.name })
    }
    const version = this.state.version + 1
    const spec: IndexSpec = { columns: [...s.columns], include: s.include.filter(c => !s.columns.includes(c)), unique: s.unique, global, constraint: null, building: true }
    const index = indexTable(t, partition, s.name, spec, this.state.nextTableId, version)
    return { catalog: new Catalog({ ...this.state, version, nextTableId: index.id + 1, tables: [...this.state.tables, index], layoutFloor: version }), table: index, warnings: [] }
  }

  /** The catalog with index `name` usable by the planner (its build finished). */
  markIndexReady (name: string): Catalog {
    const i = this.byName.get(name)
    if (i?.index?.building !== true) return this
    const version = this.state.version + 1
    const { building: _, ...ready } = i.index
    const next: TableInfo = { ...i, index: ready, version }
    return new Catalog({ ...this.state, version, tables: this.state.tables.map(x => x === i ? next : x) })
  }

  dropIndex (s: DropIndexStatement): DdlResult {
    const i = this.byName.get(s.name)
    if (i === undefined && this.view(s.name) !== undefined) throw err('SB_WRONG_OBJECT_TYPE', `"${s.name}" is not an index (it is a view: use DROP VIEW)`, { view: s.name })
    if (i === undefined) {
      if (s.ifExists) return { catalog: this, table: null, warnings: [`index "${s.name}" does not exist, skipping`] }
      throw err('SB_UNDEFINED_TABLE', `index "${s.name}" does not exist`, { index: s.name })
    }
    if (i.index === undefined) throw err('SB_WRONG_OBJECT_TYPE', `"${s.name}" is not an index`, { table: s.name })
    const base = this.tableById(i.index.of)
    if (base !== undefined) refuseMovingDdl(base, 'DROP INDEX')
    if (i.index.constraint !== null) {
      throw err('SB_INVALID_TABLE_DEFINITION', `cannot drop index "${s.name}": the ${i.index.constraint === 'primary_key' ? 'primary key' : 'UNIQUE constraint'} of its table needs it`, { index: s.name })
    }
    const version = this.state.version + 1
    return { catalog: new Catalog({ ...this.state, version, tables: this.state.tables.filter(x => x !== i) }), table: i, warnings: [] }
  }

  createTable (s: CreateTableStatement, ctx: DdlContext): DdlResult {
    if (this.hasRelation(s.name)) {
      if (s.ifNotExists) return { catalog: this, table: null, warnings: [`relation "${s.name}" already exists, skipping`] }
      throw err('SB_DUPLICATE_TABLE', `relation "${s.name}" already exists`, { table: s.name })
    }
    if (s.columns.length === 0) throw err('SB_INVALID_TABLE_DEFINITION', `table "${s.name}" needs at least one column`)
    if (s.columns.length > MAX_COLUMNS) throw err('SB_INVALID_TABLE_DEFINITION', `table "${s.name}" has ${s.columns.length} columns, at most ${MAX_COLUMNS}`)
    const columns: ColumnInfo[] = []
    for (const c of s.columns) {
      if (columns.some(x => x.name === c.name)) throw err('SB_DUPLICATE_COLUMN', `column "${c.name}" specified more than once`, { column: c.name })
      const domain = c.type.domain === undefined ? undefined : this.domain(c.type.domain)
      if (c.type.domain !== undefined && domain === undefined) throw new ScratchBirdError('SB_UNDEFINED_OBJECT', `type "${c.type.domain}" does not exist`, { column: c.name, domain: c.type.domain })
      const type = domain !== undefined ? { ...domain.type } : { name: c.type.name, length: c.type.length, precision: c.type.precision, scale: c.type.scale }
      columns.push({ name: c.name, type, notNull: c.notNull || c.primaryKey, position: columns.length + 1, default: null, ...(domain !== undefined ? { domain: domain.name } : {}) })
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
    const actions = (r: { onDelete?: ReferentialAction, onUpdate?: ReferentialAction }): Pick<ForeignKeyInfo, 'onDelete' | 'onUpdate'> =>
      ({ ...(r.onDelete !== undefined ? { onDelete: r.onDelete } : {}), ...(r.onUpdate !== undefined ? { onUpdate: r.onUpdate } : {}) })
    for (const c of s.columns) {
      if (c.references) foreignKeys.push({ columns: [c.name], table: c.references.table, refColumns: [...(c.references.columns ?? [])], ...actions(c.references) })
    }
    for (const fk of s.constraints) {
      if (fk.kind !== 'foreign_key') continue
      for (const col of fk.columns) if (!has(col)) throw err('SB_UNDEFINED_COLUMN', `foreign key column "${col}" does not exist`, { column: col })
      foreignKeys.push({ columns: [...fk.columns], table: fk.references.table, refColumns: [...(fk.references.columns ?? [])], ...actions(fk.references) })
    }
    const uniques: string[][] = s.columns.filter(c => c.unique === true).map(c => [c.name])
    for (const u of s.constraints) {
      if (u.kind !== 'unique') continue
      for (const col of u.columns) if (!has(col)) throw err('SB_UNDEFINED_COLUMN', `column "${col}" named in key does not exist`, { column: col })
      uniques.push([...u.columns])
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
    for (const fk of foreignKeys) this.checkForeignKey(table, fk)
    warnings.push(...colocationWarnings(table))
    const indexes = this.constraintRelations(table, constraintIndexes(primaryKey, Catalog.partitionKey(table), uniques), [], table.id + 1, version, warnings)
    const nextTableId = Math.max(table.id + 1, ...indexes.map(i => i.id + 1))
    return { catalog: new Catalog({ ...this.state, version, nextTableId, tables: [...this.state.tables, table, ...indexes] }), table, warnings }
  }

  /**
   * The index relations `specs` need for `table`: an existing one of `old` with the same key, kind
   * and placement is kept (re-versioned, replication following the table's), others get new ids
   * from `nextId`. Leaderless tables keep no index: last write wins has no owner to refuse a
   * duplicate, and no transaction to write a row and its entry atomically.
   */
  private constraintRelations (table: TableInfo, specs: readonly IndexSpec[], old: readonly TableInfo[], nextId: number, version: number, warnings: string[]): TableInfo[] {
    if (specs.length > 0 && table.replication.replication_mode === 'leaderless_quorum') {
      const spec = specs[0]!
      throw err('SB_FEATURE_NOT_SUPPORTED', spec.constraint === 'primary_key'
        ? `leaderless_quorum table "${table.name}" must be partitioned by a subset of its primary key (${table.primaryKey.join(', ')}): keeping it unique across shards needs a global index, which leaderless tables do not keep`
        : `leaderless_quorum table "${table.name}" cannot have a UNIQUE constraint: leaderless tables keep no indexes (last write wins; INSERT is an upsert)`,
      { table: table.name, columns: spec.columns })
    }
    const partition = Catalog.partitionKey(table)
    const taken = new Set(this.state.tables.filter(t => !old.includes(t)).map(t => t.name))
    taken.add(table.name)
    const out: TableInfo[] = []
    for (const spec of specs) {
      const same = old.find(o => o.index !== undefined && o.index.constraint === spec.constraint && o.index.global === spec.global &&
        o.index.columns.join(',') === spec.columns.join(','))
      let name = same?.name ?? constraintIndexName(table.name, spec)
      if (same === undefined) for (let n = 1; taken.has(name); n++) name = `${constraintIndexName(table.name, spec)}${n}`
      taken.add(name)
      const id = same?.id ?? nextId++
      out.push(indexTable(table, partition, name, spec, id, version))
      if (same === undefined && spec.global) {
        warnings.push(`${spec.constraint === 'primary_key' ? 'primary key' : 'UNIQUE'} (${spec.columns.join(', ')}) of "${table.name}" does not hold its partition key (${partition.join(', ')}): ` +
          `global unique index "${name}" keeps it unique across shards, so a write of the key may be a two-shard transaction; partitioning by ${spec.columns.length === 1 ? spec.columns[0]! : `(${spec.columns.join(', ')})`} avoids it`)
      }
    }
    return out
  }

  /** A foreign key must reference a key of the referenced table that is unique: its primary key or a UNIQUE constraint. */
  private checkForeignKey (table: TableInfo, fk: ForeignKeyInfo): void {
    const ref = fk.table === table.name ? table : this.mustTable(fk.table)
    if (fk.refColumns.length !== fk.columns.length) {
      throw err('SB_INVALID_TABLE_DEFINITION', `number of referencing and referenced columns for foreign key of "${table.name}" disagree`, { table: table.name, references: fk.table })
    }
    const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every(x => b.includes(x))
    const uniqueKeys = [ref.primaryKey, ...this.indexesOf(ref.id).filter(i => i.index!.unique).map(i => i.index!.columns)]
    if (ref !== table && !uniqueKeys.some(k => same(k, fk.refColumns))) {
      throw err('SB_INVALID_TABLE_DEFINITION', `there is no unique constraint matching given keys for referenced table "${fk.table}" (${fk.refColumns.join(', ')})`, { table: table.name, references: fk.table })
    }
    if (table.replication.replication_mode === 'leaderless_quorum' || ref.replication.replication_mode === 'leaderless_quorum') {
      throw err('SB_FEATURE_NOT_SUPPORTED', `foreign key of "${table.name}" to "${fk.table}": leaderless_quorum tables take no part in foreign keys (their writes are not transactional)`, { table: table.name, references: fk.table })
    }
    if (fk.onUpdate === 'cascade') throw err('SB_FEATURE_NOT_SUPPORTED', 'ON UPDATE CASCADE is not supported; referenced keys are updated only while no row references them (NO ACTION / RESTRICT)', { table: table.name })
  }

  /** The columns SELECT * and an INSERT without a column list see (all but the hidden row id). */
  static visibleColumns (t: TableInfo): ColumnInfo[] {
    return t.columns.filter(c => c.hidden !== true && c.dropped !== true)
  }

  /** Table `t` as ADD/DROP COLUMN (alter-columns.ts) sees it. */
  private columnTarget (t: TableInfo): ColumnChangeTarget<ColumnInfo> {
    return {
      name: t.name,
      columns: t.columns,
      primaryKey: t.primaryKey,
      partitionKey: Catalog.partitionKey(t),
      foreignKeys: t.foreignKeys,
      indexes: this.indexesOf(t.id).map(i => ({ name: i.name, columns: i.index!.columns, include: i.index!.include, constraint: i.index!.constraint })),
      referencedBy: this.referencing(t.name).filter(o => o !== t).flatMap(o => o.foreignKeys.filter(fk => fk.table === t.name).map(fk => ({ table: o.name, refColumns: fk.refColumns })))
    }
  }

  /**
   * Table `t` with the columns of an ADD/DROP COLUMN, at the next version. Its rows are written
   * differently from now on, so the layout floor rises with it: a node still writing by the old
   * columns is refused until it catches up (an UPDATE by them would drop an added column's value).
   */
  private withColumns (t: TableInfo, change: ColumnChange<ColumnInfo>, relayout = true): DdlResult {
    if (change.columns === null) return { catalog: this, table: null, warnings: change.warnings }
    const version = this.state.version + 1
    const table: TableInfo = { ...t, columns: change.columns, version }
    const tables = this.state.tables.map(x => x === t ? table : x)
    return { catalog: new Catalog({ ...this.state, version, tables, ...(relayout ? { layoutFloor: version } : {}) }), table, warnings: change.warnings }
  }

  /** ADD COLUMN's context: a column of a domain is resolved here (alter-columns.ts sees no catalog). */
  private addColumnContext (ctx: DdlContext): DdlContext & ColumnContext {
    return {
      ...ctx,
      domain: (name, table, column) => {
        const d = this.domain(name)
        if (d === undefined) throw new ScratchBirdError('SB_UNDEFINED_OBJECT', `type "${name}" does not exist`, { column, domain: name })
        return { info: d, ...ctx.domains.admission(d, n => this.domain(n), table, column) }
      }
    }
  }

  alterTable (s: AlterTableStatement, ctx: DdlContext): DdlResult {
    const t = this.mustTable(s.table)
    if (s.action.kind === 'move') return this.moveStep(t, s.action.step, ctx)
    refuseMovingDdl(t, 'ALTER TABLE')
    if (s.action.kind === 'replicas_ready') return this.replicasReady(t, s.action.shard)
    if (s.action.kind === 'add_column') return this.withColumns(t, addColumnChange(this.columnTarget(t), s.action, this.addColumnContext(ctx)))
    if (s.action.kind === 'drop_column') return this.withColumns(t, dropColumnChange(this.columnTarget(t), s.action))
    // The row layout stays: no layout floor (writers on the catalog before write the same slots).
    if (s.action.kind === 'rename_column') return this.withColumns(t, renameColumnChange(this.columnTarget(t), s.action), false)
    const warnings: string[] = []
    const replication = optionsFrom(t.replication, s.action.options, warnings)
    // Live nodes bound only a change placing replicas (a raised N), never a change of W or R.
    // Changes needing an empty table are refused before the DDL (exec/ddl-needs-empty.ts):
    // whether a table holds rows is a question for the shards, not for the catalog.
    const live = changeChecks(t.replication, replication, t.primaryKey).liveNodes ? ctx.liveNodes : null
    warnings.push(...validateReplicationOptions(replication, { liveNodes: live, columns: t.columns.map(c => c.name) }))
    const version = this.state.version + 1
    const { bootstrap: before, ...rest } = t
    const bootstrap = bootstrapAfterChange(t.replication, replication, before)
    const table: TableInfo = { ...rest, replication, version, ...(bootstrap === undefined ? {} : { bootstrap }) }
    warnings.push(...colocationWarnings(table))
    // A raised leaderless N is a new layout too: a writer still on the old catalog would send to
    // the old replicas only, and the new ones would miss its write after their bootstrap read.
    const checks = changeChecks(t.replication, replication, t.primaryKey)
    const relayout = checks.needsEmptyTable.length > 0 || checks.movesRows ||
      (bootstrap !== undefined && bootstrap !== before)
    // The table's indexes follow it: constraint indexes are what the new partition key needs
    // (a relayout needs an empty table, so a new index starts empty and right); CREATE INDEX
    // ones keep their key and placement, which a new partition key would change for a local one.
    const old = this.indexesOf(t.id)
    const created = old.filter(i => i.index!.constraint === null)
    const partitionChanged = Catalog.partitionKey(t).join(',') !== Catalog.partitionKey(table).join(',')
    if (partitionChanged && created.some(i => !i.index!.global)) {
      throw err('SB_FEATURE_NOT_SUPPORTED', `cannot change the partition key of "${t.name}" while it has local index "${created.find(i => !i.index!.global)!.name}"; drop the index first`, { table: t.name })
    }
    if (replication.replication_mode === 'leaderless_quorum' && (t.foreignKeys.length > 0 || this.referencing(t.name).some(o => o !== t))) {
      throw err('SB_FEATURE_NOT_SUPPORTED', `table "${t.name}" takes part in a foreign key; leaderless_quorum tables take no part in foreign keys (their writes are not transactional)`, { table: t.name })
    }
    if (created.length > 0 && replication.replication_mode === 'leaderless_quorum') {
      throw err('SB_FEATURE_NOT_SUPPORTED', `table "${t.name}" has index "${created[0]!.name}"; leaderless_quorum tables keep no indexes: drop it first`, { table: t.name })
    }
    const specs = constraintIndexes(table.primaryKey, Catalog.partitionKey(table), old.filter(i => i.index!.constraint === 'unique').map(i => i.index!.columns))
    const constraints = this.constraintRelations(table, specs, old, this.state.nextTableId, version, warnings)
    const kept = created.map(i => indexTable(table, Catalog.partitionKey(table), i.name, i.index!, i.id, version))
    const nextTableId = Math.max(this.state.nextTableId, ...constraints.map(i => i.id + 1))
    // The table keeps its place (sys_tables lists tables in creation order); its indexes follow the others.
    const tables = [...this.state.tables.filter(x => !old.includes(x)).map(x => x === t ? table : x), ...constraints, ...kept]
    const next = new Catalog({ ...this.state, version, nextTableId, tables })
    return { catalog: relayout ? new Catalog({ ...next.state, layoutFloor: version }) : next, table, warnings }
  }

  /**
   * ALTER TABLE t MOVE …: a step of moving a populated table to a new layout (table-move.ts). START
   * builds the target relation like CREATE TABLE builds a table's (its constraint indexes from the
   * new partition key), with new ids; the rest only re-files relations and the record.
   */
  private moveStep (t: TableInfo, step: MoveStepSpec, ctx: DdlContext): DdlResult {
    const warnings: string[] = []
    const build = (target: TableInfo, version: number): TableInfo[] => {
      const old = this.indexesOf(t.id)
      const created = old.find(i => i.index!.constraint === null)
      if (created !== undefined) {
        throw err('SB_FEATURE_NOT_SUPPORTED', `cannot move table "${t.name}" to a new layout while it has index "${created.name}" (made by CREATE INDEX); drop the index first and create it again after the move`, { table: t.name, index: created.name })
      }
      const specs = constraintIndexes(target.primaryKey, Catalog.partitionKey(target), old.filter(i => i.index!.constraint === 'unique').map(i => i.index!.columns))
      return this.constraintRelations(target, specs, [], target.id + 1, version, warnings)
    }
    const options = (o: readonly TableOption[]): ReplicationOptions => {
      const replication = optionsFrom(t.replication, o, warnings)
      const live = changeChecks(t.replication, replication, t.primaryKey).liveNodes ? ctx.liveNodes : null
      warnings.push(...validateReplicationOptions(replication, { liveNodes: live, columns: t.columns.map(c => c.name) }))
      return replication
    }
    const r = applyMoveStep(this.state, t, step, { build, options })
    return { catalog: new Catalog(r.state), table: r.table, warnings: [...warnings, ...colocationWarnings(r.table)] }
  }

  /** SET REPLICAS READY [ON SHARD n]: the table's new replicas of that shard (or all) count toward W and R. */
  private replicasReady (t: TableInfo, shard: number | null): DdlResult {
    const next = markReady(t.bootstrap, shard)
    if (next === t.bootstrap) return { catalog: this, table: t, warnings: [] }
    const version = this.state.version + 1
    const { bootstrap: _, ...rest } = t
    const table: TableInfo = { ...rest, version, ...(next === undefined ? {} : { bootstrap: next }) }
    return { catalog: new Catalog({ ...this.state, version, tables: this.state.tables.map(x => x === t ? table : x) }), table, warnings: [] }
  }

  dropTable (s: DropTableStatement): DdlResult {
    const t = this.byName.get(s.name)
    if (!t && this.view(s.name) !== undefined) throw err('SB_WRONG_OBJECT_TYPE', `"${s.name}" is not a table (it is a view: use DROP VIEW)`, { view: s.name })
    if (!t) {
      if (s.ifExists) return { catalog: this, table: null, warnings: [`table "${s.name}" does not exist, skipping`] }
      throw err('SB_UNDEFINED_TABLE', `table "${s.name}" does not exist`, { table: s.name })
    }
    if (t.index !== undefined) throw err('SB_WRONG_OBJECT_TYPE', `"${t.name}" is an index`, { index: t.name })
    refuseMovingDdl(t, 'DROP TABLE')
    const dependent = this.state.tables.find(o => o !== t && o.foreignKeys.some(fk => fk.table === t.name))
    if (dependent) throw err('SB_INVALID_TABLE_DEFINITION', `cannot drop table "${t.name}": table "${dependent.name}" references it`, { table: t.name, dependent: dependent.name })
    this.checkNoDependentView(t.name, 'table')
    const version = this.state.version + 1
    const gone = new Set([t, ...this.indexesOf(t.id)])
    return { catalog: new Catalog({ ...this.state, version, tables: this.state.tables.filter(x => !gone.has(x)) }), table: t, warnings: [] }
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
        const { dropped, missing } = c as Partial<ColumnInfo>
        if ((dropped !== undefined && dropped !== true) || (missing !== undefined && typeof missing !== 'string')) {
          throw new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: column "${c.name}" of table "${t.name}" is malformed`)
        }
        return { ...c, default: d ?? null }
      })
      if (t.index !== undefined && !validIndex(t.index)) throw new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: index "${t.name}" is malformed`)
      const bootstrap = readBootstrap(t.bootstrap, t.name)
      readMove(t.move, t.name)
      readMoveRole(t.moving, t.name)
      return { ...t, columns, ...(bootstrap === undefined ? {} : { bootstrap }) }
    })
    const users = readUsers(s.users)
    const grants = readGrants(s.grants)
    if (s.nextUserId !== undefined && !Number.isInteger(s.nextUserId)) throw new ScratchBirdError('SB_STORAGE_CORRUPT', 'catalog document is unreadable')
    if (s.domains !== undefined && !(Array.isArray(s.domains) && s.domains.every(validDomain))) throw new ScratchBirdError('SB_STORAGE_CORRUPT', 'catalog document is unreadable: a domain is malformed')
    const views = readViews(s.views)
    const tokens = readTokens(s.tokens)
    return new Catalog({ ...s, tables, ...(s.users === undefined ? {} : { users }), ...(s.grants === undefined ? {} : { grants }), ...(s.views === undefined ? {} : { views }), ...(s.tokens === undefined ? {} : { tokens }) })
  }
}

/** The shape of a stored IndexInfo (the catalog document comes from disk and from peers). */
function validIndex (x: unknown): boolean {
  const i = x as Partial<IndexInfo> | null
  const names = (v: unknown): boolean => Array.isArray(v) && v.every(n => typeof n === 'string')
  return typeof i === 'object' && i !== null && Number.isInteger(i.of) && names(i.columns) && (i.columns?.length ?? 0) > 0 && names(i.include) &&
    typeof i.unique === 'boolean' && typeof i.global === 'boolean' && (i.constraint === null || i.constraint === 'primary_key' || i.constraint === 'unique') &&
    (i.building === undefined || i.building === true)
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

/** The partition key an index relation has: its key (global) or the table's (local). */
function indexPartition (base: TableInfo, spec: IndexSpec, basePartition: readonly string[]): string[] {
  return spec.global ? [...spec.columns] : [...basePartition]
}

/** The hidden relation holding an index's entries. */
function indexTable (base: TableInfo, basePartition: readonly string[], name: string, spec: IndexSpec, id: number, version: number): TableInfo {
  const col = (n: string): ColumnInfo => {
    const c = base.columns.find(x => x.name === n)
    if (c === undefined) throw new ScratchBirdError('SB_UNDEFINED_COLUMN', `column "${n}" of relation "${base.name}" does not exist`, { table: base.name, column: n })
    return c
  }
  const names: string[] = []
  for (const n of [...spec.columns, ...basePartition, ...base.primaryKey, ...spec.include]) if (!names.includes(n)) names.push(n)
  const pk = spec.unique ? [...spec.columns] : [...spec.columns, ...base.primaryKey.filter(n => !spec.columns.includes(n))]
  const columns: ColumnInfo[] = names.map((n, i) => {
    const c = col(n)
    return { name: n, type: { ...c.type }, notNull: c.notNull || pk.includes(n), position: i + 1, default: null }
  })
  return {
    id,
    name,
    columns,
    primaryKey: pk,
    foreignKeys: [],
    replication: { ...base.replication, partition_key_columns: indexPartition(base, spec, basePartition) },
    version,
    index: { of: base.id, ...spec, columns: [...spec.columns], include: [...spec.include] }
  }
}
