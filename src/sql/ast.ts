// The typed AST the parser produces and the resolver/planner consume. Discriminated unions on
// `kind`; every node carries `pos` (where its first token starts) so later stages can report
// errors at the right place. Names are already case-folded (unquoted identifiers lower-cased).
// Syntax sugar is normalised away: NUMERIC → decimal, INT → integer, `!=` → `<>`, `x::t` → cast,
// a minus sign directly before a number literal is part of the literal.

import type { TypeKind } from '../types/sql-types'

export interface Pos {
  readonly line: number // 1-based
  readonly column: number // 1-based, in UTF-16 code units
  readonly offset: number // 0-based offset into the SQL text
}

// ---- types ----------------------------------------------------------------------------------

/** Column/cast type names: the kinds of the SQL type system (src/types/sql-types.ts), less NULL's. */
export type TypeName = Exclude<TypeKind, 'null'>

export interface DataType {
  readonly kind: 'type'
  readonly pos: Pos
  readonly name: TypeName
  /** CHAR(n) / VARCHAR(n); null when not given. */
  readonly length: number | null
  /** DECIMAL(p[, s]); null when not given. */
  readonly precision: number | null
  readonly scale: number | null
  /**
   * A column typed by a domain (CREATE DOMAIN): its name; `name` is then only a placeholder
   * (text) until the catalog resolves the domain's storage type. Absent: a base type.
   */
  readonly domain?: string
}

// ---- expressions ----------------------------------------------------------------------------

/** Integer literal; bigint so BIGINT and DECIMAL keep every digit. */
export interface IntegerLiteral { readonly kind: 'integer', readonly pos: Pos, readonly value: bigint }
/** Number with a point or exponent, kept as written (e.g. "42.5", "-1e3") so no precision is lost. */
export interface DecimalLiteral { readonly kind: 'decimal', readonly pos: Pos, readonly text: string }
export interface StringLiteral { readonly kind: 'string', readonly pos: Pos, readonly value: string }
export interface BooleanLiteral { readonly kind: 'boolean', readonly pos: Pos, readonly value: boolean }
export interface NullLiteral { readonly kind: 'null', readonly pos: Pos }
/** DATE '2026-01-09', TIMESTAMP '2026-01-09 15:30:00'; the text is checked at resolve time. */
export interface TypedLiteral { readonly kind: 'typed_literal', readonly pos: Pos, readonly type: 'date' | 'timestamp', readonly value: string }

export type Literal = IntegerLiteral | DecimalLiteral | StringLiteral | BooleanLiteral | NullLiteral | TypedLiteral

/** `$1` → index 1. */
export interface Param { readonly kind: 'param', readonly pos: Pos, readonly index: number }
/** `a` or `t.a`. */
export interface ColumnRef { readonly kind: 'column', readonly pos: Pos, readonly table: string | null, readonly name: string }
/** `DEFAULT` as an INSERT value; only produced inside VALUES rows. */
export interface DefaultValue { readonly kind: 'default', readonly pos: Pos }

export type UnaryOp = '-' | '+' | 'not'
export interface Unary { readonly kind: 'unary', readonly pos: Pos, readonly op: UnaryOp, readonly operand: Expr }

export type BinaryOp =
  | 'or' | 'and'
  | '=' | '<>' | '<' | '<=' | '>' | '>='
  | '||' | '+' | '-' | '*' | '/' | '%'
export interface Binary { readonly kind: 'binary', readonly pos: Pos, readonly op: BinaryOp, readonly left: Expr, readonly right: Expr }

export interface IsNull { readonly kind: 'is_null', readonly pos: Pos, readonly not: boolean, readonly operand: Expr }
export interface InList { readonly kind: 'in', readonly pos: Pos, readonly not: boolean, readonly operand: Expr, readonly list: readonly Expr[] }
export interface Between { readonly kind: 'between', readonly pos: Pos, readonly not: boolean, readonly operand: Expr, readonly low: Expr, readonly high: Expr }
export interface Like { readonly kind: 'like', readonly pos: Pos, readonly not: boolean, readonly operand: Expr, readonly pattern: Expr }

/**
 * `name(args)`. `star` is COUNT(*) (args empty); `distinct` is COUNT(DISTINCT x). Whether a name
 * is an aggregate or exists at all is the resolver's business.
 */
export interface FuncCall {
  readonly kind: 'call'
  readonly pos: Pos
  readonly name: string
  readonly args: readonly Expr[]
  readonly distinct: boolean
  readonly star: boolean
}

/** CAST(x AS t) and x::t. */
export interface Cast { readonly kind: 'cast', readonly pos: Pos, readonly operand: Expr, readonly type: DataType }

export interface WhenClause { readonly pos: Pos, readonly when: Expr, readonly then: Expr }
/** CASE [operand] WHEN … THEN … [ELSE …] END; `operand` set for the simple form. */
export interface Case {
  readonly kind: 'case'
  readonly pos: Pos
  readonly operand: Expr | null
  readonly whens: readonly WhenClause[]
  readonly else: Expr | null
}

/** `(SELECT …)` as a value: one column, at most one row (NULL when none). */
export interface ScalarSubquery { readonly kind: 'subquery', readonly pos: Pos, readonly select: SelectStatement }
/** `EXISTS (SELECT …)`; NOT EXISTS is NOT over it. */
export interface Exists { readonly kind: 'exists', readonly pos: Pos, readonly select: SelectStatement }
/** `x [NOT] IN (SELECT …)`. */
export interface InSubquery { readonly kind: 'in_subquery', readonly pos: Pos, readonly not: boolean, readonly operand: Expr, readonly select: SelectStatement }

export type Expr =
  | Literal | Param | ColumnRef | DefaultValue
  | Unary | Binary | IsNull | InList | Between | Like | FuncCall | Cast | Case
  | ScalarSubquery | Exists | InSubquery

// ---- SELECT ---------------------------------------------------------------------------------

export interface SelectExpr { readonly kind: 'select_expr', readonly pos: Pos, readonly expr: Expr, readonly alias: string | null }
/** `*` or `t.*`. */
export interface SelectStar { readonly kind: 'star', readonly pos: Pos, readonly table: string | null }
export type SelectItem = SelectExpr | SelectStar

export interface TableRef { readonly kind: 'table_ref', readonly pos: Pos, readonly name: string, readonly alias: string | null }
/**
 * `(SELECT …) [AS] alias [(col, …)]` in FROM (a derived table); `columns` renames its first
 * columns. `view` is set by the planner's view expansion (a view named in FROM becomes the
 * derived table of its SELECT), never by the parser.
 */
export interface DerivedTable {
  readonly kind: 'derived'
  readonly pos: Pos
  readonly select: SelectStatement
  readonly alias: string
  readonly columns: readonly string[] | null
  readonly view?: string
}
export type JoinType = 'inner' | 'left' | 'cross'
/** Joins nest to the left: `a JOIN b JOIN c` is join(join(a, b), c). `on` is null only for cross. */
export interface Join {
  readonly kind: 'join'
  readonly pos: Pos
  readonly type: JoinType
  readonly left: FromItem
  readonly right: TableRef | DerivedTable
  readonly on: Expr | null
}
export type FromItem = TableRef | DerivedTable | Join

export interface OrderItem {
  readonly pos: Pos
  readonly expr: Expr
  readonly direction: 'asc' | 'desc'
  /** Null when not given (the default then depends on the direction, as in PostgreSQL). */
  readonly nulls: 'first' | 'last' | null
}

export interface SelectStatement {
  readonly kind: 'select'
  readonly pos: Pos
  readonly distinct: boolean
  readonly columns: readonly SelectItem[]
  readonly from: FromItem | null
  readonly where: Expr | null
  readonly groupBy: readonly Expr[]
  readonly having: Expr | null
  readonly orderBy: readonly OrderItem[]
  readonly limit: Expr | null
  readonly offset: Expr | null
}

// ---- DML ------------------------------------------------------------------------------------

export interface Assignment { readonly pos: Pos, readonly column: string, readonly value: Expr }

/**
 * ON CONFLICT [(cols)] DO NOTHING | DO UPDATE SET … [WHERE …]; `columns` null when no target is
 * written. In SET and WHERE, `excluded.col` is the row the INSERT proposed.
 */
export interface OnConflict {
  readonly pos: Pos
  readonly columns: readonly string[] | null
  readonly action: 'nothing' | 'update'
  readonly assignments: readonly Assignment[]
  readonly where: Expr | null
}

export interface InsertStatement {
  readonly kind: 'insert'
  readonly pos: Pos
  readonly table: string
  /** Null when the column list is omitted (all columns in table order). */
  readonly columns: readonly string[] | null
  readonly rows: readonly (readonly Expr[])[]
  readonly onConflict: OnConflict | null
  readonly returning: readonly SelectItem[] | null
}

export interface UpdateStatement {
  readonly kind: 'update'
  readonly pos: Pos
  readonly table: string
  readonly assignments: readonly Assignment[]
  readonly where: Expr | null
  readonly returning: readonly SelectItem[] | null
}

export interface DeleteStatement {
  readonly kind: 'delete'
  readonly pos: Pos
  readonly table: string
  readonly where: Expr | null
  readonly returning: readonly SelectItem[] | null
}

// ---- DDL ------------------------------------------------------------------------------------

/** What a foreign key does to the referencing rows when a referenced row is deleted or its key changes. */
export type ReferentialAction = 'no_action' | 'restrict' | 'cascade'

/**
 * REFERENCES t [(cols)] [ON DELETE action] [ON UPDATE action]; `columns` null means the referenced
 * table's primary key (as in SQL). The actions are absent when not written (NO ACTION).
 */
export interface ForeignRef {
  readonly pos: Pos
  readonly table: string
  readonly columns: readonly string[] | null
  readonly onDelete?: ReferentialAction
  readonly onUpdate?: ReferentialAction
}

export interface ColumnDef {
  readonly kind: 'column_def'
  readonly pos: Pos
  readonly name: string
  readonly type: DataType
  readonly notNull: boolean
  readonly primaryKey: boolean
  readonly default: Expr | null
  readonly references: ForeignRef | null
  /** UNIQUE written on the column; absent when not. */
  readonly unique?: true
}

export interface PrimaryKeyConstraint { readonly kind: 'primary_key', readonly pos: Pos, readonly name: string | null, readonly columns: readonly string[] }
export interface ForeignKeyConstraint {
  readonly kind: 'foreign_key'
  readonly pos: Pos
  readonly name: string | null
  readonly columns: readonly string[]
  readonly references: ForeignRef
}
export interface UniqueConstraint { readonly kind: 'unique', readonly pos: Pos, readonly name: string | null, readonly columns: readonly string[] }
export type TableConstraint = PrimaryKeyConstraint | ForeignKeyConstraint | UniqueConstraint

/**
 * `name = literal` in WITH (…) and ALTER TABLE … SET. Unknown names are kept: the catalog
 * validates them and names the offending option in its error.
 */
export interface TableOption { readonly pos: Pos, readonly name: string, readonly value: Literal }

export interface CreateTableStatement {
  readonly kind: 'create_table'
  readonly pos: Pos
  readonly name: string
  readonly ifNotExists: boolean
  readonly columns: readonly ColumnDef[]
  readonly constraints: readonly TableConstraint[]
  /** PARTITION BY col / PARTITION BY (a, b); null when absent (the primary key then). */
  readonly partitionBy: readonly string[] | null
  readonly options: readonly TableOption[]
  /** CREATE [GLOBAL|LOCAL] TEMPORARY TABLE (exec/temp-tables.ts); absent: a permanent table. */
  readonly temporary?: TempTableSpec
}

/** What makes a CREATE TABLE temporary: ON COMMIT PRESERVE ROWS (the default) | DELETE ROWS | DROP. */
export interface TempTableSpec { readonly onCommit: 'preserve_rows' | 'delete_rows' | 'drop' }

export interface SetOptionsAction { readonly kind: 'set_options', readonly pos: Pos, readonly options: readonly TableOption[] }
export interface AddColumnAction { readonly kind: 'add_column', readonly pos: Pos, readonly column: ColumnDef, readonly ifNotExists: boolean }
export interface DropColumnAction { readonly kind: 'drop_column', readonly pos: Pos, readonly column: string, readonly ifExists: boolean }
/** `RENAME [COLUMN] c TO d` (catalog/alter-columns.ts renameColumnChange). */
export interface RenameColumnAction { readonly kind: 'rename_column', readonly pos: Pos, readonly column: string, readonly to: string }
/**
 * `SET REPLICAS READY [ON SHARD n]`: the new leaderless replicas of shard n (no shard: of every
 * shard — the bootstrap ends) hold the rows and count toward W and R (catalog/replica-bootstrap.ts).
 * Issued by the bootstrap itself (node/leaderless-bootstrap.ts); an operator may too.
 */
export interface ReplicasReadyAction { readonly kind: 'replicas_ready', readonly pos: Pos, readonly shard: number | null }
/**
 * `MOVE …`: a step of moving a populated table to a new layout (catalog/table-move.ts), issued by
 * the move itself (exec/table-move.ts) so that it travels to the catalog coordinator like any DDL:
 * START BY NODE n SHARDS k SET opts | COPIED SHARD n | SWITCH | CANCEL | DONE | BY NODE n (taken over).
 */
export type MoveStepSpec =
  | { readonly kind: 'start', readonly node: number, readonly shards: number, readonly options: readonly TableOption[] }
  | { readonly kind: 'copied', readonly shard: number }
  | { readonly kind: 'switch' } | { readonly kind: 'cancel' } | { readonly kind: 'done' }
  | { readonly kind: 'take_over', readonly node: number }
export interface MoveAction { readonly kind: 'move', readonly pos: Pos, readonly step: MoveStepSpec }
export type AlterAction = SetOptionsAction | AddColumnAction | DropColumnAction | RenameColumnAction | ReplicasReadyAction | MoveAction

export interface AlterTableStatement { readonly kind: 'alter_table', readonly pos: Pos, readonly table: string, readonly action: AlterAction }
export interface DropTableStatement { readonly kind: 'drop_table', readonly pos: Pos, readonly name: string, readonly ifExists: boolean }
/**
 * CREATE [UNIQUE] INDEX [IF NOT EXISTS] name ON t (cols) [INCLUDE (cols)] [GLOBAL | LOCAL]; `scope`
 * null when neither is written (global unless the key holds the table's partition key).
 */
export interface CreateIndexStatement {
  readonly kind: 'create_index'
  readonly pos: Pos
  readonly name: string
  readonly table: string
  readonly unique: boolean
  readonly ifNotExists: boolean
  readonly columns: readonly string[]
  readonly include: readonly string[]
  readonly scope: 'global' | 'local' | null
}
export interface DropIndexStatement { readonly kind: 'drop_index', readonly pos: Pos, readonly name: string, readonly ifExists: boolean }
/**
 * ALTER INDEX name SET READY: the last step of CREATE INDEX once the entries of the rows already
 * there are written (the node runs it itself; it travels to the other nodes as this text).
 */
export interface AlterIndexStatement { readonly kind: 'alter_index', readonly pos: Pos, readonly name: string }
/** Catalog changes of tables and indexes (Catalog.apply). */
export type TableDdlStatement = CreateTableStatement | AlterTableStatement | DropTableStatement | CreateIndexStatement | DropIndexStatement | AlterIndexStatement

/** Catalog changes: table DDL, users and grants (issue 18), domains and views, which travel the same versioned path. */
export type DdlStatement = TableDdlStatement | UserStatement | DomainStatement | ViewStatement | TokenStatement

// ---- views (issue 19 item 4) ----------------------------------------------------------------

/** CREATE [OR REPLACE] VIEW name [(col, …)] AS SELECT …; `columns` null when not written. */
export interface CreateViewStatement {
  readonly kind: 'create_view'
  readonly pos: Pos
  readonly name: string
  readonly orReplace: boolean
  readonly columns: readonly string[] | null
  readonly select: SelectStatement
}
export interface DropViewStatement { readonly kind: 'drop_view', readonly pos: Pos, readonly name: string, readonly ifExists: boolean }
export type ViewStatement = CreateViewStatement | DropViewStatement

// ---- users and grants (issue 18 item 2) ---------------------------------------------------

export type TablePrivilege = 'select' | 'insert' | 'update' | 'delete'
export const TABLE_PRIVILEGES: readonly TablePrivilege[] = ['select', 'insert', 'update', 'delete']
/** superuser: everything, users included; admin: DDL, cluster commands, backups, users and grants of non-superusers, every table. */
export type UserRole = 'superuser' | 'admin'

/**
 * `password` is the text of PASSWORD '…': a password, or a SCRAM-SHA-256 verifier in PostgreSQL's
 * text form (taken as is, as PostgreSQL does). The executor turns a password into a verifier
 * before the statement travels or is stored; formatStatement never prints it unless asked.
 */
export interface CreateUserStatement { readonly kind: 'create_user', readonly pos: Pos, readonly name: string, readonly password: string, readonly role: UserRole | null }
export type AlterUserAction =
  | { readonly kind: 'password', readonly password: string }
  | { readonly kind: 'rename', readonly to: string }
export interface AlterUserStatement { readonly kind: 'alter_user', readonly pos: Pos, readonly name: string, readonly action: AlterUserAction }
export interface DropUserStatement { readonly kind: 'drop_user', readonly pos: Pos, readonly name: string, readonly ifExists: boolean }
/** What GRANT gives or REVOKE takes: privileges on a table, or a role. */
export type GrantTarget =
  | { readonly kind: 'table', readonly privileges: readonly TablePrivilege[], readonly table: string }
  | { readonly kind: 'role', readonly role: UserRole }
export interface GrantStatement { readonly kind: 'grant' | 'revoke', readonly pos: Pos, readonly target: GrantTarget, readonly user: string }
export type UserStatement = CreateUserStatement | AlterUserStatement | DropUserStatement | GrantStatement

// ---- bearer tokens (issue 18 item 1; parsed by parse-tokens.ts) ----------------------------

/**
 * CREATE TOKEN name [FOR USER u] [VALID UNTIL 'timestamp'] [HASH 'hex']. `user` null: the
 * session's own user; `validUntil` the instant in epoch milliseconds (null: never expires).
 * `hash` is filled in by the node that received the statement (the SHA-256 of the secret it
 * drew) before the statement travels to the catalog coordinator; a client never needs to write it.
 */
export interface CreateTokenStatement {
  readonly kind: 'create_token'
  readonly pos: Pos
  readonly name: string
  readonly user: string | null
  readonly validUntil: number | null
  readonly hash: string | null
}
/** DROP TOKEN [IF EXISTS] name [FOR USER u]; `user` null: the session's own user. */
export interface DropTokenStatement { readonly kind: 'drop_token', readonly pos: Pos, readonly name: string, readonly user: string | null, readonly ifExists: boolean }
export type TokenStatement = CreateTokenStatement | DropTokenStatement

// ---- transactions, EXPLAIN, operator statements -------------------------------------------

export type IsolationLevel = 'snapshot' | 'read_committed'
export interface BeginStatement { readonly kind: 'begin', readonly pos: Pos, readonly isolation: IsolationLevel | null }
export interface CommitStatement { readonly kind: 'commit', readonly pos: Pos }
export interface RollbackStatement { readonly kind: 'rollback', readonly pos: Pos }

export type ExplainableStatement =
  | SelectStatement | InsertStatement | UpdateStatement | DeleteStatement
  | CreateTableStatement | AlterTableStatement | DropTableStatement | CreateIndexStatement | DropIndexStatement | AlterIndexStatement
export interface ExplainStatement { readonly kind: 'explain', readonly pos: Pos, readonly statement: ExplainableStatement }

export type ShowTarget = 'cluster_members' | 'shard_map' | 'replication_lag' | 'merkle_forest_size' | 'anti_entropy_status' | 'transactions_horizon'
export interface ShowStatement { readonly kind: 'show', readonly pos: Pos, readonly target: ShowTarget }
export interface DeliverHintsStatement { readonly kind: 'deliver_hints', readonly pos: Pos, readonly node: number }
/**
 * DRAIN NODE n (op absent), DRAIN NODE n CANCEL (op 'cancel'), REMOVE NODE n (op 'remove'): the
 * membership operations of cluster/membership/drain.ts, one statement kind so that privileges and
 * forwarding treat them alike.
 */
/** DRAIN NODE n [CANCEL] / REMOVE NODE n [FORCE] (`force`: remove even a node holding the only copy of some shards). */
export interface DrainNodeStatement { readonly kind: 'drain_node', readonly pos: Pos, readonly node: number, readonly op?: 'cancel' | 'remove', readonly force?: true }
/** ALTER CLUSTER SET shards = n: a shard split (cluster/shard-split.ts; only doubling is accepted). */
export interface AlterClusterStatement { readonly kind: 'alter_cluster', readonly pos: Pos, readonly shards: number }
/** REPAIR SHARD n / REPAIR TABLE t: an anti-entropy round now for one shard, or every shard of a table. */
export interface RepairStatement { readonly kind: 'repair', readonly pos: Pos, readonly shard: number | null, readonly table: string | null }

// ---- session settings (issue 19 item 4, P-007): SET / RESET / SHOW name -------------------------
/** SET [SESSION | LOCAL] name { = | TO } value[, …] | DEFAULT (value null); LOCAL lasts until the transaction ends. */
export interface SetStatement { readonly kind: 'set', readonly pos: Pos, readonly local: boolean, readonly name: string, readonly value: readonly string[] | null }
/** RESET name; RESET ALL (name null). */
export interface ResetStatement { readonly kind: 'reset', readonly pos: Pos, readonly name: string | null }
/** SHOW name; SHOW ALL (name null). */
export interface ShowSettingStatement { readonly kind: 'show_setting', readonly pos: Pos, readonly name: string | null }
export type SettingStatement = SetStatement | ResetStatement | ShowSettingStatement

export type Statement =
  | ExplainableStatement
  | SettingStatement
  | BeginStatement | CommitStatement | RollbackStatement
  | ExplainStatement
  | ShowStatement | DeliverHintsStatement | DrainNodeStatement | RepairStatement | AlterClusterStatement
  | UserStatement
  | DomainStatement
  | ViewStatement
  | TokenStatement
  | TruncateStatement

/**
 * TRUNCATE [TABLE] t [, …] [RESTART | CONTINUE IDENTITY] [CASCADE | RESTRICT] (issue 19;
 * parse-truncate.ts). `cascade` false: RESTRICT, the default.
 */
export interface TruncateStatement { readonly kind: 'truncate', readonly pos: Pos, readonly tables: readonly string[], readonly identity: 'restart' | 'continue', readonly cascade: boolean }

// ---- domains (issue 19 item 4, P-002…P-006; parsed by parse-domain.ts) ------------------

/**
 * What a domain's values are: one base type (`base`), one of a list of labels in declaration
 * order (`enum`), a subset of a list of labels (`set`), or a value of one of a list of types that
 * keeps which one (`variant`).
 */
export type DomainKind = 'base' | 'enum' | 'set' | 'variant'

/** `[CONSTRAINT name] CHECK (expr)`; the expression names the value as VALUE. */
export interface DomainCheck { readonly pos: Pos, readonly name: string | null, readonly expr: Expr }

export interface CreateDomainStatement {
  readonly kind: 'create_domain'
  readonly pos: Pos
  readonly name: string
  readonly domainKind: DomainKind
  /** The base type (`base` domains); null for the others. */
  readonly base: DataType | null
  /** ENUM / SET labels, in declaration order; empty for the others. */
  readonly members: readonly string[]
  /** VARIANT member types, in declaration order; empty for the others. */
  readonly variants: readonly DataType[]
  readonly default: Expr | null
  readonly notNull: boolean
  readonly checks: readonly DomainCheck[]
}

export type AlterDomainAction =
  | { readonly kind: 'set_default', readonly expr: Expr }
  | { readonly kind: 'drop_default' }
  | { readonly kind: 'set_not_null' }
  | { readonly kind: 'drop_not_null' }
  | { readonly kind: 'add_check', readonly check: DomainCheck }
  | { readonly kind: 'drop_constraint', readonly name: string, readonly ifExists: boolean }
  /** ENUM / SET only: a new label, last or BEFORE / AFTER an existing one. */
  | { readonly kind: 'add_value', readonly value: string, readonly ifNotExists: boolean, readonly before: string | null, readonly after: string | null }

export interface AlterDomainStatement { readonly kind: 'alter_domain', readonly pos: Pos, readonly name: string, readonly action: AlterDomainAction }
export interface DropDomainStatement { readonly kind: 'drop_domain', readonly pos: Pos, readonly name: string, readonly ifExists: boolean }

export type DomainStatement = CreateDomainStatement | AlterDomainStatement | DropDomainStatement

export const DOMAIN_STATEMENT_KINDS: ReadonlySet<string> = new Set<DomainStatement['kind']>(['create_domain', 'alter_domain', 'drop_domain'])
