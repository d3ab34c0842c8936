// Global transaction ids (DESIGN §3): xid = node_id (16 bits) << 48 | counter (48 bits).
//
// The counter is persisted as a high-water mark in reserved blocks (s/xid): at open the counter
// jumps to the stored mark, and a new mark (counter + XID_BLOCK) rides in the next write batch
// whenever fewer than half a block remains. The engine's writer puts that mark in the same
// batch as anything written with an xid handed out so far, so no xid that reached disk can be
// handed out again after a restart (ids of read-only transactions that never reached disk may
// be; nothing refers to them).
//
// One allocator persisted in one shard's metadata makes ids unique within that shard. Xids must
// be unique across every shard of a node (a 2PC transaction carries one xid to several shards),
// so the node's shards should share one allocator: implement XidSource over a node-level store
// and pass it to ShardEngine.open — the per-shard default is for tests and single-shard use.
//
// Xids applied from elsewhere (a Mode 1 replica applying its primary's log, a bootstrap snapshot)
// never collide with the ones handed out here while node ids are unique in the cluster: the
// upper 16 bits differ. The one exception is this node's OWN earlier xids coming back — its data
// directory wiped and re-bootstrapped from a replica that holds entries this node appended as
// primary in an earlier life, when its counter started again at 1. observe() covers that: an
// applied xid with this node's id raises the counter past it (and the mark with the next batch).

import { ScratchBirdError } from '../core/errors'
import { asXid, isNodeId, NODE_ID_MAX, NODE_ID_MIN, type NodeId } from '../core/ids'
import { corrupt, metaKey, readU64, writeU64 } from './keys'
import type { KvOp, KvStore } from './kv'
import type { Xid } from './types'

export const XID_COUNTER_BITS = 48n
export const XID_COUNTER_MAX = (1n << XID_COUNTER_BITS) - 1n
/** Counter values reserved per persisted high-water mark. */
export const XID_BLOCK = 65_536n

export function makeXid (nodeId: NodeId, counter: bigint): Xid {
  return asXid((BigInt(nodeId) << XID_COUNTER_BITS) | counter)
}

export function xidNodeId (xid: Xid): number { return Number(xid >> XID_COUNTER_BITS) }
export function xidCounter (xid: Xid): bigint { return xid & XID_COUNTER_MAX }

/** Where the engine gets xids for transactions it starts. */
export interface XidSource {
  next (): Xid
  /** A KV op to include in the next write batch, if the persisted mark must move. */
  reservation (): KvOp | undefined
  /** The batch carrying `op` (from reservation()) landed. */
  reserved (op: KvOp): void
  /** An xid applied from elsewhere: never hand it out (only one with this node's id matters). */
  observe (xid: Xid): void
}

export const XID_META = metaKey('xid')

/** The mark to persist when fewer than half a block remains above `counter`, else undefined. */
export function reservationOp (counter: bigint, persisted: bigint): KvOp | undefined {
  if (counter + XID_BLOCK / 2n < persisted) return undefined
  let mark = counter + XID_BLOCK
  if (mark > XID_COUNTER_MAX + 1n) mark = XID_COUNTER_MAX + 1n
  if (mark <= persisted) return undefined
  const value = new Uint8Array(8)
  writeU64(value, 0, mark)
  return { type: 'put', key: XID_META, value }
}

/** The persisted mark once the batch carrying `op` (from reservationOp) landed. */
export function persistedAfter (op: KvOp, persisted: bigint): bigint {
  if (op.type !== 'put') return persisted
  const mark = readU64(op.value, 0)
  return mark > persisted ? mark : persisted
}

/** Default XidSource: counter persisted in a KV store's s/xid. */
export class XidAllocator implements XidSource {
  private counter: bigint
  private persisted: bigint

  private constructor (private readonly nodeId: NodeId, start: bigint) {
    this.counter = start
    this.persisted = start
  }

  /** Load the mark; returns the allocator and the op that must be written before use. */
  static async open (kv: KvStore, nodeId: number): Promise<XidAllocator> {
    if (!isNodeId(nodeId)) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `node id must be an integer in [${NODE_ID_MIN}, ${NODE_ID_MAX}]`, { nodeId })
    }
    const raw = await kv.get(XID_META)
    let start = 1n
    if (raw !== undefined) {
      if (raw.length !== 8) throw corrupt('XID high-water mark', { length: raw.length })
      start = readU64(raw, 0)
      if (start < 1n || start > XID_COUNTER_MAX + 1n) throw corrupt('XID high-water mark: out of range')
    }
    return new XidAllocator(nodeId, start)
  }

  next (): Xid {
    if (this.counter > XID_COUNTER_MAX) {
      throw new ScratchBirdError('SB_XID_EXHAUSTED', 'transaction id counter exhausted', { nodeId: this.nodeId })
    }
    return makeXid(this.nodeId, this.counter++)
  }

  reservation (): KvOp | undefined { return reservationOp(this.counter, this.persisted) }

  reserved (op: KvOp): void { this.persisted = persistedAfter(op, this.persisted) }

  observe (xid: Xid): void {
    if (xidNodeId(xid) === this.nodeId && xidCounter(xid) >= this.counter) this.counter = xidCounter(xid) + 1n
  }
}
