// A column a view reads cannot be dropped (issue 19): PostgreSQL refuses `ALTER TABLE t DROP
// COLUMN c` while a view uses `c` (2BP01, naming the view). Which columns a view reads is what the
// planner resolves when it plans the view's stored SELECT (`*` was expanded when the view was
// created, so such a view names every column it lists), so the check asks the planner rather than
// re-reading the text: each view reading the table is planned against the catalog after the change,
// and one that no longer plans (SB_UNDEFINED_COLUMN), or whose columns would change, depends on the
// column. An unqualified name in a correlated subquery could instead resolve to an outer
// relation's column of the same name and plan fine with another meaning: a view that also reads
// another relation having a column of that name is refused too (cautious: it may read it).
import type { Catalog } from '../catalog/catalog'
import { ScratchBirdError } from '../core/errors'
import type { PlanEnv } from '../plan/plan-env'
import { planSelect } from '../plan/select-plan'
import { parseOne } from '../sql/parser'
import { typeName } from '../types/sql-types'

/**
 * Throws SB_DEPENDENT_OBJECTS_EXIST when a view reading `table` reads its column `column`, judged
 * by planning the views against `next`, the catalog the change would install. `verb`: what the
 * message says is refused ("drop", "rename").
 */
export function checkNoViewReadsColumn (env: PlanEnv, before: Catalog, next: Catalog, table: string, column: string, verb: 'drop' | 'rename'): void {
  const probe: PlanEnv = { shards: env.shards, catalog: () => next, hlc: env.hlc, uuidV7: env.uuidV7, clock: env.clock, hints: env.hints }
  for (const v of before.views) {
    if (!v.reads.includes(table)) continue
    if (readsColumn(probe, before, v, table, column)) {
      throw new ScratchBirdError('SB_DEPENDENT_OBJECTS_EXIST',
        `cannot ${verb} column "${column}" of table "${table}": view "${v.name}" depends on it; drop the view first (or replace it without the column)`,
        { table, column, dependent: v.name })
    }
  }
}

function readsColumn (probe: PlanEnv, before: Catalog, v: Catalog['views'][number], table: string, column: string): boolean {
  const s = parseOne(v.definition)
  if (s.kind !== 'select') return true
  try {
    const plan = planSelect(probe, s, [])
    const cols = plan.columns.map(c => typeName(c.type))
    if (cols.length !== v.columns.length || cols.some((t, i) => t !== v.columns[i]!.type)) return true
  } catch (e) {
    if (e instanceof ScratchBirdError) return true
    throw e
  }
  // It plans without the column: unless another relation it reads has a column of that name.
  return v.reads.some(r => r !== table && (before.table(r)?.columns.some(c => c.name === column && c.dropped !== true) === true ||
    before.view(r)?.columns.some(c => c.name === column) === true))
}
