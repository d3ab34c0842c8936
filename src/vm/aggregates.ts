// Aggregate states for count/sum/avg/min/max. A state can be turned into bytes (a partial
// aggregate a shard sends to the coordinator) and merged into another state of the same kind, so
// merge(partials of a split input) = one pass over the whole input.
import { ScratchBirdError } from '../core/errors'
import { ByteSink, ByteSource } from '../core/bytes'
import { Decimal, decimalAdd, decimalDiv, decimalFromBigint } from '../types/decimal'
import { readValue, writeValue } from '../types/value-codec'
import { compareValues, mismatch, type SqlValue, valueClass } from '../types/values'
import { AGG_KINDS, type AggKind } from '../sblr/opcodes'

export interface AggState {
  readonly kind: AggKind
  /** Rows counted (count, count_star) or non-NULL inputs seen (sum, avg). */
  count: bigint
  /** Running sum (sum, avg) or extreme value (min, max); NULL until the first input. */
  acc: SqlValue
}

const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n

export function newAggState (kind: AggKind): AggState {
  return { kind, count: 0n, acc: null }
}

/** Exact where both sides are exact; a float on either side makes the sum a float. */
function addNumeric (a: SqlValue, b: SqlValue): SqlValue {
  if (a === null) return b
  if (b === null) return a
  if (typeof a === 'bigint' && typeof b === 'bigint') return a + b // bounded at AGG_FINAL
  if (typeof a === 'number' || typeof b === 'number') return toFloat(a) + toFloat(b)
  return decimalAdd(toDecimal(a), toDecimal(b))
}

function toFloat (v: SqlValue): number {
  if (typeof v === 'number') return v
  if (typeof v === 'bigint') return Number(v)
  if (v instanceof Decimal) return Number(v.toString())
  throw mismatch(`cannot sum ${valueClass(v)}`)
}

function toDecimal (v: SqlValue): Decimal {
  if (v instanceof Decimal) return v
  if (typeof v === 'bigint') return decimalFromBigint(v)
  throw mismatch(`cannot sum ${valueClass(v)}`)
}

function checkSummable (v: NonNullable<SqlValue>): void {
  if (typeof v !== 'bigint' && typeof v !== 'number' && !(v instanceof Decimal)) throw mismatch(`cannot sum or average ${valueClass(v)}`)
}

export function aggStep (s: AggState, v: SqlValue): void {
  if (s.kind === 'count_star') { s.count++; return }
  if (v === null) return
  switch (s.kind) {
    case 'count': s.count++; return
    case 'sum': case 'avg': checkSummable(v); s.acc = addNumeric(s.acc, v); s.count++; return
    case 'min': if (s.acc === null || compareValues(v, s.acc) < 0) s.acc = v; return
    case 'max': if (s.acc === null || compareValues(v, s.acc) > 0) s.acc = v
  }
}

export function aggMerge (s: AggState, other: AggState): void {
  if (other.kind !== s.kind) throw mismatch(`cannot merge a ${other.kind} state into ${s.kind}`)
  s.count += other.count
  switch (s.kind) {
    case 'sum': case 'avg': s.acc = addNumeric(s.acc, other.acc); return
    case 'min': if (other.acc !== null) aggStep(s, other.acc); return
    case 'max': if (other.acc !== null) aggStep(s, other.acc)
  }
}

/**
 * count → BIGINT; sum of integers → BIGINT (22003 past 64 bits), of decimals → DECIMAL, of floats
 * → DOUBLE; avg of exact numbers → DECIMAL (≥ 16 fractional digits), of floats → DOUBLE; NULL
 * for sum/avg/min/max of no rows.
 */
export function aggFinal (s: AggState): SqlValue {
  switch (s.kind) {
    case 'count_star': case 'count': return s.count
    case 'min': case 'max': return s.acc
    case 'sum':
      if (typeof s.acc === 'bigint' && (s.acc < INT64_MIN || s.acc > INT64_MAX)) {
        throw new ScratchBirdError('SB_NUMERIC_OUT_OF_RANGE', 'bigint out of range in sum()')
      }
      return s.acc
    case 'avg':
      if (s.acc === null || s.count === 0n) return null
      if (typeof s.acc === 'number') return s.acc / Number(s.count)
      return decimalDiv(toDecimal(s.acc), decimalFromBigint(s.count))
  }
}

export function encodeAggState (s: AggState): Uint8Array {
  const w = new ByteSink(32)
  w.u8(AGG_KINDS.indexOf(s.kind))
  writeValue(w, s.count)
  writeValue(w, s.acc)
  return w.take()
}

/** Partial states come from other processes: anything malformed → SB_SBLR_INVALID. */
export function decodeAggState (b: SqlValue): AggState {
  const fail = (why: string): ScratchBirdError => new ScratchBirdError('SB_SBLR_INVALID', `malformed partial aggregate state: ${why}`)
  if (!(b instanceof Uint8Array)) throw fail('not bytes')
  const r = new ByteSource(b, fail)
  const kind = AGG_KINDS[r.u8()]
  if (kind === undefined) throw fail('unknown kind')
  const count = readValue(r, fail)
  const acc = readValue(r, fail)
  if (typeof count !== 'bigint' || count < 0n || !r.done) throw fail('bad count or trailing bytes')
  return { kind, count, acc }
}
