import type { NodeId } from '../core/ids'
import type { SplitBlocker } from './shard-split'
import type { SplitUnderWay } from './split-ddl-guard'

// The split lock: the handshake that keeps a DDL from slipping past a split's start when the
// catalog coordinator (who checks DDL: split-ddl-guard.ts splitDdlRefusal) and the membership
// decider (who decides the split's intent) are different nodes. Pure rules; the shells are
// node/cluster.ts (SPLIT_LOCK, net/rpc/opcodes.ts) and node/cluster-split.ts (the decider).
//
//  1. Before proposing the intent (epoch e + 1 over its layout of epoch e) the decider asks the
//     node it sees as catalog coordinator to take the lock for (e, n → 2n). The coordinator
//     grants it only if it is the coordinator in its own view, its layout is not past e, no other
//     decider holds an unexpired lock, and NO DDL statement is running on it (CatalogSync
//     .coordinating: from the statement's fetch round to its catalog's install, so granted means
//     every catalog it built is installed). The reply carries its catalog version v.
//  2. The decider refuses the start (SB_SHARD_SPLIT_UNSUPPORTED, catalog_change) when the lock is
//     refused, when its own catalog is older than v, or when a live member announces (gossip)
//     a catalog older than v: the split's holders and every member's voter_change report
//     (split-ddl-guard.ts splitStartBlockers) are computed from each node's catalog, which must be v's.
//  3. While it holds the lock the coordinator judges every DDL it builds as if the split were
//     recorded (checkProvidable → splitDdlRefusal: SB_SHARD_SPLIT_IN_PROGRESS for one that
//     changes the copies Mode 1 keeps or adds what a split refuses). It drops the lock when its
//     layout passes e (the intent was adopted — from then on layout.split refuses the same DDL —
//     or another layout won epoch e + 1, so the intent never will), when the decider releases it
//     (its decree was not chosen), or after SPLIT_LOCK_TTL_MS (a decider that died mid-decree).
// Why no DDL passes: the catalog change that matters is built on the coordinator in one turn that
// reads the lock and the layout (checkProvidable). A DDL built before the grant is installed on
// the coordinator before the grant (1) and on every member before the start (2); one built after
// it sees the lock until the coordinator's layout records the split, and that layout's split then
// refuses it until the split ends. The lock and the layout overlap: the lock is dropped only at a
// layout past e, which is the intent itself or a layout that excludes it.
// Not covered: a coordinator hand-over inside the window (a lower id coming back between the grant
// and the new coordinator's adoption of the intent builds DDL without the lock), and a decree
// still undecided after the TTL (DECREE_TIMEOUT_MS is 5 s; the TTL is twelve times that).

/** How long a granted lock lasts without its intent being adopted (a decider that died mid-decree). */
export const SPLIT_LOCK_TTL_MS = 60_000

/** SPLIT_LOCK's request: take or release the lock for the split of `shards` into `to` over layout epoch `epoch`. */
export interface SplitLockRequest {
  readonly take: boolean
  /** The decider's layout epoch (the intent would be epoch + 1). */
  readonly epoch: number
  readonly shards: number
  readonly to: number
}

/** SPLIT_LOCK's reply: granted (with the coordinator's catalog version), or why not. */
export interface SplitLockReply {
  readonly granted: boolean
  readonly catalogVersion: number
  /** Why it was refused ('' when granted, or for a release). */
  readonly refusal: string
}

/** What the coordinator knows when asked (its own view). */
export interface SplitLockView {
  readonly now: number
  /** Is this node the catalog coordinator in its own view? */
  readonly isCoordinator: boolean
  /** Is a DDL statement running here (built, maybe not installed)? */
  readonly ddlRunning: boolean
  readonly layoutEpoch: number
  readonly catalogVersion: number
}

interface Held { readonly from: NodeId, readonly epoch: number, readonly shards: number, readonly to: number, readonly until: number }

/** The lock as the catalog coordinator keeps it (in memory: a restarted coordinator holds none, and its DDL waits for its startup fetch round, after which gossip shows it the layout). */
export class SplitDdlLock {
  private held: Held | null = null

  /** A SPLIT_LOCK from decider `from`: taken (granted) or refused, or released. */
  request (from: NodeId, req: SplitLockRequest, v: SplitLockView): SplitLockReply {
    this.expire(v.now, v.layoutEpoch)
    if (!req.take) {
      if (this.held !== null && this.held.from === from && this.held.epoch === req.epoch) this.held = null
      return { granted: false, catalogVersion: v.catalogVersion, refusal: '' }
    }
    const refusal = !v.isCoordinator
      ? 'it is not the catalog coordinator in its own view (a lower node id is alive there)'
      : v.ddlRunning
        ? 'a DDL statement is being applied there (it may change the copies Mode 1 keeps, which fix the split\'s holders)'
        : v.layoutEpoch > req.epoch
          ? `its layout is of epoch ${v.layoutEpoch} already, past the decider's ${req.epoch}`
          : this.held !== null && this.held.from !== from
            ? `node ${this.held.from} holds it for its own split of ${this.held.shards} shards`
            : null
    if (refusal !== null) return { granted: false, catalogVersion: v.catalogVersion, refusal }
    this.held = { from, epoch: req.epoch, shards: req.shards, to: req.to, until: v.now + SPLIT_LOCK_TTL_MS }
    return { granted: true, catalogVersion: v.catalogVersion, refusal: '' }
  }

  /** The split a DDL built now is judged against because of the lock (null: no lock held). */
  current (now: number, layoutEpoch: number): SplitUnderWay | null {
    this.expire(now, layoutEpoch)
    return this.held === null ? null : { shards: this.held.shards, to: this.held.to }
  }

  private expire (now: number, layoutEpoch: number): void {
    if (this.held !== null && (layoutEpoch > this.held.epoch || now >= this.held.until)) this.held = null
  }
}

/** What the decider checks after the lock was asked for (rule 2 above). */
export interface SplitLockOutcome {
  /** The coordinator's reply, or why it could not be asked (an RPC failure). */
  readonly reply: SplitLockReply | { readonly error: string }
  readonly coordinator: NodeId
  /** The decider's own catalog version. */
  readonly ownCatalogVersion: number
  /** Live members announcing a catalog older than the coordinator's (gossip), with theirs. */
  readonly behind: ReadonlyArray<{ readonly node: NodeId, readonly version: number }>
}

/** The blocker the lock's outcome puts in the way of a start (null: none). */
export function splitLockBlocker (o: SplitLockOutcome): SplitBlocker | null {
  const r = o.reply
  if ('error' in r) return { what: 'catalog_change', detail: `the catalog coordinator (node ${o.coordinator}) could not be asked to hold DDL back for the split (${r.error}): retry` }
  if (!r.granted) return { what: 'catalog_change', detail: `the catalog coordinator (node ${o.coordinator}) cannot hold DDL back for the split now: ${r.refusal}: retry` }
  if (o.ownCatalogVersion < r.catalogVersion) return { what: 'catalog_change', detail: `this node's catalog (version ${o.ownCatalogVersion}) is older than the coordinator's (version ${r.catalogVersion}): retry once it caught up` }
  const behind = o.behind.filter(b => b.version < r.catalogVersion)
  if (behind.length > 0) return { what: 'catalog_change', detail: `node(s) ${behind.map(b => `${b.node} (catalog version ${b.version})`).join(', ')} have not installed the coordinator's catalog version ${r.catalogVersion} yet: retry once they did` }
  return null
}
