import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog'
import type { SplitSwitchHooks } from '../cluster/split-progress'
import type { NodeId, ShardId } from '../core/ids'
import type { ClusterShell } from './cluster'
import type { DeriveDeps } from './split-derive'
import { SplitRunner } from './split-runner'

// How a node builds its split runner (node/split-runner.ts) from its cluster shell, its own shard
// workers and the switch half's hooks (node/split-switch.ts, another branch): the node starts it
// with the gossip interval once the hooks exist —
//   splitRunnerFor({ cluster, workers: this.workers!, catalog: () => this.catalog, hooks,
//     primaryOf: s => this.replication?.primaryOf(s) ?? 0, log: this.log }).start(config.gossip.interval_ms)
// Holders are the placement's (ClusterShell.splitHoldersOf), reports go through the cluster's
// gossip record, and the layout is the one the cluster shell recorded in cluster.json.

export interface SplitWiring {
  readonly cluster: ClusterShell
  /** This node's own shard workers (the derive's ops are local). */
  readonly workers: DeriveDeps['workers']
  readonly catalog: () => Catalog
  readonly hooks: SplitSwitchHooks
  /** Mode 1: the primary this node's group of the shard knows (0: none). */
  readonly primaryOf: (shard: ShardId) => NodeId | 0
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
    log: w.log
  })
}
