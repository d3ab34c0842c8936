// What planning needs of the node (a port: plan/ sits below exec/ and never imports it): the
// catalog and shard count for routing, the clock, HLC and UUID generators that constant folding
// runs with (LIMIT $1, a key pinned to gen_uuidv7()), and the hint counts sys_hints shows.
// The executor's environment satisfies it structurally.
import type { Catalog } from '../catalog/catalog'
import type { Clock } from '../core/clock'
import type { Hlc } from '../core/hlc'
import type { UuidV7Generator } from '../core/uuid'
import type { NodeId } from '../core/ids'

/** Hints a node keeps for one target node (a row of sys_hints). */
export interface HintStat { target: NodeId, count: number, bytes: number }

export interface PlanEnv {
  readonly shards: number
  readonly catalog: () => Catalog
  readonly hlc: Hlc
  readonly uuidV7: UuidV7Generator
  readonly clock: Clock
  /** The hints this node keeps (a node in a cluster); sys_hints shows them. */
  readonly hints?: { stats: () => HintStat[] } | undefined
}
