// Replica apply (DESIGN §6 Mode 1): a batch of the primary's commit-log entries written into this
// replica, so that it holds exactly the primary's committed state at its applied LSN and can serve
// the same log if it is promoted.
//
// Per call, ONE atomic batch (fsynced with durability `sync`), as one exclusive writer job:
//   - each mutation's record version, under the primary's xid and version id, stamped with the
//     entry's commit HLC (the MGA chain rules of row-write.ts, as a 'put': the committed version
//     it replaces moves back, a dead one is overwritten, an uncommitted local one is a conflict);
//   - each xid committed in the TIP at its commit HLC (the seeds' replicateTIPEntry): own t/<xid>
//     entries — TIP groups are for xids handed out here (tip.ts);
//   - the SAME entries at the SAME LSNs in this replica's log, with their generation (one stored
//     value per run of equal generations, commit-log.ts), and the LSN and HLC marks.
// Control entries (a new primary's noop, a config entry; commit-log.ts) change no row and no TIP
// entry: they are only logged at their LSN, in a value of their own.
// Two-phase entries (commit-log.ts format 6, also in a value of their own) replicate a prepared
// transaction as the primary holds it: 'prepare' writes its versions uncommitted under its xid and
// puts it in limbo (TIP limbo entry with its mutations, open-transaction mark) — its rows are
// locked here as there, and a replica promoted later holds it prepared for the coordinator's
// decision or recovery; 'commit' stamps its versions and commits it in the TIP (a transaction
// not in limbo here — prepared before the shard was replicated — is applied as a plain commit);
// 'abort' marks it dead (its versions stay, dead, for backout and the sweep, as on the primary).
// Entries at LSN ≤ lastLsn are skipped (re-delivery is idempotent) after checking that they are
// the ones held here (same generation and xid, where the log still holds them): a different one
// is SB_REPL_LOG_CONFLICT — the caller must truncate first. The rest must start at lastLsn + 1
// (else SB_REPL_LOG_GAP naming both LSNs) and be consecutive, with generations that never go
// down. Anything refused changes nothing.
//
// Kept tables (kept-tables.ts: the shard's leaderless tables, named by the caller): their
// mutations are logged with their entry but not applied, and an entry holding nothing else
// changes no TIP entry — a primary's log can hold the leaderless applies it logged before the
// shard was replicated there; this node gets those rows by the leaderless paths.
//
// Xids: an applied xid carries its origin node in its upper 16 bits, so it cannot be one this
// node hands out (xid.ts) — except this node's own from an earlier life, which xids.observe()
// puts behind the counter, its mark in this same batch.

import { encodeSplitFence, SPLIT_SWITCH_META } from './split-switch'
import type { SplitFence } from './split-fence'
import { ScratchBirdError, messageOf } from '../core/errors'
import { asHlcTs } from '../core/ids'
import {
  checkControlEntry, commitValueGeneration, encodeCommitGroup, encodeControlEntry, encodeTwoPhaseEntry, readCommitLogRaw, COMMIT_END, type Mutation, type PendingCommit,
  type RawLogEntry
} from './commit-log'
import { checkTableId, checkTuple, COMMIT_PREFIX, commitKey, keyString, openTxnKey, rowPrefix, tipKey, u64OfKey, writeU64 } from './keys'
import { NO_KEPT_TABLES, type KeptTables } from './kept-tables'
import { BatchView, type ReplicaHost } from './replica-host'
import { readLogBase } from './repl-state'
import { applyRowWrite, type KeyLookup, type RowOp, type TipView } from './row-write'
import { encodeTipEntry, TIP_DEAD, TIP_LIMBO, type TipEntry } from './tip'
import type { HlcTs, Xid } from './types'
import { HLC_META, LSN_META } from './writer'
import { LIMITS } from '../core/limits'

/** Entries one apply call takes at most. */
export const MAX_APPLY_ENTRIES = 10_000
/** Row mutations one apply call takes at most (the batch is built in memory). */
export const MAX_APPLY_MUTATIONS = 100_000

export interface ApplyReport {
  /** Entries written now. */
  readonly applied: number
  /** Entries at or below the replica's last LSN, already held. */
  readonly skipped: number
  /** The replica's last LSN after the call. */
  readonly lastLsn: bigint
}

function badEntry (why: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', `replicated commit-log batch: ${why}`, details)
}

/** Shape checks before anything is queued: consecutive LSNs, generations never going down,
 *  canonical keys, 16-byte version ids, bounded sizes. */
export function checkEntries (entries: readonly RawLogEntry[]): void {
  if (!Array.isArray(entries)) throw badEntry('entries must be an array')
  const phases: readonly unknown[] = [undefined, 'prepare', 'commit', 'abort']
  if (entries.length > MAX_APPLY_ENTRIES) throw badEntry(`at most ${MAX_APPLY_ENTRIES} entries per call`, { entries: entries.length })
  let mutations = 0
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!
    if (typeof e.lsn !== 'bigint' || e.lsn < 1n || e.lsn >= 1n << 64n) throw badEntry('LSN must be a positive u64', { index: i })
    if (typeof e.generation !== 'bigint' || e.generation < 0n || e.generation >= 1n << 64n) throw badEntry('generation must be a u64', { index: i })
    if (!phases.includes(e.phase)) throw badEntry('unknown two-phase step', { index: i })
    if (e.control !== undefined) {
      if (e.phase !== undefined) throw badEntry('a control entry is not a two-phase entry', { index: i })
      checkControl(e, i)
    } else {
      if (e.phase !== undefined && e.phase !== 'commit' && e.commitHlc !== 0n) throw badEntry('a prepare or abort entry carries commit HLC 0', { index: i })
      if (typeof e.xid !== 'bigint' || e.xid < 1n || e.xid >= 1n << 64n) throw badEntry('xid must be a positive u64', { index: i })
      if (typeof e.commitHlc !== 'bigint' || e.commitHlc < 0n || e.commitHlc >= 1n << 64n) throw badEntry('commit HLC must be a u64', { index: i })
    }
    if (i > 0) {
      const p = entries[i - 1]!
      if (e.lsn !== p.lsn + 1n) throw badEntry('LSNs must be consecutive', { lsn: String(e.lsn), previous: String(p.lsn) })
      if (e.generation < p.generation) throw badEntry('generations must not go down', { lsn: String(e.lsn), generation: String(e.generation), previous: String(p.generation) })
    }
    if (!Array.isArray(e.mutations)) throw badEntry('mutations must be an array', { lsn: String(e.lsn) })
    mutations += e.mutations.length
    for (const m of e.mutations) checkMutation(m, e.lsn)
  }
  if (mutations > MAX_APPLY_MUTATIONS) throw badEntry(`at most ${MAX_APPLY_MUTATIONS} row mutations per call`, { mutations })
}

/** A control entry (commit-log.ts): no transaction, and a noop or a config of distinct voters. */
function checkControl (e: RawLogEntry, index: number): void {
  if (e.xid !== 0n || e.commitHlc !== 0n || !Array.isArray(e.mutations) || e.mutations.length > 0) throw badEntry('a control entry carries no transaction (xid 0, commit HLC 0, no mutations)', { index })
  checkControlEntry(e.control!)
}

function checkMutation (m: Mutation, lsn: bigint): void {
  const at = { lsn: String(lsn) }
  try {
    checkTableId(m.tableId)
  } catch {
    throw badEntry('bad table id', at)
  }
  if (!(m.pkBytes instanceof Uint8Array)) throw badEntry('pk must be bytes', at)
  try {
    checkTuple(m.pkBytes)
  } catch (e) {
    throw badEntry(`pk is not a canonical tuple encoding: ${messageOf(e)}`, at)
  }
  if (!(m.versionId instanceof Uint8Array) || m.versionId.length !== 16) throw badEntry('version id must be 16 bytes', at)
  if (m.row !== null && !(m.row instanceof Uint8Array)) throw badEntry('row must be bytes or null', at)
  if (m.row !== null && m.row.length > LIMITS.rowBytes) throw badEntry(`row image exceeds ${LIMITS.rowBytes} bytes`, at)
}

/** Generation of the entry at the log's last LSN, when known (the last value, or the log base
 *  of a bootstrapped replica whose log is still empty). */
export async function lastLogGeneration (h: ReplicaHost): Promise<bigint | undefined> {
  let gen: bigint | undefined
  for await (const [k, v] of h.kv.iterate({ gte: COMMIT_PREFIX, lt: COMMIT_END, reverse: true, limit: 1 })) gen = commitValueGeneration(u64OfKey(k, COMMIT_PREFIX), v)
  if (gen !== undefined) return gen
  const base = await readLogBase(h.kv)
  return base !== undefined && base.lsn === h.st.lsn ? base.generation : undefined
}

/** Apply `entries` (checked with checkEntries) as one exclusive job; see the top. */
export function applyEntries (h: ReplicaHost, entries: readonly RawLogEntry[], keep: KeptTables = NO_KEPT_TABLES): Promise<ApplyReport> {
  return h.exclusive(async () => {
    const last = h.st.lsn
    let skip = 0
    while (skip < entries.length && entries[skip]!.lsn <= last) skip++
    if (skip > 0) await checkHeld(h, entries.slice(0, skip))
    const fresh = entries.slice(skip)
    if (fresh.length === 0) return { applied: 0, skipped: skip, lastLsn: last }
    const first = fresh[0]!
    if (first.lsn !== last + 1n) {
      throw new ScratchBirdError('SB_REPL_LOG_GAP',
        `replicated entries for shard ${h.shardId} start at LSN ${first.lsn}, but this replica's log ends at ${last} (expected ${last + 1n})`,
        { shard: h.shardId, expected_lsn: String(last + 1n), first_lsn: String(first.lsn) })
    }
    const lastGen = await lastLogGeneration(h)
    if (lastGen !== undefined && first.generation < lastGen) {
      throw new ScratchBirdError('SB_REPL_LOG_CONFLICT',
        `replicated entry ${first.lsn} for shard ${h.shardId} has generation ${first.generation}, below the generation ${lastGen} of this replica's last entry`,
        { shard: h.shardId, lsn: String(first.lsn), generation: String(lastGen), received_generation: String(first.generation) })
    }
    const view = new BatchView(h.kv)
    const lookup: KeyLookup = { lookup: async (key) => await view.get(key), arena: undefined }
    let hlc = h.st.hlcHigh
    const seen = new Set<Xid>()
    // Prepared in this batch or before: a commit or abort entry of theirs is their decision.
    const limbo = new Set<Xid>()
    // Aborted by an entry of this batch: dead for the row writes of the entries after it (the
    // TIP in memory changes only once the batch landed), so they back its versions out.
    const aborted = new Set<Xid>()
    // Prepared by one: in limbo for them (its rows are locked).
    const local = (xid: Xid): TipEntry | undefined => aborted.has(xid) ? TIP_DEAD : limbo.has(xid) ? TIP_LIMBO : undefined
    const tip: TipView = {
      peek: (xid) => local(xid) ?? h.tip.peek(xid),
      get: async (xid) => local(xid) ?? await h.tip.get(xid)
    }
    for (const e of fresh) {
      if (e.control !== undefined) continue
      const inLimbo = h.tip.limbo.has(e.xid) || limbo.has(e.xid)
      // One running here locally is a conflict; so is an xid twice in a batch (but its prepare
      // and decision) or a prepare of an xid already known here.
      const prepare = e.phase === 'prepare'
      if (h.tip.active.has(e.xid) || (seen.has(e.xid) && !(inLimbo && !prepare)) || (prepare && (inLimbo || await h.tip.recorded(e.xid)))) {
        throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${e.xid} of replicated entry ${e.lsn} is in use on this replica`, { xid: String(e.xid), lsn: String(e.lsn), state: 'in use' })
      }
      seen.add(e.xid)
      if (e.phase === 'abort') {
        view.put(tipKey(e.xid), encodeTipEntry('dead'))
        view.del(openTxnKey(e.xid))
        limbo.delete(e.xid)
        aborted.add(e.xid)
        continue
      }
      // Only kept tables' mutations (leaderless applies the primary logged while the shard was not
      // replicated there): logged below, not applied — those rows reach this node by the
      // leaderless paths, last writer wins, and a put here could bury a newer version of theirs.
      if (keep.size > 0 && e.phase === undefined && e.mutations.length > 0 && e.mutations.every(m => keep.has(m.tableId))) continue
      const who = { xid: e.xid, snapshot: false, startHlc: asHlcTs(0n), stamp: prepare ? undefined : e.commitHlc }
      for (const m of e.mutations) {
        if (keep.has(m.tableId)) continue
        const op = putOp(m)
        const out = await applyRowWrite(tip, op, who, await view.get(op.rowKey), lookup)
        if (out.backKey !== undefined) view.put(out.backKey, out.backValue!)
        if (out.value !== undefined) view.put(op.rowKey, out.value)
      }
      if (prepare) {
        view.put(tipKey(e.xid), encodeTipEntry('limbo', asHlcTs(0n), e.mutations))
        view.put(openTxnKey(e.xid), new Uint8Array(0))
        limbo.add(e.xid)
        continue
      }
      view.put(tipKey(e.xid), encodeTipEntry('committed', e.commitHlc))
      if (inLimbo) view.del(openTxnKey(e.xid))
      limbo.delete(e.xid)
      if (e.commitHlc > hlc) hlc = e.commitHlc
    }
    // The same entries at the same LSNs: one value per run of one generation, a control entry
    // in a value of its own (commit-log.ts).
    let runStart = 0
    let fence: SplitFence | null = null
    for (let i = 1; i <= fresh.length; i++) {
      const head = fresh[runStart]!
      const plain = (e: RawLogEntry): boolean => e.control === undefined && e.phase === undefined
      if (plain(head) && i < fresh.length && plain(fresh[i]!) && fresh[i]!.generation === head.generation) continue
      if (head.control !== undefined) {
        view.put(commitKey(head.lsn), encodeControlEntry(head.generation, head.control))
        // A split's switch fences this copy too, in the same batch: promoted, it keeps refusing
        // the child-side writes the entry's rule names (all writes when it carries none).
        if (head.control.kind === 'split_switch') {
          fence = { shards: head.control.shards, lsn: head.lsn, rule: head.control.rule ?? null }
          view.put(SPLIT_SWITCH_META, encodeSplitFence(fence))
        }
      } else if (head.phase !== undefined) {
        view.put(commitKey(head.lsn), encodeTwoPhaseEntry(head.generation, head.phase, head.xid, head.commitHlc, head.mutations))
      } else {
        const commits: PendingCommit[] = fresh.slice(runStart, i).map(e => ({ xid: e.xid, commitHlc: e.commitHlc, mutations: e.mutations }))
        view.put(commitKey(head.lsn), encodeCommitGroup(commits, undefined, head.generation))
      }
      runStart = i
    }
    const newLast = fresh[fresh.length - 1]!.lsn
    view.put(LSN_META, u64(newLast))
    if (hlc > h.st.hlcPersisted) view.put(HLC_META, u64(hlc))
    for (const e of fresh) if (e.control === undefined) h.xids.observe(e.xid)
    const reservation = h.xids.reservation()
    if (reservation !== undefined) view.ops.push(reservation)
    await h.kv.batch(view.ops, { sync: h.durability === 'sync' })
    if (reservation !== undefined) h.xids.reserved(reservation)
    h.st.lsn = newLast
    if (fence !== null) h.st.splitFence = fence
    if (hlc > h.st.hlcHigh) h.st.hlcHigh = hlc as HlcTs
    if (hlc > h.st.hlcPersisted) h.st.hlcPersisted = hlc as HlcTs
    for (const e of fresh) {
      if (e.control !== undefined) continue
      if (e.phase === 'prepare') h.tip.limbo.set(e.xid, { xid: e.xid, mutations: e.mutations })
      else if (e.phase === 'abort') h.tip.settle(e.xid, TIP_DEAD)
      else h.tip.settle(e.xid, { state: 'committed', commitHlc: e.commitHlc })
    }
    return { applied: fresh.length, skipped: skip, lastLsn: newLast }
  })
}

/** Re-delivered entries must be the ones held (where the log still holds them). */
async function checkHeld (h: ReplicaHost, entries: readonly RawLogEntry[]): Promise<void> {
  const from = entries[0]!.lsn < h.st.logFloor ? h.st.logFloor : entries[0]!.lsn
  const held = await readCommitLogRaw(h.kv, from, entries.length, Infinity)
  const byLsn = new Map(held.map(e => [e.lsn, e]))
  for (const e of entries) {
    const mine = byLsn.get(e.lsn)
    if (mine === undefined) continue
    if (mine.generation !== e.generation || mine.xid !== e.xid || mine.control?.kind !== e.control?.kind || mine.phase !== e.phase) {
      throw new ScratchBirdError('SB_REPL_LOG_CONFLICT',
        `replicated entry ${e.lsn} for shard ${h.shardId} (generation ${e.generation}, xid ${e.xid}) differs from the one held (generation ${mine.generation}, xid ${mine.xid})`,
        { shard: h.shardId, lsn: String(e.lsn), generation: String(mine.generation), received_generation: String(e.generation) })
    }
  }
}

/** A replicated mutation as a 'put' row write (its keys encoded). */
export function putOp (m: Mutation): RowOp {
  const prefix = rowPrefix(m.tableId)
  const rowKey = new Uint8Array(prefix.length + m.pkBytes.length)
  rowKey.set(prefix, 0)
  rowKey.set(m.pkBytes, prefix.length)
  return { kind: 'put', tableId: m.tableId, pkBytes: rowKey.subarray(prefix.length), rowKey, ks: keyString(rowKey), row: m.row, versionId: m.versionId }
}

/** `v` as 8 bytes big-endian (the LSN and HLC marks). */
export function u64 (v: bigint): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, v)
  return b
}
