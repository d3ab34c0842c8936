// ENUM values sort in declaration order (issue 19 item 4, P-002): ORDER BY a column of an ENUM
// domain becomes ORDER BY its label's position (CASE col WHEN 'a' THEN 0 WHEN 'b' THEN 1 … END),
// a hidden sort key. Done as a rewrite of the statement, since the stored value is the label
// (text) and everything else about it — output, comparison with literals, keys — stays text.
// Applies to ORDER BY a column (by name, or its ordinal / alias in the select list) of a
// single-table query without GROUP BY; comparison operators (<, >) compare ENUM labels as text.
import type { Catalog } from '../catalog/catalog'
import type { ColumnRef, Expr, OrderItem, SelectStatement } from '../sql/ast'

function labelPosition (col: ColumnRef, members: readonly string[]): Expr {
  const pos = col.pos
  return {
    kind: 'case',
    pos,
    operand: col,
    whens: members.map((m, i) => ({ pos, when: { kind: 'string', pos, value: m }, then: { kind: 'integer', pos, value: BigInt(i) } })),
    else: null
  }
}

/** `s` with ORDER BY of ENUM-domain columns by declaration order; `s` itself when none is. */
export function withEnumOrder (catalog: Catalog, s: SelectStatement): SelectStatement {
  if (s.orderBy.length === 0 || s.from?.kind !== 'table_ref' || s.groupBy.length > 0 || catalog.domains.length === 0) return s
  const from = s.from
  const table = catalog.table(from.name)
  if (table === undefined || !table.columns.some(c => c.domain !== undefined)) return s
  const alias = from.alias ?? from.name
  const members = (name: string): readonly string[] | null => {
    const c = table.columns.find(x => x.name === name)
    const d = c?.domain === undefined ? undefined : catalog.domain(c.domain)
    return d?.kind === 'enum' ? d.members : null
  }
  // The column an ORDER BY item names: directly, or through a select-list ordinal or alias.
  const target = (o: OrderItem): ColumnRef | null => {
    let e: Expr = o.expr
    if (e.kind === 'integer') {
      const item = s.columns[Number(e.value) - 1]
      if (item?.kind !== 'select_expr') return null
      e = item.expr
    } else if (e.kind === 'column' && e.table === null) {
      const named = s.columns.find(c => c.kind === 'select_expr' && c.alias === (e as ColumnRef).name)
      if (named?.kind === 'select_expr') e = named.expr
    }
    return e.kind === 'column' && (e.table === null || e.table === alias) ? e : null
  }
  let changed = false
  const orderBy = s.orderBy.map(o => {
    const col = target(o)
    const m = col === null ? null : members(col.name)
    if (col === null || m === null) return o
    changed = true
    return { ...o, expr: labelPosition(col, m) }
  })
  return changed ? { ...s, orderBy } : s
}
