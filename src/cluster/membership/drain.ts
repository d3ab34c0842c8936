import { ScratchBirdError } from '../../core/errors'
import type { NodeId } from '../../core/ids'
import { layoutMemberState, nextLayoutBase, placedMembers, withStates, type ClusterLayout } from '../layout'

// DRAIN NODE, its CANCEL and REMOVE NODE (issue 20 item 2; DESIGN §7): the next layout each one
// asks for, the refusals, and when a drain is finished. Pure; the decider (epochs.ts `decider`)
// runs them and the cluster shell persists and gossips the result like an admission.
//
// A drain takes two epochs. `DRAIN NODE n` writes e + 1 with n `leaving`: placement gives n no
// replica any more (layout.ts placedMembers), so each shard replica n holds gets a replacement —
// added before n's copy is released (moves.ts movingReplicas keeps n a voter of a Mode 1 group
// until every new replica is one). The decider asks the members which shards they lead and with
// which voters (MEMBERSHIP_STATUS); once every shard's primary runs without n and with its whole
// target (shardsStillMoving), it writes e + 2 with n `left`: n holds nothing and decides nothing,
// and stopping it changes nothing for clients. n itself is not asked: a node removed from a group
// is not told so (Raft), and one that was down during the move would wait forever. Until then `DRAIN NODE n CANCEL`
// writes an epoch with n normal again (placement gives it its replicas back, by the same
// bootstrap). The states live in the layout, persisted in every data directory before it is acted
// on, so a drain goes on across restarts of any node.
//
// One drain at a time: moves of two drains would overlap, and the N-nodes-left check below holds
// for one node only. `REMOVE NODE n` is for a node gone for good (gossip shows it down), or one
// already drained: e + 1 without n; the replicas it held are replaced from the survivors. Rows of
// a table whose only copy of a shard was on n (moves.ts singleCopyTables) would be lost: REMOVE
// NODE n is then refused (SB_REMOVE_LOSES_DATA, naming the tables and shards) unless the operator
// writes REMOVE NODE n FORCE — the node may come back, or its data directory be restored, and a
// removed node never returns with its data; with FORCE the decider logs the lost shards loudly.
// With leaderless_quorum tables REMOVE NODE n is a drain that does not need n (removingLayout):
// n `leaving`, its leaderless replicas filled from the survivors, then `left`; refused
// (SB_REMOVE_LOSES_DATA) when a leaderless table acknowledges with write_quorum 1 — an acknowledged
// write may be on n alone — unless FORCE, which takes n out at once and says those writes are lost.

export type MembershipOpKind = 'drain' | 'cancel' | 'remove'

/** `force`: REMOVE NODE n FORCE — remove it even though the only copy of some shards is on it. */
export interface MembershipOp { readonly kind: MembershipOpKind, readonly node: NodeId, readonly force?: boolean }

export interface MembershipFacts {
  readonly layout: ClusterLayout
  /** The largest replication_factor of the catalog's tables (0: no table). */
  readonly maxFactor: number
  /**
   * Why shard replicas cannot move now (moves.ts membershipBlocker, null: they can); for REMOVE
   * only the reasons other than single-copy tables (their copies on the removed node are lost
   * whatever is done, and reported).
   */
  readonly blocker: string | null
  /** Is `id` alive in the decider's gossip view? */
  readonly alive: (id: NodeId) => boolean
  /**
   * Do the shards' copies move as single copies (every primary_replica table with N = 1:
   * moves.ts singleCopyReplicas)? A CANCEL is then refused: a shard whose copy already moved to
   * its new owner would be placed on the leaving node again, which no longer holds it (and no
   * layout records where it went). Absent: no.
   */
  readonly singleCopy?: boolean
  /** REMOVE: the single-copy tables and the shards whose only copy is on the node (lostShards); absent: none. */
  readonly lost?: { readonly tables: readonly string[], readonly shards: readonly number[] }
  /**
   * REMOVE: the leaderless_quorum tables, and those of them whose acknowledged writes may be on the
   * removed node alone (write_quorum 1: the survivors cannot fill them); absent: none.
   */
  readonly leaderless?: { readonly tables: readonly string[], readonly lossy: readonly string[] }
}

function refused (message: string, details: Record<string, unknown>): ScratchBirdError {
  return new ScratchBirdError('SB_DRAIN_REFUSED', message, details)
}

function list (ids: readonly NodeId[]): string {
  return `{${ids.join(', ')}}`
}

/** The nodes placement would give replicas to once `node` no longer counts, checked against the tables' N. */
function checkEnoughLeft (op: string, node: NodeId, f: MembershipFacts): void {
  const remaining = placedMembers(f.layout).filter(id => id !== node)
  if (remaining.length === 0) {
    throw refused(`${op} ${node} refused: it is the last node holding replicas of cluster ${f.layout.cluster}`, { node, members: f.layout.members })
  }
  if (remaining.length < f.maxFactor) {
    throw refused(`${op} ${node} refused: ${remaining.length} node(s) ${list(remaining)} would stay, fewer than the largest replication_factor (${f.maxFactor}) of the tables; add a node first, or lower replication_factor`,
      { node, remaining: remaining.length, replication_factor: f.maxFactor })
  }
}

function checkMember (op: string, node: NodeId, l: ClusterLayout): void {
  if (!l.members.includes(node)) {
    throw refused(`${op} ${node} refused: node ${node} is not a member of cluster ${l.cluster} (members ${list(l.members)}, membership epoch ${l.epoch})`, { node, members: l.members, epoch: l.epoch })
  }
}

function checkMovable (op: string, node: NodeId, f: MembershipFacts): void {
  if (f.blocker !== null) {
    throw new ScratchBirdError('SB_MEMBERSHIP_REFUSED', `${op} ${node} refused: ${f.blocker}`, { node, epoch: f.layout.epoch })
  }
}

/**
 * The layout `op` asks for at the decider (epoch + 1), or a coded error saying why not
 * (SB_DRAIN_REFUSED, SB_NODE_ALIVE, SB_MEMBERSHIP_REFUSED), nothing changed.
 */
export function membershipOpLayout (op: MembershipOp, f: MembershipFacts): ClusterLayout {
  const l = f.layout
  const leaving = l.leaving ?? []
  const left = l.left ?? []
  const next = (members: NodeId[], nextLeaving: NodeId[], nextLeft: NodeId[]): ClusterLayout =>
    withStates(nextLayoutBase(l, members), nextLeaving, nextLeft, (l.joining ?? []).filter(id => members.includes(id)))
  const state = (): string => layoutMemberState(l, op.node)
  switch (op.kind) {
    case 'drain': {
      const what = 'DRAIN NODE'
      checkMember(what, op.node, l)
      if (state() === 'left') throw refused(`${what} ${op.node} refused: node ${op.node} is already drained (left); it holds nothing and may be stopped`, { node: op.node, state: 'left' })
      if (state() === 'leaving') throw refused(`${what} ${op.node} refused: node ${op.node} is already being drained (SHOW SHARD MAP shows the shards still moving)`, { node: op.node, state: 'leaving' })
      const other = leaving[0]
      if (other !== undefined) {
        throw refused(`${what} ${op.node} refused: node ${other} is being drained; one drain at a time — wait until it is left (SHOW CLUSTER MEMBERS), or cancel it (DRAIN NODE ${other} CANCEL)`, { node: op.node, draining: other })
      }
      const joining = l.joining ?? []
      if (joining.length > 0) {
        throw refused(`${what} ${op.node} refused: node(s) ${list(joining)} are joining (their leaderless_quorum replicas are being filled); one move at a time — wait until they are normal (SHOW CLUSTER MEMBERS)`, { node: op.node, joining })
      }
      if (!f.alive(op.node)) {
        throw refused(`${what} ${op.node} refused: node ${op.node} is down, and a drain moves the replicas it holds while it runs; for a node gone for good use REMOVE NODE ${op.node}`, { node: op.node, state: 'down' })
      }
      checkEnoughLeft(what, op.node, f)
      checkMovable(what, op.node, f)
      return next([...l.members], [...leaving, op.node], left)
    }
    case 'cancel': {
      const what = 'DRAIN NODE … CANCEL of node'
      checkMember(what, op.node, l)
      if (state() === 'left') throw refused(`DRAIN NODE ${op.node} CANCEL refused: the drain of node ${op.node} has finished (left); to use it again, REMOVE NODE ${op.node}, then start it with an empty data directory (it joins as a new node)`, { node: op.node, state: 'left' })
      if (state() !== 'leaving') throw refused(`DRAIN NODE ${op.node} CANCEL refused: node ${op.node} is not being drained`, { node: op.node, state: state() })
      if (f.singleCopy === true) {
        throw refused(`DRAIN NODE ${op.node} CANCEL refused: the tables keep a single copy of each shard (replication_factor 1), and the copies already moved off node ${op.node} cannot be placed back by a cancel; let the drain finish, then start node ${op.node} with an empty data directory after REMOVE NODE ${op.node} to use it again`,
          { node: op.node, state: 'leaving' })
      }
      return next([...l.members], leaving.filter(id => id !== op.node), left)
    }
    case 'remove': {
      const what = 'REMOVE NODE'
      checkMember(what, op.node, l)
      if (state() !== 'left') {
        if (f.alive(op.node)) {
          throw new ScratchBirdError('SB_NODE_ALIVE', `${what} ${op.node} refused: node ${op.node} is alive; REMOVE NODE is for a node gone for good — drain it instead (DRAIN NODE ${op.node}), then remove it once it is left`, { node: op.node })
        }
        checkEnoughLeft(what, op.node, f)
        // A joining node's leaderless replicas never counted: removing it takes no copy away.
        if (state() !== 'joining') checkMovable(what, op.node, f)
        const lost = f.lost
        if (lost !== undefined && lost.shards.length > 0 && op.force !== true) {
          throw new ScratchBirdError('SB_REMOVE_LOSES_DATA', `${what} ${op.node} refused: shard(s) ${lost.shards.join(', ')} of table(s) ${lost.tables.join(', ')} (replication_factor 1) have their only copy on node ${op.node}, and their rows would be lost; bring node ${op.node} back and DRAIN NODE ${op.node} instead, or raise replication_factor first — or, to remove it anyway and lose those rows, REMOVE NODE ${op.node} FORCE`,
            { node: op.node, shards: lost.shards, tables: lost.tables })
        }
        const ll = f.leaderless
        if (state() !== 'joining' && ll !== undefined && ll.tables.length > 0) {
          if (ll.lossy.length > 0 && op.force !== true) {
            throw new ScratchBirdError('SB_REMOVE_LOSES_DATA', `${what} ${op.node} refused: leaderless_quorum table(s) ${ll.lossy.join(', ')} acknowledge a write with write_quorum 1, so some may be on node ${op.node} alone and the survivors cannot re-replicate them; bring node ${op.node} back and DRAIN NODE ${op.node} instead — or, to remove it anyway and lose those writes, REMOVE NODE ${op.node} FORCE (the new replicas then start empty and count at once: read repair and anti-entropy fill them)`,
              { node: op.node, tables: ll.lossy })
          }
          // Re-replicated from the survivors (leaderless-moves.ts): a drain that does not need n —
          // n leaving (counted, not placed, never a source while down), left once every fill is marked.
          if (ll.lossy.length === 0) return removingLayout(op.node, f, next)
        }
      }
      return next(l.members.filter(id => id !== op.node), leaving.filter(id => id !== op.node), left.filter(id => id !== op.node))
    }
  }
}

/**
 * REMOVE NODE n with leaderless_quorum tables (none of write_quorum 1): n `leaving` at epoch + 1,
 * as a drain — its replicas are filled on the nodes placement now picks by the survivors of each
 * shard, which hold every acknowledged write (each reached W ≥ 2 of N replicas, so W − 1 ≥ 1 of the
 * N − 1 survivors, and the fill takes n − W + 1 of them, each live one) — and the decider marks it
 * left once they are all filled. One move at a time, as a drain.
 */
function removingLayout (node: NodeId, f: MembershipFacts, next: (members: NodeId[], leaving: NodeId[], left: NodeId[]) => ClusterLayout): ClusterLayout {
  const l = f.layout
  const what = 'REMOVE NODE'
  const leaving = l.leaving ?? []
  if (leaving.includes(node)) {
    throw refused(`${what} ${node} refused: node ${node} is already leaving (a drain or a removal under way); its leaderless_quorum replicas are filled from the survivors without it, then it is left (SHOW SHARD MAP shows the shards still moving)`, { node, state: 'leaving' })
  }
  const other = leaving[0]
  if (other !== undefined) {
    throw refused(`${what} ${node} refused: node ${other} is leaving; with leaderless_quorum tables one move at a time — wait until it is left (SHOW CLUSTER MEMBERS)`, { node, draining: other })
  }
  const joining = l.joining ?? []
  if (joining.length > 0) {
    throw refused(`${what} ${node} refused: node(s) ${list(joining)} are joining (their leaderless_quorum replicas are being filled); one move at a time — wait until they are normal (SHOW CLUSTER MEMBERS)`, { node, joining })
  }
  return next([...l.members], [node], l.left ?? [])
}

/**
 * The shards `node` is still being moved off, as the shards' primaries report them: a shard is
 * moved once some node reports leading it with voters that hold every node of its target (its
 * first N over the placed members) and not `node`. The primary adds one voter at a time, and only
 * once the previous change is committed, so a primary that removed `node` had its replacements
 * committed as voters: even if that removal is lost in a failover, the target alone is a majority.
 * `targets`: per shard, empty when the shard has no Mode 1 group (nothing to move); `reports`: per
 * shard, the voter lists of the nodes that claim to lead it (a stale leader's is older, never
 * further along).
 */
export function shardsStillMoving (node: NodeId, targets: ReadonlyArray<readonly NodeId[]>, reports: ReadonlyMap<number, ReadonlyArray<readonly NodeId[]>>): number[] {
  const out: number[] = []
  targets.forEach((target, shard) => {
    if (target.length === 0) return
    const moved = (reports.get(shard) ?? []).some(voters => !voters.includes(node) && target.every(id => voters.includes(id)))
    if (!moved) out.push(shard)
  })
  return out
}

/**
 * The shards whose single copy (every primary_replica table with N = 1: moves.ts
 * singleCopyReplicas) is still moving: `before` and `target` per shard (its first node over the
 * members whose copies count, and over the placed members); a shard whose two differ has moved
 * once some node reports leading it with voters that hold the target and not `before` — the
 * target removed the old voter, which it does only as primary, so it held every committed entry.
 */
export function singleCopyShardsStillMoving (before: readonly NodeId[], target: readonly NodeId[], reports: ReadonlyMap<number, ReadonlyArray<readonly NodeId[]>>): number[] {
  const out: number[] = []
  target.forEach((t, shard) => {
    const b = before[shard]
    if (b === undefined || b === t) return
    if (!(reports.get(shard) ?? []).some(voters => voters.includes(t) && !voters.includes(b))) out.push(shard)
  })
  return out
}

/** The layout marking `node` (leaving) left: epoch + 1. */
export function leftLayout (l: ClusterLayout, node: NodeId): ClusterLayout {
  return withStates(nextLayoutBase(l, l.members),
    (l.leaving ?? []).filter(id => id !== node), [...(l.left ?? []), node], l.joining ?? [])
}

/**
 * The shards whose only copy was on `node` (for the tables keeping one copy: the first node of
 * the shard's preference list before `node` went), ascending: lost with it.
 */
export function lostShards (preferences: ReadonlyArray<readonly NodeId[]>, node: NodeId, singleCopyTables: number): number[] {
  if (singleCopyTables === 0) return []
  const out: number[] = []
  preferences.forEach((p, shard) => { if (p[0] === node) out.push(shard) })
  return out
}
