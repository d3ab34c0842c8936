// How a statement reads and writes one table — the one place a table's replication mode shows.
// The executors (select, insert, modify, join, EXPLAIN) plan alike for every table and hand the
// mode-specific steps to the table's TableAccess, chosen once per table (choose.ts):
//  - mga.ts: MGA transactions on the shard owner (primary_replica, and every table on a single
//    node): reads and writes inside the statement's transaction, commit by TIP or two-phase commit;
//  - lww.ts: leaderless quorum replication in a cluster (last write wins over N replicas).
// A new replication mode is a new file here, not a branch in each executor.
import type { HlcTs } from '../../storage/types'
import type { ScanOptions } from '../../storage/engine'
import type { SqlValue } from '../../types/values'
import type { ShardScan } from '../shard-query'
import type { ShardWrites } from '../shard-writes'
import type { SqlTxn } from '../txn'
import type { ShardId } from '../../core/ids'
import type { ModifyRowRequest } from '../../shard/protocol/messages'
import type { Tuple } from '../../storage/keys'
import type { KeyList } from '../../plan/key-lists'

/** A MODIFY_ROW request without its transaction (which the access names). */
export type ModifyRowBody = Omit<ModifyRowRequest, 'xid' | 'begin' | 'commitHlc'>

/** A read of one table: `program` over its rows on `shards` within `options`. */
export interface TableRead extends ShardScan {
  /** May the program run in the shards (no UUID generators)? Else whole rows come to the coordinator. */
  pushdown: boolean
  /**
   * Whole primary keys on the read's one shard, read by point reads instead of `options` (the
   * WHERE's key list, plan/key-lists.ts). Given only to an access with `pointLists`.
   */
  keys?: readonly Tuple[]
}

export interface TableAccess {
  /**
   * The rows `q.program` emits over the table's rows (partial aggregates when `q.aggregate`),
   * wherever it runs: a point read when the options pin the whole primary key, else a scan.
   * Inside `txn` the transaction's own writes are visible.
   */
  read (q: TableRead, txn: SqlTxn | null): Promise<SqlValue[][]>
  /**
   * Does this access read a WHERE that fixes the whole primary key to a list of keys (IN lists,
   * ORs of equalities: Routing.keys) by point reads of those keys (TableRead.keys)? Leaderless
   * tables do — their point reads are quorum reads, their scans read one replica. Absent: such a
   * WHERE is read like any other (scan, index), which for MGA tables is as consistent.
   */
  readonly pointLists?: boolean
  /**
   * Writes one statement's rows: inside `txn` (sent, or buffered until COMMIT), else as an
   * autocommit statement. Returns the rows affected.
   */
  write (writes: ShardWrites, txn: SqlTxn | null): Promise<number>
  /**
   * This access for ONE read committed UPDATE / DELETE in two steps: its reads at `readHlc`, its
   * writes refusing rows committed since (exec/read-point.ts). Undefined: the access has no such
   * reads (leaderless tables: last write wins; temporary tables: one session).
   */
  atReadPoint?: ((readHlc: HlcTs) => TableAccess) | undefined
  /**
   * Runs a read-then-write statement (UPDATE / DELETE): in `txn` when one is open, else in the
   * statement transaction the mode needs (committed when `run` succeeds, rolled back otherwise).
   */
  statement<T> (txn: SqlTxn | null, run: (txn: SqlTxn | null) => Promise<T>): Promise<T>
  /**
   * A pk-pinned UPDATE / DELETE as one request on `shard` (exec/point-modify.ts): inside `txn`, or
   * begun and committed there as an autocommit statement. Returns the rows affected (0 or 1).
   * Absent: the access runs every UPDATE / DELETE in two steps (read, then write).
   */
  modifyRow? (shard: ShardId, req: ModifyRowBody, txn: SqlTxn | null): Promise<number>
  /** Throws when a join may not read this table inside `txn` (it would miss the transaction's own writes). */
  checkJoinRead (txn: SqlTxn | null): void
  /** EXPLAIN lines of a read (after the routing line); `keys` when it reads a key list (pointLists). */
  explainRead (shards: readonly ShardId[], options: ScanOptions, pushdown: boolean, keys?: KeyList): string[]
  /** EXPLAIN lines of an INSERT's write to `shards`. */
  explainInsert (shards: readonly ShardId[]): string[]
  /** EXPLAIN lines of an UPDATE / DELETE reading `shards` within `options` (or the key list `keys`: pointLists). */
  explainModify (shards: readonly ShardId[], options: ScanOptions, keys?: KeyList): string[]
}

/** The EXPLAIN line of a read whose program runs in the shards, or on the coordinator. */
export function pushdownLine (pushdown: boolean): string {
  return pushdown ? 'Program runs in the shard workers; the coordinator merges' : 'Rows are read from the shards; the program runs on the coordinator (it generates UUIDs)'
}
