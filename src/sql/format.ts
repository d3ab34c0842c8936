// AST → canonical SQL text: keywords upper case, names quoted only when they must be, the fewest
// parentheses that keep the tree. parse(formatStatement(s)) gives back s (positions aside); the
// fast-check property in tests/unit/sql holds us to that. Used for EXPLAIN, audit and logs.
// Passwords of CREATE/ALTER USER are the exception: printed as '********' (audit and logs must
// never hold them) unless `secrets` asks for them (forwarding a statement to the catalog
// coordinator, by then carrying a verifier, not a password).

import type {
  AlterUserAction, ColumnDef, GrantTarget, UserStatement, DataType, Expr, ForeignRef, FromItem, Literal, OnConflict, OrderItem, SelectItem, Statement,
  TableConstraint, TableOption
} from './ast'
import { RESERVED_WORDS } from './cursor'
import { formatDomainStatement } from './format-domain'
import { formatTokenStatement } from './format-token'
import { formatMoveStep } from './parse-table-move'

export interface FormatOptions {
  /** Print PASSWORD texts as they are (default: '********'). */
  readonly secrets?: boolean
}

export const REDACTED_PASSWORD = '********'

export function formatStatement (s: Statement, opts: FormatOptions = {}): string {
  switch (s.kind) {
    case 'select': {
      let out = `SELECT ${s.distinct ? 'DISTINCT ' : ''}${selectList(s.columns)}`
      if (s.from !== null) out += ` FROM ${fromItem(s.from)}`
      if (s.where !== null) out += ` WHERE ${formatExpr(s.where)}`
      if (s.groupBy.length > 0) out += ` GROUP BY ${s.groupBy.map(formatExpr).join(', ')}`
      if (s.having !== null) out += ` HAVING ${formatExpr(s.having)}`
      if (s.orderBy.length > 0) out += ` ORDER BY ${s.orderBy.map(orderItem).join(', ')}`
      if (s.limit !== null) out += ` LIMIT ${formatExpr(s.limit)}`
      if (s.offset !== null) out += ` OFFSET ${formatExpr(s.offset)}`
      return out
    }
    case 'insert': {
      const cols = s.columns === null ? '' : ` (${s.columns.map(ident).join(', ')})`
      const rows = s.rows.map((r) => `(${r.map(formatExpr).join(', ')})`).join(', ')
      return `INSERT INTO ${ident(s.table)}${cols} VALUES ${rows}${onConflict(s.onConflict)}${returning(s.returning)}`
    }
    case 'update': {
      const sets = s.assignments.map((a) => `${ident(a.column)} = ${formatExpr(a.value)}`).join(', ')
      return `UPDATE ${ident(s.table)} SET ${sets}${where(s.where)}${returning(s.returning)}`
    }
    case 'delete':
      return `DELETE FROM ${ident(s.table)}${where(s.where)}${returning(s.returning)}`
    case 'create_table': {
      const elements = [...s.columns.map(columnDef), ...s.constraints.map(constraint)].join(', ')
      let out = `CREATE ${s.temporary !== undefined ? 'TEMPORARY ' : ''}TABLE ${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${ident(s.name)} (${elements})`
      if (s.partitionBy !== null) out += ` PARTITION BY (${s.partitionBy.map(ident).join(', ')})`
      if (s.options.length > 0) out += ` WITH (${options(s.options)})`
      if (s.temporary !== undefined) out += ` ON COMMIT ${s.temporary.onCommit.replace('_', ' ').toUpperCase()}`
      return out
    }
    case 'alter_table': {
      const a = s.action
      const head = `ALTER TABLE ${ident(s.table)}`
      switch (a.kind) {
        case 'set_options': return `${head} SET ${options(a.options)}`
        case 'add_column': return `${head} ADD COLUMN ${a.ifNotExists ? 'IF NOT EXISTS ' : ''}${columnDef(a.column)}`
        case 'drop_column': return `${head} DROP COLUMN ${a.ifExists ? 'IF EXISTS ' : ''}${ident(a.column)}`
        case 'rename_column': return `${head} RENAME COLUMN ${ident(a.column)} TO ${ident(a.to)}`
        case 'replicas_ready': return `${head} SET REPLICAS READY${a.shard === null ? '' : ` ON SHARD ${a.shard}`}`
        case 'move': return `${head} ${formatMoveStep(a.step, options)}`
      }
      break
    }
    case 'drop_table': return `DROP TABLE ${s.ifExists ? 'IF EXISTS ' : ''}${ident(s.name)}`
    case 'create_index': {
      const include = s.include.length === 0 ? '' : ` INCLUDE (${s.include.map(ident).join(', ')})`
      const scope = s.scope === null ? '' : ` ${s.scope.toUpperCase()}`
      return `CREATE ${s.unique ? 'UNIQUE ' : ''}INDEX ${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${ident(s.name)} ON ${ident(s.table)} (${s.columns.map(ident).join(', ')})${include}${scope}`
    }
    case 'drop_index': return `DROP INDEX ${s.ifExists ? 'IF EXISTS ' : ''}${ident(s.name)}`
    case 'alter_index': return `ALTER INDEX ${ident(s.name)} SET READY`
    case 'begin': {
      const iso = s.isolation === null ? '' : ` ISOLATION LEVEL ${s.isolation === 'snapshot' ? 'SNAPSHOT' : 'READ COMMITTED'}`
      return `BEGIN TRANSACTION${iso}`
    }
    case 'commit': return 'COMMIT'
    case 'rollback': return 'ROLLBACK'
    case 'explain': return `EXPLAIN ${formatStatement(s.statement, opts)}`
    case 'show': return s.target === 'anti_entropy_status' ? 'SHOW ANTI_ENTROPY STATUS' : `SHOW ${s.target.replaceAll('_', ' ').toUpperCase()}`
    case 'set': return `SET ${s.local ? 'LOCAL ' : ''}${ident(s.name)} TO ${s.value === null ? 'DEFAULT' : s.value.map(quoteString).join(', ')}`
    case 'reset': return s.name === null ? 'RESET ALL' : `RESET ${ident(s.name)}`
    case 'show_setting': return s.name === null ? 'SHOW ALL' : `SHOW ${ident(s.name)}`
    case 'deliver_hints': return `DELIVER HINTS TO NODE ${s.node}`
    case 'drain_node': return s.op === 'remove' ? `REMOVE NODE ${s.node}${s.force === true ? ' FORCE' : ''}` : `DRAIN NODE ${s.node}${s.op === 'cancel' ? ' CANCEL' : ''}`
    case 'alter_cluster': return `ALTER CLUSTER SET shards = ${s.shards}`
    case 'repair': return s.table !== null ? `REPAIR TABLE ${ident(s.table)}` : `REPAIR SHARD ${s.shard}`
    case 'create_domain': case 'alter_domain': case 'drop_domain': return formatDomainStatement(s, { expr: formatExpr, type: formatType, ident, string: quoteString })
    case 'create_user': case 'alter_user': case 'drop_user': case 'grant': case 'revoke': return formatUserStatement(s, opts)
    case 'create_token': case 'drop_token': return formatTokenStatement(s, opts, ident)
    case 'create_view': {
      const cols = s.columns === null ? '' : ` (${s.columns.map(ident).join(', ')})`
      return `CREATE ${s.orReplace ? 'OR REPLACE ' : ''}VIEW ${ident(s.name)}${cols} AS ${formatStatement(s.select)}`
    }
    case 'drop_view': return `DROP VIEW ${s.ifExists ? 'IF EXISTS ' : ''}${ident(s.name)}`
    case 'truncate': return `TRUNCATE TABLE ${s.tables.map(ident).join(', ')}${s.identity === 'restart' ? ' RESTART IDENTITY' : ''}${s.cascade ? ' CASCADE' : ''}`
  }
  return unreachable(s)
}

function formatUserStatement (s: UserStatement, opts: FormatOptions): string {
  const password = (p: string): string => `PASSWORD ${quoteString(opts.secrets === true ? p : REDACTED_PASSWORD)}`
  switch (s.kind) {
    case 'create_user': return `CREATE USER ${ident(s.name)} ${password(s.password)}${s.role === null ? '' : ` ${s.role.toUpperCase()}`}`
    case 'alter_user': return `ALTER USER ${ident(s.name)} ${alterUserAction(s.action, password)}`
    case 'drop_user': return `DROP USER ${s.ifExists ? 'IF EXISTS ' : ''}${ident(s.name)}`
    case 'grant': return `GRANT ${grantTarget(s.target)} TO ${ident(s.user)}`
    case 'revoke': return `REVOKE ${grantTarget(s.target)} FROM ${ident(s.user)}`
  }
}

function alterUserAction (a: AlterUserAction, password: (p: string) => string): string {
  return a.kind === 'rename' ? `RENAME TO ${ident(a.to)}` : password(a.password)
}

function grantTarget (t: GrantTarget): string {
  if (t.kind === 'role') return t.role.toUpperCase()
  return `${t.privileges.map(p => p.toUpperCase()).join(', ')} ON TABLE ${ident(t.table)}`
}

/** `;`-separated script, one statement per line. */
export function formatScript (statements: readonly Statement[]): string {
  return statements.map((s) => `${formatStatement(s)};`).join('\n')
}

function unreachable (x: never): never {
  throw new Error(`ScratchBird assertion: unknown AST node ${JSON.stringify(x)}`)
}

/** Quotes a name unless it reads back as itself when bare. */
export function ident (name: string): string {
  if (/^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED_WORDS.has(name)) return name
  return `"${name.replaceAll('"', '""')}"`
}

function where (e: Expr | null): string { return e === null ? '' : ` WHERE ${formatExpr(e)}` }
function returning (items: readonly SelectItem[] | null): string {
  return items === null ? '' : ` RETURNING ${selectList(items)}`
}

function selectList (items: readonly SelectItem[]): string {
  return items.map((i) => {
    if (i.kind === 'star') return i.table === null ? '*' : `${ident(i.table)}.*`
    return i.alias === null ? formatExpr(i.expr) : `${formatExpr(i.expr)} AS ${ident(i.alias)}`
  }).join(', ')
}

function fromItem (f: FromItem): string {
  if (f.kind === 'table_ref') return f.alias === null ? ident(f.name) : `${ident(f.name)} AS ${ident(f.alias)}`
  if (f.kind === 'derived') return `(${formatStatement(f.select)}) AS ${ident(f.alias)}${f.columns === null ? '' : ` (${f.columns.map(ident).join(', ')})`}`
  const right = fromItem(f.right)
  if (f.type === 'cross') return `${fromItem(f.left)} CROSS JOIN ${right}`
  return `${fromItem(f.left)} ${f.type === 'left' ? 'LEFT' : 'INNER'} JOIN ${right} ON ${formatExpr(f.on!)}`
}

function orderItem (o: OrderItem): string {
  const nulls = o.nulls === null ? '' : ` NULLS ${o.nulls.toUpperCase()}`
  return `${formatExpr(o.expr)} ${o.direction.toUpperCase()}${nulls}`
}

function columnDef (c: ColumnDef): string {
  let out = `${ident(c.name)} ${formatType(c.type)}`
  if (c.notNull) out += ' NOT NULL'
  if (c.primaryKey) out += ' PRIMARY KEY'
  if (c.default !== null) out += ` DEFAULT ${formatExpr(c.default)}`
  if (c.references !== null) out += ` ${references(c.references)}`
  if (c.unique === true) out += ' UNIQUE'
  return out
}

function references (r: ForeignRef): string {
  const action = (a: string): string => a.replace('_', ' ').toUpperCase()
  return `REFERENCES ${ident(r.table)}${r.columns === null ? '' : ` (${r.columns.map(ident).join(', ')})`}` +
    (r.onDelete === undefined ? '' : ` ON DELETE ${action(r.onDelete)}`) + (r.onUpdate === undefined ? '' : ` ON UPDATE ${action(r.onUpdate)}`)
}

function constraint (k: TableConstraint): string {
  const name = k.name === null ? '' : `CONSTRAINT ${ident(k.name)} `
  const cols = `(${k.columns.map(ident).join(', ')})`
  if (k.kind === 'unique') return `${name}UNIQUE ${cols}`
  return k.kind === 'primary_key' ? `${name}PRIMARY KEY ${cols}` : `${name}FOREIGN KEY ${cols} ${references(k.references)}`
}

function options (opts: readonly TableOption[]): string {
  return opts.map((o) => `${ident(o.name)} = ${literal(o.value)}`).join(', ')
}

export function formatType (t: DataType): string {
  if (t.domain !== undefined) return ident(t.domain)
  const name = t.name === 'double' ? 'DOUBLE PRECISION' : t.name.toUpperCase()
  if (t.length !== null) return `${name}(${t.length})`
  if (t.precision !== null) return t.scale === null ? `${name}(${t.precision})` : `${name}(${t.precision}, ${t.scale})`
  return name
}

function literal (e: Literal): string {
  switch (e.kind) {
    case 'integer': return e.value.toString()
    case 'decimal': return e.text
    case 'string': return quoteString(e.value)
    case 'boolean': return e.value ? 'TRUE' : 'FALSE'
    case 'null': return 'NULL'
    case 'typed_literal': return `${e.type.toUpperCase()} ${quoteString(e.value)}`
  }
}

function quoteString (s: string): string { return `'${s.replaceAll('\'', '\'\'')}'` }

function onConflict (o: OnConflict | null): string {
  if (o === null) return ''
  const target = o.columns === null ? '' : ` (${o.columns.map(ident).join(', ')})`
  if (o.action === 'nothing') return ` ON CONFLICT${target} DO NOTHING`
  const sets = o.assignments.map((a) => `${ident(a.column)} = ${formatExpr(a.value)}`).join(', ')
  return ` ON CONFLICT${target} DO UPDATE SET ${sets}${o.where === null ? '' : ` WHERE ${formatExpr(o.where)}`}`
}

// ---- expressions ----------------------------------------------------------------------------

/** Binding strength, as in parse-expr.ts: a child looser than its slot needs parentheses. */
const BINARY_PRECEDENCE: Readonly<Record<string, number>> = {
  or: 1, and: 2, '=': 5, '<>': 5, '<': 5, '<=': 5, '>': 5, '>=': 5, '||': 7, '+': 8, '-': 8, '*': 9, '/': 9, '%': 9
}
const ATOM = 12

function precedence (e: Expr): number {
  switch (e.kind) {
    case 'binary': return BINARY_PRECEDENCE[e.op]!
    case 'unary': return e.op === 'not' ? 3 : 10
    case 'is_null': return 4
    case 'in': case 'in_subquery': case 'between': case 'like': return 6
    // A negative literal prints as `-1`, so it binds like unary minus.
    case 'integer': return e.value < 0n ? 10 : ATOM
    case 'decimal': return e.text.startsWith('-') ? 10 : ATOM
    default: return ATOM
  }
}

/** Formats `e` for a slot that needs binding strength `min` or tighter. */
function sub (e: Expr, min: number): string {
  const s = formatExpr(e)
  return precedence(e) < min ? `(${s})` : s
}

export function formatExpr (e: Expr): string {
  switch (e.kind) {
    case 'integer': case 'decimal': case 'string': case 'boolean': case 'null': case 'typed_literal':
      return literal(e)
    case 'param': return `$${e.index}`
    case 'column': return e.table === null ? ident(e.name) : `${ident(e.table)}.${ident(e.name)}`
    case 'default': return 'DEFAULT'
    case 'unary': {
      if (e.op === 'not') return `NOT ${sub(e.operand, 3)}`
      const operand = sub(e.operand, 10)
      // `- -x` must not print as `--x`, which is a comment.
      return operand.startsWith('-') || operand.startsWith('+') ? `${e.op}(${operand})` : `${e.op}${operand}`
    }
    case 'binary': {
      const p = BINARY_PRECEDENCE[e.op]!
      const op = e.op === 'or' || e.op === 'and' ? e.op.toUpperCase() : e.op
      return `${sub(e.left, p)} ${op} ${sub(e.right, p + 1)}`
    }
    case 'is_null': return `${sub(e.operand, 4)} IS ${e.not ? 'NOT ' : ''}NULL`
    case 'in': return `${sub(e.operand, 6)} ${e.not ? 'NOT ' : ''}IN (${e.list.map(formatExpr).join(', ')})`
    case 'between':
      return `${sub(e.operand, 6)} ${e.not ? 'NOT ' : ''}BETWEEN ${sub(e.low, 7)} AND ${sub(e.high, 7)}`
    case 'like': return `${sub(e.operand, 6)} ${e.not ? 'NOT ' : ''}LIKE ${sub(e.pattern, 7)}`
    case 'call': {
      const args = e.star ? '*' : `${e.distinct ? 'DISTINCT ' : ''}${e.args.map(formatExpr).join(', ')}`
      return `${ident(e.name)}(${args})`
    }
    case 'cast': return `CAST(${formatExpr(e.operand)} AS ${formatType(e.type)})`
    case 'subquery': return `(${formatStatement(e.select)})`
    case 'exists': return `EXISTS (${formatStatement(e.select)})`
    case 'in_subquery': return `${sub(e.operand, 6)} ${e.not ? 'NOT ' : ''}IN (${formatStatement(e.select)})`
    case 'case': {
      let out = 'CASE'
      if (e.operand !== null) out += ` ${formatExpr(e.operand)}`
      for (const w of e.whens) out += ` WHEN ${formatExpr(w.when)} THEN ${formatExpr(w.then)}`
      if (e.else !== null) out += ` ELSE ${formatExpr(e.else)}`
      return `${out} END`
    }
  }
}
