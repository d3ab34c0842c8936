// Running a SelectPlan: rows from the shards (programs run next to the data, in parallel) or from
// the coordinator, then the coordinator's part — merging partial aggregates, HAVING and the final
// projection, DISTINCT, ORDER BY, OFFSET and LIMIT.
import { aggFinal, aggMerge, decodeAggState, newAggState } from '../vm/aggregates'
import { GroupTable, groupKey } from '../vm/group'
import type { RowInput } from '../vm/vm'
import { timestampFromMillis } from '../types/datetime'
import { sortCompare, type SqlValue } from '../types/values'
import type { AccessPorts } from './access/choose'
import { joinInShards, joinOnCoordinator } from './join-exec'
import { collectRows } from '../shard/drivers/query-driver'
import type { SelectPlan } from '../plan/select-plan'
import type { SqlTxn } from './txn'
import { localVm, passthrough } from './local-vm'
import { tableAccess } from './access/choose'

export async function executeSelect (env: AccessPorts, plan: SelectPlan, params: readonly SqlValue[], txn: SqlTxn | null): Promise<SqlValue[][]> {
  const now = timestampFromMillis(env.clock.now())
  const agg = plan.aggregate === null ? undefined : { keys: plan.aggregate.keys, kinds: plan.aggregate.kinds }
  // Without ORDER BY, DISTINCT or aggregation the first rows are as good as any: shards stop early.
  const pushLimit = agg === undefined && plan.order.length === 0 && !plan.distinct && plan.limit !== null ? plan.limit + plan.offset : undefined
  const src = plan.source
  let rows: SqlValue[][]
  const local = (input: Iterable<RowInput> | AsyncIterable<RowInput>): Promise<SqlValue[][]> => collectRows(localVm(env, plan.scan, params, now), input, { limit: pushLimit, aggregate: agg })
  if (src.kind === 'none') rows = await local([[]])
  else if (src.kind === 'system') rows = await local(src.rows)
  else if (src.kind === 'join') {
    // Each table's access may refuse the join's read (a transaction's buffered leaderless writes).
    for (const side of src.join.sides) tableAccess(env, side.shape.info).checkJoinRead(txn)
    if (src.join.colocated) {
      const program = plan.pushdown ? plan.scan : passthrough(src.join.columns)
      rows = await joinInShards(env, { join: src.join, program, params, now, ...(plan.pushdown ? { limit: pushLimit, aggregate: agg } : {}) }, txn)
      if (!plan.pushdown) rows = await local(rows)
    } else {
      rows = await local(await joinOnCoordinator(env, src.join, p => localVm(env, p, params, now), params, now, txn))
    }
  } else {
    const access = tableAccess(env, src.shape.info)
    rows = await access.read({ shape: src.shape, shards: src.shards, options: src.options, program: plan.scan, params, now, pushdown: plan.pushdown, limit: pushLimit, aggregate: agg }, txn)
  }

  if (plan.aggregate !== null) {
    const { keys, kinds, final } = plan.aggregate
    const groups = new GroupTable(() => kinds.map(newAggState))
    for (const r of rows) {
      const g = groups.get(r.slice(0, keys))
      for (let j = 0; j < kinds.length; j++) aggMerge(g.aggregates[j]!, decodeAggState(r[keys + j]!))
    }
    // An aggregate without GROUP BY answers one row even over no input.
    if (keys === 0 && groups.size === 0) groups.get([])
    const merged = [...groups.values()].map(g => [...g.key, ...g.aggregates.map(aggFinal)])
    rows = await collectRows(localVm(env, final, params, now), merged, {})
  }

  const visible = plan.columns.length
  if (plan.distinct) {
    const seen = new Set<string>()
    rows = rows.filter(r => {
      const k = groupKey(r.slice(0, visible))
      if (seen.has(k)) return false
      seen.add(k)
      return true
    })
  }
  if (plan.order.length > 0) {
    const order = plan.order
    rows.sort((a, b) => {
      for (const o of order) {
        const c = sortCompare(a[o.index]!, b[o.index]!, o.spec)
        if (c !== 0) return c
      }
      return 0
    })
  }
  const end = plan.limit === null ? rows.length : plan.offset + plan.limit
  return rows.slice(plan.offset, end).map(r => r.length === visible ? r : r.slice(0, visible))
}
