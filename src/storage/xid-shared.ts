import { ScratchBirdError } from '../core/errors'
import type { KvOp, KvStore } from './kv'
import { corrupt, readU64 } from './keys'
import type { Xid } from './types'
import { XID_COUNTER_MAX, XID_META, makeXid, persistedAfter, reservationOp, xidCounter, xidNodeId, type XidSource } from './xid'
import type { NodeId } from '../core/ids'

// Node-wide XIDs for all shards of a node (DESIGN §3): one 64-bit counter in a SharedArrayBuffer,
// advanced with Atomics by every shard worker, so a transaction spanning shards (2PC) and
// transactions on different shards never share an xid. Persistence stays per shard, in reserved
// blocks: each shard's source puts a mark ≥ the counter in the same batch as anything it writes
// (XidSource contract), so every xid on disk in a shard is below that shard's mark; at start the
// counter is raised to the highest mark of every shard (raiseTo), so no xid is ever reused.

export class SharedXidCounter {
  private readonly word: BigInt64Array

  constructor (readonly sab: SharedArrayBuffer) {
    this.word = new BigInt64Array(sab, 0, 1)
    if (Atomics.load(this.word, 0) === 0n) Atomics.compareExchange(this.word, 0, 0n, 1n)
  }

  current (): bigint { return Atomics.load(this.word, 0) }

  take (): bigint { return Atomics.add(this.word, 0, 1n) }

  /** Lock-free max: the counter never moves backwards, whoever raises it concurrently. */
  raiseTo (value: bigint): void {
    for (;;) {
      const cur = Atomics.load(this.word, 0)
      if (cur >= value || Atomics.compareExchange(this.word, 0, cur, value) === cur) return
    }
  }
}

/** Reads a shard's persisted XID mark (before its engine opens) so the counter can be raised to it. */
export async function readXidMark (kv: KvStore): Promise<bigint> {
  const raw = await kv.get(XID_META)
  if (raw === undefined) return 1n
  if (raw.length !== 8) throw corrupt('XID high-water mark', { length: raw.length })
  return readU64(raw, 0)
}

/** One shard's view of the shared counter: its own persisted mark, the node's counter. */
export class SharedXidSource implements XidSource {
  constructor (private readonly counter: SharedXidCounter, private readonly nodeId: NodeId, private persisted: bigint) {}

  next (): Xid {
    const c = this.counter.take()
    if (c > XID_COUNTER_MAX) throw new ScratchBirdError('SB_XID_EXHAUSTED', 'transaction id counter exhausted', { nodeId: this.nodeId })
    return makeXid(this.nodeId, c)
  }

  reservation (): KvOp | undefined { return reservationOp(this.counter.current(), this.persisted) }

  reserved (op: KvOp): void { this.persisted = persistedAfter(op, this.persisted) }

  observe (xid: Xid): void {
    if (xidNodeId(xid) === this.nodeId) this.counter.raiseTo(xidCounter(xid) + 1n)
  }
}
