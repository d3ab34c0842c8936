import { ScratchBirdError } from '../../core/errors'
import type { NodeId, ShardId } from '../../core/ids'
import { codecOf, isLocalOnly, type ShardOpName, type ShardReplies, type ShardRequests } from '../../shard/protocol/ops'
import { queryTableId } from '../../shard/protocol/op-codecs'
import type { RawShardRequester, ShardRequester } from '../shard-router'
import type { ShardGroup } from './shard-group'
import { replicaReadFacts as factsOf, replicaReadRefusal } from './replica-read'

// This node's shard workers as the SQL path and peers reach them, with Mode 1 in front (issue 14):
// on a shard replicated by a group here, the client-facing ops run only on its primary (others
// get SB_NOT_PRIMARY naming the primary this node knows, and the router retries once there),
// and a commit is answered only once the group acknowledges its LSN under
// replication.sync_replicas (ShardGroup.commitLanded: SB_COMMIT_OUTCOME_UNKNOWN if the primary
// loses its role first). Two-phase commit runs there too: PREPARE and the decision (COMMIT
// PREPARED, ABORT PREPARED) are log entries on a replicated shard's primary (commit-log.ts format
// 6), answered once acknowledged like a commit, so a prepared transaction the coordinator was told
// about survives a failover; LIST_LIMBO is asked of the primary, which alone decides limbo.
//
// Visibility (issue 14 item 3): a commit is visible to the engine's readers on the primary as
// soon as its batch lands, before the replicas acknowledge it; so the ANSWER of a read served here
// waits (ShardGroup.readSettled) until every commit landed by the time the engine answered is
// acknowledged under replication.sync_replicas — no client is shown a commit a failover can still
// lose (if this node stops being primary first, the read fails with SB_NOT_PRIMARY and is retried
// at the new one). Under load a read's answer can thus take up to a replication round trip longer.
// Not covered: what a write inside an open transaction returns (its own COMMIT comes later in the
// log, so it cannot be acknowledged without the commits it saw), and read_from = 'replica'.
// Reads (READ_OPS) are served only within the primary's lease (ShardGroup.readGrant): a primary
// cut off from the majority refuses them (SB_NOT_PRIMARY, details.lease 'expired') once its
// lease lapses, which is before another replica can be elected (machine.ts), so no read is served
// by an old primary once a new one may have accepted writes.
// REPLICA_QUERY (read_from = 'replica', replica-read.ts) is the exception on purpose: any member of
// the group that holds the log answers it at its applied LSN, without a lease — a bounded-staleness
// read the session asked for.

/** Ops a client's statement runs on a shard: on a replicated shard, only at its primary. */
const PRIMARY_OPS: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['BEGIN', 'GET', 'SCAN', 'QUERY', 'JOIN_QUERY', 'WRITE', 'WRITE_READ', 'MODIFY_ROW', 'COMMIT', 'AUTOCOMMIT', 'PREPARE', 'COMMIT_PREPARED', 'ABORT_PREPARED', 'LIST_LIMBO', 'VERSION_SCAN'])
/** Ops that read the shard's rows for a client: only within the primary's read lease. */
/** MODIFY_ROW reads the row it changes (and its answer says whether it was there). */
const READ_OPS: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['GET', 'SCAN', 'QUERY', 'JOIN_QUERY', 'MODIFY_ROW', 'VERSION_SCAN'])
/** Ops whose reply carries the LSN of a log entry that must be acknowledged before it is answered
 *  (MODIFY_ROW's when it committed an autocommit statement; null otherwise). */
const COMMIT_OPS: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['COMMIT', 'AUTOCOMMIT', 'MODIFY_ROW', 'PREPARE', 'COMMIT_PREPARED', 'ABORT_PREPARED'])

export interface ReplicationGroups {
  group (shard: ShardId): ShardGroup | undefined
  /** Did this node stop its group of `shard` because it left the shard's replicas (manager.ts)? */
  retired? (shard: ShardId): boolean
  /** The primary a retired shard's group knew when it stopped (0: none): its refusals name it. */
  retiredPrimary? (shard: ShardId): NodeId | 0
}

/** This node's workers; `loggedLsn`: a shard's last logged LSN as its engine published it (ShardWorkers). */
export type LocalWorkers = RawShardRequester & { loggedLsn?: (shard: ShardId) => bigint }

export class ReplicatedWorkers implements ShardRequester, RawShardRequester {
  /**
   * `scansAnyReplica(tableId)`: is it a table whose scans read any one replica (leaderless_quorum,
   * REPLICATION_MODE_RULES.scanAnyReplica)? Its rows share the shard with Mode 1 tables' but not
   * their replication group: see requestRaw.
   */
  constructor (private readonly workers: LocalWorkers, private readonly groups: () => ReplicationGroups | null,
    private readonly scansAnyReplica: (tableId: number) => boolean = () => false) {}

  async request<K extends ShardOpName> (op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> {
    const codec = codecOf(op)
    return codec.decodeReply(await this.requestRaw(op, req.shard, codec.encodeRequest(req)))
  }

  /** Does this node hold a replica of `shard` that serves reads at its applied LSN now (read_from = replica)? */
  servesReplicaRead (shard: ShardId): boolean {
    const g = this.groups()?.group(shard)
    return g !== undefined && replicaReadRefusal(factsOf(g)) === null
  }

  async requestRaw (op: ShardOpName, shard: ShardId, payload: Uint8Array): Promise<Uint8Array> {
    if (op === 'REPLICA_QUERY') {
      const groups = this.groups()
      const g = groups?.group(shard)
      // A copy this node let go serves no reads either: it no longer receives the shard's log.
      if (g === undefined && groups?.retired?.(shard) === true) {
        throw new ScratchBirdError('SB_NOT_PRIMARY', `shard ${shard}: this node no longer holds a replica of it; retry`, { shard, primary: 0, generation: 0 })
      }
      // No group here: an unreplicated shard, routed to its owner like any read.
      const refused = g === undefined ? null : replicaReadRefusal(factsOf(g))
      if (refused !== null) throw refused
      return await this.workers.requestRaw(op, shard, payload)
    }
    const groups = isLocalOnly(op) || !PRIMARY_OPS.has(op) ? null : this.groups()
    const g = groups?.group(shard)
    if (g === undefined) {
      // A copy this node let go (a membership change moved it, or N was lowered): its engine may
      // still hold the primary role it had, but the shard's commits now need its group elsewhere.
      // Served here, a write would be acknowledged as a single copy no replica holds.
      if (groups?.retired?.(shard) === true) {
        // Naming the primary it knew (a single copy that moved: its new owner) sends the request there.
        const primary = groups.retiredPrimary?.(shard) ?? 0
        throw new ScratchBirdError('SB_NOT_PRIMARY', `shard ${shard}: this node no longer holds a replica of it; ${primary === 0 ? 'retry' : `node ${primary} is its primary`}`, { shard, primary, generation: 0 })
      }
      return await this.workers.requestRaw(op, shard, payload)
    }
    // A scan of a leaderless table outside a transaction reads this node's replica (the router chose
    // it: ShardRouter.scan). The shard's Mode 1 group — there when a primary_replica table shares
    // the shard — has no say over those rows: gating them on its primary and lease made leaderless
    // reads fail with SB_NOT_PRIMARY for as long as that group re-elected (issue 21: 40 s and more
    // under load, past the one-minute recovery bound) and sent the rest to the primary's replica.
    if (op === 'QUERY' && this.leaderlessScan(payload)) return await this.workers.requestRaw(op, shard, payload)
    if (g.role !== 'primary') {
      const primary = g.primary
      throw new ScratchBirdError('SB_NOT_PRIMARY', primary === 0
        ? `shard ${shard}: this node is not its primary and knows of none right now (an election may be running); retry`
        : `shard ${shard}: this node is not its primary; node ${primary} is`, { shard, primary, generation: g.generation })
    }
    if (READ_OPS.has(op)) {
      const grant = g.readGrant()
      if (!grant.granted) throw grant.error
    }
    const reply = await this.workers.requestRaw(op, shard, payload)
    const lsn = COMMIT_OPS.has(op) ? (codecOf(op).decodeReply(reply) as { lsn: bigint | null }).lsn : null
    if (lsn !== null) await g.commitLanded(lsn)
    else if (READ_OPS.has(op)) await g.readSettled(this.workers.loggedLsn?.(shard))
    return reply
  }

  /** A QUERY of a scan-any-replica table, outside a transaction (the table peeked first, so Mode 1 reads decode nothing more). */
  private leaderlessScan (payload: Uint8Array): boolean {
    const tableId = queryTableId(payload)
    if (tableId === undefined || !this.scansAnyReplica(tableId)) return false
    return codecOf('QUERY').decodeRequest(payload).xid === undefined
  }
}
