import { ScratchBirdError } from '../core/errors'
import { asShardId, MAX_SHARDS, type ShardId } from '../core/ids'

// Shard splitting: ALTER CLUSTER SET shards = 2n (issue 20 item 5; the seeds' "increase shard
// count"). Pure rules; DESIGN-notes form of the whole design, of which this release builds the
// statement, its checks and the start-up rule (see AS BUILT at the end).
//
// ROUTING RULE. shard = xxhash64(key bytes) mod shards (core/partition.ts). For any n and hash h,
// h mod 2n is h mod n or h mod n + n. So doubling splits each parent shard s < n into exactly two
// children, s (keeps the rows whose h mod 2n = s) and s + n (takes the rows whose h mod 2n = s + n),
// and no row moves between unrelated shards. Any other target (n → 3n, n → n + 1, shrinking) would
// move rows between every pair of shards, so only doubling is accepted (SB_SHARD_SPLIT_INVALID);
// 16 → 64 is two splits. Power-of-two counts are not needed for the rule, only doubling is.
//
// THE SPLIT, AS DESIGNED (a sans-I/O machine driven by the membership decider, like drain.ts):
//  1. PREPARE (epoch e, routing still mod n). The decider checks the blockers below, then records
//     the intent `split: { to: 2n }` in its layout and gossips it; every node records it in
//     cluster.json before acting on it. Each node opens empty engines for shards n‥2n-1 (workers
//     need a run-time OPEN_SHARD job: today shards are opened only at boot, shard/open-engines.ts).
//  2. COPY (writes continue), Mode 1 — derived on every replica of the parent, not streamed
//     (revised in session 12; CockroachDB's split is the model: a split is local to each replica of
//     the range, the new range starts with the parent's replicas, rebalancing moves it later). Each
//     replica of parent s builds child s + n from its OWN copy of the parent, so the network carries
//     nothing and the child needs no group before the switch:
//       a. pin the parent's commit log at L0 = its last applied LSN (a commit-log consumer,
//          storage/commit-log.ts commitLogNeed, so truncation keeps L0 + 1 …);
//       b. base copy: page through the parent's committed rows (latest committed version, with
//          its version id and commit HLC) and apply splitAction to each into the child engine;
//       c. tail: apply the parent's log entries L0 + 1 … in LSN order through splitAction, and
//          keep doing so as entries land. Why this converges (the gh-ost argument): for a key no
//          entry after L0 touches, the base copy read its state as of ≥ L0, which is its state;
//          for a key some entry touches, the tail applies every such entry after the copy, so the
//          last one — the key's state — wins. Prepared-but-undecided entries are applied when
//          their decision entry lands (commit: its mutations at its commit HLC; abort: nothing).
//     splitAction (below) needs no old row image: a put whose row falls on the child side is
//     upserted into the child; ANY other mutation (a delete, or a put now on the parent side — an
//     update that changed the partition columns within shard s) deletes the key from the child
//     if it is there. The child holds exactly the child-side rows, so "delete if present" is exact.
//     A row's side comes from its partition columns (the catalog's partition key of its relation;
//     a local index relation is partitioned by its table's key, so its entry must carry those
//     columns, or the split is refused naming the index); a 2PC decision record (DECISION_TABLE_ID)
//     by its xid — records sit in shard xid mod n, so xid mod 2n decides, not a key hash.
//     Leaderless tables: the parent's replicas write the child's rows by quorum writes with their
//     original versions (as exec/table-move-source.ts does); not designed further yet (refused).
//  3. SWITCH (one epoch change). The parent's primary appends a SPLIT-SWITCH control entry at LSN
//     S once every voter reported its child tail within a bound of its log end, and from S on
//     refuses writes to child-side keys with SB_SHARD_SPLITTING (retryable, 40001) — a parent
//     holding a prepared transaction waits for its decision first. Every voter applies its tail to
//     S: each child is then the same rows at the same versions (same log, same deterministic
//     filter). Child s + n starts its Mode 1 group with the parent's voters at S (term 0, empty
//     log, its engine the snapshot); a voter that had not built it is bootstrapped by the normal
//     snapshot stream. When every parent switched, the decider records layout {shards 2n,
//     epoch e + 1, split_from [..., n], split: absent} and gossips it; each node writes it to
//     cluster.json BEFORE routing with it. A request routed under epoch e reaching a node at
//     e + 1 (or the reverse) is refused with SB_CATALOG_STALE-like retry semantics, never applied
//     to the wrong shard (built, by shard count: cluster/shard-count-guard.ts, SB_SHARD_COUNT_STALE).
//     Children are placed by the PLACEMENT RULE below, with their parents, so no replica moves.
//     Snapshot transactions begun before the switch reading a child get SB_SNAPSHOT_TOO_OLD (the
//     child has only the latest committed versions).
//  4. CLEANUP (background, epoch e + 1). Each parent s deletes the rows whose h mod 2n = s + n.
//     They are physically removed (no tombstones: no reader routes to s for them any more, and a
//     tombstone would be replicated into the child by hints or anti-entropy). Idempotent.
//  CRASH POINTS (resumeAfterRestart): intent recorded, switch not → the copy restarts from the
//  children's last chunk or from empty (children are read by nobody before the switch), or the
//  operator cancels and the children are dropped; switch recorded → cleanup continues; a node that
//  missed the switch while down adopts the newer layout from gossip (same cluster, later epoch,
//  split_from contains its shard count) before serving. Never half-routed: routing reads only
//  layout.shards, which changes in one atomic cluster.json write per node, and peers at different
//  epochs refuse each other's shard requests.
//
// PLACEMENT RULE. Placement keys on a shard's placement key, not its id: shard s is placed as
// shard s mod placementShards (layout.ts placementKey; node/cluster.ts place()). The layout that
// completes a split ({shards 2n}, split-run.ts splitDoneLayout) sets placementShards = the current
// placementShards ?? n — the count before the FIRST split, kept for good — so child s + n has
// exactly parent s's preference list: its replicas are the parent's, the nodes that derived it,
// and nothing moves. Every layout built from another keeps it (layout.ts nextEpochOf for
// joins, drains, removals; split-run.ts copy for the intent and a cancel; cluster.json, gossip v6
// and MEMBERSHIP_DECREE v4 carry it), so a node joining later places alike. Later membership
// changes then move parent and children together (they share a rendezvous key); spreading the
// children over other nodes is a rebalance of its own, not part of a split.
//
// WHAT ELSE KEYS ON SHARD IDS (splitBlockers refuses what is not handled, naming it):
//  - global indexes: their entries are partitioned by the indexed value's hash, so they split by
//    the same rule, but a unique check running across the switch could miss an entry: refused.
//  - leaderless tables: copy by quorum writes is designed above, not built: refused.
//  - Merkle forest: per shard replica; children build theirs from the copied versions, parents
//    drop the moved keys' leaves in cleanup (otherwise every round finds them divergent).
//  - commit logs: per shard; the child's log starts at LSN 1 at the switch. Incremental backups
//    and point-in-time replay across a split need a full backup after it (the manifest records
//    the shard count; restore refuses a mismatch).
//  - hints: stored under the row's shard; after the switch a hint for a moved row must be
//    re-routed by key (hint delivery applies by key, so it lands in the right shard of the target).
//  - 2PC limbo and table moves: a parent holding a prepared transaction, or a table move under way,
//    holds the switch back; a drain or join under way refuses the split (one layout change at once).
//
// AS BUILT (this release): the statement parses and formats; it needs admin rights; a target
// other than 2n is refused (SB_SHARD_SPLIT_INVALID), the current count is a no-op, and a valid
// doubling is refused with SB_SHARD_SPLIT_UNSUPPORTED naming every blocker, the row copy of steps
// 1–4 included, so nothing is ever half-split. A data directory whose cluster.json records a split
// (split_from) starts with the recorded shard count even when storage.shards still says an older
// one (cluster.json wins, with a WARNING: cluster/layout.ts startLayoutCheck).
// Step 1 and the receiving end of step 3 are built too: workers open a shard at run time
// (SHARD_OPEN, shard/open-engines.ts); the shard count is one live value (shard-count.ts) that the
// components iterating shards read at each use; gossip takes a later layout whose count is a run
// of doublings (splitsBetween) as newer, and a node adopting it opens the new shards first, records
// it (splitFrom extended: layout.ts keepSplitHistory) and follows it.
// Step 2 (COPY) is built on ONE node, not started by anything yet: node/split-derive.ts derives
// child s + n from this node's own copy of parent s (a primary's or a Mode 1 replica's) — pin
// (SPLIT_PIN, storage/split-pin.ts: a commit-log consumer "split" kept in the parent's store,
// honoured by every truncation, released by endDerive), base copy by pages of SPLIT_SCAN (a
// local VERSION_SCAN of the node's own applied state, with each version's xid), then the tail by
// REPL_LOG_READ from L0 + 1; every page or batch goes through splitAction (sides from the catalog:
// node/split-row-side.ts; decision records by xid; local and global index relations by their own
// partition key, whose columns their entries carry) and is applied by SPLIT_DERIVE_APPLY
// (storage/split-derive.ts: the source xid, version id and commit HLC, not logged, with the child's
// progress in the same batch). The next step is decided from that progress alone
// (cluster/split-derive.ts), so a restart of the worker or the node resumes it. Leaderless tables
// and relations under a table move stop it with SB_SHARD_SPLIT_UNSUPPORTED. A Mode 1 replica
// applies entries before its group commits them, so a failover may cut its log back under a
// derive (or a snapshot install replace it): that is recorded with the pin and the derive stops
// with SB_SPLIT_COPY_STALE (the child has to be derived again from empty).
// Step 3 (SWITCH) is built on the shard level (node/split-switch.ts implements SplitSwitchHooks of
// cluster/split-progress.ts; nothing calls it yet but tests — the run, node/split-runner.ts, is
// another half): SPLIT_SWITCH on the parent's primary (a single copy: its owner; refused on a
// Mode 1 replica with SB_NOT_PRIMARY) appends the SPLIT-SWITCH control entry (commit-log.ts kind 3,
// carrying n) at S as one exclusive writer job, answering null while a prepared transaction waits
// for its decision, the same S when called again. With it, in the same batch, the fence record
// s/splitswitch (storage/split-switch.ts): from S the parent refuses with SB_SHARD_SPLITTING
// (40001) every CHILD-side row write (key's partition hash mod 2n = s + n) and every COMMIT /
// PREPARE of a transaction holding one, checked in the writer pass (so every path — autocommit,
// ring, WRITE, MODIFY_ROW, INSERT … SELECT, 2PC — is covered and a refused job changes nothing; a
// transaction that wrote a child-side row before S cannot commit: refused, not waited for, so an
// idle session cannot hold the switch back; a key moved across the halves writes both keys, so it
// is refused either way). Parent-side writes go on. The side comes from the key alone by the
// cleanup's rule (storage/split-cleanup.ts, built at 2n from the catalog by node/split-cleanup.ts
// cleanupRule) sent with SPLIT_SWITCH, carried in the switch entry (replicatedEntry v4) and kept
// in the fence record (format 2); a relation the rule does not name is refused whole, and a record
// of the earlier format (no rule) fences every write (storage/split-fence.ts). The fence is read
// at open and written by every Mode 1 replica applying the entry (a promoted replica keeps
// refusing the same writes); a suffix cut undoing the entry drops it. Mode 1 ships the entry as a
// data payload (node/replication/entry-payload.ts v3), so the machine commits it like a commit;
// beginSwitch waits for the group's commit through SplitSwitchDeps.committed (NOT wired to the
// replication manager yet). Every holder's derive stops exactly at S (cluster/split-derive.ts
// tailBatch: the entries before it applied, switchAt = S recorded in the child's progress in the
// same batch, nothing after it ever applied): the children of a primary and a replica are the same
// rows at the same versions (tests/unit/node/split-switch.test.ts). startChild releases the
// parent's log pin and, once this node's shard count is 2n, lifts the fence (SPLIT_FENCE).
// Not built: the decider's intent that starts the copy on every replica of every parent (and
// drops children on cancel) — helper splitrun; in SWITCH: the Mode 1 child group's start with the parent's voters at S, the moves of children to their 2n placement,
// and the check on shard requests (built since: the routing guard at the end); CLEANUP; a derive assumes an empty child (one left by a cancelled derive must be
// dropped first: nothing does that yet). A replica bootstrapped by a snapshot gets the source's
// fence record and the count its rows are clean for beside the rows (storage/snapshot-split.ts;
// REPL_SNAPSHOT_CHUNK v3, sent only when the source holds any): its log may start after S, so a
// promoted one refuses child-side writes all the same; its own cleanup record restarts from the
// first key, and one that had finished a cleanup the rows are not clean for starts it again.
// The RUN is built (cluster/split-run.ts rules; node/split-runner.ts, node/cluster-split.ts
// shells), behind SPLIT_RUN_READY (exec/shard-split-statement.ts: false until the switch half is
// merged; it is the one place that lifts the row_copy blocker): ALTER CLUSTER SET shards = 2n is
// decided at the decider through the membership decree as layout e + 1 = {shards n, split: {to
// 2n}} (gossip v5 and MEMBERSHIP_DECREE v3 carry it; recorded in cluster.json before it is acted
// on; a decree's value compares the shard count and the split too: layout.ts sameLayout). On
// every node, the runner derives child s + n of every parent s it holds (the placement's first N:
// ClusterShell.splitHoldersOf), a bounded number of steps per tick, tailing on after it caught up;
// a child with no recorded progress is emptied first (SPLIT_CHILD_CLEAR), and SB_SPLIT_COPY_STALE
// ends the derive, empties the child and starts again. Each node reports per parent (phase, rows
// written by this process, lag in log entries) in its gossip record; a parent's primary calls
// SplitSwitchHooks.beginSwitch once every holder reports caught_up (again while it answers null),
// a holder whose switchedAt answers is 'switched' and calls startChild once; the decider decides
// e + 2 = {shards 2n} once every holder of every parent reports switched. ALTER CLUSTER SET shards
// = n cancels (e + 2 without split: each node ends its derives and empties the children) while no
// parent has every holder caught up, else SB_SHARD_SPLIT_CANCEL_REFUSED. Membership changes are
// refused while a split runs. SHOW SHARD MAP shows each parent's holders' phases, rows and lag.
// Not built: the SWITCH (node/split-switch.ts, another branch: the runner calls its hooks, and a
// node starts the runner through node/split-wiring.ts once they exist), CLEANUP, metrics for the
// run. A node down during a cancel (its runner never sees the split go) releases its parents' log
// pins, ends those derives and lifts a fence of that count at its first round of a layout without
// a split (split-runner.ts LEFTOVERS, session 16). The "may have switched" reading that refuses a
// cancel survives restarts (session 17): a holder records the parents it reported caught up in
// <data_dir>/split-caught-up.json before the report goes out, and a restarted runner reports them
// caught up at once (split-run.ts caughtUpFloor; only a derive restarted from empty drops one).
// Step 4 (CLEANUP) and the shard-keyed state around it are built for a node that follows a count
// reached by splits (cluster.json's splitFrom at start, or a change of the live count): node/
// split-cleanup.ts runs SPLIT_CLEANUP (storage/split-cleanup.ts) on every former parent s < N/2 it
// holds, a few chunks per request, at start, at each count change and after each sweep. The rule is
// the final count N: a key of shard s whose partition hash mod N is not s goes — primary record and
// every back version, index entries (rows of their relation, placed by its own partition key) and
// decision records (by xid) alike; it covers several splits at once. Sides come from the key alone
// (a splittable relation has its partition columns in its key), as the router places rows (checked
// for every column type). Physical deletes, not logged: each node cleans its own copies, safely
// because no reader routes a moved key to its parent after the switch and every holder applied the
// parent's log to the switch before the N-shard layout was decided, so no older entry can bring one
// back; a tombstone could reach the child through hints or anti-entropy and delete the live row.
// Progress (rule and resume point) is kept in the shard's s/split-clean with each chunk; the end
// is recorded as s/split-clean-at = N (a later request is done at once). While the record exists
// the engine's scans (QUERY, SCAN, JOIN_QUERY, VERSION_SCAN, SPLIT_SCAN), Mode 1 verification and
// snapshot streams (replica bootstrap, full backups) skip moved keys: a SELECT without a key counts
// each row once, and replicas cleaning at their own pace never differ in verification. The forest
// holds leaves of leaderless tables only, which refuse a split, so there are no leaves to drop.
// Hints are re-routed by key at delivery (cluster/hints/batches.ts). Backups read the live count;
// an incremental after a split, and an incremental or replay staged into a directory of another
// shard count, are refused (SB_BACKUP_REFUSED).
// WIRED (session 15): the node starts the runner with the cluster (node.ts 'split run' step,
// node/split-wiring.ts) over the switch half (SplitSwitch); SPLIT_RUN_READY is true, so in a
// cluster a doubling with no blockers runs end to end (a node running alone refuses it:
// 'standalone'). Mode 1's switch entry counts only once the parent's group committed it by a
// majority (ShardGroup.majorityCommitted — not the sync_replicas acknowledgement), and a holder's
// switchedAt only once its group's commit LSN, as it knows it, reached S (a replica's S could
// otherwise be cut back after it reported 'switched'). The final layout keeps placement on the
// count before the first split (PLACEMENT RULE), so the children's Mode 1 groups start, at the
// adoption (onLayout → the replication shell's sync), as fresh groups (term 0, empty log, engine =
// the derived child) on exactly the parent's placement — the holders that derived them. The step
// that adopts 2n (node/split-adopt.ts) arms the cleanup's scan filter in the same turn
// (SPLIT_CLEANUP with 0 chunks sets it before its first await), and lifts the parents' fences only
// after that AND once every live member announced the new layout (ClusterShell.layoutSettled).
// DDL during a split (session 16, cluster/split-ddl-guard.ts): a catalog change that changes the
// copies Mode 1 keeps (N, so every group's voters and the split's holders: CREATE / ALTER … SET
// replication_factor or replication_mode / DROP of a primary_replica table) or adds what a split
// refuses (a leaderless table, a global index, a table move) is refused with
// SB_SHARD_SPLIT_IN_PROGRESS by the catalog coordinator while its layout records a split, it is
// deciding one, or a decider holds its split lock; the decider refuses a start
// (SB_SHARD_SPLIT_UNSUPPORTED: catalog_change, voter_change) while it coordinates a DDL statement or
// any live member's groups' voters, committed or not, differ from the placement's first N.
// Session 17: before proposing the intent the decider takes the catalog coordinator's split lock
// (SPLIT_LOCK; cluster/split-ddl-lock.ts holds the race-freedom argument): refused while a DDL runs
// there; the start is refused too while the decider or a live member announces a catalog older than
// the coordinator's. Session 18: the lock covers the decree's send window only (12 s; a dead
// decider holds DDL back that long), and after it the intent is held by the acceptors' records:
// every member reports the splits it holds in its CATALOG_FETCH reply (recorded, accepted, lock),
// so a new coordinator's statement round hears them; a DDL the split would refuse needs a majority
// of the voters in that round; the intent carries the catalog version it was judged against and an
// acceptor with a newer catalog refuses it (MEMBERSHIP_DECREE v5); an intent found in a promise is
// re-proposed only under the lock. Every member reports its groups changing voters in its gossip record (gossip v7,
// votersChanging), and a parent's primary begins its switch only while its group's voters are the
// holders (split-run.ts switchMayBegin). Two splits in a row (16 → 32 → 64) run end to end
// (tests/cluster/shard-split-twice.test.ts); the layout ending the second records splitFrom
// [16, 32] (keepSplitHistory merges the decided layout's history with ours).
// REMAINING: the split lock (cluster/split-ddl-lock.ts) relies on catalog-sync's own assumptions —
// one coordinator at a time, and a statement whose pushes failed (SB_QUORUM_NOT_ACHIEVED) spreading
// later from the peers that took it is not held back; DDL installed through ddlPort.setCatalog
// outside a statement's fetch round is judged against the coordinator's own holds only.
// The routing guard is built (session 15, cluster/shard-count-guard.ts): every shard request routed
// by key or shard id carries the count its statement routed by (exec/shard-count-retry.ts pins one
// per statement; SHARD_QUERY v7 stamps it once the layout split or is splitting), the router and
// the receiving node refuse another count with SB_SHARD_COUNT_STALE before applying anything, and
// an autocommit statement is re-routed and retried — after exchanging layouts with the refusing
// peer at once (a gossip ping outside the rounds: node/cluster.ts syncLayoutWith), so a
// coordinator behind learns the newer count from that peer rather than from a later round. It relies on every node of a split cluster
// knowing the count before the first split (layout.placementShards, or its splitFrom history): a
// node that joined after a split with neither would be refused by the others until it has one.

/** The only factor a split multiplies the shard count by (header: ROUTING RULE). */
export const SPLIT_FACTOR = 2

/**
 * The shard count ALTER CLUSTER SET shards = `requested` splits `current` into, or null when it is
 * the current count already (nothing to do). Throws SB_SHARD_SPLIT_INVALID for anything else.
 */
export function splitTarget (current: number, requested: number): number | null {
  if (requested === current) return null
  const doubled = current * SPLIT_FACTOR
  if (requested === doubled && doubled <= MAX_SHARDS) return doubled
  const why = requested === doubled
    ? `${doubled} shards is above the maximum of ${MAX_SHARDS}`
    : requested > doubled && isDoublingOf(current, requested)
      ? `a split only doubles the shard count; go from ${current} to ${requested} by splitting to ${doubled} first, then again`
      : `a split only doubles the shard count (rows of shard s of n go to shards s and s + n of 2n); the only other count this cluster accepts now is ${doubled}`
  throw new ScratchBirdError('SB_SHARD_SPLIT_INVALID', `cannot change the shard count from ${current} to ${requested}: ${why}`,
    { current, requested, accepted: doubled <= MAX_SHARDS ? doubled : null })
}

function isDoublingOf (from: number, to: number): boolean {
  let n = from
  while (n < to) n *= SPLIT_FACTOR
  return n === to
}

/**
 * How many splits lead from a layout of `from` shards at epoch `fromEpoch` to one of `to` shards at
 * epoch `toEpoch`: each split doubles the count at a layout change of its own (epoch + 1 at least),
 * so k splits need k doublings and k epochs. 0 for the same count; null when no run of splits does
 * (another count, fewer shards, or too few epochs in between: two decisions of one epoch).
 */
export function splitsBetween (from: number, fromEpoch: number, to: number, toEpoch: number): number | null {
  if (to === from) return 0
  let n = from
  let k = 0
  while (n < to) { n *= SPLIT_FACTOR; k++ }
  return n === to && toEpoch - fromEpoch >= k ? k : null
}

/** The two shards parent `parent` of `n` splits into: itself and parent + n. */
export function splitChildren (parent: ShardId, n: number): [ShardId, ShardId] {
  if (parent >= n) throw new ScratchBirdError('SB_INTERNAL', `shard ${parent} is not a shard of ${n}`, { parent, shards: n })
  return [parent, asShardId(parent + n)]
}

/** The shard of `n` that shard `child` of 2n was split from. */
export function splitParent (child: ShardId, n: number): ShardId {
  if (child >= n * SPLIT_FACTOR) throw new ScratchBirdError('SB_INTERNAL', `shard ${child} is not a shard of ${n * SPLIT_FACTOR}`, { child, shards: n * SPLIT_FACTOR })
  return asShardId(child % n)
}

/**
 * Which half of its parent a key with partition hash `hash` (xxhash64 of its key bytes) falls in
 * when n shards become 2n: 'parent' = it stays, 'child' = it moves to parent + n.
 */
export function sideOf (hash: bigint, n: number): 'parent' | 'child' {
  return hash % BigInt(n * SPLIT_FACTOR) >= BigInt(n) ? 'child' : 'parent'
}

/** What a split cannot handle yet, one entry per thing, each naming it. */
export interface SplitBlocker {
  readonly what: 'global_index' | 'leaderless_table' | 'membership_change' | 'table_move' | 'row_copy' | 'standalone' | 'catalog_change' | 'voter_change'
  readonly detail: string
}

/** The facts splitBlockers decides on (from the catalog and the layout; kept plain so it stays pure). */
export interface SplitContext {
  /** Relations (user tables and hidden index relations) with the facts the split depends on. */
  readonly tables: ReadonlyArray<{ name: string, leaderless: boolean, globalIndexes: readonly string[], moving: boolean }>
  /** Nodes joining, leaving or being removed (layout.leaving non-empty, a join under way). */
  readonly membershipChanging: boolean
  /** The whole split runs in this build (exec/shard-split-statement.ts SPLIT_RUN_READY). */
  readonly rowCopyBuilt: boolean
  /** The node runs alone (no cluster): the run needs the membership decider and gossip. */
  readonly standalone?: boolean
}

/** Everything that stops a split now; empty = it may start. */
export function splitBlockers (c: SplitContext): SplitBlocker[] {
  const out: SplitBlocker[] = []
  for (const t of c.tables) {
    if (t.globalIndexes.length > 0) out.push({ what: 'global_index', detail: `table "${t.name}" has the global index${t.globalIndexes.length > 1 ? 'es' : ''} ${t.globalIndexes.map(i => `"${i}"`).join(', ')} (a unique check across the switch could miss an entry)` })
    if (t.leaderless) out.push({ what: 'leaderless_table', detail: `table "${t.name}" is leaderless_quorum (its copy by quorum writes is not built)` })
    if (t.moving) out.push({ what: 'table_move', detail: `table "${t.name}" is being moved to a new layout (wait until its ALTER TABLE ends)` })
  }
  if (c.membershipChanging) out.push({ what: 'membership_change', detail: 'a node is joining, draining or being removed (one layout change at a time)' })
  if (c.standalone === true) out.push({ what: 'standalone', detail: 'this node runs alone, and a split runs only in a cluster (its copy, switch and new layout go through the membership decider and gossip); this release cannot split the shards of a single node while it runs' })
  if (!c.rowCopyBuilt) out.push({ what: 'row_copy', detail: 'this release cannot split shards while the cluster runs (a replica can derive a new shard from its own copy, but nothing starts that copy on every replica, and the switch to the new shards is not built)' })
  return out
}

/** The refusal of a split with `blockers` (non-empty). */
export function splitRefused (current: number, target: number, blockers: readonly SplitBlocker[]): ScratchBirdError {
  return new ScratchBirdError('SB_SHARD_SPLIT_UNSUPPORTED',
    `cannot split ${current} shards into ${target}: ${blockers.map(b => b.detail).join('; ')}; nothing was changed`,
    { current, target, blockers: blockers.map(b => b.what) })
}

/** The phases of a split recorded in cluster.json (header: THE SPLIT). */
export type SplitPhase = 'copying' | 'switched'

/** What a node does with a recorded split when it starts (header: CRASH POINTS). */
export type SplitResume =
  | { kind: 'none' }
  /** Intent recorded, switch not: route with `from`; children are not authoritative — refill them (or drop them on cancel). */
  | { kind: 'continue_copy', routeWith: number, children: number }
  /** Switch recorded: route with `to`; parents delete the moved rows in the background. */
  | { kind: 'cleanup', routeWith: number, parents: number }

/** The start-up decision for a data directory whose layout records `shards` and, maybe, a split. */
export function resumeAfterRestart (shards: number, split: { from: number, to: number, phase: SplitPhase } | undefined): SplitResume {
  if (split === undefined) return { kind: 'none' }
  if (split.to !== split.from * SPLIT_FACTOR) throw new ScratchBirdError('SB_STORAGE_CORRUPT', `the recorded split ${split.from} → ${split.to} is not a doubling`, { from: split.from, to: split.to })
  // Routing follows layout.shards alone, so the shard count the file records tells which side of
  // the switch this node is on; a phase that disagrees with it is a torn or hand-edited file.
  if (split.phase === 'copying' && shards === split.from) return { kind: 'continue_copy', routeWith: split.from, children: split.from }
  if (split.phase === 'switched' && shards === split.to) return { kind: 'cleanup', routeWith: split.to, parents: split.from }
  throw new ScratchBirdError('SB_STORAGE_CORRUPT', `the recorded layout has ${shards} shards but a split ${split.from} → ${split.to} in phase ${split.phase}`, { shards, ...split })
}

/**
 * What the copy into child s + n does with one mutation of parent s (header: 2. COPY): a put whose
 * row falls on the child side is upserted into the child; any other mutation (a delete, or a put
 * whose row is on the parent side now) removes the key from the child if it holds it. `childSide`
 * says whether a row image belongs to the child (its partition columns' hash, or the xid of a 2PC
 * decision record); it is never asked about a delete, so no old row image is needed.
 */
export type SplitAction = 'upsert' | 'delete_if_present'

export function splitAction (row: Uint8Array | null, childSide: (row: Uint8Array) => boolean): SplitAction {
  return row !== null && childSide(row) ? 'upsert' : 'delete_if_present'
}

/** The side of a 2PC decision record (key: its xid) when n shards become 2n: by xid, as it is placed. */
export function decisionRecordSide (xid: bigint, n: number): 'parent' | 'child' {
  return sideOf(xid, n)
}
