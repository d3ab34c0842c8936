import type { Catalog } from '../catalog/catalog'
import { pendingShards } from '../catalog/replica-bootstrap'
import type { NodeId, ShardId } from '../core/ids'
import { decodeRowKey, decodeTuple, ROW_SPACE, type Tuple } from '../storage/keys'
import type { SnapshotEntry } from '../storage/replica-snapshot'

// The decisions of the leaderless replica bootstrap (node/leaderless-bootstrap.ts), apart from its
// I/O: which (table, shard) this node fills now and from where, and which keys of a snapshot
// chunk are the tables' rows. Pure: unit-tested in tests/unit/node/leaderless-bootstrap-plan.test.ts.

/** One shard of one table whose new replicas this node fills, being the source. */
export interface BootstrapJob {
  readonly tableId: number
  readonly table: string
  readonly shard: ShardId
  /** The replica the rows are read from: this node. */
  readonly source: NodeId
  /** The replicas being filled (placed by the raise, not yet counted). */
  readonly targets: readonly NodeId[]
}

export interface PlanInput {
  readonly catalog: Catalog
  readonly shards: number
  readonly selfId: NodeId
  /** The first n nodes of the shard's preference list. */
  readonly replicas: (shard: ShardId, n: number) => readonly NodeId[]
  readonly alive: (id: NodeId) => boolean
}

/**
 * The bootstrap jobs this node runs: for every pending shard of every table with a bootstrap, the
 * source is the first live replica among those that count (preference order), so exactly one node
 * (by gossip's view) streams each shard and another takes over when it goes down. A shard whose
 * targets are not all alive waits (a bootstrap streams to every new replica at once; hints cover
 * the writes meanwhile).
 */
export function bootstrapJobs (p: PlanInput): BootstrapJob[] {
  const out: BootstrapJob[] = []
  for (const t of p.catalog.userTables) {
    if (t.bootstrap === undefined) continue
    const n = t.replication.replication_factor
    for (const s of pendingShards(t.bootstrap, p.shards)) {
      const shard = s as ShardId
      const all = p.replicas(shard, n)
      const counted = all.slice(0, Math.min(n, t.bootstrap.readyFactor))
      const targets = all.slice(counted.length)
      const source = counted.find(id => p.alive(id))
      if (source !== p.selfId || targets.length === 0 || !targets.every(id => p.alive(id))) continue
      out.push({ tableId: t.id, table: t.name, shard, source, targets })
    }
  }
  return out
}

/** Every table's shards are all ready: the tables whose bootstrap record can go (SET REPLICAS READY). */
export function finishedTables (catalog: Catalog, shards: number): string[] {
  return catalog.userTables.filter(t => t.bootstrap !== undefined && pendingShards(t.bootstrap, shards).length === 0).map(t => t.name)
}

/** The primary keys of table `tableId`'s rows among a snapshot chunk's entries (r/<table>/<pk>), in key order. */
export function chunkKeys (entries: readonly SnapshotEntry[], tableId: number): Tuple[] {
  const out: Tuple[] = []
  for (const e of entries) {
    const k = e.key
    if (k.length < 3 || k[0] !== ROW_SPACE.gte[0] || k[1] !== ROW_SPACE.gte[1]) continue
    const { tableId: id, pkOffset } = decodeRowKey(k)
    if (id === tableId) out.push(decodeTuple(k, pkOffset) as Tuple)
  }
  return out
}
