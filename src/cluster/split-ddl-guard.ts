import { ScratchBirdError } from '../core/errors'
import type { NodeId, ShardId } from '../core/ids'
import { splitBlockers, type SplitBlocker, type SplitContext } from './shard-split'

// DDL while a shard split runs (issue 20 item 5; cluster/shard-split.ts THE SPLIT). A split fixes
// two things at its start that a catalog change could move under it:
//  - the holders of each parent (cluster/split-run.ts: the first N of its preference list, N the
//    copies Mode 1 keeps, routing.ts primaryReplicaCount) — they derive the children, their reports
//    decide the switch, and each child's Mode 1 group starts at the switch with the placement's
//    first N as its voters, which must be the parent's voters. A CREATE TABLE, ALTER TABLE … SET
//    replication_factor / replication_mode or DROP TABLE that changes that N changes the holders
//    and starts a voter change in every parent's group (add a voter, or remove one) while the
//    derives run: a holder added late has derived nothing, and a child could start with voters its
//    parent never had;
//  - what splitBlockers refused at the start (a leaderless table, a global index, a table move):
//    a derive that meets one of them stops (SB_SHARD_SPLIT_UNSUPPORTED) and the split can neither
//    switch nor, once a parent caught up, be cancelled.
// The other way round, the decider refuses to START a split while such a change is pending
// (splitStartBlockers): a DDL statement it is coordinating itself (its catalog is built but maybe
// not installed: the holders the split would compute may not be the ones the next catalog gives),
// or a Mode 1 group whose voters — the latest config entry or the committed one — are not the
// placement's first N yet (a raised N whose new voter is still being bootstrapped, a lowered one
// whose old voter is not removed yet) on ANY live member: each node reports its own such groups in
// its gossip record (votersChanging, gossip v7), updated in the same turn as the catalog version it
// announces, so a record announcing catalog v reports its groups as v places them. The decider
// reads them once the split lock (split-ddl-lock.ts) told it the coordinator's catalog version and
// every live member announced at least that one. A DDL coordinated by another node is held back by
// that lock; a parent primary also holds its switch back while its group's voters are not the
// holders (split-run.ts switchMayBegin).
// So the catalog coordinator refuses such a DDL while a split is recorded (or being decided)
// with SB_SHARD_SPLIT_IN_PROGRESS naming the split; the catalog is unchanged. Checked where the
// next catalog version is built (node.ts runDdl → ClusterShell.checkProvidable), so every path —
// a client of any node, a forwarded statement, the steps of a table move — goes through it.

/** What of a catalog a split depends on (exec/shard-split-statement.ts splitCatalogFacts builds it). */
export interface SplitCatalogFacts {
  readonly tables: SplitContext['tables']
  /** Copies Mode 1 keeps of each shard (routing.ts primaryReplicaCount over the placed members). */
  readonly mode1Copies: number
}

/** The split under way: `shards` splitting into `to`. */
export interface SplitUnderWay { readonly shards: number, readonly to: number }

/**
 * Why the catalog change `before` → `after` may not happen while `split` runs (null: it may, or no
 * split runs). `statement` names the DDL in the message.
 */
export function splitDdlRefusal (split: SplitUnderWay | null, before: SplitCatalogFacts, after: SplitCatalogFacts, statement: string): ScratchBirdError | null {
  if (split === null) return null
  const why: string[] = []
  if (after.mode1Copies !== before.mode1Copies) {
    why.push(`it would change the copies Mode 1 keeps of each primary_replica shard from ${before.mode1Copies} to ${after.mode1Copies} (every shard's replication group would change its voters, and the split's holders and its new shards' groups are the voters it started with)`)
  }
  const detailsOf = (tables: SplitContext['tables']): string[] => splitBlockers({ tables, membershipChanging: false, rowCopyBuilt: true }).map(b => b.detail)
  const had = new Set(detailsOf(before.tables))
  const added = detailsOf(after.tables).filter(d => !had.has(d))
  if (added.length > 0) why.push(`a split cannot copy what it would add: ${added.join('; ')}`)
  if (why.length === 0) return null
  return new ScratchBirdError('SB_SHARD_SPLIT_IN_PROGRESS',
    `${statement} refused: a split of ${split.shards} shards into ${split.to} is under way, and ${why.join('; and ')}; nothing was changed: retry once the split is done (SHOW SHARD MAP), or cancel it first (ALTER CLUSTER SET shards = ${split.shards})`,
    { shards: split.shards, target: split.to, copies_before: before.mode1Copies, copies_after: after.mode1Copies, added })
}

/** What the decider sees in the way of a split's start (node/cluster.ts splitStartBlockers). */
export interface SplitStartView {
  /** A DDL statement is being coordinated by this node now (catalog-sync: built, maybe not installed). */
  readonly ddlRunning: boolean
  /**
   * The Mode 1 groups whose voters are not the placement's first N yet, per node: this node's own
   * (read now) and every live member's as its gossip record reports them (GossipLocal.votersChanging).
   */
  readonly votersChanging: ReadonlyArray<{ readonly node: NodeId, readonly shards: readonly ShardId[] }>
}

/** The blockers of a split's start from the decider's view (empty: none seen). */
export function splitStartBlockers (v: SplitStartView): SplitBlocker[] {
  const out: SplitBlocker[] = []
  if (v.ddlRunning) out.push({ what: 'catalog_change', detail: 'a DDL statement is being applied (it may change the copies Mode 1 keeps, which fix the split\'s holders): retry once it ended' })
  const changing = v.votersChanging.filter(c => c.shards.length > 0)
  if (changing.length > 0) {
    const list = (s: readonly ShardId[]): string => s.length > 8 ? `${s.slice(0, 8).join(', ')} and ${s.length - 8} more` : s.join(', ')
    out.push({ what: 'voter_change', detail: `the replication group(s) of ${changing.map(c => `shard(s) ${list(c.shards)} on node ${c.node}`).join(', ')} are still changing their voters to the placement's (a changed replication_factor being carried out; SHOW SHARD MAP): retry once they are done` })
  }
  return out
}
