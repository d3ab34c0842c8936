// Running a SelectPlan: rows from the shards (programs run next to the data, in parallel) or from
// the coordinator, then the coordinator's part — merging partial aggregates, HAVING and the final
// projection, DISTINCT, ORDER BY, OFFSET and LIMIT.
import { ScratchBirdError } from '../core/errors'
import { serialize, type Program, type ProgramColumn } from '../sblr/program'
import { aggFinal, aggMerge, decodeAggState, newAggState } from '../vm/aggregates'
import { GroupTable, groupKey } from '../vm/group'
import { Vm, type RowInput } from '../vm/vm'
import { timestampFromMillis, type SqlTimestamp } from '../types/datetime'
import { sortCompare, type SqlValue } from '../types/values'
import type { ExecEnv } from './env'
import { joinInShards, joinOnCoordinator } from './join-exec'
import type { JoinPlan } from '../plan/join-plan'
import { collectRows, type QueryAggregation } from '../shard/drivers/query-driver'
import { ProgramBuilder } from '../plan/program-builder'
import type { SelectPlan } from '../plan/select-plan'
import type { TableShape } from '../plan/table-types'
import type { SqlTxn } from './txn'
import { encodeRows } from '../shard/protocol/value-rows'
import { fanOut } from './fan-out'
import { isQuorumPoint, isQuorumTable, needsOverlay, quorumPointRows, quorumScanOverlay } from './quorum-exec'
import type { ScanOptions } from '../storage/engine'

export function localVm (env: ExecEnv, program: Program, params: readonly SqlValue[], now: SqlTimestamp): Vm {
  return new Vm(program, { params, hlc: env.hlc, uuidV7: env.uuidV7, clock: env.clock, statementTime: now })
}

/** A program emitting every input column: rows for programs that must run on the coordinator. */
export function passthrough (columns: readonly ProgramColumn[]): Program {
  const b = new ProgramBuilder([], columns)
  const first = b.regs(columns.length)
  columns.forEach((_, i) => b.emit('LOAD_COLUMN', first + i, i))
  b.emit('EMIT', first, columns.length)
  return b.build(columns)
}

export interface ShardScan {
  shape: TableShape
  shards: readonly number[]
  options: ScanOptions
  program: Program
  params: readonly SqlValue[]
  now: SqlTimestamp
  limit?: number | undefined
  aggregate?: QueryAggregation | undefined
}

/** QUERY on every shard in parallel (inside `txn` when given); rows in shard order. */
export async function queryShards (env: ExecEnv, q: ShardScan, txn: SqlTxn | null): Promise<SqlValue[][]> {
  const program = serialize(q.program)
  const params = encodeRows([q.params])
  return await fanOut(q.shards, txn, q, (shard, common) =>
    env.request('QUERY', { shard, tableId: q.shape.info.id, options: q.options, program, params, ...common }))
}

/**
 * Joins read the shards (or the coordinator's fetches) without the overlay of a transaction's
 * buffered leaderless writes (quorum-txn.ts): rather than answer without the transaction's own
 * rows, refuse the join until COMMIT (or before the first write to that table).
 */
function refuseJoinOverBufferedWrites (env: ExecEnv, join: JoinPlan, txn: SqlTxn | null): void {
  const side = join.sides.find(s => needsOverlay(env, s.shape.info, txn))
  if (side === undefined) return
  const table = side.shape.info.name
  throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED',
    `a join inside a transaction does not see the transaction's own uncommitted writes to leaderless_quorum table ${table}; run the join after COMMIT or before writing to ${table}`,
    { table })
}

export async function executeSelect (env: ExecEnv, plan: SelectPlan, params: readonly SqlValue[], txn: SqlTxn | null): Promise<SqlValue[][]> {
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
    refuseJoinOverBufferedWrites(env, src.join, txn)
    if (src.join.colocated) {
      const program = plan.pushdown ? plan.scan : passthrough(src.join.columns)
      rows = await joinInShards(env, { join: src.join, program, params, now, ...(plan.pushdown ? { limit: pushLimit, aggregate: agg } : {}) }, txn)
      if (!plan.pushdown) rows = await local(rows)
    } else {
      rows = await local(await joinOnCoordinator(env, src.join, p => localVm(env, p, params, now), params, now, txn))
    }
  } else if (isQuorumPoint(env, src.shape, src.options)) {
    // Leaderless table, whole primary key pinned: quorum read, the program runs here.
    // Inside a transaction, its own buffered write of the key answers (quorum-exec.ts).
    rows = await local(await quorumPointRows(env, src.shape, src.shards, src.options, txn))
  } else if (needsOverlay(env, src.shape.info, txn)) {
    // Leaderless table the transaction has buffered writes in: whole rows overlaid, program here.
    rows = await local(await quorumScanOverlay(env, src.shape, src.shards, src.options, now, txn))
  } else {
    // Leaderless tables are scanned on one live replica, inside a transaction too (no snapshot).
    const scanTxn = isQuorumTable(env, src.shape.info) ? null : txn
    if (plan.pushdown) {
      rows = await queryShards(env, { shape: src.shape, shards: src.shards, options: src.options, program: plan.scan, params, now, limit: pushLimit, aggregate: agg }, scanTxn)
    } else {
      const raw = await queryShards(env, { shape: src.shape, shards: src.shards, options: src.options, program: passthrough(src.shape.programColumns), params: [], now }, scanTxn)
      rows = await local(raw)
    }
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
