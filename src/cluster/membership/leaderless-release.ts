import type { ReplicationOptions } from '../../catalog/replication-options'
import type { NodeId } from '../../core/ids'
import { isLeaderless } from './leaderless-moves'

// Releasing the leaderless copies a node no longer holds (issue 20 item 1; DESIGN §6, §7). Pure:
// the sweeper (node/sweeper.ts) deletes what this says, per (shard, relation), with the purge of
// dropped relations (storage/purge-relations.ts: rows, back versions, index entries, Merkle leaves,
// in bounded exclusive chunks); hints this node stores for OTHER nodes are a coordinator's and stay.
//
// A join or drain fills the new replicas of a leaderless shard from the old ones and ends at
// epoch + 1 (leaderless-moves.ts); from then on the old replicas that placement dropped hold copies
// nobody reads. They must go, and not only to free the disk: "no deleted row back". A node keeping
// a stale copy of shard s misses the deletes of s from then on and never takes part in its repair
// rounds, so the replicas that do purge those tombstones (tombstone_gc_grace_days, purge-rules.ts)
// without it. If that node later becomes a replica of s again (a join or drain moving s back), it
// is filled from the current replicas — but a fill only ADDS versions: its own stale row, whose
// tombstone no longer exists anywhere, survives, counts once the move ends, and read repair and
// anti-entropy copy it back to every replica. Deleting the copy when placement drops it closes that.
//
// When, and what:
//   - never while a move is under way (`moving`: a joining or leaving member; the old replicas are
//     the counted ones and the fill's sources until the move's end epoch);
//   - once the end epoch is adopted, only when every live member announced it and this node heard
//     it from a peer (ClusterShell.layoutSettled / layoutConfirmed), and a safety delay later
//     (ReleaseClock: the longest quorum read or write timeout plus a gossip round), so no coordinator
//     still reads or writes this node's copy by the layout before the end; the clock starts again
//     when the epoch or the catalog version changes (a lowered replication_factor drops replicas too);
//   - a shard is released only when this node is in NONE of its replica lists: not within the first
//     N of its preference list for the largest replication_factor of any table (Mode 1 ones, a raised
//     N still being bootstrapped and the relations of a table move included) — a shard it still
//     holds under any factor keeps every relation;
//   - every leaderless relation of the catalog (tables and their index relations) on that shard.
// Derived from the layout and the catalog on every sweep, so it keeps no state: a crash halfway
// leaves rows the next sweep deletes, and rows that arrive late (a hint, an old coordinator's write
// within the delay) are deleted by the next one. A node that starts with a stale layout releases
// nothing until it heard the current one from a peer.
// Not closed: if a move makes this node a replica of s again BEFORE a sweep released its old copy
// (sooner than storage.sweep_schedule after the previous move's end), the argument above fails for
// the rows deleted and purged meanwhile — which takes tombstone_gc_grace_days, far longer.

type Table = { id: number, replication: ReplicationOptions }

export interface ReleaseView {
  /** A join or drain is under way (countedMembers ≠ placedMembers). */
  readonly moving: boolean
  /** Per shard, the preference list over the placed members. */
  readonly prefs: ReadonlyArray<readonly NodeId[]>
  /** Every relation of the catalog (catalog.tables: indexes and moving relations too). */
  readonly tables: readonly Table[]
}

/** The leaderless relations `self` may delete on `shard` (see the top): none while a move runs or while it holds the shard. */
export function releasedRelations (v: ReleaseView, self: NodeId, shard: number): number[] {
  if (v.moving) return []
  const leaderless = v.tables.filter(t => isLeaderless(t.replication)).map(t => t.id)
  if (leaderless.length === 0) return []
  const keep = v.tables.reduce((m, t) => Math.max(m, t.replication.replication_factor), 0)
  const pref = v.prefs[shard]
  // A shard the placement does not know (a split under way here): nothing is released.
  if (pref === undefined || pref.slice(0, keep).includes(self)) return []
  return leaderless.sort((a, b) => a - b)
}

/**
 * When a release may run (see the top): `ready` (settled and confirmed) without a break for
 * `delayMs` since the state named `key` (epoch and catalog version) was first seen ready. Pure data.
 */
export class ReleaseClock {
  private since: { key: string, at: number } | null = null

  open (key: string, ready: boolean, nowMs: number, delayMs: number): boolean {
    if (!ready) {
      this.since = null
      return false
    }
    if (this.since?.key !== key) this.since = { key, at: nowMs }
    return nowMs - this.since.at >= delayMs
  }
}
