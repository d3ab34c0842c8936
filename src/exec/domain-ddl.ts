// ALTER DOMAIN … SET NOT NULL / ADD CHECK on a domain columns already use (directly, or through a
// domain declared over it): the statement is
// refused (SB_NOT_NULL_VIOLATION / SB_CHECK_VIOLATION naming the table and column) when a stored
// value of such a column breaks the new rule, as PostgreSQL refuses it. Each column is asked with
// one SELECT … WHERE <the value breaks the rule> LIMIT 1, which the shards filter where the rows
// live. Known gap: a row written under the previous catalog version between this check and the
// new version reaching every writer is not re-checked (no fence, unlike ALTER TABLE's relayouts).
import { ScratchBirdError } from '../core/errors'
import { domainFamily, domainUsers } from '../catalog/domains'
import type { Expr, Pos, SelectStatement } from '../sql/ast'
import type { AlterDomainStatement } from '../sql/ast'
import { planSelect } from '../plan/select-plan'
import { valueToLiteral } from '../types/values'
import type { ExecEnv } from './env'
import { executeSelect } from './select-exec'

/** `e` with VALUE replaced by column `column` (a domain CHECK holds no subquery, so every node is an expression). */
export function bindValue (e: Expr, column: string): Expr {
  const walk = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(walk)
    if (typeof x !== 'object' || x === null || x instanceof Uint8Array) return x
    const o = x as Record<string, unknown>
    if (o.kind === 'column' && o.table === null && o.name === 'value') return { ...o, name: column }
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(o)) out[k] = k === 'pos' ? v : walk(v)
    return out
  }
  return walk(e) as Expr
}

/** Refuses the ALTER DOMAIN when a stored value of a column of the domain breaks its new NOT NULL or CHECK. */
export async function verifyStoredValues (env: ExecEnv, s: AlterDomainStatement): Promise<void> {
  const a = s.action
  if (a.kind !== 'set_not_null' && a.kind !== 'add_check') return
  const catalog = env.catalog()
  if (catalog.domain(s.name) === undefined) return // the catalog names the missing domain
  // The columns of the domain and of every domain over it (its rules are theirs too).
  for (const u of domainFamily(catalog.domains, s.name).flatMap(name => domainUsers(catalog.tables, name))) {
    const col: Expr = { kind: 'column', pos: s.pos, table: null, name: u.column }
    // NOT (check) is NULL, not true, where the check is unknown: such values pass, as in SQL.
    const breaks: Expr = a.kind === 'set_not_null'
      ? { kind: 'is_null', pos: s.pos, not: false, operand: col }
      : { kind: 'unary', pos: s.pos, op: 'not', operand: bindValue(a.check.expr, u.column) }
    const rows = await executeSelect(env, planSelect(env, probe(s.pos, u.table, u.column, breaks), []), [], null)
    if (rows.length === 0) continue
    if (a.kind === 'set_not_null') {
      throw new ScratchBirdError('SB_NOT_NULL_VIOLATION', `column "${u.column}" of table "${u.table}" contains null values: domain "${s.name}" cannot be made NOT NULL`, { domain: s.name, table: u.table, column: u.column })
    }
    throw new ScratchBirdError('SB_CHECK_VIOLATION', `column "${u.column}" of table "${u.table}" contains values that violate the new constraint of domain "${s.name}" (e.g. ${valueToLiteral(rows[0]![0] ?? null)})`,
      { domain: s.name, table: u.table, column: u.column })
  }
}

function probe (pos: Pos, table: string, column: string, where: Expr): SelectStatement {
  return {
    kind: 'select',
    pos,
    distinct: false,
    columns: [{ kind: 'select_expr', pos, expr: { kind: 'column', pos, table: null, name: column }, alias: null }],
    from: { kind: 'table_ref', pos, name: table, alias: null },
    where,
    groupBy: [],
    having: null,
    orderBy: [],
    limit: { kind: 'integer', pos, value: 1n },
    offset: null
  }
}
