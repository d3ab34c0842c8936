import type { NodeId } from '../core/ids'

// The transactions this node coordinates right now (their xids), from the first shard's BEGIN to
// the end of their COMMIT or ROLLBACK. A participant holding an uncommitted version of one of
// them asks here (TXN_STATUS, node/orphan-txns.ts) before it rolls the transaction back as
// abandoned: a coordinator that no longer lists an xid can never commit it — an ABSENT xid is
// one that ended, or belonged to an earlier life of this node (its registry starts empty).
//
// Pure data: no clock, no I/O. Bounded by the sessions (each runs at most one transaction) and
// the node's internal jobs.

export class LiveTxns {
  private readonly open = new Set<bigint>()

  /** `nodeId`: this node — every BEGIN names it as the coordinator (the participant reports it in a conflict). */
  constructor (readonly nodeId: NodeId) {}

  add (xid: bigint): void { this.open.add(xid) }
  /** The transaction ended (a no-op for an xid not listed). */
  delete (xid: bigint): void { this.open.delete(xid) }
  has (xid: bigint): boolean { return this.open.has(xid) }
  get size (): number { return this.open.size }
}
