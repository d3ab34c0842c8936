// Left-deep joins of already-filtered table rows: hash join on the equality keys of each step's ON
// (nested loop when it has none), the full ON re-checked by its own program, LEFT JOIN rows
// NULL-extended. The same code runs inside a shard worker (JOIN_QUERY, colocated tables) and on
// the coordinator (tables fetched from their shards), so both answer alike.
import { ScratchBirdError } from '../../core/errors'
import type { Row, ScanOptions } from '../../storage/engine'
import { deserialize, type Program } from '../../sblr/program'
import { groupKey } from '../../vm/group'
import type { Vm } from '../../vm/vm'
import { RowImage } from '../../types/row-codec'
import type { SqlValue } from '../../types/values'
import type { Clock } from '../../core/clock'
import { collectRows, shardVm, type QueryOptions } from './query-driver'
import { decodeRows, encodeRows } from '../protocol/value-rows'

/**
 * Rows of one table a join holds in memory (the right-hand tables inside a shard; every table when
 * the coordinator joins). Above it the statement fails rather than exhaust the node's memory.
 */
export const MAX_JOIN_ROWS = 100_000

export type JoinKind = 'inner' | 'left' | 'cross'

/** One table of a join as a shard scans it: `filter` emits the table's columns for rows passing the pushed-down predicates. */
export interface JoinSideRequest { readonly tableId: number, readonly options: ScanOptions, readonly filter: Uint8Array }

/** Joining table i (i ≥ 1) to the rows of tables 0…i-1. */
export interface JoinStepRequest {
  readonly kind: JoinKind
  /** Column indexes into the joined row so far … */
  readonly leftKeys: readonly number[]
  /** … equal to these columns of table i (used for hashing only; `on` decides). */
  readonly rightKeys: readonly number[]
  /** The whole ON condition over the joined row (tables 0…i); emits one boolean. Null for CROSS. */
  readonly on: Uint8Array | null
  /** Columns of table i (for NULL-extension). */
  readonly width: number
}

export interface JoinQueryOptions extends QueryOptions {
  readonly sides: readonly JoinSideRequest[]
  readonly steps: readonly JoinStepRequest[]
}

/** The tables and steps of a join as JOIN_QUERY carries them. */
export type JoinTablesRequest = Pick<JoinQueryOptions, 'sides' | 'steps'>

export interface JoinStep {
  readonly kind: JoinKind
  readonly leftKeys: readonly number[]
  readonly rightKeys: readonly number[]
  readonly on: Vm | null
  readonly width: number
}

export function tooManyRows (what: string): ScratchBirdError {
  return new ScratchBirdError('SB_JOIN_ROW_LIMIT', `the join reads more than ${MAX_JOIN_ROWS} rows of ${what}; narrow the WHERE clause or colocate the tables on the join key`, { limit: MAX_JOIN_ROWS })
}

type Matcher = (left: readonly SqlValue[]) => readonly SqlValue[][]

function matcher (step: JoinStep, rows: SqlValue[][]): Matcher {
  if (step.leftKeys.length === 0) return () => rows
  const index = new Map<string, SqlValue[][]>()
  for (const r of rows) {
    const key = step.rightKeys.map(i => r[i]!)
    if (key.some(v => v === null)) continue // NULL never equals anything
    const k = groupKey(key)
    const bucket = index.get(k)
    if (bucket === undefined) index.set(k, [r]); else bucket.push(r)
  }
  return (left) => {
    const key = step.leftKeys.map(i => left[i]!)
    return key.some(v => v === null) ? [] : index.get(groupKey(key)) ?? []
  }
}

/** Joined rows (table 0's columns, then table 1's …) for each row of `first`, in its order. */
export async function * joinRows (first: AsyncIterable<SqlValue[]> | Iterable<SqlValue[]>, rights: readonly SqlValue[][][], steps: readonly JoinStep[]): AsyncIterable<SqlValue[]> {
  const match = steps.map((s, i) => matcher(s, rights[i]!))
  for await (const row of first) {
    let current: SqlValue[][] = [row]
    for (let i = 0; i < steps.length && current.length > 0; i++) {
      const step = steps[i]!
      const next: SqlValue[][] = []
      for (const left of current) {
        let matched = false
        for (const right of match[i]!(left)) {
          const joined = left.concat(right)
          if (step.on !== null && step.on.run(joined)?.[0] !== true) continue
          matched = true
          next.push(joined)
        }
        if (!matched && step.kind === 'left') next.push(left.concat(new Array<SqlValue>(step.width).fill(null)))
      }
      current = next
    }
    yield * current
  }
}

/** `rows`, counting each into `tally` as it is read. One generator function for every request: one
 *  defined per request gets its own prototype and maps (see query-driver.ts runQuery). */
async function * countedRows (rows: AsyncIterable<Row>, tally: { scanned: number }): AsyncIterable<Row> {
  for await (const r of rows) { tally.scanned++; yield r }
}

/** Runs a side's filter program over a table's stored rows. */
async function * filtered (rows: AsyncIterable<Row>, vm: Vm): AsyncIterable<SqlValue[]> {
  const types = vm.program.columns.map(c => c.type)
  const missing = vm.program.columns.map(c => c.missing ?? null)
  for await (const r of rows) {
    const o = vm.run(new RowImage(types, r.row, missing))
    if (o !== null) yield o
  }
}

/**
 * The JOIN_QUERY driver inside a shard worker: every table scanned with the same visibility (the
 * caller's `scan` closes over the transaction), tables 1…n held in memory, table 0 streamed, the
 * statement's row program run on each joined row as QUERY does on a table's rows.
 */
export async function runJoinQuery (scan: (side: JoinSideRequest) => AsyncIterable<Row>, q: JoinQueryOptions, clock: Clock, decode: (bytes: Uint8Array) => Program = deserialize): Promise<{ rows: Uint8Array, scanned: number }> {
  const params = decodeRows(q.params)[0] ?? []
  const vm = (bytes: Uint8Array): Vm => shardVm(decode(bytes), params, q.statementMicros, clock)
  const tally = { scanned: 0 }
  const counted = (rows: AsyncIterable<Row>): AsyncIterable<Row> => countedRows(rows, tally)
  const rights: SqlValue[][][] = []
  for (const side of q.sides.slice(1)) {
    const rows: SqlValue[][] = []
    for await (const r of filtered(counted(scan(side)), vm(side.filter))) {
      if (rows.length >= MAX_JOIN_ROWS) throw tooManyRows(`table ${side.tableId} in one shard`)
      rows.push(r)
    }
    rights.push(rows)
  }
  const steps = q.steps.map(s => ({ ...s, on: s.on === null ? null : vm(s.on) }))
  const first = q.sides[0]!
  const joined = joinRows(filtered(counted(scan(first)), vm(first.filter)), rights, steps)
  const out = await collectRows(vm(q.program), joined, q)
  return { rows: encodeRows(out), scanned: tally.scanned }
}
