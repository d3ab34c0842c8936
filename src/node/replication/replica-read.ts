// read_from = 'replica' (issue 14 item 2, a session setting): which member of a shard's Mode 1
// group may answer a read at what it holds, without the primary's read lease. A replica that
// holds the log (a voter: primary, replica, or a replica campaigning) serves at its applied LSN;
// one still catching up — a learner (a new replica not yet promoted) or one installing a snapshot
// — does not, nor does a group still loading its state. The refusal is SB_NOT_PRIMARY naming the
// primary this node knows, so the router (node/shard-router.ts) asks the primary instead, once.
import { ScratchBirdError } from '../../core/errors'
import type { NodeId, ShardId } from '../../core/ids'
import type { ShardGroup } from './shard-group'

export interface ReplicaReadFacts {
  readonly shard: ShardId
  readonly role: 'primary' | 'replica' | 'candidate' | 'learner' | 'starting'
  readonly bootstrapping: boolean
  readonly primary: NodeId | 0
  readonly generation: number
}

/** null: this replica serves the read; else the refusal to answer with. */
export function replicaReadRefusal (f: ReplicaReadFacts): ScratchBirdError | null {
  const serving = !f.bootstrapping && (f.role === 'primary' || f.role === 'replica' || f.role === 'candidate')
  if (serving) return null
  const why = f.bootstrapping ? 'is installing a snapshot' : f.role === 'learner' ? 'is a new replica still catching up' : 'is still loading its replication state'
  return new ScratchBirdError('SB_NOT_PRIMARY', f.primary === 0
    ? `shard ${f.shard}: this node's replica ${why} and serves no replica reads, and it knows no primary right now; retry`
    : `shard ${f.shard}: this node's replica ${why} and serves no replica reads; node ${f.primary} is the primary`,
  { shard: f.shard, primary: f.primary, generation: f.generation, replica_read: 'refused' })
}

/** The facts of a running group. */
export function replicaReadFacts (g: ShardGroup): ReplicaReadFacts {
  return { shard: g.shard, role: g.role, bootstrapping: g.bootstrappingNow, primary: g.primary, generation: g.generation }
}
