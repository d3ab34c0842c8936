// Running a SelectPlan: rows from the shards (programs run next to the data, in parallel) or from
// the coordinator, then the coordinator's part — merging partial aggregates, HAVING and the final
// projection, DISTINCT, ORDER BY, OFFSET and LIMIT.
import { aggFinal, aggMerge, aggStep, decodeAggState, newAggState } from '../vm/aggregates'
import { GroupTable, groupKey, type Group } from '../vm/group'
import type { RowInput } from '../vm/vm'
import { timestampFromMillis, type SqlTimestamp } from '../types/datetime'
import { ScratchBirdError } from '../core/errors'
import { sortCompare, type SqlValue } from '../types/values'
import type { AccessPorts } from './access/choose'
import { joinInShards, joinOnCoordinator } from './join-exec'
import { collectRows } from '../shard/drivers/query-driver'
import type { SelectPlan } from '../plan/select-plan'
import type { SqlTxn } from './txn'
import { localVm, passthrough } from './local-vm'
import { tableAccess } from './access/choose'
import { resolveRouting } from './index-lookup'
import type { ShardId } from '../core/ids'
import type { ScanOptions } from '../storage/engine'
import type { Tuple } from '../storage/keys'

/**
 * One statement's subquery state: the enclosing row a correlated subquery reads (null at the top),
 * and the rows already read by fetches and once-only subqueries (by plan), so a table a correlated
 * subquery filters per enclosing row is read once.
 */
export interface SelectRun { readonly outer: readonly SqlValue[] | null, readonly cache: Map<SelectPlan, Promise<SqlValue[][]>> }

export async function executeSelect (env: AccessPorts, plan: SelectPlan, userParams: readonly SqlValue[], txn: SqlTxn | null, run: SelectRun = { outer: null, cache: new Map() }): Promise<SqlValue[][]> {
  const now = timestampFromMillis(env.clock.now())
  // The programs' parameters: the request's, then the plan's slots (subquery-plan.ts).
  const params = plan.slots.length === 0 ? userParams : [...userParams, ...await slotValues(env, plan, userParams, txn, run)]
  // DISTINCT inside an aggregate needs every argument value in one place: the shards then send
  // their [group key, argument] rows and the coordinator aggregates, skipping repeated values.
  const distinctArgs = plan.aggregate?.distinct.some(d => d) === true
  const agg = plan.aggregate === null || distinctArgs ? undefined : { keys: plan.aggregate.keys, kinds: plan.aggregate.kinds }
  // Without ORDER BY, DISTINCT or aggregation the first rows are as good as any: shards stop early.
  const pushLimit = plan.aggregate === null && plan.order.length === 0 && !plan.distinct && plan.limit !== null ? plan.limit + plan.offset : undefined
  const src = plan.source
  let rows: SqlValue[][]
  const local = (input: Iterable<RowInput> | AsyncIterable<RowInput>): Promise<SqlValue[][]> => collectRows(localVm(env, plan.scan, params, now), input, { limit: pushLimit, aggregate: agg })
  if (src.kind === 'none') rows = await local([[]])
  else if (src.kind === 'rows') rows = await local(await perRowSubqueries(env, plan, src.fetch, { userParams, params, now }, txn, run))
  else if (src.kind === 'system') rows = await local(src.rows)
  else if (src.kind === 'derived') rows = await local(await once(env, src.plan, userParams, txn, run))
  else if (src.kind === 'join') {
    // Each table's access may refuse the join's read (a transaction's buffered leaderless writes).
    for (const side of src.join.sides) if (side.kind === 'table') tableAccess(env, side.shape.info).checkJoinRead(txn)
    if (src.join.colocated) {
      const program = plan.pushdown ? plan.scan : passthrough(src.join.columns)
      rows = await joinInShards(env, { join: src.join, program, params, now, ...(plan.pushdown ? { limit: pushLimit, aggregate: agg } : {}) }, txn)
      if (!plan.pushdown) rows = await local(rows)
    } else {
      rows = await local(await joinOnCoordinator(env, src.join, p => localVm(env, p, params, now), params, now, txn, d => once(env, d, userParams, txn, run)))
    }
  } else {
    const access = tableAccess(env, src.shape.info)
    const { shards, options, reads, keys } = await resolveRouting(env, src.shape, src, txn, now)
    const read = async (on: readonly ShardId[], o: ScanOptions, k?: readonly Tuple[]): Promise<SqlValue[][]> =>
      await access.read({ shape: src.shape, shards: on, options: o, program: plan.scan, params, now, pushdown: plan.pushdown, limit: pushLimit, aggregate: agg, ...(k !== undefined ? { keys: k } : {}) }, txn)
    // Through a local index: one point read per entry (partial aggregates merge below as across shards).
    if (reads !== undefined) rows = (await Promise.all(reads.map(x => read([x.shard], x.options)))).flat()
    // A key list: each shard's keys by point reads, the shards in parallel (as a scan reads them).
    else if (keys !== undefined) rows = (await Promise.all(shards.map(s => read([s], options, keys.get(s) ?? [])))).flat()
    else rows = shards.length === 0 ? [] : await read(shards, options)
  }

  if (plan.aggregate !== null) {
    const { keys, kinds, final } = plan.aggregate
    const groups = new GroupTable(() => kinds.map(newAggState))
    if (distinctArgs) aggregateDistinct(groups, rows, keys, plan.aggregate.distinct)
    else {
      for (const r of rows) {
        const g = groups.get(r.slice(0, keys))
        for (let j = 0; j < kinds.length; j++) aggMerge(g.aggregates[j]!, decodeAggState(r[keys + j]!))
      }
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

/** Aggregates [group key…, argument…] rows; a DISTINCT aggregate steps each value once per group. */
function aggregateDistinct (groups: GroupTable, rows: readonly SqlValue[][], keys: number, distinct: readonly boolean[]): void {
  const seen = new Map<Group, Set<string>[]>()
  for (const r of rows) {
    const g = groups.get(r.slice(0, keys))
    let sets = seen.get(g)
    if (sets === undefined) { sets = distinct.map(() => new Set()); seen.set(g, sets) }
    for (let j = 0; j < distinct.length; j++) {
      const v = r[keys + j]!
      if (distinct[j]) {
        const k = groupKey([v])
        if (sets[j]!.has(k)) continue
        sets[j]!.add(k)
      }
      aggStep(g.aggregates[j]!, v)
    }
  }
}

/** Rows of a once-per-statement plan (a fetch, an uncorrelated subquery), read at most once. */
function once (env: AccessPorts, plan: SelectPlan, userParams: readonly SqlValue[], txn: SqlTxn | null, run: SelectRun): Promise<SqlValue[][]> {
  let rows = run.cache.get(plan)
  if (rows === undefined) {
    rows = executeSelect(env, plan, userParams, txn, { outer: null, cache: run.cache })
    run.cache.set(plan, rows)
  }
  return rows
}

async function slotValues (env: AccessPorts, plan: SelectPlan, userParams: readonly SqlValue[], txn: SqlTxn | null, run: SelectRun): Promise<SqlValue[]> {
  const out: SqlValue[] = []
  for (const s of plan.slots) {
    if (s.kind === 'outer') { out.push(run.outer?.[s.column] ?? null); continue }
    const sub = plan.subqueries[s.index]!
    out.push(subqueryValue(sub.mode, await once(env, sub.plan, userParams, txn, run)))
  }
  return out
}

/** A scalar subquery's value (NULL without rows) or EXISTS. */
function subqueryValue (mode: 'scalar' | 'exists' | 'in', rows: readonly SqlValue[][]): SqlValue {
  if (mode === 'exists') return rows.length > 0
  if (rows.length > 1) throw new ScratchBirdError('SB_CARDINALITY_VIOLATION', `more than one row returned by a subquery used as an expression (${rows.length} rows)`)
  return rows[0]?.[0] ?? null
}

/** x IN (rows) with SQL's three values: NULL when not found but x or some row is NULL. */
function inValue (x: SqlValue, rows: readonly SqlValue[][]): SqlValue {
  if (rows.length === 0) return false
  if (x === null) return null
  if (rows.some(r => r[0] !== null && sortCompare(r[0]!, x) === 0)) return true
  return rows.some(r => r[0] === null) ? null : false
}

/** The enclosing query's rows, each extended by its per-row subqueries' values. */
async function perRowSubqueries (env: AccessPorts, plan: SelectPlan, fetch: SelectPlan | null,
  p: { userParams: readonly SqlValue[], params: readonly SqlValue[], now: SqlTimestamp }, txn: SqlTxn | null, run: SelectRun): Promise<SqlValue[][]> {
  const base = fetch === null ? [[]] : await once(env, fetch, p.userParams, txn, run)
  const subs = plan.subqueries.filter(s => s.perRow)
  const out: SqlValue[][] = []
  for (const row of base) {
    const ext = [...row]
    for (const sub of subs) {
      const rows = sub.correlated
        ? await executeSelect(env, sub.plan, p.userParams, txn, { outer: row, cache: run.cache })
        : await once(env, sub.plan, p.userParams, txn, run)
      if (sub.mode !== 'in') { ext.push(subqueryValue(sub.mode, rows)); continue }
      const [x] = (await collectRows(localVm(env, sub.operand!, p.params, p.now), [row], {}))[0]!
      const v = inValue(x ?? null, rows)
      ext.push(sub.negated && v !== null ? !v : v)
    }
    out.push(ext)
  }
  return out
}
