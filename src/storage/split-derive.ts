// Shard split, COPY step (cluster/shard-split.ts "2. COPY"): the child engine's side. A replica of
// parent shard s builds child s + n from its own copy of s; the node's driver (node/split-derive.ts)
// reads the parent and hands the child-side results here as DERIVED ENTRIES, each
// {source xid, commit HLC, mutations}, a mutation with a row image an upsert and one without a
// "delete if present" (splitAction). One call, ONE atomic batch, as one exclusive writer job:
//   - each upsert written as replica-apply.ts writes a primary's committed mutation: the record
//     version under the SOURCE xid and version id, stamped with the commit HLC (MGA chain rules of
//     row-write.ts as a 'put': the committed version it replaces moves back; a put of the version
//     already there is a no-op, so a row the base copy read and the tail replays is written once);
//   - a delete-if-present writes a tombstone version (the mutation's version id) only where the
//     child holds the key; absent there, it is a no-op — the child holds exactly the child-side
//     rows, so "delete if present" is exact without the old row image;
//   - each xid committed in the child's TIP at its commit HLC (as replica-apply: own t/<xid>);
//   - NOT the child's commit log: the child's log starts at the switch (its LSN stays 0);
//   - the child's derive progress (s/derive: parent, n, L0, parent LSN applied through, base-copy
//     resume point, and the parent's switch LSN S once the tail reached the switch entry: from
//     then on the child is final, cluster/split-derive.ts) in the SAME batch, so a restart resumes exactly where the last batch ended.
// Idempotence: a call names the progress it continues from and the progress it leads to; the
// stored progress must be the first (applied) or already the second (a re-delivery: nothing
// written, applied false); anything else is SB_SPLIT_PROGRESS_MISMATCH and changes nothing.

import { CodecReader, CodecWriter } from '../core/codec'
import { ScratchBirdError } from '../core/errors'
import { asHlcTs, type ShardId } from '../core/ids'
import type { Mutation } from './commit-log'
import { bytesEqual, checkTuple, metaKey, tipKey } from './keys'
import { BatchView, type ReplicaHost } from './replica-host'
import { checkEntries, putOp, u64 } from './replica-apply'
import { applyRowWrite, type KeyLookup } from './row-write'
import { encodeTipEntry } from './tip'
import type { HlcTs, Xid } from './types'
import { HLC_META } from './writer'

/** s/derive: the child's derive progress (absent: no derive has written to this shard). */
export const DERIVE_PROGRESS_META = metaKey('derive')
/** 1: without switchAt (reads as not switched); 2: with it. */
const PROGRESS_FORMAT = 2

/** Where a derive of child `parent + shards` from `parent` stands (see the top). */
export interface DeriveProgress {
  readonly parent: ShardId
  /** The parent's shard count n: the child is parent + n of 2n. */
  readonly shards: number
  /** The parent's last applied LSN when its log was pinned: the tail starts at l0 + 1. */
  readonly l0: bigint
  /** Parent LSN the child reflects through (l0 until the tail applied an entry). */
  readonly through: bigint
  /** Base copy: the relation being copied and the encoded pk after which it resumes (null: from
   *  its first key); 'done' once every relation was copied. */
  readonly base: { readonly tableId: number, readonly after: Uint8Array | null } | 'done'
  /** The parent's switch LSN S once the tail applied everything before the switch entry and
   *  stopped at it (through = S); null before. */
  readonly switchAt: bigint | null
}

/** One source transaction's child-side effect (row null: delete if present). */
export interface DerivedEntry {
  readonly xid: Xid
  readonly commitHlc: HlcTs
  readonly mutations: Mutation[]
}

export interface DeriveApplyReport {
  /** false: the progress was already `to` (a re-delivery), nothing written. */
  readonly applied: boolean
  /** Mutations that wrote a version (upserts, and deletes of keys the child held). */
  readonly written: number
}

const fail = (why: string): ScratchBirdError => new ScratchBirdError('SB_STORAGE_CORRUPT', `split derive progress: ${why}`)

export function encodeDeriveProgress (p: DeriveProgress): Uint8Array {
  const w = new CodecWriter(48)
  writeProgress(w, p)
  return w.take()
}

export function writeProgress (w: CodecWriter, p: DeriveProgress): void {
  w.u8(PROGRESS_FORMAT); w.u32(p.parent); w.u32(p.shards); w.u64(p.l0); w.u64(p.through)
  w.opt(p.base === 'done' ? null : p.base, b => { w.u32(b.tableId); w.opt(b.after, a => w.blob(a)) })
  w.opt(p.switchAt, s => w.u64(s))
}

export function readProgress (r: CodecReader): DeriveProgress {
  const format = r.u8()
  if (format !== 1 && format !== PROGRESS_FORMAT) throw r.malformed('unknown derive progress format')
  const parent = r.shard()
  const shards = r.u32()
  const l0 = r.u64()
  const through = r.u64()
  const base = r.opt(() => ({ tableId: r.u32(), after: r.opt(() => r.blob()) ?? null })) ?? 'done'
  const switchAt = format === 1 ? null : r.opt(() => r.u64()) ?? null
  return { parent, shards, l0, through, base, switchAt }
}

export function decodeDeriveProgress (b: Uint8Array): DeriveProgress {
  const r = new CodecReader(b, fail)
  const p = readProgress(r)
  r.finish()
  return p
}

/** SB_BAD_ARGUMENT unless `p` is a progress a derive can record. */
export function checkDeriveProgress (p: DeriveProgress, child: ShardId): void {
  const bad = (why: string): never => { throw new ScratchBirdError('SB_BAD_ARGUMENT', `split derive progress: ${why}`, { shard: child }) }
  if (!Number.isInteger(p.shards) || p.shards < 1 || p.parent >= p.shards) bad(`shard ${p.parent} is not a shard of ${p.shards}`)
  if (child !== p.parent + p.shards) bad(`shard ${child} is not the child of shard ${p.parent} of ${p.shards} (that is ${p.parent + p.shards})`)
  if (p.through < p.l0) bad(`applied through LSN ${p.through}, below the pin at ${p.l0}`)
  if (p.base !== 'done' && p.through !== p.l0) bad('the tail starts only after the base copy')
  if (p.base !== 'done' && p.base.after !== null) checkTuple(p.base.after)
  if (p.switchAt !== null && (p.base !== 'done' || p.through !== p.switchAt)) bad('a switched derive has applied the tail exactly to the switch entry')
}

/** The stored progress of `h`'s shard, or null. */
export async function readDeriveProgress (h: Pick<ReplicaHost, 'kv'>): Promise<DeriveProgress | null> {
  const v = await h.kv.get(DERIVE_PROGRESS_META)
  return v === undefined ? null : decodeDeriveProgress(v)
}

/** Apply `entries` to the child moving its progress from `from` (null: none yet) to `to`; see the top. */
export function applyDerived (h: ReplicaHost, from: DeriveProgress | null, to: DeriveProgress, entries: readonly DerivedEntry[]): Promise<DeriveApplyReport> {
  checkDeriveProgress(to, h.shardId)
  if (from !== null) checkDeriveProgress(from, h.shardId)
  // The shape checks of replicated entries (keys, version ids, sizes), at placeholder LSNs.
  checkEntries(entries.map((e, i) => ({ lsn: BigInt(i + 1), generation: 0n, xid: e.xid, commitHlc: e.commitHlc, mutations: e.mutations })))
  for (const e of entries) if (e.commitHlc < 1n) throw new ScratchBirdError('SB_BAD_ARGUMENT', `split derive: transaction ${e.xid} has no commit HLC`, { xid: String(e.xid) })
  const fromBytes = from === null ? null : encodeDeriveProgress(from)
  const toBytes = encodeDeriveProgress(to)
  return h.exclusive(async () => {
    const stored = await h.kv.get(DERIVE_PROGRESS_META) ?? null
    if (stored !== null && bytesEqual(stored, toBytes)) return { applied: false, written: 0 }
    if (!(stored === null ? fromBytes === null : fromBytes !== null && bytesEqual(stored, fromBytes))) {
      const held = stored === null ? null : decodeDeriveProgress(stored)
      throw new ScratchBirdError('SB_SPLIT_PROGRESS_MISMATCH',
        `shard ${h.shardId}: the derive step continues from ${describe(from)}, but the shard records ${describe(held)}; nothing was applied`,
        { shard: h.shardId, recorded: describe(held), expected: describe(from) })
    }
    const view = new BatchView(h.kv)
    const lookup: KeyLookup = { lookup: async (key) => await view.get(key), arena: undefined }
    // The batch's own commits, for the row writes after them (the TIP in memory changes once it landed).
    const committed = new Map<Xid, HlcTs>()
    const tip = {
      peek: (xid: Xid) => committed.has(xid) ? { state: 'committed' as const, commitHlc: committed.get(xid)! } : h.tip.peek(xid),
      get: async (xid: Xid) => committed.has(xid) ? { state: 'committed' as const, commitHlc: committed.get(xid)! } : await h.tip.get(xid)
    }
    let hlc = h.st.hlcHigh
    let written = 0
    for (const e of entries) {
      if (h.tip.active.has(e.xid) || h.tip.limbo.has(e.xid)) {
        throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${e.xid} of a derived entry is in use on shard ${h.shardId}`, { xid: String(e.xid), state: 'in use' })
      }
      const who = { xid: e.xid, snapshot: false, startHlc: asHlcTs(0n), stamp: e.commitHlc }
      let wrote = false
      for (const m of e.mutations) {
        const op = putOp(m)
        const current = await view.get(op.rowKey)
        // Delete if present: a key the child never held has nothing to delete.
        if (m.row === null && current === undefined) continue
        const out = await applyRowWrite(tip, op, who, current, lookup)
        if (out.backKey !== undefined) view.put(out.backKey, out.backValue!)
        if (out.value !== undefined) { view.put(op.rowKey, out.value); written++; wrote = true }
      }
      // A transaction that left nothing here (all its rows on the parent's side) needs no TIP entry.
      if (!wrote) continue
      view.put(tipKey(e.xid), encodeTipEntry('committed', e.commitHlc))
      committed.set(e.xid, e.commitHlc)
      if (e.commitHlc > hlc) hlc = e.commitHlc
    }
    view.put(DERIVE_PROGRESS_META, toBytes)
    if (hlc > h.st.hlcPersisted) view.put(HLC_META, u64(hlc))
    for (const e of entries) h.xids.observe(e.xid)
    const reservation = h.xids.reservation()
    if (reservation !== undefined) view.ops.push(reservation)
    await h.kv.batch(view.ops, { sync: h.durability === 'sync' })
    if (reservation !== undefined) h.xids.reserved(reservation)
    if (hlc > h.st.hlcHigh) h.st.hlcHigh = hlc as HlcTs
    if (hlc > h.st.hlcPersisted) h.st.hlcPersisted = hlc as HlcTs
    for (const [xid, commitHlc] of committed) h.tip.settle(xid, { state: 'committed', commitHlc })
    return { applied: true, written }
  })
}

/** Remove the stored progress (the derive finished or was cancelled; its rows stay). */
export function clearDeriveProgress (h: ReplicaHost): Promise<void> {
  return h.exclusive(async () => { await h.kv.batch([{ type: 'del', key: DERIVE_PROGRESS_META }], { sync: h.durability === 'sync' }) })
}

function describe (p: DeriveProgress | null): string {
  if (p === null) return 'no progress'
  const base = p.base === 'done' ? 'base copy done' : `base copy of relation ${p.base.tableId}${p.base.after === null ? ' from its start' : ' after a key'}`
  return `parent ${p.parent} of ${p.shards} pinned at LSN ${p.l0}, ${base}, through LSN ${p.through}${p.switchAt === null ? '' : ', switched'}`
}
