import { ScratchBirdError } from '../core/errors'
import type { ShardId } from '../core/ids'
import type { Mutation, RawLogEntry } from '../storage/commit-log'
import { encodeTuple } from '../storage/keys'
import type { DeriveProgress, DerivedEntry } from '../storage/split-derive'
import type { SplitScanRow } from '../storage/version-scan'
import type { HlcTs, Xid } from '../storage/types'
import { splitAction } from './shard-split'

// Shard split, COPY step (shard-split.ts "2. COPY") on ONE replica: the sans-I/O core of the
// derive of child s + n from parent s. It decides the next step from the child's recorded
// progress alone (storage/split-derive.ts), so a restart — of the worker, the node or the
// driver — resumes where the last applied batch ended; the shell (node/split-derive.ts) only sends
// what it says: pin the parent's log (L0), page the base copy relation by relation, then apply the
// tail L0 + 1 … in LSN order.
//
// What the child records for a BASE row: the version id, commit HLC and xid the parent holds it
// under (SPLIT_SCAN). The child commits that xid in its TIP at that HLC; it is safe because the
// xid committed on the parent at that HLC (the parent's copy read it as committed), an applied
// xid carries its origin node (never one the child's node hands out later: xid.ts), and the same
// xid later met in the tail is the same transaction at the same HLC (a put of a version already
// there is a no-op: row-write.ts).
//
// TAIL entries by kind (commit-log.ts): a control entry changes no row, except that the SWITCH
// entry of this split (kind split_switch, the same n) ENDS the derive: the entries before it are
// applied, the progress records switchAt = S (through = S) in the same batch, and nothing after it
// is ever applied (nextDeriveStep answers 'switched'). Every holder's child is then the parent's
// child-side rows exactly as of S, at the same versions: the same log, the same filter; a 'prepare' holds the
// transaction's rows uncommitted and an 'abort' drops them, so neither reaches the child (the child
// holds committed rows only); a 'commit' of a prepared transaction carries the transaction's
// mutations (format 6) and is applied as any commit, at its commit HLC — so a prepared entry is
// held exactly until its decision entry. Each mutation goes through splitAction by its row's side
// (the relation's partition columns, or the xid of a 2PC decision record: node/split-row-side.ts).

/** Rows one base-copy page asks for (SPLIT_SCAN takes at most MAX_VERSION_SCAN_ROWS). */
export const DERIVE_PAGE_ROWS = 500
/** Tail entries one step reads at most, and the bytes it stops at. */
export const DERIVE_TAIL_ENTRIES = 500
export const DERIVE_TAIL_BYTES = 4 << 20

/** Does a mutation's row image belong to the child? Asked only of row images (never of a delete). */
export type ChildSide = (tableId: number, pkBytes: Uint8Array, row: Uint8Array) => boolean

/** The next thing the shell does for a derive whose child records `progress`. */
export type DeriveStep =
  /** Nothing recorded: pin the parent's log (SPLIT_PIN) and record the start (deriveStart). */
  | { readonly kind: 'pin' }
  /** Read a page of relation `tableId` after `after` (encoded pk; null: from its first key). */
  | { readonly kind: 'base', readonly tableId: number, readonly after: Uint8Array | null }
  /** Read the parent's log from `fromLsn` (REPL_LOG_READ). */
  | { readonly kind: 'tail', readonly fromLsn: bigint }
  /** The tail reached the parent's switch entry at `at`: the child is final, nothing more to do. */
  | { readonly kind: 'switched', readonly at: bigint }

export function nextDeriveStep (progress: DeriveProgress | null): DeriveStep {
  if (progress === null) return { kind: 'pin' }
  if (progress.switchAt !== null) return { kind: 'switched', at: progress.switchAt }
  if (progress.base !== 'done') return { kind: 'base', tableId: progress.base.tableId, after: progress.base.after }
  return { kind: 'tail', fromLsn: progress.through + 1n }
}

/** The progress recorded when the derive of `parent + shards` starts with the log pinned at `l0`:
 *  the base copy from the first of `relations` (ascending ids), or done when there are none. */
export function deriveStart (parent: ShardId, shards: number, l0: bigint, relations: readonly number[]): DeriveProgress {
  const first = firstAfter(relations, -1)
  return { parent, shards, l0, through: l0, base: first === undefined ? 'done' : { tableId: first, after: null }, switchAt: null }
}

/** One base-copy page: its child-side rows as derived entries (one per source xid) and the
 *  progress after it — the next key of the same relation, else the next relation, else done. A
 *  relation created after the derive started has a higher id (ids are never reused), so it is
 *  copied too; its rows are also in the tail, and copying a row twice is harmless. */
export function basePage (progress: DeriveProgress, rows: readonly SplitScanRow[], limit: number, relations: readonly number[], childSide: ChildSide): { to: DeriveProgress, entries: DerivedEntry[] } {
  if (progress.base === 'done') throw new ScratchBirdError('SB_INTERNAL', 'a base-copy page after the base copy ended')
  const tableId = progress.base.tableId
  const byXid = new Map<Xid, { commitHlc: HlcTs, mutations: Mutation[] }>()
  for (const r of rows) {
    // A key whose latest committed version is a tombstone has nothing for the child.
    if (r.row === null) continue
    const pkBytes = encodeTuple(r.pk)
    if (!childSide(tableId, pkBytes, r.row)) continue
    const e = byXid.get(r.xid) ?? { commitHlc: r.commitHlc, mutations: [] }
    e.mutations.push({ tableId, pkBytes, versionId: r.versionId, row: r.row })
    byXid.set(r.xid, e)
  }
  const entries = [...byXid].map(([xid, e]) => ({ xid, commitHlc: e.commitHlc, mutations: e.mutations }))
  const last = rows[rows.length - 1]
  let base: DeriveProgress['base']
  if (rows.length >= limit && last !== undefined) base = { tableId, after: encodeTuple(last.pk) }
  else {
    const next = firstAfter(relations, tableId)
    base = next === undefined ? 'done' : { tableId: next, after: null }
  }
  return { to: { ...progress, base }, entries }
}

/** Tail entries `entries` (consecutive LSNs from progress.through + 1) as derived entries, and
 *  the progress after them: up to and including this split's switch entry, where it stops. */
export function tailBatch (progress: DeriveProgress, entries: readonly RawLogEntry[], childSide: ChildSide): { to: DeriveProgress, entries: DerivedEntry[] } {
  if (progress.base !== 'done') throw new ScratchBirdError('SB_INTERNAL', 'a tail batch before the base copy ended')
  if (progress.switchAt !== null) throw new ScratchBirdError('SB_INTERNAL', 'a tail batch after the derive reached the switch entry')
  let expected = progress.through + 1n
  const out: DerivedEntry[] = []
  for (const e of entries) {
    if (e.lsn !== expected) {
      throw new ScratchBirdError('SB_REPL_LOG_GAP', `the split derive of shard ${progress.parent + progress.shards} expected parent LSN ${expected}, got ${e.lsn}`,
        { shard: progress.parent, expected_lsn: String(expected), first_lsn: String(e.lsn) })
    }
    expected++
    if (e.control?.kind === 'split_switch' && e.control.shards === progress.shards) {
      return { to: { ...progress, through: e.lsn, switchAt: e.lsn }, entries: out }
    }
    if (e.control !== undefined || e.phase === 'prepare' || e.phase === 'abort') continue
    const mutations = e.mutations.map(m => splitAction(m.row, row => childSide(m.tableId, m.pkBytes, row)) === 'upsert' ? m : { ...m, row: null })
    out.push({ xid: e.xid, commitHlc: e.commitHlc, mutations })
  }
  return { to: { ...progress, through: expected - 1n }, entries: out }
}

function firstAfter (ids: readonly number[], after: number): number | undefined {
  let best: number | undefined
  for (const id of ids) if (id > after && (best === undefined || id < best)) best = id
  return best
}
