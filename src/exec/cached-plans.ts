// Statement plans through the plan cache (plan-cache.ts): a hit made under the current catalog is
// reused with its routing recomputed from this execution's parameter values; a miss plans, and
// keeps the plan when nothing in it depends on more than the catalog and the parameter types.
import type { Catalog } from '../catalog/catalog'
import type { InsertStatement, SelectStatement, UpdateStatement, DeleteStatement, Expr } from '../sql/ast'
import type { SqlValue } from '../types/values'
import { planSelect, type SelectPlan } from '../plan/select-plan'
import type { PlanEnv } from '../plan/plan-env'
import { pinKeys } from '../plan/pins'
import type { ExecEnv } from './env'
import { planInsert, type InsertPlan } from './insert'
import { planModify, type ModifyPlan } from './modify'
import type { PlanSlot } from './plan-cache'

type Kept =
  | { readonly kind: 'select', readonly plan: SelectPlan }
  | { readonly kind: 'insert', readonly plan: InsertPlan }
  | { readonly kind: 'modify', readonly plan: ModifyPlan }

/** Only the functions below fill slots, each with its own kind. */
const kept = (slot: PlanSlot, catalog: Catalog): Kept | null => slot.get(catalog) as Kept | null

/** LIMIT/OFFSET folded at planning: only a literal (or none) keeps its value from one run to the next. */
const fixedCount = (e: Expr | null): boolean => e === null || e.kind === 'integer'

export function selectPlanFor (env: PlanEnv, s: SelectStatement, params: readonly SqlValue[], slot: PlanSlot): SelectPlan {
  const catalog = env.catalog()
  const hit = kept(slot, catalog)
  if (hit?.kind === 'select') {
    const p = hit.plan
    // The source anew from the shape: the first execution's index route or key list must not
    // outlive a routing of this execution's values that has none.
    return p.source.kind === 'table' ? { ...p, source: { kind: 'table', shape: p.source.shape, ...pinKeys(env, p.source.shape, s.where, params) } } : p
  }
  const plan = planSelect(env, s, params)
  // A system table's rows are read while planning, a join's routing is inside its plan.
  const kind = plan.source.kind
  if ((kind === 'none' || kind === 'table') && fixedCount(s.limit) && fixedCount(s.offset)) slot.set(catalog, { kind: 'select', plan })
  return plan
}

export function insertPlanFor (env: ExecEnv, s: InsertStatement, params: readonly SqlValue[], slot: PlanSlot): InsertPlan {
  const catalog = env.catalog()
  const hit = kept(slot, catalog)
  if (hit?.kind === 'insert') return hit.plan
  // The VALUES programs read parameters at run time; nothing in the plan depends on their values.
  const plan = planInsert(env, s, params)
  slot.set(catalog, { kind: 'insert', plan })
  return plan
}

export function modifyPlanFor (env: ExecEnv, s: UpdateStatement | DeleteStatement, params: readonly SqlValue[], slot: PlanSlot): ModifyPlan {
  const catalog = env.catalog()
  const hit = kept(slot, catalog)
  if (hit?.kind === 'modify') return { ...hit.plan, routing: pinKeys(env, hit.plan.shape, s.where, params) }
  const plan = planModify(env, s, params)
  slot.set(catalog, { kind: 'modify', plan })
  return plan
}
