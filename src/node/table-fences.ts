import type { Logger } from 'pino'
import type { TableInfo } from '../catalog/catalog'
import { FenceRegistry, type FenceRelease, type HeldFence } from '../cluster/table-fences'
import type { Clock } from '../core/clock'
import { describe, messageOf, ScratchBirdError } from '../core/errors'
import { shardIds, type NodeId, type ShardId } from '../core/ids'
import type { TableFenceIo } from '../exec/env'
import type { TableFenceRequest } from '../net/rpc/payloads'
import type { RpcMethods } from '../net/rpc/server'
import type { ShardRequester } from './shard-router'
import type { ShardCountSource } from '../cluster/shard-count'

// The I/O shell of DDL write fences (issue 13; the rules: cluster/table-fences.ts for when a node
// lifts one, storage/table-fence.ts for what a fenced shard refuses). The DDL's node fences the
// table on every replica of every shard — its own through its workers, each peer through the
// TABLE_FENCE RPC, which the peer's shell records in its registry before it fences its workers —
// and learns whether any replica holds a row. It then tells every node how the DDL ended; each
// node lifts its fences by its registry's rules, checked again every second (TICK_MS) for the
// fences waiting for this node's catalog to catch up or for a release that never came.

/** How often held fences are checked for lifting. */
export const FENCE_TICK_MS = 1_000
/** A fence RPC waits behind the writes queued on the peer's shards before its probe. */
const FENCE_CALL_TIMEOUT_MS = 10_000

/** What the shell needs of the cluster; null on a single node. */
export interface FenceCluster {
  /** The nodes holding a replica of `shard` for a table of replication factor `n`. */
  replicasOf: (shard: ShardId, n: number) => NodeId[]
  isAlive: (id: NodeId) => boolean
  /** A TABLE_FENCE RPC to a peer: answers whether its fenced shards hold a row. */
  callFence: (to: NodeId, req: TableFenceRequest, timeoutMs: number) => Promise<{ rows: boolean }>
  /** The highest catalog version gossip shows a live member holding (ours included). */
  newestCatalogSeen: () => number
}

export interface TableFenceDeps {
  selfId: NodeId
  /** Read at each use: a split's new shards are fenced too from its switch on (cluster/shard-count.ts). */
  shardCount: ShardCountSource
  /** This node's shard workers. */
  local: ShardRequester
  cluster: FenceCluster | null
  catalogVersion: () => number
  clock: Clock
  log: Logger
}

export class TableFenceShell implements TableFenceIo {
  private readonly registry = new FenceRegistry()
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly d: TableFenceDeps) {}

  register (methods: RpcMethods): void {
    methods.register('TABLE_FENCE', p => this.onRequest(p))
  }

  start (): void {
    this.timer = setInterval(() => this.checkDue(), FENCE_TICK_MS)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /**
   * Fences this node's shards kept across a restart (their DDL's node may never release them
   * now): into the registry with no release, so its 'lost' rule lifts them (FENCE_TTL_MS after
   * this start, once this node's catalog has caught up).
   */
  async load (): Promise<number> {
    let n = 0
    for (const shard of shardIds(this.d.shardCount.shards)) {
      for (const f of (await this.d.local.request('TABLE_FENCE_LIST', { shard })).fences) {
        if (this.registry.add(f.token, f.tableId, [shard], this.d.clock.monotonic())) n++
      }
    }
    if (n > 0) this.d.log.warn({ fences: n }, `${n} write fence(s) of unfinished DDL statements kept from before the restart; each lifts once this node's catalog has caught up`)
    return n
  }

  /** Fences held on this node's shards (SHOW / tests). */
  held (): HeldFence[] { return this.registry.held() }

  // ---- the DDL's node (TableFenceIo) --------------------------------------------------------

  async fence (table: TableInfo, token: string): Promise<boolean> {
    const byNode = this.replicaShards(table)
    const down = [...byNode.keys()].filter(id => id !== this.d.selfId && this.d.cluster?.isAlive(id) === false)
    if (down.length > 0) {
      throw new ScratchBirdError('SB_QUORUM_NOT_ACHIEVED',
        `cannot fence table ${table.name} for this ALTER TABLE: node ${down.join(', ')} (holding replicas of it) is down, and the change needs every replica fenced (and, for one needing an empty table, asked whether it holds rows)`,
        { table: table.name, down, available_replicas: byNode.size - down.length, required_replicas: byNode.size })
    }
    const answers = await Promise.allSettled([...byNode].map(async ([node, shards]) => {
      const req: TableFenceRequest = { action: 'fence', tableId: table.id, token, shards }
      return node === this.d.selfId ? await this.onRequest(req) : await this.d.cluster!.callFence(node, req, FENCE_CALL_TIMEOUT_MS)
    }))
    const failed = answers.find(a => a.status === 'rejected')
    if (failed !== undefined) {
      // Whatever was fenced is released now: the DDL is not going to run.
      await this.release(table, token, { kind: 'now' })
      const why = messageOf(failed.reason)
      throw new ScratchBirdError('SB_QUORUM_NOT_ACHIEVED', `cannot fence table ${table.name} for this ALTER TABLE: a replica could not be fenced (and asked whether it holds rows) (${why})`, { table: table.name })
    }
    return answers.some(a => a.status === 'fulfilled' && a.value.rows)
  }

  async release (table: TableInfo, token: string, how: FenceRelease): Promise<void> {
    const nodes = [...this.replicaShards(table).keys()]
    await Promise.all(nodes.map(async node => {
      const req: TableFenceRequest = { action: 'release', tableId: table.id, token, shards: [], release: how }
      try {
        if (node === this.d.selfId) await this.onRequest(req)
        else await this.d.cluster!.callFence(node, req, FENCE_CALL_TIMEOUT_MS)
      } catch (e) {
        // The peer lifts it by its own rules (a release that never came: FENCE_TTL_MS).
        this.d.log.warn({ err: describe(e), node, table: table.name }, `write fence on table ${table.name}: release not delivered to node ${node} (${messageOf(e)}); it lifts the fence on its own once its catalog has caught up`)
      }
    }))
  }

  /** Per node, the shards of `table` it holds a replica of. */
  private replicaShards (table: TableInfo): Map<NodeId, ShardId[]> {
    const n = Math.max(1, table.replication.replication_factor)
    const out = new Map<NodeId, ShardId[]>()
    for (const shard of shardIds(this.d.shardCount.shards)) {
      const nodes = this.d.cluster === null ? [this.d.selfId] : this.d.cluster.replicasOf(shard, n)
      for (const node of nodes) {
        let list = out.get(node)
        if (list === undefined) out.set(node, list = [])
        list.push(shard)
      }
    }
    return out
  }

  // ---- every node: its own shards -------------------------------------------------------------

  async onRequest (req: TableFenceRequest): Promise<{ rows: boolean }> {
    if (req.action === 'release') {
      const lifted = this.registry.release(req.token, req.release ?? { kind: 'unknown' }, this.d.catalogVersion())
      if (lifted !== undefined) await this.lift(lifted)
      return { rows: false }
    }
    for (const s of req.shards) {
      if (!Number.isInteger(s) || s >= this.d.shardCount.shards) throw new ScratchBirdError('SB_RPC_MALFORMED', `TABLE_FENCE names shard ${s}, this cluster has ${this.d.shardCount.shards}`)
    }
    if (!this.registry.add(req.token, req.tableId, req.shards, this.d.clock.monotonic())) {
      throw new ScratchBirdError('SB_TABLE_ALTERING', 'this node holds its maximum of write fences; retry the DDL later', { table_id: req.tableId })
    }
    const replies = await Promise.all(req.shards.map(shard => this.d.local.request('TABLE_FENCE', { shard, tableId: req.tableId, token: req.token, fence: true })))
    return { rows: replies.some(r => r.rows) }
  }

  /** Lifts the fences whose DDL's outcome now allows it (every FENCE_TICK_MS; tests call it). */
  checkDue (): void {
    const due = this.registry.due(this.d.clock.monotonic(), this.d.catalogVersion(), this.d.cluster?.newestCatalogSeen() ?? this.d.catalogVersion())
    for (const f of due) {
      this.d.log.info({ table_id: f.tableId, token: f.token }, `write fence on table ${f.tableId} lifted (${f.release === null ? 'no release from its DDL; this node\'s catalog is current' : `DDL ${f.release.kind}`})`)
      void this.lift(f)
    }
  }

  private async lift (f: HeldFence): Promise<void> {
    await Promise.all(f.shards.map(async shard => {
      try {
        await this.d.local.request('TABLE_FENCE', { shard, tableId: f.tableId, token: f.token, fence: false })
      } catch (e) {
        this.d.log.error({ err: describe(e), shard, table_id: f.tableId }, `write fence on table ${f.tableId}: shard ${shard} could not be released (${messageOf(e)})`)
      }
    }))
  }
}
