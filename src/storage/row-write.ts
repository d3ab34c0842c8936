// MGA write rules for one row (Firebird semantics, no-wait): given the row's current primary
// version, decide whether a writer may put a new version there and what the new chain is.
//
//   primary written by …                  outcome
//   the writer itself                     replaced in place (no back version of itself)
//   an active or limbo transaction        SB_UPDATE_CONFLICT
//   a dead transaction                    overwritten ("backout"): its back link is kept, so the
//                                         committed version behind it stays the one behind
//   a committed transaction               moved to b/<table><pk><version>; the new version links
//                                         to it — unless the writer is a snapshot transaction
//                                         that cannot see it (committed at or after its start
//                                         HLC): SB_UPDATE_CONFLICT (first committer wins)
//
//   … and the writer is a read committed  SB_UPDATE_CONFLICT when it is a live row and the write
//   statement that read its rows at an    is an update or delete (the statement computed it from an
//   HLC (readHlc) not above its commit    older version, or decided to delete on one; overwriting
//   HLC                                   would lose that commit) — see below
//
// Read committed UPDATE / DELETE (issue 16). PostgreSQL re-evaluates such a row on its newest
// version; Firebird 4's READ CONSISTENCY restarts the statement; classic Firebird refuses. Here:
//  - a pk-pinned statement (MODIFY_ROW) gives its WHERE and SET as a RowDerive: the writer applies
//    them to the version it regards as current, in the same job — PostgreSQL's outcome, no error;
//    a version another transaction has not committed yet is looked behind: when the committed row
//    there is absent, deleted or fails the WHERE, 0 rows; else SB_UPDATE_CONFLICT (derivedUnderOther);
//  - the two-step path (rows read into the coordinator, new versions written back) reads its rows
//    at one HLC (readHlc, a statement snapshot: every commit the shard makes after the read lands
//    above it) and its WRITE carries it: a live committed version at or above readHlc is one the
//    statement did not see, so the write is refused with SB_UPDATE_CONFLICT (40001, retry) —
//    the classic Firebird answer. Re-evaluating there would need the coordinator's programs on
//    the shard (SET may call UUID generators, RETURNING, indexes and foreign keys are computed on
//    the coordinator) and a restart of a statement that may already have written other shards.
//    A tombstone committed since is not refused: the row is gone, the statement does not affect
//    it (0 rows, as in PostgreSQL) and nothing comes back.
// SNAPSHOT transactions keep first-committer-wins above (their readHlc is their start).
//
// Then, against the version the writer regards as current (live row, tombstone or nothing):
// insert of a live row → SB_UNIQUE_VIOLATION; update/delete of no live row → "not affected",
// nothing written; put writes unconditionally (replication, upsert), and a put of the version
// already there is an idempotent no-op.
//
// 'lww' (last-writer-wins, leaderless_quorum tables, DESIGN §6 Mode 3) follows other rules: it
// compares its version id with the row's current COMMITTED version (unsigned byte order of the
// UUIDv8-HLC = HLC order; tombstones count like any version) and writes only when it is higher:
//
//   current committed version               outcome
//   none                                    written                               'newer'
//   lower version id                        written, the old one moved back       'newer'
//   the same version id                     nothing written (idempotent retry)    'same'
//   higher version id                       nothing written (replica is ahead)    'older'
//
// The comparison is lww.ts's compareVersionIds, the one coordinators use for read winners.
// It never raises SB_UPDATE_CONFLICT against committed versions (no first-committer-wins). A dead
// primary is skipped (overwritten, as for MGA writers) and the comparison is with the committed
// version behind it. Against an UNCOMMITTED version of a local MGA transaction (active or limbo)
// it does not wait and does not guess: SB_UPDATE_CONFLICT, which the coordinator treats as a
// failed (retryable) replica write — it gets a hint. Leaderless tables are not written by local
// MGA transactions in practice, so this is a guard, not a path.

import { ScratchBirdError } from '../core/errors'
import type { Mutation } from './commit-log'
import { backKey, bytesEqual, corrupt, keyString, type Arena } from './keys'
import { compareVersionIds } from './lww'
import type { Tip, TipEntry } from './tip'
import type { HlcTs, VersionId, Xid } from './types'
import { decodeVersion, encodeVersionOf, type RecordVersion } from './versions'

export type RowOpKind = 'insert' | 'update' | 'delete' | 'put' | 'lww'

/** Outcome of one 'lww' write against the replica's current committed version: 'newer' — written;
 *  'same' — that version is already there (idempotent no-op); 'older' — the replica holds a newer
 *  one and keeps it (no-op). All three acknowledge the write. */
export type LwwOutcome = 'newer' | 'same' | 'older'

/** What a row write asks of the TIP (a replica apply overlays its batch's decisions on it). */
export type TipView = Pick<Tip, 'peek' | 'get'>

/**
 * The new image of a row computed from the version it replaces (a pk-pinned UPDATE / DELETE run
 * whole in the writer, shard/drivers/modify-driver.ts): given the live row the writer regards as
 * current, false — the statement's WHERE does not hold, nothing is written; null — a tombstone
 * (DELETE); bytes — the new row image. Synchronous and pure: it runs inside the writer's pass.
 */
export type RowDerive = (row: Uint8Array) => Uint8Array | null | false

/** One row change, validated and with its keys encoded (done when the request is queued). */
export interface RowOp {
  readonly kind: RowOpKind
  readonly tableId: number
  readonly pkBytes: Uint8Array
  readonly rowKey: Uint8Array
  /** keyString(rowKey), the overlay map key. */
  readonly ks: string
  /** New row image; null writes a tombstone. Ignored when `derive` is set. */
  readonly row: Uint8Array | null
  readonly versionId: VersionId
  /** 'update' only: the new image is computed from the version replaced (see the top). */
  readonly derive?: RowDerive | undefined
}

export interface WriterIdentity {
  readonly xid: Xid
  readonly snapshot: boolean
  readonly startHlc: HlcTs
  /** A read committed statement that read the rows it updates or deletes at this HLC (a statement
   *  snapshot, engine scan readHlc): see the top. Undefined: the rows were not read that way. */
  readonly readHlc?: HlcTs | undefined
  /** Commit HLC stamped into the version (autocommit/replicated writes), else undefined. */
  readonly stamp: HlcTs | undefined
}

/** What a row write needs of its surroundings. */
export interface KeyLookup {
  /** Current bytes of a key as the writer sees them (its own earlier writes, else the store). */
  lookup (key: Uint8Array, ks: string): Uint8Array | undefined | Promise<Uint8Array | undefined>
  /** Where the new version's bytes are allocated (they die when the batch landed). */
  readonly arena: Arena | undefined
}

export interface RowWriteOutcome {
  readonly affected: boolean
  /** New primary version for op.rowKey (undefined: nothing to write). */
  readonly value: Uint8Array | undefined
  /** The old primary, moved to this back-version key, when it was committed. */
  readonly backKey: Uint8Array | undefined
  readonly backValue: Uint8Array | undefined
  readonly mutation: Mutation | undefined
  /** 'lww' ops only: how the version compared with the replica's. */
  readonly lww: LwwOutcome | undefined
}

const NOT_AFFECTED: RowWriteOutcome = Object.freeze({ affected: false, value: undefined, backKey: undefined, backValue: undefined, mutation: undefined, lww: undefined })
const LWW_SAME: RowWriteOutcome = Object.freeze({ affected: false, value: undefined, backKey: undefined, backValue: undefined, mutation: undefined, lww: 'same' })
const LWW_OLDER: RowWriteOutcome = Object.freeze({ affected: false, value: undefined, backKey: undefined, backValue: undefined, mutation: undefined, lww: 'older' })

function hex (b: Uint8Array): string { return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') }

function updateConflict (op: RowOp, w: WriterIdentity, holder: Xid, holderState: string): ScratchBirdError {
  return new ScratchBirdError('SB_UPDATE_CONFLICT', 'update conflicts with concurrent update', {
    tableId: op.tableId, key: hex(op.pkBytes), xid: String(w.xid), concurrentXid: String(holder), concurrentState: holderState
  })
}

/**
 * Decide one row write. Synchronous unless the row's primary is dead (then the version behind it
 * is read) or its writer's TIP state is not cached — the common paths (new key, committed or own
 * primary) allocate no promise.
 */
export function applyRowWrite (tip: TipView, op: RowOp, w: WriterIdentity, current: Uint8Array | undefined,
  ctx: KeyLookup): RowWriteOutcome | Promise<RowWriteOutcome> {
  if (op.kind === 'lww') return applyLww(tip, op, w, current, ctx)
  if (current === undefined) return finish(op, w, undefined, undefined, undefined, ctx)
  const p = decodeVersion(current)
  if (p.xid === w.xid) return finish(op, w, p, p.prev, undefined, ctx)
  if (p.commitHlc !== undefined) return overCommitted(op, w, p, p.commitHlc, current, ctx)
  const st = tip.peek(p.xid)
  if (st !== undefined && st.state !== 'dead') return overOther(tip, op, w, p, st, current, ctx)
  return slow(tip, op, w, p, st, current, ctx)
}

function overOther (tip: TipView, op: RowOp, w: WriterIdentity, p: RecordVersion, st: TipEntry, current: Uint8Array, ctx: KeyLookup): RowWriteOutcome | Promise<RowWriteOutcome> {
  if (st.state === 'committed') return overCommitted(op, w, p, st.commitHlc!, current, ctx)
  if (op.derive !== undefined) return derivedUnderOther(tip, op, w, p, st, ctx)
  throw updateConflict(op, w, p.xid, st.state)
}

/**
 * A pk-pinned statement (derive) meeting another transaction's uncommitted version: it reads
 * committed rows only, so the row it would change is the committed version behind that one. No
 * such version, or one its WHERE does not hold on: the row is not affected (0 rows, as the
 * two-step path and PostgreSQL answer). Otherwise it would have to wait for that writer, which
 * MGA does not do: SB_UPDATE_CONFLICT.
 */
async function derivedUnderOther (tip: TipView, op: RowOp, w: WriterIdentity, p: RecordVersion, st: TipEntry, ctx: KeyLookup): Promise<RowWriteOutcome> {
  if (p.prev === undefined) return NOT_AFFECTED
  const { b } = await committedBehind(tip, op, p.prev, ctx)
  if (b.tombstone || op.derive!(b.row) === false) return NOT_AFFECTED
  throw updateConflict(op, w, p.xid, st.state)
}

function overCommitted (op: RowOp, w: WriterIdentity, p: RecordVersion, commitHlc: HlcTs, current: Uint8Array, ctx: KeyLookup): RowWriteOutcome {
  checkUnseen(op, w, p, commitHlc)
  return finish(op, w, p, p.versionId, current, ctx)
}

/** The committed version `v` (at `commitHlc`) is the one the writer replaces: refused when the
 *  writer could not have seen it (see the top). */
function checkUnseen (op: RowOp, w: WriterIdentity, v: RecordVersion, commitHlc: HlcTs): void {
  if (w.snapshot && commitHlc >= w.startHlc) throw updateConflict(op, w, v.xid, 'committed after snapshot start')
  if (w.readHlc !== undefined && commitHlc >= w.readHlc && !v.tombstone && (op.kind === 'update' || op.kind === 'delete')) {
    throw updateConflict(op, w, v.xid, 'committed after the statement read the row')
  }
}

async function slow (tip: TipView, op: RowOp, w: WriterIdentity, p: RecordVersion, known: TipEntry | undefined,
  current: Uint8Array, ctx: KeyLookup): Promise<RowWriteOutcome> {
  const st = known ?? await tip.get(p.xid)
  if (st.state !== 'dead') return await overOther(tip, op, w, p, st, current, ctx)
  // Dead primary: overwrite it; the committed version behind it (if any) stays where it is.
  if (p.prev === undefined) return finish(op, w, undefined, undefined, undefined, ctx)
  const { b, commitHlc } = await committedBehind(tip, op, p.prev, ctx)
  checkUnseen(op, w, b, commitHlc)
  return finish(op, w, b, b.versionId, undefined, ctx)
}

/** The committed back version behind a dead primary (a chain must have one there). */
async function committedBehind (tip: TipView, op: RowOp, prev: VersionId, ctx: KeyLookup): Promise<{ b: RecordVersion, commitHlc: HlcTs }> {
  const bk = backKey(op.rowKey, prev)
  const bytes = await ctx.lookup(bk, keyString(bk))
  if (bytes === undefined) throw corrupt('record version chain: back version missing', { key: hex(bk) })
  const b = decodeVersion(bytes)
  const bst: TipEntry = b.commitHlc !== undefined ? { state: 'committed', commitHlc: b.commitHlc } : tip.peek(b.xid) ?? await tip.get(b.xid)
  if (bst.state !== 'committed') throw corrupt('record version chain: uncommitted back version', { key: hex(bk), state: bst.state })
  return { b, commitHlc: bst.commitHlc! }
}

/**
 * Apply the op's semantics against `visible` (the version the writer regards as current) and
 * build the writes: the new primary linking to `prev`, plus `moveBack` (the old primary's bytes)
 * stored as a back version when it was committed.
 */
function finish (op: RowOp, w: WriterIdentity, visible: RecordVersion | undefined, prev: VersionId | undefined,
  moveBack: Uint8Array | undefined, ctx: KeyLookup): RowWriteOutcome {
  const live = visible !== undefined && !visible.tombstone
  switch (op.kind) {
    case 'insert':
      if (live) {
        throw new ScratchBirdError('SB_UNIQUE_VIOLATION', 'duplicate primary key', { tableId: op.tableId, key: hex(op.pkBytes) })
      }
      break
    case 'update':
    case 'delete':
      if (!live) return NOT_AFFECTED
      if (op.derive !== undefined) {
        const row = op.derive(visible.row)
        if (row === false) return NOT_AFFECTED
        return written(op, w, prev, moveBack === undefined ? undefined : visible.versionId, moveBack, ctx, undefined, row)
      }
      break
    case 'put':
      if (visible !== undefined && visible.xid !== w.xid && bytesEqual(visible.versionId, op.versionId)) return IDEMPOTENT
      break
    case 'lww':
      throw new Error('ScratchBird assertion: lww op on the MGA path')
  }
  return written(op, w, prev, moveBack === undefined ? undefined : visible!.versionId, moveBack, ctx, undefined)
}

/** The writes of a new primary linking to `prev`, with the old primary's bytes (`moveBack`, a
 *  committed version) stored as the back version `movedId`. */
function written (op: RowOp, w: WriterIdentity, prev: VersionId | undefined, movedId: VersionId | undefined,
  moveBack: Uint8Array | undefined, ctx: KeyLookup, lww: LwwOutcome | undefined, row: Uint8Array | null = op.row): RowWriteOutcome {
  return {
    affected: true,
    value: encodeVersionOf(w.xid, op.versionId, row === null, w.stamp, prev, row ?? EMPTY, ctx.arena),
    backKey: moveBack === undefined ? undefined : backKey(op.rowKey, movedId!),
    backValue: moveBack,
    mutation: { tableId: op.tableId, pkBytes: op.pkBytes, versionId: op.versionId, row },
    lww
  }
}

// ---- last-writer-wins (see the top) -------------------------------------------------------------

function applyLww (tip: TipView, op: RowOp, w: WriterIdentity, current: Uint8Array | undefined,
  ctx: KeyLookup): RowWriteOutcome | Promise<RowWriteOutcome> {
  if (current === undefined) return written(op, w, undefined, undefined, undefined, ctx, 'newer')
  const p = decodeVersion(current)
  // Stamped: committed in its writing batch (autocommit, replicated and lww writes — including
  // an earlier write of this same statement or of an earlier delivery of this xid).
  if (p.commitHlc !== undefined) return lwwOver(op, w, p.versionId, current, ctx)
  const st = tip.peek(p.xid)
  if (st !== undefined && st.state !== 'dead') return lwwOverOther(op, w, p, st, current, ctx)
  return lwwSlow(tip, op, w, p, st, current, ctx)
}

function lwwOverOther (op: RowOp, w: WriterIdentity, p: RecordVersion, st: TipEntry, current: Uint8Array, ctx: KeyLookup): RowWriteOutcome {
  if (st.state === 'committed') return lwwOver(op, w, p.versionId, current, ctx)
  throw updateConflict(op, w, p.xid, st.state)
}

/** Against the committed version `have`: the primary (`current`, moved back when overwritten),
 *  or the version behind a dead primary (`current` undefined: it stays where it is). */
function lwwOver (op: RowOp, w: WriterIdentity, have: VersionId, current: Uint8Array | undefined, ctx: KeyLookup): RowWriteOutcome {
  const c = compareVersionIds(op.versionId, have)
  if (c === 0) return LWW_SAME
  if (c < 0) return LWW_OLDER
  return written(op, w, have, have, current, ctx, 'newer')
}

async function lwwSlow (tip: TipView, op: RowOp, w: WriterIdentity, p: RecordVersion, known: TipEntry | undefined,
  current: Uint8Array, ctx: KeyLookup): Promise<RowWriteOutcome> {
  const st = known ?? await tip.get(p.xid)
  if (st.state !== 'dead') return lwwOverOther(op, w, p, st, current, ctx)
  if (p.prev === undefined) return written(op, w, undefined, undefined, undefined, ctx, 'newer')
  const { b } = await committedBehind(tip, op, p.prev, ctx)
  return lwwOver(op, w, b.versionId, undefined, ctx)
}

const IDEMPOTENT: RowWriteOutcome = Object.freeze({ affected: true, value: undefined, backKey: undefined, backValue: undefined, mutation: undefined, lww: undefined })
const EMPTY = new Uint8Array(0)
