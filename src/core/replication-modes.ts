// The replication modes a table can have (DESIGN §6), one list for the config schema
// (replication.default_mode) and the catalog (WITH / ALTER TABLE … SET replication_mode).
export const REPLICATION_MODES = ['primary_replica', 'leaderless_quorum'] as const
export type ReplicationMode = typeof REPLICATION_MODES[number]

/**
 * What each mode means to code outside the executor's access methods (src/exec/access/), as one
 * decision table instead of an `if (mode === …)` at each place: a new mode is a new row.
 */
export interface ReplicationModeRules {
  /** Copies of a shard this release keeps for a table of the mode; null: up to the cluster's members. */
  readonly maxReplicas: number | null
  /** Why a larger replication_factor is refused, when maxReplicas is set. */
  readonly replicasUnavailable: string
  /** A scan outside a transaction may read any one of the shard's N replicas (else only its owner). */
  readonly scanAnyReplica: boolean
  /** The uuid_type the mode needs (switching to the mode sets it), and why; null: any. */
  readonly requiredUuidType: { readonly type: 'v8_hlc', readonly why: string } | null
  /** write_quorum and read_quorum take effect, so weak W/R combinations are warned about. */
  readonly quorums: boolean
}

export const REPLICATION_MODE_RULES: Readonly<Record<ReplicationMode, ReplicationModeRules>> = {
  primary_replica: {
    // Mode 1 (issue 14): the shard's replication group keeps the largest factor of the tables.
    maxReplicas: null,
    replicasUnavailable: '',
    scanAnyReplica: false,
    requiredUuidType: null,
    quorums: false
  },
  leaderless_quorum: {
    maxReplicas: null,
    replicasUnavailable: '',
    scanAnyReplica: true,
    requiredUuidType: { type: 'v8_hlc', why: 'last-write-wins needs hybrid-logical-clock versions' },
    quorums: true
  }
}
