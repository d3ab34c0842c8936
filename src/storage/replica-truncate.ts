// Suffix truncation of the commit log (DESIGN §6 Mode 1): a returning old primary drops the
// entries above an LSN that the new primary does not have, and their effects, then catches up.
//
// For each entry above the LSN, highest first: its transaction becomes dead in the TIP, its
// record versions are taken out of their rows' chains, and its commit-log entry is deleted (a
// stored group the cut falls inside is rewritten with the entries below the cut, same generation).
// The versions are unlinked, not merely left behind a dead TIP entry: versions committed in their
// writing batch carry their commit HLC inline and are visible without a TIP lookup
// (versions.ts), and the chain invariant — every version behind the primary is committed — must
// hold for the writers that come next (row-write.ts). Taking the newest version out restores the
// one behind it as the primary byte for byte, so the rows are again exactly what they were at the
// LSN, and nothing is left for the sweep.
//
// Refused, changing nothing (SB_REPL_TRUNCATE_REFUSED): an LSN below the committed LSN the caller
// passes or the hard state records (an acknowledged entry is never removed), or below the log's
// floor (the entries to undo are gone). Each step (TRUNCATE_STEP_VALUES stored values at most,
// bounded memory) is one atomic batch in one exclusive writer job and removes a suffix, so the
// log is a prefix of what it was after every step; the whole truncation runs as one job, and a
// crash between steps leaves a shorter suffix still to drop — the caller simply asks again.
//
// Two-phase entries (commit-log.ts format 6): a truncated 'prepare' is undone like a commit (its
// versions unlinked, its transaction dead, its open-transaction mark removed); a truncated
// decision ('commit', 'abort') returns its transaction to limbo, as the new primary holds it —
// the versions of a 'commit' lose their inline commit HLC, the TIP entry is limbo again with its
// mutations (which every two-phase entry carries). The decision is the coordinator's to repeat.
// An aborted transaction's dead versions overwritten by a later truncated entry are not restored
// (the abort is final: only its repetition can follow).
//
// A row whose earlier version is gone (removed by a sweep whose horizon passed the truncated
// commit) cannot be restored; it is removed and counted (rowsWithoutEarlierVersion).
//
// Kept tables (kept-tables.ts: the shard's leaderless tables, named by the caller): their
// mutations are not undone — they are this node's leaderless applies, logged while the shard was
// not replicated here, which no primary ever had and every quorum read may still need. An entry
// holding nothing else only leaves the log; its transaction keeps its TIP entry (committed: a hint
// re-delivering it must still be acknowledged, writer.ts checkLwwXid).

import { ScratchBirdError } from '../core/errors'
import { COMMIT_END, decodeCommitValueRaw, encodeCommitGroup, type RawLogEntry } from './commit-log'
import { NO_KEPT_TABLES, type KeptTables } from './kept-tables'
import { backKey, bytesEqual, COMMIT_PREFIX, openTxnKey, rowPrefix, tipKey, u64OfKey, writeU64 } from './keys'
import { BatchView, type ReplicaHost } from './replica-host'
import { readHardState } from './repl-state'
import { splitCutOp } from './split-pin'
import { SPLIT_SWITCH_META } from './split-switch'
import { encodeTipEntry, TIP_DEAD, type LimboTxn } from './tip'
import { asHlcTs } from '../core/ids'
import type { Xid } from './types'
import { decodeVersion, encodeVersion } from './versions'
import { LSN_META } from './writer'

/** Stored commit-log values one truncation step undoes at most. */
export const TRUNCATE_STEP_VALUES = 64

export interface SuffixTruncateReport {
  /** Entries (LSNs) removed. */
  readonly entriesRemoved: number
  /** Record versions taken out of their rows. */
  readonly versionsRemoved: number
  /** Rows whose earlier version had been swept: removed instead of restored. */
  readonly rowsWithoutEarlierVersion: number
  /** The log's last LSN afterwards. */
  readonly lastLsn: bigint
}

export function truncateSuffix (h: ReplicaHost, afterLsn: bigint, committedLsn: bigint, keep: KeptTables = NO_KEPT_TABLES): Promise<SuffixTruncateReport> {
  return h.exclusive(async () => {
    const hard = await readHardState(h.kv)
    const commit = committedLsn > hard.commitLsn ? committedLsn : hard.commitLsn
    const refuse = (why: string): never => {
      throw new ScratchBirdError('SB_REPL_TRUNCATE_REFUSED', `cannot truncate the commit log of shard ${h.shardId} above LSN ${afterLsn}: ${why}`, {
        shard: h.shardId, lsn: String(afterLsn), commit_lsn: String(commit), first_available_lsn: String(h.st.logFloor), last_lsn: String(h.st.lsn)
      })
    }
    if (afterLsn < commit) refuse(`LSN ${commit} is committed`)
    const report = { entriesRemoved: 0, versionsRemoved: 0, rowsWithoutEarlierVersion: 0, lastLsn: h.st.lsn }
    if (afterLsn >= h.st.lsn) return report
    if (afterLsn + 1n < h.st.logFloor) refuse(`the log holds entries from LSN ${h.st.logFloor} only`)
    while (h.st.lsn > afterLsn) await step(h, afterLsn, report, keep)
    report.lastLsn = h.st.lsn
    return report
  })
}

/** Undo the highest stored values above `afterLsn` (at most TRUNCATE_STEP_VALUES) in one batch. */
async function step (h: ReplicaHost, afterLsn: bigint, report: { entriesRemoved: number, versionsRemoved: number, rowsWithoutEarlierVersion: number }, keep: KeptTables): Promise<void> {
  const view = new BatchView(h.kv)
  // Final TIP state per xid undone here, newest entry first (a prepare undone after its
  // decision leaves the transaction dead).
  const undone = new Map<Xid, LimboTxn | 'dead'>()
  // Nothing stored above the cut (the marks ran ahead of the log): the log ends at the cut.
  let newLast = afterLsn
  let values = 0
  for await (const [k, v] of h.kv.iterate({ gte: COMMIT_PREFIX, lt: COMMIT_END, reverse: true })) {
    const first = u64OfKey(k, COMMIT_PREFIX)
    const entries = decodeCommitValueRaw(first, v)
    const kept = entries.filter(e => e.lsn <= afterLsn)
    const dropped = entries.filter(e => e.lsn > afterLsn).reverse()
    for (const e of dropped) {
      // A control entry (commit-log.ts) changed no row and no TIP entry: only its value goes.
      if (e.phase === 'commit' || e.phase === 'abort') {
        await relimbo(view, e)
        undone.set(e.xid, { xid: e.xid, mutations: e.mutations })
      } else if (e.control === undefined && (keep.size === 0 || e.phase !== undefined || e.mutations.some(m => !keep.has(m.tableId)))) {
        await undoEntry(view, e, report, keep)
        if (e.phase === 'prepare') view.del(openTxnKey(e.xid))
        undone.set(e.xid, 'dead')
      }
      report.entriesRemoved++
    }
    if (kept.length === 0) {
      view.del(k)
    } else if (dropped.length > 0) {
      view.put(k, encodeCommitGroup(kept.map(e => ({ xid: e.xid, commitHlc: e.commitHlc, mutations: e.mutations })), undefined, entries[0]!.generation))
    }
    if (kept.length > 0 || first - 1n <= afterLsn) { newLast = afterLsn; break }
    newLast = first - 1n
    if (++values >= TRUNCATE_STEP_VALUES) break
  }
  view.put(LSN_META, u64(newLast))
  // A split derive reading this log may have copied rows of what was just undone (split-pin.ts CUT).
  const cut = await splitCutOp(h.kv)
  if (cut !== undefined) view.ops.push(cut)
  // A split switch entry undone (never committed by the group) takes its fence with it (split-switch.ts).
  const unfence = h.st.splitFence !== null && h.st.splitFence.lsn > newLast
  if (unfence) view.ops.push({ type: 'del', key: SPLIT_SWITCH_META })
  await h.kv.batch(view.ops, { sync: h.durability === 'sync' })
  h.st.lsn = newLast
  if (unfence) h.st.splitFence = null
  for (const [x, st] of undone) {
    if (st === 'dead') h.tip.settle(x, TIP_DEAD)
    else h.tip.limbo.set(x, st)
  }
}

/** A truncated decision: its transaction back in limbo, its versions uncommitted (see the top). */
async function relimbo (view: BatchView, e: RawLogEntry): Promise<void> {
  if (e.phase === 'commit') {
    for (const m of e.mutations) {
      const prefix = rowPrefix(m.tableId)
      const rowKey = new Uint8Array(prefix.length + m.pkBytes.length)
      rowKey.set(prefix, 0)
      rowKey.set(m.pkBytes, prefix.length)
      await unstamp(view, rowKey, m.versionId, e.xid)
    }
  }
  view.put(tipKey(e.xid), encodeTipEntry('limbo', asHlcTs(0n), e.mutations))
  view.put(openTxnKey(e.xid), new Uint8Array(0))
}

/** The version `versionId` of `xid` in the row's chain without its inline commit HLC. */
async function unstamp (view: BatchView, rowKey: Uint8Array, versionId: Uint8Array, xid: Xid): Promise<void> {
  let key = rowKey
  for (;;) {
    const bytes = await view.get(key)
    if (bytes === undefined) return
    const v = decodeVersion(bytes)
    if (bytesEqual(v.versionId, versionId)) {
      if (v.xid === xid && v.commitHlc !== undefined) view.put(key, encodeVersion({ ...v, commitHlc: undefined }))
      return
    }
    if (v.prev === undefined) return
    key = backKey(rowKey, v.prev)
  }
}

/** Take one entry's versions out of their rows and mark its transaction dead. */
async function undoEntry (view: BatchView, e: RawLogEntry, report: { versionsRemoved: number, rowsWithoutEarlierVersion: number }, keep: KeptTables): Promise<void> {
  for (const m of e.mutations) {
    if (keep.has(m.tableId)) continue
    const prefix = rowPrefix(m.tableId)
    const rowKey = new Uint8Array(prefix.length + m.pkBytes.length)
    rowKey.set(prefix, 0)
    rowKey.set(m.pkBytes, prefix.length)
    const r = await unlink(view, rowKey, m.versionId, e.xid)
    if (r !== 'missing') report.versionsRemoved++
    if (r === 'earlier-missing') report.rowsWithoutEarlierVersion++
  }
  view.put(tipKey(e.xid), encodeTipEntry('dead'))
}

/**
 * Remove the version `versionId` written by `xid` from the row's chain: as the primary, the
 * version behind it becomes the primary again (or the row goes); further back (an uncommitted
 * local version on top of it), its successor links past it.
 */
async function unlink (view: BatchView, rowKey: Uint8Array, versionId: Uint8Array, xid: Xid): Promise<'removed' | 'earlier-missing' | 'missing'> {
  const bytes = await view.get(rowKey)
  if (bytes === undefined) return 'missing'
  const p = decodeVersion(bytes)
  if (bytesEqual(p.versionId, versionId)) {
    if (p.xid !== xid) return 'missing'
    if (p.prev === undefined) { view.del(rowKey); return 'removed' }
    const bk = backKey(rowKey, p.prev)
    const back = await view.get(bk)
    view.del(bk)
    if (back === undefined) { view.del(rowKey); return 'earlier-missing' }
    view.put(rowKey, back)
    return 'removed'
  }
  let cur = p
  let curKey = rowKey
  while (cur.prev !== undefined) {
    const bk = backKey(rowKey, cur.prev)
    const bb = await view.get(bk)
    if (bb === undefined) return 'missing'
    const b = decodeVersion(bb)
    if (bytesEqual(b.versionId, versionId)) {
      if (b.xid !== xid) return 'missing'
      view.put(curKey, encodeVersion({ ...cur, prev: b.prev }))
      view.del(bk)
      return 'removed'
    }
    cur = b
    curKey = bk
  }
  return 'missing'
}

function u64 (v: bigint): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, v)
  return b
}
