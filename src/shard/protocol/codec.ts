import { ScratchBirdError } from '../../core/errors'
import { asHlcTs, asXid, isShardId, type HlcTs, type ShardId, type Xid } from '../../core/ids'
import type { LwwOutcome, ReplicaWrite, RowWrite } from '../../storage/engine'
import { checkTuple, decodeTuple, encodeTuple, type TupleValue } from '../../storage/keys'

// Binary codec of the hot paths — AUTOCOMMIT and REPLICA_APPLY requests and replies — between the
// main thread and a shard worker (and, inside SHARD_QUERY, between nodes). Measured: V8
// serialize/deserialize of a one-row request cost more than the engine work it carries (typed
// arrays go through JS host-object hooks), so the write path gets a flat little-endian layout;
// every other op has the codec of op-codecs.ts. The shard id is a u32 as in every other op.
//
// request:  u32 shard | u8 flags (1 = xid present) | u64 commitHlc | [u64 xid] | u32 n | n × write
// write:    u8 op | u32 tableId | u32 pkLen | pk (tuple encoding) | 16 versionId | i32 rowLen (-1 = none) | row
//           (a delete carries no row; insert/update always do; op 4 = lww)
// reply:    u64 xid | u8 hasLsn | u64 lsn | u64 commitHlc | u32 n | n × u8 affected
//
// REPLICA_APPLY uses the same layouts: its request is an AUTOCOMMIT request whose writes are all
// op 4 (lww), its reply carries n × u8 outcome (0 newer, 1 same, 2 older) in place of affected.

const OPS = ['insert', 'update', 'delete', 'put', 'lww'] as const
const OP_CODE: Record<RowWrite['op'], number> = { insert: 0, update: 1, delete: 2, put: 3, lww: 4 }
const LWW_OUTCOMES: readonly LwwOutcome[] = ['newer', 'same', 'older']
const LWW_CODE: Record<LwwOutcome, number> = { newer: 0, same: 1, older: 2 }

export interface AutocommitRequestMsg { shard: ShardId, writes: RowWrite[], commitHlc: HlcTs, xid?: Xid }
export interface AutocommitReplyMsg { xid: Xid, lsn: bigint | null, commitHlc: HlcTs, affected: boolean[] }
export interface ReplicaApplyRequestMsg { shard: ShardId, writes: ReplicaWrite[], commitHlc: HlcTs, xid?: Xid }
export interface ReplicaApplyReplyMsg { xid: Xid, lsn: bigint | null, commitHlc: HlcTs, applied: LwwOutcome[] }

function malformedMsg (what: string, op: string): ScratchBirdError {
  return new ScratchBirdError('SB_MALFORMED_REQUEST', `malformed ${op} message: ${what}`)
}

export function encodeAutocommit (m: AutocommitRequestMsg): Uint8Array {
  return encodeWrites(m, undefined)
}

/** `lwwOnly`: every write is encoded as op lww (REPLICA_APPLY: its writes carry no op). */
function encodeWrites (m: AutocommitRequestMsg | ReplicaApplyRequestMsg, lwwOnly: true | undefined): Uint8Array {
  const writes = m.writes
  const pks = new Array<Uint8Array>(writes.length)
  let size = 4 + 1 + 8 + (m.xid === undefined ? 0 : 8) + 4
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!
    const pk = pks[i] = w.pkBytes ?? encodeTuple(w.pk)
    const row = lwwOnly ? (w as ReplicaWrite).row : (w as RowWrite).op === 'delete' ? null : (w as { row: Uint8Array | null }).row
    size += 1 + 4 + 4 + pk.length + 16 + 4 + (row !== null ? row.length : 0)
  }
  const out = new Uint8Array(size)
  const dv = new DataView(out.buffer)
  let p = 0
  dv.setUint32(p, m.shard, true); p += 4
  dv.setUint8(p, m.xid === undefined ? 0 : 1); p += 1
  dv.setBigUint64(p, m.commitHlc, true); p += 8
  if (m.xid !== undefined) { dv.setBigUint64(p, m.xid, true); p += 8 }
  dv.setUint32(p, writes.length, true); p += 4
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!
    const pk = pks[i]!
    dv.setUint8(p, lwwOnly ? OP_CODE.lww : OP_CODE[(w as RowWrite).op]); p += 1
    dv.setUint32(p, w.tableId, true); p += 4
    dv.setUint32(p, pk.length, true); p += 4
    out.set(pk, p); p += pk.length
    if (w.versionId.length !== 16) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'versionId must be 16 bytes')
    out.set(w.versionId, p); p += 16
    const row = lwwOnly ? (w as ReplicaWrite).row : (w as RowWrite).op === 'delete' ? null : (w as { row: Uint8Array | null }).row
    dv.setInt32(p, row !== null ? row.length : -1, true); p += 4
    if (row !== null) { out.set(row, p); p += row.length }
  }
  return out
}

/**
 * A decoded write that keeps its pk in tuple encoding: the engine takes `pkBytes` (checked
 * canonical here) and never needs the tuple; `pk` is decoded only if someone asks for it.
 */
class EncodedPkWrite {
  constructor (
    readonly op: RowWrite['op'],
    readonly tableId: number,
    readonly pkBytes: Uint8Array,
    readonly row: Uint8Array | null,
    readonly versionId: Uint8Array
  ) {}

  get pk (): TupleValue[] { return decodeTuple(this.pkBytes) }
}

/**
 * Decodes from a (possibly shared-memory) view. With `copy` (default) everything returned is
 * copied out of it; without, pkBytes, row images and version ids are views into `b`, valid only
 * as long as `b` is — for a caller that hands them at once to the engine, which copies them.
 */
export function decodeAutocommit (b: Uint8Array, copy = true): AutocommitRequestMsg {
  return decodeWrites(b, copy, false)
}

function decodeWrites (b: Uint8Array, copy: boolean, lwwOnly: boolean): AutocommitRequestMsg {
  const what = lwwOnly ? 'REPLICA_APPLY' : 'AUTOCOMMIT'
  const malformed = (m: string): ScratchBirdError => malformedMsg(m, what)
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  let p = 0
  const need = (n: number): void => { if (p + n > b.length) throw malformed('truncated') }
  const take = (n: number): Uint8Array => copy ? b.slice(p, p + n) : b.subarray(p, p + n)
  need(17)
  const shard = dv.getUint32(p, true); p += 4
  if (!isShardId(shard)) throw malformed(`shard id ${shard} out of range`)
  const flags = dv.getUint8(p); p += 1
  if (flags > 1) throw malformed('flags')
  const commitHlc = asHlcTs(dv.getBigUint64(p, true)); p += 8
  let xid: Xid | undefined
  if (flags & 1) { need(8); xid = asXid(dv.getBigUint64(p, true)); p += 8 }
  need(4)
  const n = dv.getUint32(p, true); p += 4
  if (n > b.length) throw malformed('write count')
  const writes: RowWrite[] = []
  for (let i = 0; i < n; i++) {
    need(9)
    const op = OPS[dv.getUint8(p)]; p += 1
    if (op === undefined) throw malformed('unknown op')
    if (lwwOnly && op !== 'lww') throw malformed(`write op ${op} (only lww)`)
    const tableId = dv.getUint32(p, true); p += 4
    const pkLen = dv.getUint32(p, true); p += 4
    need(pkLen + 20)
    try {
      checkTuple(b, p, p + pkLen)
    } catch (e) {
      throw malformed(`primary key: ${(e as Error).message}`)
    }
    const pkBytes = take(pkLen); p += pkLen
    const versionId = take(16); p += 16
    const rowLen = dv.getInt32(p, true); p += 4
    let row: Uint8Array | null = null
    if (rowLen >= 0) { need(rowLen); row = take(rowLen); p += rowLen } else if (rowLen !== -1) throw malformed('row length')
    if (op === 'delete') {
      if (row !== null) throw malformed('delete with a row')
    } else if (op !== 'put' && op !== 'lww' && row === null) {
      throw malformed(`${op} without a row`)
    }
    writes.push(new EncodedPkWrite(op, tableId, pkBytes, row, versionId) as unknown as RowWrite)
  }
  if (p !== b.length) throw malformed('trailing bytes')
  return xid === undefined ? { shard, writes, commitHlc } : { shard, writes, commitHlc, xid }
}

/** The reply header with n per-write bytes left for the caller (from offset 29). */
function replyFrame (xid: bigint, lsn: bigint | null, commitHlc: bigint, n: number): Uint8Array {
  const out = new Uint8Array(8 + 1 + 8 + 8 + 4 + n)
  const dv = new DataView(out.buffer)
  dv.setBigUint64(0, xid, true)
  dv.setUint8(8, lsn === null ? 0 : 1)
  dv.setBigUint64(9, lsn ?? 0n, true)
  dv.setBigUint64(17, commitHlc, true)
  dv.setUint32(25, n, true)
  return out
}

interface ReplyHeader { xid: Xid, lsn: bigint | null, commitHlc: HlcTs, n: number }

function readReplyFrame (b: Uint8Array, op: string): ReplyHeader {
  if (b.length < 29) throw malformedMsg('truncated reply', op)
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const n = dv.getUint32(25, true)
  if (b.length !== 29 + n) throw malformedMsg('reply length', op)
  return { xid: asXid(dv.getBigUint64(0, true)), lsn: dv.getUint8(8) ? dv.getBigUint64(9, true) : null, commitHlc: asHlcTs(dv.getBigUint64(17, true)), n }
}

export function encodeAutocommitReply (r: AutocommitReplyMsg): Uint8Array {
  const out = replyFrame(r.xid, r.lsn, r.commitHlc, r.affected.length)
  r.affected.forEach((a, i) => { out[29 + i] = a ? 1 : 0 })
  return out
}

export function decodeAutocommitReply (b: Uint8Array): AutocommitReplyMsg {
  const h = readReplyFrame(b, 'AUTOCOMMIT')
  const affected: boolean[] = []
  for (let i = 0; i < h.n; i++) affected.push(b[29 + i] === 1)
  return { xid: h.xid, lsn: h.lsn, commitHlc: h.commitHlc, affected }
}

// ---- REPLICA_APPLY ------------------------------------------------------------------------------

export function encodeReplicaApply (m: ReplicaApplyRequestMsg): Uint8Array {
  return encodeWrites(m, true)
}

/** As decodeAutocommit; every write must be op lww. The writes returned are 'lww' RowWrites
 *  (they carry op: 'lww'), which the engine's autocommit takes as they are. */
export function decodeReplicaApply (b: Uint8Array, copy = true): ReplicaApplyRequestMsg & { writes: RowWrite[] } {
  return decodeWrites(b, copy, true) as ReplicaApplyRequestMsg & { writes: RowWrite[] }
}

export function encodeReplicaApplyReply (r: ReplicaApplyReplyMsg): Uint8Array {
  const out = replyFrame(r.xid, r.lsn, r.commitHlc, r.applied.length)
  r.applied.forEach((a, i) => { out[29 + i] = LWW_CODE[a] })
  return out
}

export function decodeReplicaApplyReply (b: Uint8Array): ReplicaApplyReplyMsg {
  const h = readReplyFrame(b, 'REPLICA_APPLY')
  const applied: LwwOutcome[] = []
  for (let i = 0; i < h.n; i++) {
    const o = LWW_OUTCOMES[b[29 + i]!]
    if (o === undefined) throw malformedMsg('outcome code', 'REPLICA_APPLY')
    applied.push(o)
  }
  return { xid: h.xid, lsn: h.lsn, commitHlc: h.commitHlc, applied }
}
