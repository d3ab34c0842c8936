import type { ReplicationOptions } from '../../catalog/replication-options'
import type { NodeId } from '../../core/ids'

// leaderless_quorum replicas in a join or a drain (issue 20 items 1–2; DESIGN §6, §7). Pure: the
// shell (node/leaderless-moves.ts) fills, the decider (node/cluster.ts) ends the move.
//
// Every coordinator must agree on which replicas of a moving shard count, or a read could meet
// only replicas that never saw an acknowledged write. The layout says it (cluster/layout.ts):
// the COUNTED placement is the preference list over the members before the move (countedMembers:
// a joining node not yet, a leaving one still), the PLACED one the list over the members after it
// (placedMembers). Per shard and leaderless factor n:
//   - old = counted[0..n), new = placed[0..n); the TARGETS are new − old (nothing moves: none);
//   - writes go to old ∪ new (quorumReplicas: old first) and are acknowledged with W acks of old
//     AND an ack of every target (cluster/quorum/ack-rule.ts; ClusterShell.pendingOf): so every
//     write acknowledged during the move is on every target without the fill; R is counted on
//     old only;
//   - the targets are filled by the bootstrap's fillShard (node/leaderless-bootstrap.ts) from old
//     replicas: each fill sends what its source holds (latest versions, tombstones included, LWW at
//     the target, so a re-fill after a crash is harmless). One source may lack an acknowledged
//     write (W of n got it), so `need` = n − W + 1 distinct old replicas fill each target set:
//     any W replicas and any n − W + 1 overlap, so every acknowledged write reaches the targets;
//     writes after a fill started reach them directly (or by hint);
//   - a source records each finished fill durably (a FillMark: shard, factor, targets) and reports
//     it to the decider (MEMBERSHIP_STATUS); once every (shard, factor) has `need` marks from
//     distinct old replicas, the decider ends the move at epoch + 1 (joining → normal, leaving →
//     left). From then on `new` is counted — one switch for all shards, the layout being the one
//     document every coordinator runs by.
// A mark names its targets, so a mark of another move (a cancelled drain, a later join) never
// counts for this one.
//
// The end is one epoch switch, and safe for writes with the rule above (issue 20): once every
// target is filled, every acknowledged write is on every target — written before the targets
// were written to: on ≥ W old replicas, so in the snapshot of one of the n − W + 1 sources
// (ClusterShell.layoutSettled + write_timeout_ms before a fill starts); written during the move:
// acked by the targets themselves. A coordinator that has not adopted the switch yet still writes
// by the move's layout — W old acks and every target's, so ≥ W − P of old ∩ new plus the P targets:
// ≥ W of the new replicas, as a write by the new layout — and so needs no second step. What such
// a coordinator still does for up to a gossip round is READ the old replicas: a write acknowledged
// by the new layout meanwhile may be missed (a stale read, nothing lost; read repair and the
// next read fix it). Not closed: a node that was down while the move began and restarts with
// the layout from BEFORE it coordinates writes to the old replicas only, counted on them, until
// gossip brings it the newer layout (its first round); such a write landing after a target's
// fill misses that target (fill-settle counts only live members). Closing it needs the layout
// epoch in SHARD_QUERY (a replica refusing a write placed by an older one, as layoutFloor does
// for catalogs) or a coordinator refusing leaderless writes until its first gossip exchange.

/** The leaderless tables of one replication factor: filled together. */
export interface LeaderlessGroup {
  readonly factor: number
  /** Old replicas that must each fill the targets: the largest n − W + 1 of the group's tables. */
  readonly need: number
  readonly tableIds: readonly number[]
}

type Table = { id: number, replication: ReplicationOptions }

export function isLeaderless (r: ReplicationOptions): boolean {
  return r.replication_mode !== 'primary_replica'
}

/** The catalog's leaderless tables grouped by replication_factor, ascending. */
export function leaderlessGroups (tables: readonly Table[]): LeaderlessGroup[] {
  const byFactor = new Map<number, { need: number, tableIds: number[] }>()
  for (const t of tables) {
    if (!isLeaderless(t.replication)) continue
    const n = t.replication.replication_factor
    const need = Math.min(n, Math.max(1, n - t.replication.write_quorum + 1))
    const g = byFactor.get(n) ?? { need: 1, tableIds: [] }
    g.need = Math.max(g.need, need)
    g.tableIds.push(t.id)
    byFactor.set(n, g)
  }
  return [...byFactor].sort((a, b) => a[0] - b[0]).map(([factor, g]) => ({ factor, need: g.need, tableIds: g.tableIds }))
}

/**
 * The replicas a quorum operation of factor `n` uses: old (counted[0..n)) first, then the new ones
 * not in it. The first min(n, |old|) count toward W and R; the rest are written to. Equal to
 * placed[0..n) when nothing moves.
 */
export function quorumReplicas (counted: readonly NodeId[], placed: readonly NodeId[], n: number): NodeId[] {
  const old = counted.slice(0, n)
  return [...old, ...placed.slice(0, n).filter(id => !old.includes(id))]
}

/** The replicas of factor `n` being filled: placed[0..n) − counted[0..n), ascending (none: nothing moves). */
export function fillTargets (counted: readonly NodeId[], placed: readonly NodeId[], n: number): NodeId[] {
  const old = counted.slice(0, n)
  return placed.slice(0, n).filter(id => !old.includes(id)).sort((a, b) => a - b)
}

/** A finished fill of `targets` (ascending) with the rows of the tables of `factor` on `shard`, by the node holding it. */
export interface FillMark {
  readonly shard: number
  readonly factor: number
  readonly targets: readonly NodeId[]
}

export function sameMark (a: FillMark, b: FillMark): boolean {
  return a.shard === b.shard && a.factor === b.factor && a.targets.length === b.targets.length && a.targets.every((id, i) => id === b.targets[i])
}

/** One fill this node runs as a source. */
export interface FillJob extends FillMark {
  readonly tableIds: readonly number[]
}

export interface MoveView {
  readonly groups: readonly LeaderlessGroup[]
  /** Per shard, the preference list over the counted members (countedMembers). */
  readonly countedPrefs: ReadonlyArray<readonly NodeId[]>
  /** Per shard, the preference list over the placed members (placedMembers). */
  readonly placedPrefs: ReadonlyArray<readonly NodeId[]>
}

/** Every (shard, factor) whose targets are not empty, with them: what a move must fill. */
export function movingFills (v: MoveView): FillJob[] {
  const out: FillJob[] = []
  v.placedPrefs.forEach((placed, shard) => {
    const counted = v.countedPrefs[shard] ?? []
    for (const g of v.groups) {
      const targets = fillTargets(counted, placed, g.factor)
      if (targets.length > 0) out.push({ shard, factor: g.factor, targets, tableIds: g.tableIds })
    }
  })
  return out
}

/**
 * The fills `self` runs now: those of a (shard, factor) where it is one of the first `need` live
 * old replicas (so `need` sources fill each target set and another takes over when one goes
 * down), every target is live (one stream reaches them all; hints cover a down target's writes
 * meanwhile), and it has not finished already (`done`).
 */
export function fillJobs (v: MoveView, self: NodeId, alive: (id: NodeId) => boolean, done: (m: FillMark) => boolean): FillJob[] {
  const need = new Map(v.groups.map(g => [g.factor, g.need]))
  return movingFills(v).filter(j => {
    const sources = (v.countedPrefs[j.shard] ?? []).slice(0, j.factor).filter(alive).slice(0, need.get(j.factor) ?? 1)
    return sources.includes(self) && j.targets.every(alive) && !done(j)
  })
}

/**
 * The shards whose leaderless replicas are still moving, ascending: some (shard, factor) has
 * fewer than `need` marks of its exact targets from distinct old replicas (`reports`: the marks
 * each node reported).
 */
export function leaderlessShardsStillMoving (v: MoveView, reports: ReadonlyMap<NodeId, readonly FillMark[]>): number[] {
  const need = new Map(v.groups.map(g => [g.factor, g.need]))
  const out = new Set<number>()
  for (const j of movingFills(v)) {
    const old = (v.countedPrefs[j.shard] ?? []).slice(0, j.factor)
    let marks = 0
    for (const [node, reported] of reports) if (old.includes(node) && reported.some(m => sameMark(m, j))) marks++
    if (marks < (need.get(j.factor) ?? 1)) out.add(j.shard)
  }
  return [...out].sort((a, b) => a - b)
}

/** Of `marks`, those of the move under way (the others name targets no move fills any more). */
export function currentMarks (v: MoveView, marks: readonly FillMark[]): FillMark[] {
  const fills = movingFills(v)
  return marks.filter(m => fills.some(j => sameMark(j, m)))
}

/** SHOW SHARD MAP's `moving` text of a shard's leaderless fills (none: undefined). */
export function leaderlessMovingText (v: MoveView, shard: number): string | undefined {
  const parts = movingFills(v).filter(j => j.shard === shard).map(j => {
    const old = (v.countedPrefs[shard] ?? []).slice(0, j.factor)
    return `leaderless (N = ${j.factor}): filling {${j.targets.join(', ')}} from {${old.join(', ')}}`
  })
  return parts.length === 0 ? undefined : parts.join('; ')
}

/**
 * May this node coordinate leaderless writes by the layout it holds? A node that was down when a
 * join or drain began restarts with the layout from before it: it would send writes to the old
 * replicas only, acknowledged on W of them, and a write landing after a target's fill would miss
 * that target (the fill's settle wait counts live members only). So after a start a node first
 * hears the layout from a peer: it holds one at least as new as every epoch a peer announced to it,
 * and at least one peer announced one (`heard`: the epochs of the peers heard since this process
 * started, undefined for the others). A node alone in its layout has nobody to hear.
 */
export function layoutConfirmed (selfEpoch: number, heard: ReadonlyArray<number | undefined>, alone: boolean): boolean {
  if (alone) return true
  let any = false
  for (const e of heard) {
    if (e === undefined) continue
    if (e > selfEpoch) return false
    any = true
  }
  return any
}
