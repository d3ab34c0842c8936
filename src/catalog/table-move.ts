import { ScratchBirdError } from '../core/errors'

// Moving a populated table to a new layout (issue 17 item 7: ALTER TABLE … SET
// partition_key_columns on a table with rows; issue 14 item 8: SET replication_mode on one, whose
// rows get versions of the new mode on the way: exec/table-move-source.ts), as the catalog records it. Pure: the record, its
// checks when read from a document, and the decisions of whoever runs the move
// (exec/table-move.ts runs the steps, node/table-moves.ts resumes them after a restart).
//
// Why a catalog record and not the write fence alone (storage/table-fence.ts): a fence lifts
// FENCE_TTL_MS after its DDL's node went quiet and lives per replica, while a move of a large table
// outlasts any TTL and must survive the crash of every node. The catalog is the one durable,
// versioned document every node holds equal — a table it marks `moving` refuses writes on every
// node from that version on (planning refuses them: SB_TABLE_ALTERING; a node still on an older
// catalog is refused by the replicas through the layout floor), whatever restarts meanwhile.
//
// The steps, each a DDL statement that travels like any other (so each is atomic and durable):
//   1. START: the table gets `move` (phase copy, the coordinating node) and a hidden target
//      relation is created — a new id, the new options, its own constraint indexes — named
//      `<t>$move` and marked `moving: { table, role: 'target' }` (invisible to users: no
//      sys_tables row, no planning, refused by name).
//   2. COPIED SHARD n: every row of source shard n was written into the target (and its index
//      relations) through the transactional write path, with upserts, so copying a shard again
//      after a crash writes the same rows again (no duplicate). Reads keep using the old id.
//   3. SWITCH: the table takes the target's id, options and indexes in one catalog version — a
//      read plans either the old layout (complete) or the new one (complete), never a mix. The
//      old relations stay in the catalog as `<t>$old…`, role 'retired', until their rows are
//      deleted; the move enters phase cleanup and the table takes writes again.
//   4. DONE: the retired relations' rows were deleted on every shard; they and the record go.
//   CANCEL (from phase copy): the target relations become the retired ones and the table stays
//      as it was; cleanup then deletes what was copied.
// Progress is kept per source shard (a DDL per shard, not per batch): a restarted copy redoes at
// most one shard, and the catalog is not rewritten thousands of times for a large table.

/** A move in progress, on the user table being moved. */
export interface TableMove {
  /** copy: rows are being copied into the target (writes refused); cleanup: the retired relations' rows are being deleted (writes allowed). */
  readonly phase: 'copy' | 'cleanup'
  /** The node running the move (the one whose client asked for it, or one that took it over). */
  readonly coordinator: number
  /** The cluster's shard count when the move started (storage.shards never changes in a cluster). */
  readonly shards: number
  /** Phase copy: the source shards already copied, ascending. */
  readonly copiedShards: readonly number[]
  /** Phase cleanup: whether the table switched to the new layout or the move was cancelled. */
  readonly outcome?: 'switched' | 'cancelled'
}

/** On a hidden relation of a move: which table's move it belongs to and as what. */
export interface MoveRole {
  readonly table: string
  readonly role: 'target' | 'retired'
}

/** Name of the hidden target relation of table `table` (and, as a prefix, of its indexes). */
export function targetName (table: string): string { return `${table}$move` }
/** Name of a relation retired by the move of `table` (`relation`: its name before). */
export function retiredName (table: string, relation: string): string { return `${table}$old$${relation}` }

/** The record of a move just started by node `coordinator`. */
export function startedMove (coordinator: number, shards: number): TableMove {
  return { phase: 'copy', coordinator, shards, copiedShards: [] }
}

/** `shard` copied (idempotent). Refused outside phase copy: a late step of a move that ended. */
export function shardCopied (m: TableMove, shard: number, table: string): TableMove {
  const shards = m.shards
  if (m.phase !== 'copy') throw notInPhase(table, 'copy', m)
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new ScratchBirdError('SB_TABLE_MOVE_STATE', `shard ${shard} does not exist (the cluster has ${shards})`, { table, shard })
  }
  if (m.copiedShards.includes(shard)) return m
  return { ...m, copiedShards: [...m.copiedShards, shard].sort((a, b) => a - b) }
}

/** The record after SWITCH (`cancelled`: after CANCEL); only from phase copy, and SWITCH only once every shard was copied. */
export function toCleanup (m: TableMove, table: string, cancelled: boolean): TableMove {
  const shards = m.shards
  if (m.phase !== 'copy') throw notInPhase(table, 'copy', m)
  if (!cancelled && m.copiedShards.length < shards) {
    throw new ScratchBirdError('SB_TABLE_MOVE_STATE', `table "${table}" cannot switch to its new layout: shards ${missingShards(m, shards).join(', ')} are not copied yet`, { table })
  }
  return { phase: 'cleanup', coordinator: m.coordinator, shards, copiedShards: [], outcome: cancelled ? 'cancelled' : 'switched' }
}

/** DONE: only from phase cleanup. */
export function checkDone (m: TableMove, table: string): void {
  if (m.phase !== 'cleanup') throw notInPhase(table, 'cleanup', m)
}

/** A new coordinator took the move over. */
export function takenOver (m: TableMove, node: number): TableMove {
  return { ...m, coordinator: node }
}

function missingShards (m: TableMove, shards: number): number[] {
  const out: number[] = []
  for (let s = 0; s < shards; s++) if (!m.copiedShards.includes(s)) out.push(s)
  return out
}

function notInPhase (table: string, want: string, m: TableMove): ScratchBirdError {
  return new ScratchBirdError('SB_TABLE_MOVE_STATE', `the move of table "${table}" is in phase ${m.phase}, not ${want}`, { table, phase: m.phase })
}

/** What the move's runner does next. */
export type MoveStep =
  | { readonly kind: 'copy', readonly shard: number }
  | { readonly kind: 'switch' }
  | { readonly kind: 'cleanup' }

export function nextMoveStep (m: TableMove): MoveStep {
  if (m.phase === 'cleanup') return { kind: 'cleanup' }
  const shard = missingShards(m, m.shards)[0]
  return shard === undefined ? { kind: 'switch' } : { kind: 'copy', shard }
}

/**
 * Which node runs (or resumes) the move: its coordinator while that node is alive; when it is not,
 * the lowest live node id — the rule the catalog coordinator is chosen by, so every node agrees
 * from the same gossip view without an election — which records itself as coordinator first. Two
 * runners at once (views that differ for a moment) are safe: every step is idempotent (copies
 * upsert, deletes of a deleted row change nothing, a DDL step refused in the wrong phase is over).
 */
export function moveRunner (m: TableMove, live: readonly number[]): number | null {
  if (live.includes(m.coordinator)) return m.coordinator
  return live.length === 0 ? null : Math.min(...live)
}

/** Refuses a write of a table whose rows are being copied (its planning calls this). */
export function refuseMovingWrite (t: { readonly name: string, readonly move?: TableMove }, what: string): void {
  if (t.move?.phase !== 'copy') return
  throw new ScratchBirdError('SB_TABLE_ALTERING',
    `table "${t.name}" is being moved to a new layout (ALTER TABLE … SET partition_key_columns or replication_mode with rows): ${what} was refused and changed nothing — retry when the move has ended (reads continue meanwhile)`,
    { table: t.name })
}

/** Refuses a DDL on a table while it moves (the target mirrors its columns and constraints). */
export function refuseMovingDdl (t: { readonly name: string, readonly move?: TableMove }, what: string): void {
  if (t.move === undefined) return
  throw new ScratchBirdError('SB_TABLE_ALTERING', `table "${t.name}" is being moved to a new layout (phase ${t.move.phase}): ${what} is refused until the move has ended`, { table: t.name, phase: t.move.phase })
}

/** A record read from a catalog document (disk or a peer): checked, else SB_STORAGE_CORRUPT. */
export function readMove (x: unknown, table: string): TableMove | undefined {
  if (x === undefined) return undefined
  const m = x as Partial<TableMove> | null
  const ok = typeof m === 'object' && m !== null && (m.phase === 'copy' || m.phase === 'cleanup') && Number.isInteger(m.coordinator) && Number.isInteger(m.shards) && (m.shards ?? 0) > 0 &&
    Array.isArray(m.copiedShards) && m.copiedShards.every(s => Number.isInteger(s) && s >= 0) &&
    (m.outcome === undefined || m.outcome === 'switched' || m.outcome === 'cancelled')
  if (!ok) throw new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: the move record of table "${table}" is malformed`)
  return m as TableMove
}

/** A hidden relation's role read from a catalog document, checked likewise. */
export function readMoveRole (x: unknown, relation: string): MoveRole | undefined {
  if (x === undefined) return undefined
  const r = x as Partial<MoveRole> | null
  if (typeof r !== 'object' || r === null || typeof r.table !== 'string' || (r.role !== 'target' && r.role !== 'retired')) {
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `catalog document is unreadable: the move role of relation "${relation}" is malformed`)
  }
  return r as MoveRole
}
