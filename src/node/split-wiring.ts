import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog'
import type { SplitSwitchHooks } from '../cluster/split-progress'
import type { NodeId, ShardId } from '../core/ids'
import type { ClusterShell } from './cluster'
import type { DeriveDeps } from './split-derive'
import type { ShardCountSource } from '../cluster/shard-count'
import type { ShardGroup } from './replication/shard-group'
import { SplitRunner } from './split-runner'
import { SplitSwitch } from './split-switch'
import { splitCaughtUpStore } from './split-caught-up'

// How a node builds its split runner (node/split-runner.ts) from its cluster shell, its own shard
// workers and the switch half (node/split-switch.ts, splitSwitchFor): node.ts starts it with the
// cluster, ticking at the gossip interval, and stops it first when the cluster stops.
// Holders are the placement's (ClusterShell.splitHoldersOf), reports go through the cluster's
// gossip record, and the layout is the one the cluster shell recorded in cluster.json. The switch
// entry counts as committed by the parent's Mode 1 group only once a majority holds it
// (groupCommitted: the machine's commit LSN, not the sync_replicas acknowledgement, which under
// sync_replicas 0 is the primary alone — a failover could then cut S back after holders switched).

export interface SplitWiring {
  readonly cluster: ClusterShell
  /** This node's own shard workers (the derive's ops are local). */
  readonly workers: DeriveDeps['workers']
  readonly catalog: () => Catalog
  readonly hooks: SplitSwitchHooks
  /** Mode 1: the primary this node's group of the shard knows (0: none). */
  readonly primaryOf: (shard: ShardId) => NodeId | 0
  /** The data directory: the parents reported caught up are kept there (node/split-caught-up.ts). */
  readonly dataDir?: string
  readonly log: Logger
}

export function splitRunnerFor (w: SplitWiring): SplitRunner {
  const c = w.cluster
  return new SplitRunner({
    selfId: c.selfId,
    derive: { workers: w.workers, catalog: w.catalog },
    hooks: w.hooks,
    layout: () => c.currentLayout(),
    holdersOf: p => c.splitHoldersOf(p),
    // A group's primary where this node knows one; a single copy with no group: its placed owner.
    isPrimary: p => w.primaryOf(p) === c.selfId || (w.primaryOf(p) === 0 && c.mode1Replicas() <= 1 && c.placedOwner(p) === c.selfId),
    reports: () => c.splitReports(),
    publish: r => { c.publishSplit(r) },
    votersSettled: p => c.splitVotersSettled(p),
    ...(w.dataDir !== undefined ? { caughtUp: splitCaughtUpStore(w.dataDir, w.log) } : {}),
    log: w.log
  })
}

/**
 * SplitSwitchDeps.committed over this node's Mode 1 groups: undefined without a group of the shard
 * here (a single copy); on its primary, a majority commit (reading the log tail); on a replica, the
 * commit LSN its primary told it.
 */
export function groupCommitted (group: (shard: ShardId) => ShardGroup | undefined): (shard: ShardId, lsn: bigint) => boolean | undefined {
  return (shard, lsn) => {
    const g = group(shard)
    if (g === undefined) return undefined
    return g.role === 'primary' ? g.majorityCommitted(lsn) : g.commitLsn >= lsn
  }
}

/** The switch half on this node, over its own workers and its Mode 1 groups. */
export function splitSwitchFor (workers: DeriveDeps['workers'], catalog: () => Catalog, shardCount: ShardCountSource, group: (shard: ShardId) => ShardGroup | undefined): SplitSwitch {
  return new SplitSwitch({ workers, catalog, shardCount, committed: groupCommitted(group) })
}
