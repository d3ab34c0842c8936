// Runs the move of a populated table to a new layout (ALTER TABLE … SET partition_key_columns or
// replication_mode with rows; the record, the steps and why: catalog/table-move.ts). The node whose client asked starts
// it (under the write fence of ddl-needs-empty.ts) and runs it to its end before answering; a
// node resuming a move after a crash (node/table-moves.ts) runs the same `runMove`.
//   copy    each source shard read in pages of MOVE_BATCH_ROWS rows (in key order, after the last
//           key read), each page written to the target and its index relations in a transaction
//           of its own through the table access's write path (Mode 1 replicas and the commit
//           log get them like any write), as upserts: copying a shard again after a crash writes
//           the same rows again. The shard is recorded copied (a DDL) once all its pages are in.
//           When the source or the target is a leaderless table in a cluster the rows keep (or
//           get) versions instead (copyVersioned; what is read and why: table-move-source.ts):
//           a leaderless source is read from every replica and merged last-write-wins, a Mode 1
//           source going leaderless gives each row the version of its commit HLC, and a
//           leaderless target is quorum-written with those explicit versions (applied by the
//           replicas' LWW rule, so copying again writes nothing new).
//   switch  one DDL: reads plan the new layout from that catalog version on.
//   cleanup the retired relations' rows deleted, page by page, on every shard; then DONE.
// Writes of the table are refused from START to SWITCH (planning: SB_TABLE_ALTERING), and the
// fence START runs under dooms every transaction that wrote the table before it
// (storage/table-fence.ts), so the source cannot change under the copy. Reads use the old layout
// until SWITCH.
import type { TableInfo } from '../catalog/catalog'
import { nextMoveStep } from '../catalog/table-move'
import { ScratchBirdError } from '../core/errors'
import { asShardId, shardIds, type ShardId } from '../core/ids'
import { indexShapes } from '../plan/index-shapes'
import { pkTuple, tableShape, type TableShape } from '../plan/table-types'
import type { AlterTableStatement, DdlStatement, MoveStepSpec, Pos } from '../sql/ast'
import type { ReplicaWrite, RowWrite } from '../storage/engine'
import type { Tuple, TupleValue } from '../storage/keys'
import { decodeRow } from '../types/row-codec'
import { timestampFromMillis } from '../types/datetime'
import type { SqlValue } from '../types/values'
import { quorumTable, tableAccess } from './access/choose'
import type { ExecEnv } from './env'
import { addIndexWrites, writeWithIndexes } from './index-writes'
import { passthrough } from './local-vm'
import type { StatementResult } from './result'
import { addWrite, type ShardWrites } from './shard-writes'
import { SqlTxn } from './txn'
import { leaderlessPage, leaderlessVersion, mode1Page, type SourcePage } from './table-move-source'
import { insertWrite, versionId } from './write-rows'

/** Rows read (and written) per page of a copy or a cleanup: a bound on what one transaction holds. */
export const MOVE_BATCH_ROWS = 500

type Ddl = (s: DdlStatement) => Promise<StatementResult>

function step (pos: Pos, table: string, s: MoveStepSpec): DdlStatement {
  return { kind: 'alter_table', pos, table, action: { kind: 'move', pos, step: s } }
}

/** START of the move `s` (an ALTER TABLE … SET that moves rows), by this node. */
export async function startMove (env: ExecEnv, s: AlterTableStatement, ddl: Ddl): Promise<StatementResult> {
  if (s.action.kind !== 'set_options') throw new Error('ScratchBird assertion: a move starts from ALTER TABLE … SET')
  return await ddl(step(s.pos, s.table, { kind: 'start', node: env.selfNode ?? 0, shards: env.shards, options: s.action.options }))
}

/**
 * Per node, the runs going on, by table: a second caller waits for the first instead of racing it.
 * Keyed by the node's CatalogPins — one object per node, the same in every env derived from the
 * node's (a session's, a statement's pinned shard count: shard-count-retry.ts spreads it) — not by
 * the env itself: keyed by env, a client's ALTER and node/table-moves.ts resuming the same move ran
 * side by side, and the second SWITCH of one move failed the ALTER with SB_TABLE_MOVE_STATE ("is in
 * phase cleanup, not copy", seen in tests/cluster/mode-change.test.ts under load).
 */
const runs = new WeakMap<object, Map<string, Promise<void>>>()

/**
 * Runs the move of `table` from wherever its record says to its end (nothing to do: no record).
 * A run of the same table already going on this node (the client's ALTER, or node/table-moves.ts
 * resuming it) is waited for first, then the record is looked at again.
 */
export async function runMove (env: ExecEnv, table: string, pos: Pos, ddl: Ddl, progress?: (step: string) => void): Promise<void> {
  const node: object = (env.catalogPins as object | undefined) ?? env
  let going = runs.get(node)
  if (going === undefined) runs.set(node, going = new Map())
  for (let other = going.get(table); other !== undefined; other = going.get(table)) await other.catch(() => {})
  const run = steps(env, table, pos, ddl, progress)
  going.set(table, run)
  try {
    await run
  } finally {
    if (going.get(table) === run) going.delete(table)
  }
}

/**
 * The steps from the record's state to the end. Every step either changes the catalog or throws,
 * so the loop ends; a step that left the record as it was ends the run with SB_TABLE_MOVE_STATE.
 */
async function steps (env: ExecEnv, table: string, pos: Pos, ddl: Ddl, progress: ((step: string) => void) | undefined): Promise<void> {
  for (;;) {
    const t = env.catalog().table(table)
    if (t?.move === undefined) return
    const before = env.catalog().version
    const next = nextMoveStep(t.move)
    progress?.(next.kind === 'copy' ? `copy shard ${next.shard}` : next.kind)
    switch (next.kind) {
      case 'copy':
        await copyShard(env, t, asShardId(next.shard))
        await ddl(step(pos, table, { kind: 'copied', shard: next.shard }))
        break
      case 'switch':
        await ddl(step(pos, table, { kind: 'switch' }))
        break
      case 'cleanup':
        for (const r of relationsOf(env, table, 'retired')) await deleteRows(env, r)
        await ddl(step(pos, table, { kind: 'done' }))
        break
    }
    if (env.catalog().version === before) {
      throw new ScratchBirdError('SB_TABLE_MOVE_STATE', `the move of table "${table}" made no progress (its step changed no catalog version here)`, { table })
    }
  }
}

/** The hidden relations of `table`'s move with `role`: the table-like one first. */
function relationsOf (env: ExecEnv, table: string, role: 'target' | 'retired'): TableInfo[] {
  const all = env.catalog().tables.filter(x => x.moving?.table === table && x.moving.role === role)
  return [...all.filter(x => x.index === undefined), ...all.filter(x => x.index !== undefined)]
}

/** One page of `shape`'s rows on `shard` after key `after` (null: from the start), in key order. */
async function page (env: ExecEnv, shape: TableShape, shard: ShardId, after: TupleValue[] | null): Promise<SqlValue[][]> {
  const options = after === null ? { limit: MOVE_BATCH_ROWS } : { limit: MOVE_BATCH_ROWS, gt: after }
  return await tableAccess(env, shape.info).read({
    shape, shards: [shard], options, program: passthrough(shape.programColumns), params: [], now: timestampFromMillis(env.clock.now()), pushdown: true
  }, null)
}

/** Every row of source shard `shard` upserted into the move's target (and its index relations). */
async function copyShard (env: ExecEnv, t: TableInfo, shard: ShardId): Promise<void> {
  const target = relationsOf(env, t.name, 'target')[0]
  if (target === undefined) throw new ScratchBirdError('SB_TABLE_MOVE_STATE', `the move of table "${t.name}" has lost its target relation`, { table: t.name })
  // Leaderless source in a cluster, or a leaderless target: versions matter (table-move-source.ts).
  if (quorumTable(env, t) || quorumTable(env, target)) {
    await copyVersioned(env, t, target, shard)
    return
  }
  const source = tableShape(t)
  let after: TupleValue[] | null = null
  for (;;) {
    const rows = await page(env, source, shard, after)
    if (rows.length === 0) return
    await writeTransactional(env, target, rows)
    if (rows.length < MOVE_BATCH_ROWS) return
    after = pkTuple(source, rows[rows.length - 1]!)
  }
}

/** Rows (target column order) upserted into `target` and its index relations in one transaction. */
async function writeTransactional (env: ExecEnv, target: TableInfo, rows: readonly SqlValue[][]): Promise<void> {
  const shape = tableShape(target)
  const indexes = indexShapes(env.catalog(), target)
  const writes: ShardWrites = new Map()
  for (const row of rows) {
    const w = insertWrite(env, shape, row)
    addWrite(writes, w.shard, w.write)
    addIndexWrites(env, indexes, writes, null, row)
  }
  // Upserts: a page copied again (a resumed move) writes the same rows and entries again.
  for (const [s, list] of writes) writes.set(s, list.map(upsert))
  const txn = new SqlTxn(env, 'read_committed', false)
  try {
    await writeWithIndexes(target, indexes, tableAccess(env, target), writes, txn)
    await txn.commit()
  } catch (e) {
    await txn.rollback()
    throw e
  }
}

/**
 * A shard's rows copied with their versions: a leaderless source read from every replica and
 * merged by version (a tombstone winner copies nothing), a Mode 1 source with its commit HLCs.
 * A leaderless target gets each row as a quorum write of an explicit version — the winner's own
 * from a leaderless source, the one derived from the commit HLC from a Mode 1 source — answered
 * once W replicas applied it (the others get it from the quorum path's hints); a Mode 1 target
 * gets the rows through its transactional write path.
 */
async function copyVersioned (env: ExecEnv, t: TableInfo, target: TableInfo, shard: ShardId): Promise<void> {
  const fromLeaderless = quorumTable(env, t)
  const source = tableShape(t)
  const shape = tableShape(target)
  let after: Tuple | null = null
  for (;;) {
    const read: SourcePage = fromLeaderless ? await leaderlessPage(env, t, shard, after) : await mode1Page(env, t, shard, after)
    const { rows, next } = read
    const live = rows.filter(r => r.row !== null)
    if (live.length > 0) {
      if (!quorumTable(env, target)) {
        await writeTransactional(env, target, live.map(r => decodeRow(source.types, r.row!, source.missing)))
      } else {
        const versions = new Map<ShardId, ReplicaWrite[]>()
        for (const r of live) {
          const w = insertWrite(env, shape, decodeRow(source.types, r.row!, source.missing))
          const versionId = fromLeaderless ? r.versionId : leaderlessVersion(r.commitHlc, r.versionId)
          let list = versions.get(w.shard)
          if (list === undefined) versions.set(w.shard, list = [])
          list.push({ tableId: target.id, pk: w.write.pk, versionId, row: w.write.op === 'delete' ? null : w.write.row })
        }
        await env.quorum!.write(target, versions)
      }
    }
    if (next === null) return
    after = next
  }
}

function upsert (w: RowWrite): RowWrite {
  return w.op === 'insert' || w.op === 'update' ? { op: 'put', tableId: w.tableId, pk: w.pk, pkBytes: w.pkBytes, row: w.row, versionId: w.versionId } : w
}

/** Deletes every row of relation `r` on every shard (a retired relation of a move). */
async function deleteRows (env: ExecEnv, r: TableInfo): Promise<void> {
  if (quorumTable(env, r)) {
    await deleteLeaderless(env, r)
    return
  }
  const shape = tableShape(r)
  const access = tableAccess(env, r)
  for (const shard of shardIds(env.shards)) {
    for (;;) {
      // From the start each time: the page before was deleted (and committed).
      const rows = await page(env, shape, shard, null)
      if (rows.length === 0) break
      const writes: ShardWrites = new Map([[shard, rows.map(row => ({ op: 'delete', tableId: r.id, pk: pkTuple(shape, row), versionId: versionId(env, shape) }) satisfies RowWrite)]])
      const txn = new SqlTxn(env, 'read_committed', false)
      try {
        await access.write(writes, txn)
        await txn.commit()
      } catch (e) {
        await txn.rollback()
        throw e
      }
      if (rows.length < MOVE_BATCH_ROWS) break
    }
  }
}

/**
 * A retired leaderless relation's rows: every key whose winner across the replicas is a row gets a
 * tombstone by quorum write (read as the copy reads it: a row on one replica only is deleted too).
 */
async function deleteLeaderless (env: ExecEnv, r: TableInfo): Promise<void> {
  const shape = tableShape(r)
  for (const shard of shardIds(env.shards)) {
    let after: Tuple | null = null
    for (;;) {
      const read: SourcePage = await leaderlessPage(env, r, shard, after)
      const live = read.rows.filter(x => x.row !== null)
      if (live.length > 0) {
        await env.quorum!.write(r, new Map([[shard, live.map(x => ({ tableId: r.id, pk: x.pk, versionId: versionId(env, shape), row: null }) satisfies ReplicaWrite)]]))
      }
      if (read.next === null) break
      after = read.next
    }
  }
}
