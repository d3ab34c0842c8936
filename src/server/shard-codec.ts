import { ScratchBirdError } from '../core/errors'
import type { RowWrite } from '../storage/engine'
import { checkTuple, decodeTuple, encodeTuple, type TupleValue } from '../storage/keys'

// Binary codec of the hot path — AUTOCOMMIT requests and replies — between the main thread and a
// shard worker. Measured: V8 serialize/deserialize of a one-row request cost more than the engine
// work it carries (typed arrays go through JS host-object hooks), so the write path gets a flat
// little-endian layout; every other op stays V8-serialised (shard-ops.ts).
//
// request:  u16 shard | u8 flags (1 = xid present) | u64 commitHlc | [u64 xid] | u32 n | n × write
// write:    u8 op | u32 tableId | u32 pkLen | pk (tuple encoding) | 16 versionId | i32 rowLen (-1 = none) | row
//           (a delete carries no row; insert/update always do)
// reply:    u64 xid | u8 hasLsn | u64 lsn | u64 commitHlc | u32 n | n × u8 affected

const OPS = ['insert', 'update', 'delete', 'put'] as const
const OP_CODE: Record<RowWrite['op'], number> = { insert: 0, update: 1, delete: 2, put: 3 }

export interface AutocommitRequestMsg { shard: number, writes: RowWrite[], commitHlc: bigint, xid?: bigint }
export interface AutocommitReplyMsg { xid: bigint, lsn: bigint | null, commitHlc: bigint, affected: boolean[] }

function malformed (what: string): ScratchBirdError {
  return new ScratchBirdError('SB_MALFORMED_REQUEST', `malformed AUTOCOMMIT message: ${what}`)
}

export function encodeAutocommit (m: AutocommitRequestMsg): Uint8Array {
  const writes = m.writes
  const pks = new Array<Uint8Array>(writes.length)
  let size = 2 + 1 + 8 + (m.xid === undefined ? 0 : 8) + 4
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!
    const pk = pks[i] = w.pkBytes ?? encodeTuple(w.pk)
    const row = w.op === 'delete' ? null : w.row
    size += 1 + 4 + 4 + pk.length + 16 + 4 + (row !== null ? row.length : 0)
  }
  const out = new Uint8Array(size)
  const dv = new DataView(out.buffer)
  let p = 0
  dv.setUint16(p, m.shard, true); p += 2
  dv.setUint8(p, m.xid === undefined ? 0 : 1); p += 1
  dv.setBigUint64(p, m.commitHlc, true); p += 8
  if (m.xid !== undefined) { dv.setBigUint64(p, m.xid, true); p += 8 }
  dv.setUint32(p, writes.length, true); p += 4
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!
    const pk = pks[i]!
    dv.setUint8(p, OP_CODE[w.op]); p += 1
    dv.setUint32(p, w.tableId, true); p += 4
    dv.setUint32(p, pk.length, true); p += 4
    out.set(pk, p); p += pk.length
    if (w.versionId.length !== 16) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'versionId must be 16 bytes')
    out.set(w.versionId, p); p += 16
    const row = w.op === 'delete' ? null : w.row
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
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  let p = 0
  const need = (n: number): void => { if (p + n > b.length) throw malformed('truncated') }
  const take = (n: number): Uint8Array => copy ? b.slice(p, p + n) : b.subarray(p, p + n)
  need(15)
  const shard = dv.getUint16(p, true); p += 2
  const flags = dv.getUint8(p); p += 1
  if (flags > 1) throw malformed('flags')
  const commitHlc = dv.getBigUint64(p, true); p += 8
  let xid: bigint | undefined
  if (flags & 1) { need(8); xid = dv.getBigUint64(p, true); p += 8 }
  need(4)
  const n = dv.getUint32(p, true); p += 4
  if (n > b.length) throw malformed('write count')
  const writes: RowWrite[] = []
  for (let i = 0; i < n; i++) {
    need(9)
    const op = OPS[dv.getUint8(p)]; p += 1
    if (op === undefined) throw malformed('unknown op')
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
    } else if (op !== 'put' && row === null) {
      throw malformed(`${op} without a row`)
    }
    writes.push(new EncodedPkWrite(op, tableId, pkBytes, row, versionId) as unknown as RowWrite)
  }
  if (p !== b.length) throw malformed('trailing bytes')
  return xid === undefined ? { shard, writes, commitHlc } : { shard, writes, commitHlc, xid }
}

export function encodeAutocommitReply (r: AutocommitReplyMsg): Uint8Array {
  const out = new Uint8Array(8 + 1 + 8 + 8 + 4 + r.affected.length)
  const dv = new DataView(out.buffer)
  dv.setBigUint64(0, r.xid, true)
  dv.setUint8(8, r.lsn === null ? 0 : 1)
  dv.setBigUint64(9, r.lsn ?? 0n, true)
  dv.setBigUint64(17, r.commitHlc, true)
  dv.setUint32(25, r.affected.length, true)
  r.affected.forEach((a, i) => { out[29 + i] = a ? 1 : 0 })
  return out
}

export function decodeAutocommitReply (b: Uint8Array): AutocommitReplyMsg {
  if (b.length < 29) throw malformed('truncated reply')
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const n = dv.getUint32(25, true)
  if (b.length !== 29 + n) throw malformed('reply length')
  const affected: boolean[] = []
  for (let i = 0; i < n; i++) affected.push(b[29 + i] === 1)
  return { xid: dv.getBigUint64(0, true), lsn: dv.getUint8(8) ? dv.getBigUint64(9, true) : null, commitHlc: dv.getBigUint64(17, true), affected }
}
