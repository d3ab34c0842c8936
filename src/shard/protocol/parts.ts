import type { Fail } from '../../core/bytes'
import type { CodecReader, CodecWriter } from '../../core/codec'
import { ScratchBirdError, messageOf } from '../../core/errors'
import type { RowWrite, ScanOptions } from '../../storage/engine'
import { decodeTuple, encodeTuple, type Tuple, type TupleValue } from '../../storage/keys'
import { AGG_KINDS } from '../../sblr/opcodes'
import type { QueryAggregation, QueryOptions } from '../drivers/query-driver'
import type { JoinKind, JoinSideRequest, JoinStepRequest } from '../drivers/join-driver'

// The pieces shard op payloads are built of (op-codecs.ts): tuples in the order-preserving key
// encoding (storage/keys.ts: it keeps bigint apart from number, so a key decodes to the same JS
// values), scan bounds, row writes, SBLR query options. Writers trust their (typed) input; readers
// trust nothing and fail through the op's factory (SB_MALFORMED_REQUEST).

export function shardFail (op: string): Fail {
  return (why: string) => new ScratchBirdError('SB_MALFORMED_REQUEST', `malformed ${op} message: ${why}`)
}

export function writeTuple (w: CodecWriter, t: Tuple): void {
  if (!Array.isArray(t)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `a key tuple must be an array, not ${typeof t}`)
  w.blob(encodeTuple(t))
}

export function readTuple (r: CodecReader): TupleValue[] {
  const b = r.blob()
  try {
    return decodeTuple(b)
  } catch (e) {
    throw r.malformed(`key tuple: ${messageOf(e)}`)
  }
}

export function writeVersionId (w: CodecWriter, v: Uint8Array): void {
  if (v.length !== 16) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'versionId must be 16 bytes')
  w.bytes(v)
}

export function readVersionId (r: CodecReader): Uint8Array { return r.bytes(16) }

/** A row image or null (tombstone / no row). */
export function writeRow (w: CodecWriter, row: Uint8Array | null): void { w.opt(row, b => w.blob(b)) }
export function readRow (r: CodecReader): Uint8Array | null { return r.opt(() => r.blob()) ?? null }

/** A finite or infinite count bound (limits come from SQL and may exceed 2^53). */
export function readLimit (r: CodecReader): number {
  const v = r.f64()
  if (Number.isNaN(v) || v < 0) throw r.malformed(`limit ${v}`)
  return v
}

// ---- scan options --------------------------------------------------------------------------------
// flags u8: 1 gt | 2 gte | 4 lt | 8 lte | 16 exact | 32 reverse | 64 limit, then the present
// bounds as tuples in that order, exact and reverse as a byte each, limit as f64.

const BOUNDS = ['gt', 'gte', 'lt', 'lte'] as const

export function writeScanOptions (w: CodecWriter, o: ScanOptions): void {
  let flags = 0
  BOUNDS.forEach((k, i) => { if (o[k] !== undefined) flags |= 1 << i })
  if (o.exact !== undefined) flags |= 16
  if (o.reverse !== undefined) flags |= 32
  if (o.limit !== undefined) flags |= 64
  w.u8(flags)
  for (const k of BOUNDS) if (o[k] !== undefined) writeTuple(w, o[k])
  if (o.exact !== undefined) w.bool(o.exact)
  if (o.reverse !== undefined) w.bool(o.reverse)
  if (o.limit !== undefined) w.f64(o.limit)
}

export function readScanOptions (r: CodecReader): ScanOptions {
  const flags = r.u8()
  if (flags > 127) throw r.malformed(`scan flags ${flags}`)
  const o: { -readonly [K in keyof ScanOptions]: ScanOptions[K] } = {}
  BOUNDS.forEach((k, i) => { if (flags & (1 << i)) o[k] = readTuple(r) })
  if (flags & 16) o.exact = r.bool()
  if (flags & 32) o.reverse = r.bool()
  if (flags & 64) o.limit = readLimit(r)
  return o
}

// ---- row writes ----------------------------------------------------------------------------------
// op u8 | tableId u32 | pk (tuple) | versionId 16 | row (absent for delete; null only for put/lww)

const WRITE_OPS = ['insert', 'update', 'delete', 'put', 'lww'] as const
const WRITE_OP_CODE: Record<RowWrite['op'], number> = { insert: 0, update: 1, delete: 2, put: 3, lww: 4 }

export function writeRowWrite (w: CodecWriter, x: RowWrite): void {
  w.u8(WRITE_OP_CODE[x.op])
  w.u32(x.tableId)
  w.blob(x.pkBytes ?? encodeTuple(x.pk))
  writeVersionId(w, x.versionId)
  if (x.op !== 'delete') writeRow(w, x.row)
}

/** The decoded write keeps its pk bytes (proved canonical by decoding) so the engine need not re-encode. */
export function readRowWrite (r: CodecReader): RowWrite {
  const op = r.pick(WRITE_OPS, 'write op')
  const tableId = r.u32()
  const pkBytes = r.blob()
  let pk: TupleValue[]
  try {
    pk = decodeTuple(pkBytes)
  } catch (e) {
    throw r.malformed(`primary key: ${messageOf(e)}`)
  }
  const versionId = readVersionId(r)
  if (op === 'delete') return { op, tableId, pk, pkBytes, versionId }
  const row = readRow(r)
  if (op === 'put' || op === 'lww') return { op, tableId, pk, pkBytes, versionId, row }
  if (row === null) throw r.malformed(`${op} without a row`)
  return { op, tableId, pk, pkBytes, versionId, row }
}

// ---- SBLR queries --------------------------------------------------------------------------------
// program | params | opt statementMicros i64 | opt limit f64 | opt aggregate (keys varint, kinds)

export function writeQueryOptions (w: CodecWriter, q: QueryOptions): void {
  w.blob(q.program)
  w.blob(q.params)
  w.opt(q.statementMicros, v => w.i64(v))
  w.opt(q.limit, v => w.f64(v))
  w.opt(q.aggregate, a => {
    w.uint(a.keys)
    w.array(a.kinds, k => w.u8(AGG_KINDS.indexOf(k)))
  })
  w.opt(q.readHlc, v => w.u64(v))
}

export function readQueryOptions (r: CodecReader): QueryOptions {
  const program = r.blob()
  const params = r.blob()
  const statementMicros = r.opt(() => r.i64())
  const limit = r.opt(() => readLimit(r))
  const aggregate = r.opt((): QueryAggregation => ({ keys: r.uint(), kinds: r.array(() => r.pick(AGG_KINDS, 'aggregate')) }))
  const readHlc = r.opt(() => r.hlc())
  return {
    program,
    params,
    ...(statementMicros !== undefined ? { statementMicros } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(aggregate !== undefined ? { aggregate } : {}),
    ...(readHlc !== undefined ? { readHlc } : {})
  }
}

const JOIN_KINDS: readonly JoinKind[] = ['inner', 'left', 'cross']

export function writeJoinSide (w: CodecWriter, s: JoinSideRequest): void {
  w.u32(s.tableId)
  writeScanOptions(w, s.options)
  w.blob(s.filter)
}

export function readJoinSide (r: CodecReader): JoinSideRequest {
  return { tableId: r.u32(), options: readScanOptions(r), filter: r.blob() }
}

export function writeJoinStep (w: CodecWriter, s: JoinStepRequest): void {
  w.u8(JOIN_KINDS.indexOf(s.kind))
  w.array(s.leftKeys, k => w.uint(k))
  w.array(s.rightKeys, k => w.uint(k))
  w.opt(s.on, b => w.blob(b))
  w.uint(s.width)
}

export function readJoinStep (r: CodecReader): JoinStepRequest {
  return {
    kind: r.pick(JOIN_KINDS, 'join kind'),
    leftKeys: r.array(() => r.uint()),
    rightKeys: r.array(() => r.uint()),
    on: r.opt(() => r.blob()) ?? null,
    width: r.uint()
  }
}
