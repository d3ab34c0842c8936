import type { ShardId } from '../core/ids'
import type { Xid } from '../storage/types'

// Prepared transactions a primary's limbo recovery leaves alone while they are young. Recovery
// fences a transaction whose coordinator may still be running on another node with an abort
// record (cluster/twopc/recovery.ts): right when that coordinator is gone, wrong for one between
// its PREPAREs and its commit record — where every two-phase commit is for a few milliseconds. A
// new primary (a failover, a new table's first election) and the periodic sweep met such
// transactions and aborted them under their live coordinator (the client got SB_TXN_NOT_ACTIVE
// "aborted by limbo recovery before its commit record was written"). So a primary's recovery takes
// a limbo transaction only once this node has seen it in limbo for LIMBO_MIN_AGE_MS: a running
// coordinator has decided by then; a gone one's rows stay locked that much longer.

/** How long a primary leaves a prepared transaction to its coordinator before recovering it. */
export const LIMBO_MIN_AGE_MS = 5_000

export class LimboAges {
  private readonly firstSeen = new Map<ShardId, Map<Xid, number>>()
  private readonly youngCount = new Map<ShardId, number>()

  constructor (private readonly now: () => number, private readonly minAgeMs = LIMBO_MIN_AGE_MS) {}

  /** Of `shard`'s limbo listing, the transactions old enough to recover; the others are remembered. */
  old (shard: ShardId, xids: readonly Xid[]): Xid[] {
    const seen = this.firstSeen.get(shard)
    const next = new Map<Xid, number>()
    const t = this.now()
    const out: Xid[] = []
    for (const x of xids) {
      const first = seen?.get(x) ?? t
      next.set(x, first)
      if (t - first >= this.minAgeMs) out.push(x)
    }
    this.firstSeen.set(shard, next)
    this.youngCount.set(shard, xids.length - out.length)
    return out
  }

  /** How many of `shard`'s last listing were left for being young (recovery should look again). */
  young (shard: ShardId): number {
    return this.youngCount.get(shard) ?? 0
  }
}
