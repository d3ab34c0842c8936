// The plan of an UPDATE or DELETE (modify.ts makes and runs it; point-modify.ts decides whether it
// can run as one shard request).
import type { Program } from '../sblr/program'
import type { Routing } from '../plan/pins'
import type { DomainShape } from '../plan/domain-rules'
import type { IndexShape } from '../plan/index-shapes'

export interface ModifyPlan {
  kind: 'update' | 'delete'
  shape: DomainShape
  routing: Routing
  /** WHERE filter emitting whole rows; runs on the shards. */
  filter: Program
  /** UPDATE: new values of `targets`, computed from the old row on the coordinator. */
  assign: Program | null
  targets: number[]
  /** The SET calls a UUID generator (it must run on the coordinator, which owns the HLC). */
  assignVolatile: boolean
  /** RETURNING over the new rows (UPDATE) or the removed ones (DELETE); null without one. */
  returning: Program | null
  /** The table's indexes, whose entries follow the rows. */
  indexes: readonly IndexShape[]
}
