import { assert } from '../../core/errors'
import type { NodeId } from '../../core/ids'

// Tombstone purge and stale-replica rules of leaderless_quorum shards (DESIGN §4, §6
// "Anti-entropy", issue 15 item 5), as pure functions of a shard replica's repair record. Deletes
// are tombstones; dropping one before every replica holds it (or a newer version) lets the deleted
// row come back from the replica that missed the delete — through a read, a read repair or
// anti-entropy — which is what Cassandra documents for nodes down longer than gc_grace_seconds.
//
// Purge (Cassandra's only_purge_repaired_tombstones, made the rule): a tombstone goes only when
//  - it is older than replication.tombstone_gc_grace_days, counted from the later of its version
//    timestamp and the time this replica wrote it (a hint or repair may deliver it days late), and
//  - for EVERY other replica of the shard, a repair round with nothing left unresolved has
//    verified this replica against it past that time (RoundResult.verifiedThroughMs): that peer
//    then holds the tombstone or a newer version of the key, so nothing older survives anywhere.
// A replica this replica has no record for (never repaired with, or newly placed) blocks every
// purge. Because a purge needs a round with every replica after the tombstone arrived, a replica
// that was away can never have missed a tombstone another one purged.
//
// Serving: a replica whose last completed round with any peer of the shard is older than the
// grace period (a node back from a long outage, or cut off that long) is stale: it neither serves
// the shard nor counts toward its quorums until a round with every peer completes (serveVerdict). "With any peer", not "with
// every peer": one replica down for longer than the grace must not make the healthy ones, which
// keep repairing each other, stale too — that would turn one long outage into an unavailable
// shard. The purge rule above is what keeps deletes from coming back; this rule keeps a long-lost
// replica from answering with data it cannot know is current. A sole replica (no peers) is never
// stale. `currentSinceMs` is when the replica became current without a round: created empty with
// the shard, or bootstrapped from a consistent snapshot; the shell persists it with the record, so
// a restart does not make an old replica look fresh.

const DAY_MS = 86_400_000

/** `replication.tombstone_gc_grace_days` in ms. */
export function tombstoneGraceMs (days: number): number {
  assert(Number.isFinite(days) && days > 0, 'tombstone grace must be positive')
  return Math.round(days * DAY_MS)
}

/** What this replica knows of its repairs with one peer of the shard. */
export interface PeerRepairRecord {
  /** Wall ms at which the last completed round with this peer started (any outcome inside). */
  readonly lastCompletedAtMs?: number | undefined
  /** Highest verifiedThroughMs of the completed rounds with nothing unresolved. */
  readonly verifiedThroughMs?: number | undefined
}

export interface ShardRepairState {
  /** When this replica was current without a round (created with the shard, bootstrapped). */
  readonly currentSinceMs: number
  readonly peers: ReadonlyMap<NodeId, PeerRepairRecord>
}

export interface TombstoneAge {
  /** Timestamp of the tombstone's version id (its HLC ms). */
  readonly versionTsMs: number
  /** When this replica wrote it (its local commit HLC ms). */
  readonly localWriteMs: number
}

export type PurgeVerdict =
  | { readonly purge: true }
  | { readonly purge: false, readonly why: 'too-young' }
  /** No round with nothing unresolved verified `peer` past the tombstone yet. */
  | { readonly purge: false, readonly why: 'unverified', readonly peer: NodeId }

/**
 * May this replica purge a leaderless tombstone? `peers` are the shard's other replicas now
 * (placement), `nowMs` the wall clock, `graceMs` tombstoneGraceMs(tombstone_gc_grace_days).
 */
export function tombstonePurgeVerdict (t: TombstoneAge, peers: readonly NodeId[], state: ShardRepairState, nowMs: number, graceMs: number): PurgeVerdict {
  const written = Math.max(t.versionTsMs, t.localWriteMs)
  if (!(nowMs - written > graceMs)) return { purge: false, why: 'too-young' }
  for (const p of peers) {
    const v = state.peers.get(p)?.verifiedThroughMs
    if (v === undefined || !(v > written)) return { purge: false, why: 'unverified', peer: p }
  }
  return { purge: true }
}

/**
 * The same rule for a whole shard at once (the sweep): a tombstone may go when it was written
 * (max of its version timestamp and its local write) before the returned wall-clock ms, which is
 * min(now − grace, every peer's verifiedThroughMs); null when a peer has no verified round yet
 * (then nothing may go). tombstonePurgeVerdict(t) says purge exactly when written < this.
 */
export function tombstonePurgeCutoff (peers: readonly NodeId[], state: ShardRepairState, nowMs: number, graceMs: number): number | null {
  let cutoff = nowMs - graceMs
  for (const p of peers) {
    const v = state.peers.get(p)?.verifiedThroughMs
    if (v === undefined) return null
    if (v < cutoff) cutoff = v
  }
  return cutoff
}

/** When the replica was last known current: its last completed round with any peer, or currentSinceMs. */
export function repairedAsOf (state: ShardRepairState, peers: readonly NodeId[]): number {
  let asOf = state.currentSinceMs
  for (const p of peers) {
    const at = state.peers.get(p)?.lastCompletedAtMs
    if (at !== undefined && at > asOf) asOf = at
  }
  return asOf
}

/**
 * May this replica serve the shard and count toward its quorums? (The quorum code calls this per
 * replica; a stale one is skipped like a down one.) The stateless half of serveVerdict: whether a
 * replica that was serving has become stale.
 */
export function servable (state: ShardRepairState, peers: readonly NodeId[], nowMs: number, graceMs: number): boolean {
  if (peers.length === 0) return true
  return nowMs - repairedAsOf(state, peers) <= graceMs
}

/**
 * Whether a replica serves the shard, with memory (DESIGN §6 "Tombstones (leaderless)"): it
 * becomes stale when servable() turns false (no round completed with any peer within the grace),
 * at `staleSinceMs`, and serves again only once a round with EVERY peer of the shard started after
 * that and completed: one round with one peer would let two replicas back from the same outage
 * vouch for each other. A peer down for good therefore keeps a stale replica out until it returns
 * or placement drops it — deliberately: serving stale data is what this rule prevents. `waitingFor`
 * lists the peers it still needs a round with (empty when serving).
 */
export interface ServeVerdict {
  readonly serving: boolean
  /** When it became stale; null while serving. The caller keeps it and passes it back. */
  readonly staleSinceMs: number | null
  readonly waitingFor: readonly NodeId[]
}

export function serveVerdict (state: ShardRepairState, peers: readonly NodeId[], nowMs: number, graceMs: number, staleSinceMs: number | null): ServeVerdict {
  if (peers.length === 0) return { serving: true, staleSinceMs: null, waitingFor: [] }
  if (staleSinceMs === null) {
    if (servable(state, peers, nowMs, graceMs)) return { serving: true, staleSinceMs: null, waitingFor: [] }
    staleSinceMs = nowMs
  }
  const since = staleSinceMs
  const waitingFor = peers.filter(p => !((state.peers.get(p)?.lastCompletedAtMs ?? -Infinity) >= since))
  if (waitingFor.length === 0) return { serving: true, staleSinceMs: null, waitingFor: [] }
  return { serving: false, staleSinceMs: since, waitingFor }
}
