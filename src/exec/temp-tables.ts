// A session's temporary tables (issue 19, P-001: CREATE [GLOBAL|LOCAL] TEMPORARY TABLE) and their
// rows. Where they live, and why:
//  - In this node's memory, owned by the session object (SessionState.temp), not in a shard. A
//    temporary table is seen by one session only, is never replicated and must leave nothing
//    behind when the session ends or the node restarts. A shard would make each of those a chore:
//    its rows would be on disk (to be found and removed after a crash), in the commit log that
//    replicas, backups and point-in-time recovery read, and in the cluster catalog for the shard
//    workers to decode them. Memory owned by the session has none of that: the session's end (or
//    the process's) is the drop.
//  - Behind the same row interface as every table: the executors plan and run their statements as
//    usual and hand reads and writes to the table's TableAccess (temp-access.ts), which keeps the
//    row images here keyed by the same `r/<table id>/<pk>` bytes a shard uses, each row with the
//    shard its key hashes to — so a read of some shards, bounds and limits behave exactly as a
//    shard's scan would, and the coordinator runs the statement's program over them.
//  - Transactions: only the session reads and writes its tables, so MGA versions have nothing to
//    isolate; an undo log is enough. A statement outside a transaction applies all its writes or,
//    when one fails (duplicate key, the size limit), none; inside BEGIN … the undo log grows until
//    COMMIT (kept) or ROLLBACK (replayed backwards). CREATE and DROP of a temporary table are part
//    of the transaction too, as in PostgreSQL.
//  - Bounded: the rows' bytes (keys, images and a fixed per-row overhead) of all the session's
//    temporary tables together stay under node.temp_table_bytes_per_session; a write that would
//    pass it fails with SB_TEMP_TABLE_FULL and changes nothing.
import type { TableInfo } from '../catalog/catalog'
import { ScratchBirdError } from '../core/errors'
import type { ShardId } from '../core/ids'
import type { RowWrite } from '../storage/engine'
import { compareBytes, concatBytes, encodeTuple, rowPrefix } from '../storage/keys'

/** What COMMIT does to a temporary table (CREATE TEMPORARY TABLE … ON COMMIT). */
export type OnCommit = 'preserve_rows' | 'delete_rows' | 'drop'

/** node.temp_table_bytes_per_session's default, also the limit where no config is given (tests, tools). */
export const TEMP_TABLE_BYTES_PER_SESSION_DEFAULT = 64 * 1024 * 1024
/** Counted per row besides its key and image: the map entry and its object, roughly. */
export const TEMP_ROW_OVERHEAD_BYTES = 64
/** Temporary tables one session may hold at once (bounded like every input). */
export const MAX_TEMP_TABLES_PER_SESSION = 1024
/**
 * Temporary table ids come from the top of the id space, so none is a catalog table's (catalog ids
 * count up from 1024 by one per table or index and never get near). Each session counts its own
 * (SessionTempTables.nextTableId): a plan sees the node's catalog plus one session's temporary
 * tables, never two sessions' (the overlay catalog is per session, and so are the plans cached
 * under it), and a session's rows are keyed in its own store — so ids need only be distinct
 * within a session.
 */
export const FIRST_TEMP_TABLE_ID = 0xf000_0000
/** The last id before the counter wraps (2^32 - 2: ids stay within the catalog's 32-bit range). */
export const LAST_TEMP_TABLE_ID = 0xffff_fffe

export interface TempRow {
  readonly key: Uint8Array
  readonly row: Uint8Array
  readonly shard: ShardId
}

export interface TempTable {
  readonly info: TableInfo
  readonly onCommit: OnCommit
  /** Rows by their key bytes in hex. */
  readonly rows: Map<string, TempRow>
}

type Undo =
  | { readonly kind: 'row', readonly table: TempTable, readonly id: string, readonly before: TempRow | undefined }
  | { readonly kind: 'create', readonly table: TempTable }
  | { readonly kind: 'drop', readonly table: TempTable }
  | { readonly kind: 'clear', readonly table: TempTable, readonly rows: Map<string, TempRow> }

const rowBytes = (r: TempRow): number => r.key.length + r.row.length + TEMP_ROW_OVERHEAD_BYTES
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

export class SessionTempTables {
  private readonly byName = new Map<string, TempTable>()
  private bytesHeld = 0
  /** The open transaction's undo log (BEGIN … COMMIT/ROLLBACK); null: none open. */
  private txnLog: Undo[] | null = null
  /** The running statement's undo log outside a transaction; null: none running. */
  private statementLog: Undo[] | null = null
  /** Bumped whenever the set of tables changes (the session's catalog overlay is rebuilt then). */
  generation = 0
  /** The session's limit on the rows' bytes (node.temp_table_bytes_per_session, set per statement). */
  limit = TEMP_TABLE_BYTES_PER_SESSION_DEFAULT
  private nextId = FIRST_TEMP_TABLE_ID

  /**
   * A fresh id for a temporary table of this session. Wrapping after 268 million CREATEs could
   * only collide with a table still held that long, which MAX_TEMP_TABLES_PER_SESSION makes
   * checkable: an id a held table has is skipped.
   */
  nextTableId (): number {
    for (;;) {
      const id = this.nextId
      this.nextId = id >= LAST_TEMP_TABLE_ID ? FIRST_TEMP_TABLE_ID : id + 1
      if (![...this.byName.values()].some(t => t.info.id === id)) return id
    }
  }

  get bytes (): number { return this.bytesHeld }
  get size (): number { return this.byName.size }
  get tables (): readonly TempTable[] { return [...this.byName.values()] }
  table (name: string): TempTable | undefined { return this.byName.get(name) }
  has (name: string): boolean { return this.byName.has(name) }

  private get log (): Undo[] | null { return this.txnLog ?? this.statementLog }

  /** Adds a table (the caller checked the name is free among the session's temporary tables). */
  create (info: TableInfo, onCommit: OnCommit): TempTable {
    if (this.byName.size >= MAX_TEMP_TABLES_PER_SESSION) {
      throw new ScratchBirdError('SB_TEMP_TABLE_FULL', `a session holds at most ${MAX_TEMP_TABLES_PER_SESSION} temporary tables; drop some first`, { table: info.name, limit: MAX_TEMP_TABLES_PER_SESSION })
    }
    const t: TempTable = { info, onCommit, rows: new Map() }
    this.byName.set(info.name, t)
    this.generation++
    this.log?.push({ kind: 'create', table: t })
    return t
  }

  drop (name: string): TempTable | undefined {
    const t = this.byName.get(name)
    if (t === undefined) return undefined
    this.byName.delete(name)
    this.bytesHeld -= this.tableBytes(t)
    this.generation++
    this.log?.push({ kind: 'drop', table: t })
    return t
  }

  private tableBytes (t: TempTable): number {
    let n = 0
    for (const r of t.rows.values()) n += rowBytes(r)
    return n
  }

  /** Removes every row of `t` (ON COMMIT DELETE ROWS); undone like the rest of a transaction when it is open. */
  clear (t: TempTable): void {
    if (t.rows.size === 0) return
    this.bytesHeld -= this.tableBytes(t)
    this.log?.push({ kind: 'clear', table: t, rows: new Map(t.rows) })
    t.rows.clear()
  }

  /**
   * Applies one statement's writes to table `t`, as a shard's row writes behave: insert of an
   * existing key → SB_UNIQUE_VIOLATION, update/delete of a missing key → not affected. Returns
   * per write whether it affected a row. All or nothing outside a transaction (see atomically).
   */
  apply (t: TempTable, shard: ShardId, writes: readonly RowWrite[]): boolean[] {
    return writes.map(w => this.applyOne(t, shard, w))
  }

  private applyOne (t: TempTable, shard: ShardId, w: RowWrite): boolean {
    if (w.tableId !== t.info.id) throw new Error(`ScratchBird assertion: a write of table ${w.tableId} sent to temporary table ${t.info.id}`)
    const key = concatBytes(rowPrefix(t.info.id), w.pkBytes ?? encodeTuple(w.pk))
    const id = hex(key)
    const before = t.rows.get(id)
    let next: TempRow | undefined
    switch (w.op) {
      case 'insert':
        if (before !== undefined) throw new ScratchBirdError('SB_UNIQUE_VIOLATION', `duplicate primary key in temporary table "${t.info.name}"`, { table: t.info.name, key: id })
        next = { key, row: w.row, shard }
        break
      case 'update':
        if (before === undefined) return false
        next = { key, row: w.row, shard }
        break
      case 'delete':
        if (before === undefined) return false
        next = undefined
        break
      case 'put': case 'lww':
        next = w.row === null ? undefined : { key, row: w.row, shard }
        if (before === undefined && next === undefined) return false
    }
    const delta = (next === undefined ? 0 : rowBytes(next)) - (before === undefined ? 0 : rowBytes(before))
    if (delta > 0 && this.bytesHeld + delta > this.limit) {
      throw new ScratchBirdError('SB_TEMP_TABLE_FULL', `the session's temporary tables would hold more than ${this.limit} bytes (node.temp_table_bytes_per_session); the statement changed nothing`, { table: t.info.name, limit: this.limit, held: this.bytesHeld })
    }
    this.log?.push({ kind: 'row', table: t, id, before })
    if (next === undefined) t.rows.delete(id)
    else t.rows.set(id, next)
    this.bytesHeld += delta
    return true
  }

  /** The rows of `t` on `shard` within the key range [gte, lt), in key order. */
  rowsIn (t: TempTable, shard: ShardId, gte: Uint8Array, lt: Uint8Array): TempRow[] {
    const out: TempRow[] = []
    for (const r of t.rows.values()) {
      if (r.shard === shard && compareBytes(r.key, gte) >= 0 && compareBytes(r.key, lt) < 0) out.push(r)
    }
    return out.sort((a, b) => compareBytes(a.key, b.key))
  }

  /**
   * Runs one statement: outside a transaction its changes are undone if it throws (a statement
   * is atomic); inside one (or nested in a running statement) they join the open undo log.
   */
  async atomically<T> (run: () => Promise<T>): Promise<T> {
    if (this.log !== null) return await run()
    const log: Undo[] = []
    this.statementLog = log
    try {
      return await run()
    } catch (e) {
      this.undo(log)
      throw e
    } finally {
      this.statementLog = null
    }
  }

  /** The same for a synchronous statement step. */
  atomicallySync<T> (run: () => T): T {
    if (this.log !== null) return run()
    const log: Undo[] = []
    this.statementLog = log
    try {
      return run()
    } catch (e) {
      this.undo(log)
      throw e
    } finally {
      this.statementLog = null
    }
  }

  /** BEGIN: changes from here on are undone by a ROLLBACK. */
  beginTxn (): void {
    this.txnLog ??= []
  }

  /**
   * The end of a transaction — an explicit one (COMMIT / ROLLBACK) or a statement outside one
   * (committed: it succeeded): ROLLBACK undoes its changes; COMMIT applies each table's ON COMMIT.
   */
  endTxn (committed: boolean): void {
    const log = this.txnLog
    this.txnLog = null
    if (!committed) {
      if (log !== null) this.undo(log)
      return
    }
    for (const t of [...this.byName.values()]) {
      if (t.onCommit === 'drop') this.drop(t.info.name)
      else if (t.onCommit === 'delete_rows') this.clear(t)
    }
  }

  /**
   * The session ended (closed, timed out, connection gone): every table and row goes. The rows
   * are let go of here, not left to the session object's collection: a plan cached under the
   * session's catalog view may still name a table (and through its access, reach its rows).
   */
  dropAll (): void {
    for (const t of this.byName.values()) t.rows.clear()
    this.byName.clear()
    this.bytesHeld = 0
    this.txnLog = null
    this.statementLog = null
    this.generation++
  }

  private undo (log: Undo[]): void {
    for (let i = log.length - 1; i >= 0; i--) {
      const u = log[i]!
      switch (u.kind) {
        case 'row': {
          const now = u.table.rows.get(u.id)
          this.bytesHeld -= now === undefined ? 0 : rowBytes(now)
          if (u.before === undefined) u.table.rows.delete(u.id)
          else { u.table.rows.set(u.id, u.before); this.bytesHeld += rowBytes(u.before) }
          break
        }
        case 'create':
          if (this.byName.get(u.table.info.name) === u.table) { this.bytesHeld -= this.tableBytes(u.table); this.byName.delete(u.table.info.name) }
          this.generation++
          break
        case 'drop':
          this.byName.set(u.table.info.name, u.table)
          this.bytesHeld += this.tableBytes(u.table)
          this.generation++
          break
        case 'clear':
          for (const [id, r] of u.rows) { u.table.rows.set(id, r); this.bytesHeld += rowBytes(r) }
          break
      }
    }
  }
}
