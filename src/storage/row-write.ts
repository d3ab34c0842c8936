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
// Then, against the version the writer regards as current (live row, tombstone or nothing):
// insert of a live row → SB_UNIQUE_VIOLATION; update/delete of no live row → "not affected",
// nothing written; put writes unconditionally (replication, upsert), and a put of the version
// already there is an idempotent no-op.

import { ScratchBirdError } from '../core/errors'
import type { Mutation } from './commit-log'
import { backKey, bytesEqual, corrupt, keyString, type Arena } from './keys'
import type { Tip, TipEntry } from './tip'
import type { HlcTs, VersionId, Xid } from './types'
import { decodeVersion, encodeVersionOf, type RecordVersion } from './versions'

export type RowOpKind = 'insert' | 'update' | 'delete' | 'put'

/** One row change, validated and with its keys encoded (done when the request is queued). */
export interface RowOp {
  readonly kind: RowOpKind
  readonly tableId: number
  readonly pkBytes: Uint8Array
  readonly rowKey: Uint8Array
  /** keyString(rowKey), the overlay map key. */
  readonly ks: string
  /** New row image; null writes a tombstone. */
  readonly row: Uint8Array | null
  readonly versionId: VersionId
}

export interface WriterIdentity {
  readonly xid: Xid
  readonly snapshot: boolean
  readonly startHlc: HlcTs
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
}

const NOT_AFFECTED: RowWriteOutcome = Object.freeze({ affected: false, value: undefined, backKey: undefined, backValue: undefined, mutation: undefined })

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
export function applyRowWrite (tip: Tip, op: RowOp, w: WriterIdentity, current: Uint8Array | undefined,
  ctx: KeyLookup): RowWriteOutcome | Promise<RowWriteOutcome> {
  if (current === undefined) return finish(op, w, undefined, undefined, undefined, ctx)
  const p = decodeVersion(current)
  if (p.xid === w.xid) return finish(op, w, p, p.prev, undefined, ctx)
  if (p.commitHlc !== undefined) return overCommitted(op, w, p, p.commitHlc, current, ctx)
  const st = tip.peek(p.xid)
  if (st !== undefined && st.state !== 'dead') return overOther(op, w, p, st, current, ctx)
  return slow(tip, op, w, p, st, current, ctx)
}

function overOther (op: RowOp, w: WriterIdentity, p: RecordVersion, st: TipEntry, current: Uint8Array, ctx: KeyLookup): RowWriteOutcome {
  if (st.state === 'committed') return overCommitted(op, w, p, st.commitHlc!, current, ctx)
  throw updateConflict(op, w, p.xid, st.state)
}

function overCommitted (op: RowOp, w: WriterIdentity, p: RecordVersion, commitHlc: HlcTs, current: Uint8Array, ctx: KeyLookup): RowWriteOutcome {
  if (w.snapshot && commitHlc >= w.startHlc) throw updateConflict(op, w, p.xid, 'committed after snapshot start')
  return finish(op, w, p, p.versionId, current, ctx)
}

async function slow (tip: Tip, op: RowOp, w: WriterIdentity, p: RecordVersion, known: TipEntry | undefined,
  current: Uint8Array, ctx: KeyLookup): Promise<RowWriteOutcome> {
  const st = known ?? await tip.get(p.xid)
  if (st.state !== 'dead') return overOther(op, w, p, st, current, ctx)
  // Dead primary: overwrite it; the committed version behind it (if any) stays where it is.
  if (p.prev === undefined) return finish(op, w, undefined, undefined, undefined, ctx)
  const bk = backKey(op.rowKey, p.prev)
  const bytes = await ctx.lookup(bk, keyString(bk))
  if (bytes === undefined) throw corrupt('record version chain: back version missing', { key: hex(bk) })
  const b = decodeVersion(bytes)
  const bst: TipEntry = b.commitHlc !== undefined ? { state: 'committed', commitHlc: b.commitHlc } : tip.peek(b.xid) ?? await tip.get(b.xid)
  if (bst.state !== 'committed') throw corrupt('record version chain: uncommitted back version', { key: hex(bk), state: bst.state })
  if (w.snapshot && bst.commitHlc! >= w.startHlc) throw updateConflict(op, w, b.xid, 'committed after snapshot start')
  return finish(op, w, b, b.versionId, undefined, ctx)
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
      break
    case 'put':
      if (visible !== undefined && visible.xid !== w.xid && bytesEqual(visible.versionId, op.versionId)) return IDEMPOTENT
      break
  }
  return {
    affected: true,
    value: encodeVersionOf(w.xid, op.versionId, op.row === null, w.stamp, prev, op.row ?? EMPTY, ctx.arena),
    backKey: moveBack === undefined ? undefined : backKey(op.rowKey, visible!.versionId),
    backValue: moveBack,
    mutation: { tableId: op.tableId, pkBytes: op.pkBytes, versionId: op.versionId, row: op.row }
  }
}

const IDEMPOTENT: RowWriteOutcome = Object.freeze({ affected: true, value: undefined, backKey: undefined, backValue: undefined, mutation: undefined })
const EMPTY = new Uint8Array(0)
