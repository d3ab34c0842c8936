// The scan driver of a QUERY request, run inside the shard worker next to the data (DESIGN §2):
// scans the table's visible rows, runs the coordinator's SBLR program on each row image (columns
// decode only when the program loads them), and returns the output rows — or, for aggregate
// queries, one row per group with its partial aggregate states for the coordinator to merge.
import type { Clock } from '../../core/clock'
import { ScratchBirdError } from '../../core/errors'
import type { Hlc } from '../../core/hlc'
import type { HlcTs } from '../../storage/types'
import type { UuidV7Generator } from '../../core/uuid'
import type { Row } from '../../storage/engine'
import { deserialize, type Program } from '../../sblr/program'
import type { AggKind } from '../../sblr/opcodes'
import { aggStep, encodeAggState, newAggState } from '../../vm/aggregates'
import { GroupTable } from '../../vm/group'
import { Vm, type RowInput } from '../../vm/vm'
import { SqlTimestamp } from '../../types/datetime'
import { RowImage } from '../../types/row-codec'
import type { SqlValue } from '../../types/values'
import { decodeRows, encodeRows } from '../protocol/value-rows'

/** Output rows one QUERY reply may carry (bounded like every message). */
export const MAX_QUERY_ROWS = 1_000_000

export interface QueryAggregation {
  /** The program outputs the group key first, then one argument per aggregate. */
  readonly keys: number
  readonly kinds: readonly AggKind[]
}

export interface QueryOptions {
  readonly program: Uint8Array
  /** Parameter values as one encoded row (value-rows.ts). */
  readonly params: Uint8Array
  /** now() of the statement, so every shard answers the same (µs since the epoch). */
  readonly statementMicros?: bigint | undefined
  /** Output rows wanted at most (no ORDER BY / aggregation at the coordinator). */
  readonly limit?: number | undefined
  readonly aggregate?: QueryAggregation | undefined
  /**
   * Outside a transaction only: read the shard's snapshot at this HLC instead of its latest
   * commits — a statement reading several shards sends the same one to each (exec/statement-snapshot.ts).
   */
  readonly readHlc?: HlcTs | undefined
}

// Programs calling gen_uuidv8_hlc()/gen_uuidv7() run on the coordinator, which owns the node's HLC;
// the compiler never ships them. Should one arrive anyway it fails with a coded error.
function refuse (): never {
  throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'UUID generators cannot run inside a shard worker')
}
const NO_HLC = { generate: refuse } as unknown as Hlc
const NO_V7 = { generate: refuse } as unknown as UuidV7Generator

/** A VM for a program shipped to a shard worker (no UUID generators, the statement's now()). */
export function shardVm (program: Program, params: readonly SqlValue[], statementMicros: bigint | undefined, clock: Clock): Vm {
  return new Vm(program, {
    params,
    hlc: NO_HLC,
    uuidV7: NO_V7,
    clock,
    ...(statementMicros !== undefined ? { statementTime: new SqlTimestamp(statementMicros) } : {})
  })
}

/** `decode`: the worker's program cache (program-cache.ts), or plain decoding. */
export async function runQuery (rows: AsyncIterable<Row>, q: QueryOptions, clock: Clock, decode: (bytes: Uint8Array) => Program = deserialize): Promise<{ rows: Uint8Array, scanned: number }> {
  const program = decode(q.program)
  const vm = shardVm(program, decodeRows(q.params)[0] ?? [], q.statementMicros, clock)
  const types = program.columns.map(c => c.type)
  const missing = program.columns.map(c => c.missing ?? null)
  let scanned = 0
  // Each stored row becomes a row image here, in the loop, not through a generator defined in this
  // function: a generator function created per request gets its own prototype and maps at its
  // first call, and every call site it reaches turns megamorphic. Profiled under point SELECTs
  // (issue 16) that, plus a second async generator hop per row, was a tenth of the worker's CPU.
  const out = await collectMapped(vm, rows, q, r => { scanned++; return new RowImage(types, r.row, missing) })
  return { rows: encodeRows(out), scanned }
}

/**
 * Runs `vm` over every input row: output rows up to `limit`, or with `aggregate` one row per group
 * (key values, then each aggregate's partial state as bytes). Shared by the shard worker and the
 * coordinator (system tables, programs that must run where the HLC is).
 */
export function collectRows (vm: Vm, rows: AsyncIterable<RowInput> | Iterable<RowInput>,
  q: { limit?: number | undefined, aggregate?: QueryAggregation | undefined }): Promise<SqlValue[][]> {
  return collectMapped(vm, rows, q, asRowInput)
}

const asRowInput = (row: RowInput): RowInput => row

/** collectRows over rows of another shape, each turned into the VM's input by `input` as it is read
 *  (stopping early — LIMIT reached — closes `rows`, as a for-await break does). */
export async function collectMapped<T> (vm: Vm, rows: AsyncIterable<T> | Iterable<T>,
  q: { limit?: number | undefined, aggregate?: QueryAggregation | undefined }, input: (row: T) => RowInput): Promise<SqlValue[][]> {
  const out: SqlValue[][] = []
  const agg = q.aggregate
  const groups = agg === undefined ? null : new GroupTable(() => agg.kinds.map(newAggState))
  const limit = Math.min(q.limit ?? MAX_QUERY_ROWS, MAX_QUERY_ROWS)
  if (limit === 0 && groups === null) return out
  for await (const row of rows) {
    const o = vm.run(input(row))
    if (o === null) continue
    if (groups !== null) {
      const g = groups.get(o.slice(0, agg!.keys))
      for (let j = 0; j < agg!.kinds.length; j++) aggStep(g.aggregates[j]!, o[agg!.keys + j]!)
      continue
    }
    if (out.length >= MAX_QUERY_ROWS) throw new ScratchBirdError('SB_PROGRAM_LIMIT_EXCEEDED', `a query returns more than ${MAX_QUERY_ROWS} rows from one shard; add a LIMIT or a narrower WHERE`)
    out.push(o)
    if (out.length >= limit) break
  }
  if (groups !== null) for (const g of groups.values()) out.push([...g.key, ...g.aggregates.map(encodeAggState)])
  return out
}
