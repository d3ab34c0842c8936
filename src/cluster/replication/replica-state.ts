import type { NodeId } from '../../core/ids'
import type { Lsn } from './types'

// What SHOW SHARD MAP says of each replica of a Mode 1 shard (issue 14 item 7), decided from
// what this node's group knows. Only a shard's primary tracks its replicas' progress, so the
// primary reports every replica; another node reports itself and leaves the others 'unknown'
// (ask the primary: its row of the same shard has them).
//   primary       the replica leading the group
//   bootstrapping receiving a snapshot of the shard (it counts toward nothing until caught up)
//   catching up   behind the primary's committed LSN, or a learner not yet promoted to voter
//   in sync       a voter holding every committed entry
//   replica       this node, a voter following the primary (its own progress is the primary's to judge)
//   starting      this node's group is loading its state
//   unknown       another node, seen from a node that is not the primary

export type ReplicaState = 'primary' | 'bootstrapping' | 'catching up' | 'in sync' | 'replica' | 'starting' | 'unknown'

export interface GroupView {
  readonly self: NodeId
  /** This node's group: 'starting' while the machine is down. */
  readonly role: 'primary' | 'replica' | 'candidate' | 'learner' | 'starting'
  readonly bootstrapping: boolean
  readonly commitLsn: Lsn
  /** The primary's view of each other replica (empty elsewhere). */
  readonly progress: ReadonlyArray<{ node: NodeId, match: Lsn, state: string, voter: boolean }>
}

export function replicaStates (replicas: readonly NodeId[], g: GroupView): Array<{ node: NodeId, state: ReplicaState }> {
  return replicas.map(node => ({ node, state: stateOf(node, g) }))
}

function stateOf (node: NodeId, g: GroupView): ReplicaState {
  if (node === g.self) {
    if (g.bootstrapping) return 'bootstrapping'
    if (g.role === 'primary') return 'primary'
    if (g.role === 'starting') return 'starting'
    return g.role === 'learner' ? 'catching up' : 'replica'
  }
  if (g.role !== 'primary') return 'unknown'
  const p = g.progress.find(r => r.node === node)
  if (p === undefined) return 'unknown'
  if (p.state === 'snapshot') return 'bootstrapping'
  return p.voter && p.state === 'replicate' && p.match >= g.commitLsn ? 'in sync' : 'catching up'
}
