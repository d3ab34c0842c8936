import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import { codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../shard/protocol/ops'
import type { TxnBegin } from '../shard/protocol/messages'
import { isNodeId, type NodeId, type ShardId } from '../core/ids'
import type { TracePort } from '../core/trace-context'
import { checkShardCount } from '../cluster/shard-count-guard'

// Where a shard request goes (issue 5 "Placement and routing"): to this node's own workers when
// the placement names this node as the shard's owner, else over cluster RPC to the owner, whose
// workers run the same request (SBLR programs included) and answer the same bytes. The payload
// keeps the shard ops' codecs, so forwarded and local requests are the same messages. A node that
// is not a replicated shard's primary answers SB_NOT_PRIMARY naming the one it knows (Mode 1,
// node/replication/replicated-workers.ts): the request is sent there, once.

export interface ShardRequester {
  /**
   * `routedBy`: the shard count the caller routed the request by (a statement's, exec/shard-count-retry.ts);
   * a router refuses it when that is not the count in force (SB_SHARD_COUNT_STALE, cluster/shard-count-guard.ts).
   */
  request<K extends ShardOpName> (op: K, req: ShardRequests[K], routedBy?: number): Promise<ShardReplies[K]>
}

export interface RawShardRequester {
  requestRaw (op: ShardOpName, shard: ShardId, payload: Uint8Array): Promise<Uint8Array>
}

export interface ShardRouting {
  readonly selfId: NodeId
  /**
   * The node serving `shard` now, or null when none can (its owner is down). `servedBy`: the node
   * that last answered this shard's requests here (ShardRouter's memory), taken as its Mode 1
   * primary when this node knows none itself (0: none).
   */
  ownerOf (shard: ShardId, servedBy?: NodeId | 0): NodeId | null
  /** Sends an encoded shard request, routed by `routedBy` shards (absent: the live count), to node `nodeId`; resolves with the encoded reply. */
  forward (nodeId: NodeId, op: ShardOpName, shard: ShardId, payload: Uint8Array, timeoutMs?: number, routedBy?: number): Promise<Uint8Array>
  /** The shard count this node runs with now (cluster/shard-count.ts); absent: fixed (no split), nothing compared. */
  readonly liveShards?: number
  /** The owner the placement names, for error messages when it is down. */
  placedOwner (shard: ShardId): NodeId
  /**
   * Where a scan of table `tableId` on `shard` outside a transaction goes: for a leaderless_quorum
   * table one live replica that serves the shard (this node when it holds one and is not stale),
   * none of `avoid`; undefined for other tables (the owner). Throws SB_REPLICA_STALE when this
   * node's own replica is the only one left and it does not serve the shard.
   */
  scanNodeOf? (shard: ShardId, tableId: number, avoid: ReadonlySet<NodeId>): NodeId | null | undefined
  /**
   * A read this node's own replica must not serve (it is stale: anti-entropy, issue 15): the
   * SB_REPLICA_STALE error to answer with, else null.
   */
  staleLocalRead? (op: ShardOpName, req: ShardRequests[ShardOpName]): ScratchBirdError | null
}

/** The primary an SB_NOT_PRIMARY refusal from `asked` names, when it names another node. */
function notPrimaryRedirect (e: unknown, asked: NodeId): NodeId | null {
  if (!isScratchBirdError(e, 'SB_NOT_PRIMARY')) return null
  const p = (e.details as { primary?: unknown }).primary
  return isNodeId(p) && p !== asked ? p : null
}

/**
 * Ops whose answer shows the node a Mode 1 shard's primary (a replica refuses them with
 * SB_NOT_PRIMARY: node/replication/replicated-workers.ts): only their answers are remembered as
 * where the shard is served (ShardRouter.servedBy). Ops any replica answers (STATS …) are not.
 */
const PRIMARY_ANSWERED: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['BEGIN', 'WRITE', 'WRITE_READ', 'MODIFY_ROW', 'COMMIT', 'AUTOCOMMIT'])

/** This node's workers, and whether its own replica of a shard may answer a read_from = replica read (Mode 1). */
export type LocalShards = ShardRequester & RawShardRequester & { servesReplicaRead?: (shard: ShardId) => boolean }

export class ShardRouter implements ShardRequester {
  /**
   * Per shard, the node that last answered a request sent to the shard's owner — its Mode 1
   * primary then. A node outside a shard's group knows no primary of its own and would route by
   * the placement's first node, which after a membership change may be a new replica still
   * bootstrapping (it knows no primary either: the client got SB_NOT_PRIMARY, issue 20 item 3)
   * or a voter that is not the primary (one more hop for every request). Forgotten when that node
   * fails a request; a refusal naming the primary replaces it.
   */
  private readonly servedBy = new Map<ShardId, NodeId>()

  /** `tracer`: tracing on (issue 18 item 8) — every request of a traced statement is a span naming where it went. */
  constructor (private readonly local: LocalShards, private readonly routing: ShardRouting, private readonly tracer: TracePort | null = null) {}

  async request<K extends ShardOpName> (op: K, req: ShardRequests[K], routedBy?: number): Promise<ShardReplies[K]> {
    // Routed by a shard count that is no longer this node's (a split was adopted since the
    // statement routed): refused before it goes anywhere, this node's own workers included; a
    // peer compares the count with its own (node/cluster.ts onShardQuery).
    const live = this.routing.liveShards
    if (routedBy !== undefined && live !== undefined) checkShardCount(op, req.shard, routedBy, live, this.routing.selfId)
    // read_from = replica: this node's own replica when it holds one that serves (no hop, no
    // lease); otherwise the shard's owner as for any read, which answers at what it holds.
    if (op === 'REPLICA_QUERY' && this.local.servesReplicaRead?.(req.shard) === true) {
      try {
        return await this.local.request(op, req)
      } catch (e) {
        if (!isScratchBirdError(e, 'SB_NOT_PRIMARY')) throw e
      }
    }
    if (op === 'QUERY' && (req as ShardRequests['QUERY']).xid === undefined && (req as ShardRequests['QUERY']).begin === undefined) {
      const scanned = await this.scan(req as ShardRequests['QUERY'], routedBy)
      if (scanned !== undefined) return scanned as ShardReplies[K]
    }
    const servedBy = this.servedBy.get(req.shard) ?? 0
    const owner = this.routing.ownerOf(req.shard, servedBy)
    if (owner === null) {
      const placed = this.routing.placedOwner(req.shard)
      throw new ScratchBirdError('SB_SHARD_UNAVAILABLE', `shard ${req.shard} is unavailable: its owner, node ${placed}, is down`, { shard: req.shard, node: placed })
    }
    if (owner === this.routing.selfId) {
      const stale = this.routing.staleLocalRead?.(op, req) ?? null
      if (stale !== null) throw stale
    }
    try {
      return await this.at(owner, op, req, routedBy)
    } catch (e) {
      // The node that served last no longer does (refused naming no primary, or unreachable):
      // forget it; a refusal (nothing was applied) is asked once where the placement alone sends it.
      const refused = isScratchBirdError(e, 'SB_NOT_PRIMARY')
      if (owner !== servedBy || this.servedBy.get(req.shard) !== owner || !(refused || isScratchBirdError(e, 'SB_NODE_UNREACHABLE'))) throw e
      this.servedBy.delete(req.shard)
      const placed = refused ? this.routing.ownerOf(req.shard) : null
      if (placed === null || placed === owner) throw e
      return await this.at(placed, op, req, routedBy)
    }
  }

  /** `op` on node `node` (this node's workers or a peer); a Mode 1 refusal naming the primary is retried there, once. */
  private at<K extends ShardOpName> (node: NodeId, op: K, req: ShardRequests[K], routedBy: number | undefined): Promise<ShardReplies[K]> {
    if (this.tracer === null) return this.atNode(node, op, req, routedBy)
    return this.tracer.span('shard request', { 'scratchbird.shard': req.shard, 'scratchbird.op': op, 'scratchbird.to_node': node, 'scratchbird.via': node === this.routing.selfId ? 'local' : 'rpc' },
      () => this.atNode(node, op, req, routedBy))
  }

  private async atNode<K extends ShardOpName> (node: NodeId, op: K, req: ShardRequests[K], routedBy: number | undefined): Promise<ShardReplies[K]> {
    let reply: ShardReplies[K]
    try {
      reply = node === this.routing.selfId ? await this.local.request(op, req) : await this.remote(node, op, req, routedBy)
    } catch (e) {
      // Mode 1: the node asked is not the shard's primary but knows which is — ask it, once.
      const primary = notPrimaryRedirect(e, node)
      if (primary === null) throw e
      reply = primary === this.routing.selfId ? await this.local.request(op, req) : await this.remote(primary, op, req, routedBy)
      if (PRIMARY_ANSWERED.has(op)) this.servedBy.set(req.shard, primary)
      return reply
    }
    if (PRIMARY_ANSWERED.has(op)) this.servedBy.set(req.shard, node)
    return reply
  }

  /**
   * `op` on peer `node`. A request carrying its transaction's BEGIN (shard/protocol/messages.ts
   * TxnBegin; only this node's own workers take one) goes as BEGIN and then the request, with the
   * same outcome: the reply names the xid, and a failed request leaves the transaction rolled back
   * there (asked, best effort; the participant lease ends it otherwise).
   */
  private async remote<K extends ShardOpName> (node: NodeId, op: K, req: ShardRequests[K], routedBy: number | undefined): Promise<ShardReplies[K]> {
    const codec = codecOf(op)
    const { begin, ...rest } = req as ShardRequests[K] & { begin?: TxnBegin }
    if (begin === undefined) return codec.decodeReply(await this.routing.forward(node, op, req.shard, codec.encodeRequest(req), undefined, routedBy))
    const beginCodec = codecOf('BEGIN')
    const { xid } = beginCodec.decodeReply(await this.routing.forward(node, 'BEGIN', req.shard, beginCodec.encodeRequest({ shard: req.shard, ...begin }), undefined, routedBy))
    try {
      const reply = codec.decodeReply(await this.routing.forward(node, op, req.shard, codec.encodeRequest({ ...rest, xid } as ShardRequests[K]), undefined, routedBy))
      return { ...reply, xid }
    } catch (e) {
      const rollback = codecOf('ROLLBACK')
      await this.routing.forward(node, 'ROLLBACK', req.shard, rollback.encodeRequest({ shard: req.shard, xid })).catch(() => {})
      throw e
    }
  }

  /**
   * A scan of a table whose scans read any replica (leaderless_quorum): one replica that serves
   * the shard. A replica answering SB_REPLICA_STALE (it is back from a long outage and not yet
   * repaired: its rows may lack deletes) is passed over for the next live one; with none left the
   * scan fails with that error rather than read stale rows. undefined: not such a table (the
   * owner serves it).
   */
  private async scan (req: ShardRequests['QUERY'], routedBy: number | undefined): Promise<ShardReplies['QUERY'] | undefined> {
    const avoid = new Set<NodeId>()
    let refused: unknown
    for (;;) {
      const node = this.routing.scanNodeOf?.(req.shard, req.tableId, avoid)
      if (node === undefined) return undefined
      if (node === null) {
        if (refused !== undefined) throw refused
        const placed = this.routing.placedOwner(req.shard)
        throw new ScratchBirdError('SB_SHARD_UNAVAILABLE', `shard ${req.shard} is unavailable: no replica of it is live`, { shard: req.shard, node: placed })
      }
      try {
        return await this.at(node, 'QUERY', req, routedBy)
      } catch (e) {
        if (!isScratchBirdError(e, 'SB_REPLICA_STALE') || avoid.has(node)) throw e
        avoid.add(node)
        refused = e
      }
    }
  }
}
