import type { ReplicationOptions } from './replication-options'

// Which checks a change of a table's replication options must pass beyond the static rules of
// replication-options.ts (W ≤ N, R ≤ N, the mode's uuid_type), as one decision table instead of
// an `if` per statement (issue 13 items 3–5). Two facts about the cluster can refuse a change:
//   · live nodes: N replicas are placed on live nodes, so setting N (CREATE TABLE) or raising it
//     needs N live nodes. Nothing else does — lowering W during an outage is exactly how an
//     operator restores writes, so a change of W, R, uuid_type or a lower N is not checked.
//   · an empty table: no change needs one today (the column stays for a change that cannot
//     convert existing rows).
// A change that would leave rows where the table no longer looks (a new partition key), or as the
// table can no longer read them (a new mode), moves them instead when the table has rows
// (exec/table-move.ts, catalog/table-move.ts).
// A change not matched by any row is allowed on any table with any number of live nodes.

export interface ChangeRule {
  /** The option whose change the row is about. */
  readonly option: 'replication_factor' | 'partition_key_columns' | 'replication_mode'
  /** Whether `from` → `to` is a change of this kind (from is null for CREATE TABLE). */
  readonly applies: (from: ReplicationOptions | null, to: ReplicationOptions, primaryKey: readonly string[]) => boolean
  /** N must not exceed the live nodes. */
  readonly liveNodes: boolean
  /** Why the change needs an empty table (a client sees it); null (or a null answer): rows do not matter. */
  readonly needsEmptyTable: ((from: ReplicationOptions, to: ReplicationOptions) => string | null) | null
  /** The rows must move to new shards: a populated table is moved (a table move), an empty one just changes. */
  readonly movesRows: boolean
}

const columns = (c: readonly string[]): string => `(${c.join(', ')})`

export const CHANGE_RULES: readonly ChangeRule[] = [
  {
    option: 'replication_factor',
    // CREATE TABLE places N replicas now; a raised N places new ones.
    applies: (from, to) => from === null || to.replication_factor > from.replication_factor,
    liveNodes: true,
    // A factor the mode cannot have at all is refused by the DDL itself, with the better reason
    // (SB_REPLICATION_UNAVAILABLE: primary/replica copies do not exist yet), rows or not. A
    // primary_replica table's new replica is bootstrapped from a snapshot of its shard's primary and
    // serves no read (reads go to the primary) nor counts toward acknowledgements or votes until it
    // caught up (issue 14 item 4); a leaderless_quorum table's new replica receives every write from
    // the change on but counts toward neither W nor R until it has been filled from an old replica
    // (catalog/replica-bootstrap.ts, node/leaderless-bootstrap.ts): rows do not matter in either mode.
    needsEmptyTable: null,
    movesRows: false
  },
  {
    option: 'partition_key_columns',
    applies: (from, to, pk) => from !== null && columns(from.partition_key_columns ?? pk) !== columns(to.partition_key_columns ?? pk),
    liveNodes: false,
    // Its rows would stay on the shards the old key chose, where reads by the new key do not
    // look: a populated table's rows are copied to the new shards first (a table move).
    needsEmptyTable: null,
    movesRows: true
  },
  {
    option: 'replication_mode',
    applies: (from, to) => from !== null && from.replication_mode !== to.replication_mode,
    liveNodes: false,
    // Its rows keep versions the new mode cannot read (MGA record chains vs last-write-wins
    // versions): a populated table's rows are converted into a new relation of the new mode (a
    // table move; exec/table-move-source.ts gives each row its version in the new mode).
    needsEmptyTable: null,
    movesRows: true
  }
]

export interface ChangeChecks {
  /** N must not exceed the cluster's live nodes. */
  liveNodes: boolean
  /** Why the change needs an empty table, one line per reason; empty: any table may change. */
  needsEmptyTable: string[]
  /** A populated table's rows must move to other shards (exec/table-move.ts). */
  movesRows: boolean
}

/** The checks `from` → `to` must pass; `from` null is CREATE TABLE (there are no rows yet). */
export function changeChecks (from: ReplicationOptions | null, to: ReplicationOptions, primaryKey: readonly string[]): ChangeChecks {
  const rows = CHANGE_RULES.filter(r => r.applies(from, to, primaryKey))
  return {
    liveNodes: rows.some(r => r.liveNodes),
    needsEmptyTable: from === null ? [] : rows.flatMap(r => r.needsEmptyTable?.(from, to) ?? []),
    movesRows: from !== null && rows.some(r => r.movesRows)
  }
}
