import { ScratchBirdError } from '../../core/errors'
import type { KvOp, KvStore } from '../kv'
import { decodeVersion, encodeVersionOf } from '../versions'
import { rowKeyOfLeafKey } from './leaf-key'
import { checkVersion } from './tree'

// Mode 1 repair (DESIGN §6 "Anti-entropy", issue 15 item 6): a verification round found a
// replica whose stored image of a committed version differs from the primary's image of the SAME
// version (same version id: the same write, applied from the same log entry) — silent corruption.
// The row's latest version on the replica gets the primary's image back, in place: its xid,
// version id, commit stamp and back link stay, so MGA visibility and the sweep see exactly the
// version the log wrote. A key whose latest stored version is another one (the replica moved on,
// or never had it) is left alone and counted as skipped: the log, or a later round, decides it.
// The caller (engine.mode1Repair) runs this inside the writer's exclusive section, after checking
// the replica's generation and role.

/** Rows one MODE1_REPAIR carries at most. */
export const MAX_MODE1_REPAIR_ROWS = 1_000

export interface Mode1RepairRow {
  /** Leaf key (storage/merkle/leaf-key.ts): table id + primary key. */
  readonly key: Uint8Array
  /** The version whose image is repaired: the replica's latest stored version must be this one. */
  readonly versionId: Uint8Array
  /** The primary's image of that version. */
  readonly row: Uint8Array
}

export interface Mode1RepairPlan {
  readonly ops: KvOp[]
  readonly repaired: number
  readonly skipped: number
}

/** The puts that give each row's latest version the primary's image (see the top); nothing is written here. */
export async function planMode1Repair (kv: KvStore, rows: readonly Mode1RepairRow[]): Promise<Mode1RepairPlan> {
  if (!Array.isArray(rows) || rows.length > MAX_MODE1_REPAIR_ROWS) throw new ScratchBirdError('SB_BAD_ARGUMENT', `MODE1_REPAIR: at most ${MAX_MODE1_REPAIR_ROWS} rows`)
  for (const r of rows) {
    if (!(r.key instanceof Uint8Array) || r.key.length === 0 || !(r.row instanceof Uint8Array)) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'MODE1_REPAIR: a row needs a key and an image')
    checkVersion(r.versionId)
  }
  const keys = rows.map(r => rowKeyOfLeafKey(r.key))
  const stored = keys.length === 0 ? [] : await kv.getMany(keys)
  const ops: KvOp[] = []
  let skipped = 0
  rows.forEach((r, i) => {
    const bytes = stored[i]
    const v = bytes === undefined ? undefined : decodeVersion(bytes)
    if (v === undefined || v.tombstone || !sameBytes(v.versionId, r.versionId)) { skipped++; return }
    if (sameBytes(v.row, r.row)) return // already right (repaired by an earlier request)
    ops.push({ type: 'put', key: keys[i]!, value: encodeVersionOf(v.xid, v.versionId, false, v.commitHlc, v.prev, r.row) })
  })
  return { ops, repaired: ops.length, skipped }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}
