// The replication modes a table can have (DESIGN §6), one list for the config schema
// (replication.default_mode) and the catalog (WITH / ALTER TABLE … SET replication_mode).
export const REPLICATION_MODES = ['primary_replica', 'leaderless_quorum'] as const
export type ReplicationMode = typeof REPLICATION_MODES[number]
