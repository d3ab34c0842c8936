import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import { codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../shard/protocol/ops'
import { isNodeId, type NodeId, type ShardId } from '../core/ids'

// Where a shard request goes (issue 5 "Placement and routing"): to this node's own workers when
// the placement names this node as the shard's owner, else over cluster RPC to the owner, whose
// workers run the same request (SBLR programs included) and answer the same bytes. The payload
// keeps the shard ops' codecs, so forwarded and local requests are the same messages. A node that
// is not a replicated shard's primary answers SB_NOT_PRIMARY naming the one it knows (Mode 1,
// node/replication/replicated-workers.ts): the request is sent there, once.

export interface ShardRequester {
  request<K extends ShardOpName> (op: K, req: ShardRequests[K]): Promise<ShardReplies[K]>
}

export interface RawShardRequester {
  requestRaw (op: ShardOpName, shard: ShardId, payload: Uint8Array): Promise<Uint8Array>
}

export interface ShardRouting {
  readonly selfId: NodeId
  /** The node serving `shard` now, or null when none can (its owner is down). */
  ownerOf (shard: ShardId): NodeId | null
  /** Sends an encoded shard request to node `nodeId`; resolves with the encoded reply. */
  forward (nodeId: NodeId, op: ShardOpName, shard: ShardId, payload: Uint8Array): Promise<Uint8Array>
  /** The owner the placement names, for error messages when it is down. */
  placedOwner (shard: ShardId): NodeId
  /**
   * Where a scan of table `tableId` on `shard` outside a transaction goes: for a leaderless_quorum
   * table one live replica (this node when it holds one); undefined for other tables (the owner).
   */
  scanNodeOf? (shard: ShardId, tableId: number): NodeId | null | undefined
}

/** The primary an SB_NOT_PRIMARY refusal from `asked` names, when it names another node. */
function notPrimaryRedirect (e: unknown, asked: NodeId): NodeId | null {
  if (!isScratchBirdError(e, 'SB_NOT_PRIMARY')) return null
  const p = (e.details as { primary?: unknown }).primary
  return isNodeId(p) && p !== asked ? p : null
}

export class ShardRouter implements ShardRequester {
  constructor (private readonly local: ShardRequester & RawShardRequester, private readonly routing: ShardRouting) {}

  async request<K extends ShardOpName> (op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> {
    const scan = op === 'QUERY' && (req as ShardRequests['QUERY']).xid === undefined
      ? this.routing.scanNodeOf?.(req.shard, (req as ShardRequests['QUERY']).tableId)
      : undefined
    const owner = scan !== undefined ? scan : this.routing.ownerOf(req.shard)
    if (owner === this.routing.selfId) {
      try {
        return await this.local.request(op, req)
      } catch (e) {
        const primary = notPrimaryRedirect(e, owner)
        if (primary === null || primary === this.routing.selfId) throw e
        const codec = codecOf(op)
        return codec.decodeReply(await this.routing.forward(primary, op, req.shard, codec.encodeRequest(req)))
      }
    }
    if (owner === null) {
      const placed = this.routing.placedOwner(req.shard)
      throw new ScratchBirdError('SB_SHARD_UNAVAILABLE', `shard ${req.shard} is unavailable: its owner, node ${placed}, is down`, { shard: req.shard, node: placed })
    }
    const codec = codecOf(op)
    try {
      return codec.decodeReply(await this.routing.forward(owner, op, req.shard, codec.encodeRequest(req)))
    } catch (e) {
      // Mode 1: the node asked is not the shard's primary but knows which is — ask it, once.
      const primary = notPrimaryRedirect(e, owner)
      if (primary === null) throw e
      if (primary === this.routing.selfId) return this.local.request(op, req)
      return codec.decodeReply(await this.routing.forward(primary, op, req.shard, codec.encodeRequest(req)))
    }
  }
}
