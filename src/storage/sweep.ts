// Sweep (DESIGN §6 "Visibility and garbage collection"): remove record versions nobody can see.
//
// For each row, with horizon H = min(cluster horizon, every open snapshot's start HLC):
//   - versions of dead transactions are removed; when the primary is dead the version behind it
//     (committed) becomes the primary again, and a row whose only version was dead disappears;
//   - the newest version committed with commit HLC < H is visible to every possible reader (or
//     superseded for them by something newer), so every version behind it is removed and its back
//     link is cut;
//   - a row whose primary is in limbo (prepared, 2PC) is left alone entirely;
//   - a row whose newest live version is a tombstone committed below H (a delete every reader
//     sees; only dead versions above it) disappears entirely — tombstone, back versions and all —
//     when its table is in `purgeTombstonesOf`: tables of one copy written the MGA way
//     (primary_replica; Mode 1 replicas will apply the same log, so each purges on its own). No
//     snapshot can tell a purged delete from a row that never existed, and a tombstone at the
//     bottom of a chain says nothing a reader or an MGA writer (row-write.ts) would not conclude
//     from no version. Leaderless (LWW) tables' tombstones are kept unless `purgeLeaderless` lists
//     the table and the tombstone was written before its cutoff: a replica that missed the delete
//     would bring the row back through read repair, a hint or anti-entropy, so they wait for
//     tombstone_gc_grace_days and a repair round with every replica (DESIGN §6). Tables not
//     listed keep theirs (the caller lists what the catalog proves safe; unknown means keep);
//     kept ones are counted. A tombstone with a newer version above it stays until that version
//     is below H too — then it is an ordinary back version and goes with the rest.
//
// The sweep walks r/ in chunks of SWEEP_CHUNK_ROWS; each chunk is one exclusive writer job (no
// write interleaves with its reads and its batch) followed by yielding to queued writes.

import { backKey, corrupt, decodeRowKey, ROW_SPACE } from './keys'
import type { KvOp, KvStore } from './kv'
import type { Tip, TipEntry } from './tip'
import { hlcMs, type HlcTs } from './types'
import { uuidv8Timestamp } from '../core/hlc'
import { decodeVersion, withoutPrev, type RecordVersion } from './versions'

/** Rows one sweep step examines before letting queued writes run. */
export const SWEEP_CHUNK_ROWS = 512

export interface SweepOptions {
  /** Start HLCs of snapshots open elsewhere that must keep seeing their versions. Open
   *  snapshot transactions of this engine are always included. */
  openSnapshots?: readonly HlcTs[] | undefined
  /** Table ids whose committed deletes below the horizon may be purged (MGA tables, see top). */
  purgeTombstonesOf?: Iterable<number> | undefined
  /**
   * Leaderless tables whose tombstones may be purged, and the wall-clock ms before which one must
   * have been written (the later of its version timestamp and its commit here) to go: the caller
   * derives it from tombstone_gc_grace_days and the shard's repair rounds with every other
   * replica (cluster/anti-entropy/purge-rules.ts tombstonePurgeCutoff), so no replica can still
   * hold an older version that would bring the row back.
   */
  purgeLeaderless?: { readonly tables: Iterable<number>, readonly cutoffMs: number } | undefined
}

/** Whether a committed tombstone (its version, its commit HLC) of a row may be purged. */
type PurgeRule = (v: RecordVersion, commitHlc: HlcTs) => boolean
const ALWAYS: PurgeRule = () => true

export interface SweepReport {
  /** The horizon actually used (after lowering it to open snapshots). */
  horizonHlc: HlcTs
  rowsExamined: number
  /** Committed versions behind a version every reader sees. */
  backVersionsRemoved: number
  /** Versions written by dead (rolled back, crashed, aborted) transactions. */
  deadVersionsRemoved: number
  /** Rows that disappeared because their only versions were dead. */
  rowsRemoved: number
  /** Rows whose horizon version is a tombstone, kept (leaderless tables, or a newer version above it). */
  tombstonesKept: number
  /** Deleted rows removed with their tombstone (tables in purgeTombstonesOf). */
  tombstonesPurged: number
  /** Rows skipped because their primary version is in limbo. */
  limboRowsSkipped: number
}

export interface SweepHost {
  readonly kv: KvStore
  readonly tip: Tip
  /** Run `fn` as an exclusive writer job. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  /** Lowest start HLC among this engine's open snapshot transactions, or undefined. */
  oldestSnapshot (): HlcTs | undefined
}

interface ChainEntry {
  readonly v: RecordVersion
  readonly bytes: Uint8Array
  /** Where it is stored now. */
  readonly key: Uint8Array
  readonly st: TipEntry
}

async function stateOf (tip: Tip, v: RecordVersion): Promise<TipEntry> {
  if (v.commitHlc !== undefined) return { state: 'committed', commitHlc: v.commitHlc }
  return tip.peek(v.xid) ?? await tip.get(v.xid)
}

function effectiveHorizon (host: SweepHost, horizon: HlcTs, opts: SweepOptions): HlcTs {
  let h = horizon
  for (const s of opts.openSnapshots ?? []) if (s < h) h = s
  const local = host.oldestSnapshot()
  if (local !== undefined && local < h) h = local
  return h
}

export async function sweep (host: SweepHost, horizonHlc: HlcTs, opts: SweepOptions = {}): Promise<SweepReport> {
  const report: SweepReport = {
    horizonHlc: effectiveHorizon(host, horizonHlc, opts),
    rowsExamined: 0,
    backVersionsRemoved: 0,
    deadVersionsRemoved: 0,
    rowsRemoved: 0,
    tombstonesKept: 0,
    tombstonesPurged: 0,
    limboRowsSkipped: 0
  }
  const rules = new Map<number, PurgeRule>()
  const lww = opts.purgeLeaderless
  if (lww !== undefined) {
    const cutoff = lww.cutoffMs
    const rule: PurgeRule = (v, c) => Math.max(uuidv8Timestamp(v.versionId), hlcMs(c)) < cutoff
    for (const t of lww.tables) rules.set(t, rule)
  }
  for (const t of opts.purgeTombstonesOf ?? []) rules.set(t, ALWAYS)
  let after: Uint8Array | undefined
  for (;;) {
    const next = await host.exclusive(async () => {
      // Recomputed per step: a snapshot may have begun since the previous one.
      const h = effectiveHorizon(host, horizonHlc, opts)
      if (h < report.horizonHlc) report.horizonHlc = h
      return sweepChunk(host, after, h, rules, report)
    })
    if (next === undefined) return report
    after = next
  }
}

/** One step: up to SWEEP_CHUNK_ROWS rows after `after`; returns the last row key, or undefined
 *  when the table space is exhausted. */
async function sweepChunk (host: SweepHost, after: Uint8Array | undefined, h: HlcTs, rules: ReadonlyMap<number, PurgeRule>, report: SweepReport): Promise<Uint8Array | undefined> {
  const rows: Array<[Uint8Array, Uint8Array]> = []
  const range = after === undefined ? { gte: ROW_SPACE.gte, lt: ROW_SPACE.lt } : { gt: after, lt: ROW_SPACE.lt }
  for await (const e of host.kv.iterate({ ...range, limit: SWEEP_CHUNK_ROWS })) rows.push(e)
  const ops: KvOp[] = []
  for (const [rk, pv] of rows) {
    report.rowsExamined++
    await sweepRow(host, rk, pv, h, rules.size > 0 ? rules.get(decodeRowKey(rk).tableId) : undefined, ops, report)
  }
  if (ops.length > 0) await host.kv.batch(ops, { sync: false })
  return rows.length < SWEEP_CHUNK_ROWS ? undefined : rows[rows.length - 1]![0]
}

async function sweepRow (host: SweepHost, rk: Uint8Array, pv: Uint8Array, h: HlcTs, purge: PurgeRule | undefined, ops: KvOp[], report: SweepReport): Promise<void> {
  const head = decodeVersion(pv)
  const headState = await stateOf(host.tip, head)
  if (headState.state === 'limbo') { report.limboRowsSkipped++; return }
  if (head.prev === undefined && headState.state !== 'dead') {
    if (head.tombstone && headState.state === 'committed' && headState.commitHlc! < h) {
      if (purge?.(head, headState.commitHlc!) === true) {
        ops.push({ type: 'del', key: rk })
        report.tombstonesPurged++
      } else {
        report.tombstonesKept++
      }
    }
    return
  }

  // The whole chain, newest first (each back version is one point read).
  const chain: ChainEntry[] = [{ v: head, bytes: pv, key: rk, st: headState }]
  for (let v = head; v.prev !== undefined;) {
    const bk = backKey(rk, v.prev)
    const bytes = await host.kv.get(bk)
    if (bytes === undefined) throw corrupt('record version chain: back version missing', { key: Buffer.from(bk).toString('hex') })
    v = decodeVersion(bytes)
    chain.push({ v, bytes, key: bk, st: await stateOf(host.tip, v) })
  }

  let firstLive = 0
  while (firstLive < chain.length && chain[firstLive]!.st.state === 'dead') firstLive++
  report.deadVersionsRemoved += firstLive
  let horizonAt = -1
  for (let i = firstLive; i < chain.length; i++) {
    const st = chain[i]!.st
    if (st.state === 'committed' && st.commitHlc! < h) { horizonAt = i; break }
  }
  const keepEnd = horizonAt >= 0 ? horizonAt + 1 : chain.length // kept: chain[firstLive, keepEnd)
  report.backVersionsRemoved += chain.length - keepEnd
  if (horizonAt >= 0 && chain[horizonAt]!.v.tombstone) {
    if (horizonAt === firstLive && purge?.(chain[horizonAt]!.v, chain[horizonAt]!.st.commitHlc!) === true) {
      // Nothing but dead versions above a delete every reader sees: the row goes entirely.
      for (let i = 1; i < chain.length; i++) ops.push({ type: 'del', key: chain[i]!.key })
      ops.push({ type: 'del', key: rk })
      report.tombstonesPurged++
      return
    }
    report.tombstonesKept++
  }

  for (let i = 1; i < firstLive; i++) ops.push({ type: 'del', key: chain[i]!.key })
  for (let i = keepEnd; i < chain.length; i++) ops.push({ type: 'del', key: chain[i]!.key })
  if (firstLive === keepEnd) {
    ops.push({ type: 'del', key: rk })
    report.rowsRemoved++
    return
  }
  const trimmed = keepEnd < chain.length
  for (let i = firstLive; i < keepEnd; i++) {
    const e = chain[i]!
    const bytes = trimmed && i === keepEnd - 1 ? withoutPrev(e.v) : e.bytes
    if (i === firstLive && firstLive > 0) {
      // A dead primary is replaced by the committed version behind it.
      ops.push({ type: 'del', key: e.key })
      ops.push({ type: 'put', key: rk, value: bytes })
    } else if (bytes !== e.bytes) {
      ops.push({ type: 'put', key: e.key, value: bytes })
    }
  }
}
