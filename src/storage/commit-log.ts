// Commit log (DESIGN §4 `c/<lsn>`): one entry per committed writing transaction, written in the
// same atomic batch as its TIP flip. It holds what a replica, an incremental backup or a
// point-in-time replay needs — row mutations (key, version id, xid, row image or tombstone) and
// the commit HLC — never SQL text. LSNs are per shard replica, start at 1 and only grow.
//
// Binary layout (u32/u64 big-endian):
//   entry      := format=1 u8 · xid u64 · commitHlc u64 · mutations
//   mutations  := count u32 · mutation*
//   mutation   := tableId u32 · pkLen u32 · pk bytes (encoded tuple) · versionId[16] ·
//                 flags u8 (1 = tombstone) · rowLen u32 · row bytes
// The same `mutations` encoding is kept in a limbo TIP entry, so a prepared transaction can be
// committed (and logged) after a restart.
//
// Group commit packs the entries of one write pass — consecutive LSNs — under ONE key, the LSN
// of its first entry: one LevelDB put per pass instead of one per transaction (the per-put cost
// of a batch dominated the autocommit path). A pass with a single entry keeps format 1.
//   group      := format=2 u8 · count u32 (≥ 2) · (entryLen u32 · xid u64 · commitHlc u64 · mutations)^count
// entryLen counts the bytes after itself, so a reader skips entries before the LSN it wants
// without decoding their mutations. Entry i of the group at c/<L> has LSN L + i; the next key is
// c/<L + count>. readCommitLog starts from the key at or before the requested LSN.
//
// Generations (DESIGN §6 Mode 1: generation = Raft term). Every logged entry has the generation
// of the primary that appended it; the replication machine compares (generation, lsn) pairs, so
// the generation is stored with the entry, in the VALUE (the key stays c/<lsn>: readers seek by
// LSN alone). All entries of one stored value share one generation — a write pass is one primary
// at one generation, and a replica storing a received batch starts a new value wherever the
// generation changes (replica-apply.ts) — so it is written once per value, after the format byte:
//   entry3     := format=3 u8 · generation u64 · xid u64 · commitHlc u64 · mutations
//   group4     := format=4 u8 · generation u64 · count u32 (≥ 2) · (entryLen u32 · xid u64 · commitHlc u64 · mutations)^count
// Generation 0 (a shard that was never part of a replicated group) keeps writing formats 1 and 2,
// byte for byte as before; formats 1 and 2 read as generation 0, so logs written by earlier
// releases need no migration.
//
// Control entries (issue 14: the replication machine's log IS this log, machine LSN = commit-log
// LSN). A new primary appends a noop and membership changes append a config entry; they take an
// LSN like a commit but carry no transaction, so they are stored one per value, never in a group:
//   control5   := format=5 u8 · generation u64 · kind u8 (1 noop, 2 config, 3 split switch) · count u8 ·
//                 voter u16^count · [shards u32 · [rule], split switch only]
// (rule: split-cleanup.ts writeRule, where the keys of each relation go at 2n, so that a replica
// applying the entry fences the same child-side writes as the primary; an entry written before it
// travelled ends after shards and fences every write.)
// (count is 0 for a noop and a split switch, 1..MAX_CONTROL_VOTERS for a config.)
// A SPLIT SWITCH (kind 3, cluster/shard-split.ts "3. SWITCH") is appended by a parent shard's
// primary (a single copy: its owner) at LSN S when its split of `shards` = n shards into 2n
// switches: from S on the parent refuses the writes the fence refuses (storage/split-switch.ts),
// and every holder's derive of child s + n stops exactly at it (cluster/split-derive.ts). It is
// written in the same batch as the shard's fence record (s/splitswitch), on the primary and on
// each replica applying it, so the fence is derived from the log's own content across restarts
// and failovers. Mode 1 ships it inside a data entry's payload (node/replication/entry-payload.ts
// v3): the replication machine never opens one, so it is committed by the group like a commit.
// Readers of transactions
// (readCommitLog: READ_COMMIT_LOG, backup, PITR) skip them; the replication readers
// (readCommitLogRaw: REPL_LOG_READ, REPL_APPLY's checks, truncation) see them as RawLogEntry with
// `control` set and xid/commitHlc 0, no mutations.
//
// Two-phase entries (issue 14: on a shard replicated in Mode 1, PREPARE and the decision are log
// entries, so a prepared transaction survives a failover). Written only by a primary of a
// replicated group (a single copy keeps formats 1-4: its limbo lives in its TIP alone), one per
// value, never in a group:
//   twopc6     := format=6 u8 · generation u64 · phase u8 (1 prepare, 2 commit, 3 abort) · xid u64 ·
//                 commitHlc u64 (0 unless commit) · mutations (the transaction's rows, for every
//                 step: truncating a decision returns the transaction to limbo with them)
// A 'commit' entry is the commit of a prepared transaction: transaction readers see it as any
// commit; it is kept apart from format 3 so that truncating it returns the transaction to limbo
// (replica-truncate.ts) instead of undoing it. 'prepare' and 'abort' entries change no committed
// row: transaction readers skip them; replication readers see them with `phase` set.

import { COMMIT_PREFIX, commitKey, corrupt, decodeTuple, readU64, u64OfKey, writeU64, type Arena, type Tuple } from './keys'
import type { KvStore } from './kv'
import { asHlcTs, asShardId, asXid, isNodeId, MAX_SHARDS, type NodeId } from '../core/ids'
import { CodecReader, CodecWriter } from '../core/codec'
import { messageOf, ScratchBirdError } from '../core/errors'
import { checkCleanupRule, readRule, writeRule, type CleanupRule } from './split-cleanup'
import { checkFenceRule } from './split-fence'
import type { HlcTs, VersionId, Xid } from './types'

export const COMMIT_LOG_FORMAT = 1
export const COMMIT_GROUP_FORMAT = 2
/** Formats 1 and 2 with the generation of their entries (see the top). */
export const COMMIT_LOG_GEN_FORMAT = 3
export const COMMIT_GROUP_GEN_FORMAT = 4
/** A replication control entry (noop or config), one per value (see the top). */
export const COMMIT_CONTROL_FORMAT = 5
/** A two-phase entry (prepare, commit of a prepared transaction, abort), one per value. */
export const COMMIT_TWOPC_FORMAT = 6
/** Voters a config control entry lists at most (the replication machine's MAX_VOTERS). */
export const MAX_CONTROL_VOTERS = 16
/** Entries one readCommitLog call returns at most. */
export const MAX_COMMIT_LOG_READ = 10_000

/** A row change as the engine records it (pk still encoded, as in the row key). */
export interface Mutation {
  readonly tableId: number
  readonly pkBytes: Uint8Array
  readonly versionId: VersionId
  /** null: tombstone (delete). */
  readonly row: Uint8Array | null
}

export interface LoggedMutation {
  readonly tableId: number
  readonly pk: Tuple
  readonly versionId: VersionId
  readonly row: Uint8Array | null
}

export interface CommitLogEntry {
  readonly lsn: bigint
  readonly xid: Xid
  readonly commitHlc: HlcTs
  readonly mutations: readonly LoggedMutation[]
}

/** A logged entry with the generation of the primary that appended it (0: never replicated). */
export interface GenLogEntry extends CommitLogEntry {
  readonly generation: bigint
}

export function mutationsSize (ms: Iterable<Mutation>): number {
  let n = 4
  for (const m of ms) n += 4 + 4 + m.pkBytes.length + 16 + 1 + 4 + (m.row?.length ?? 0)
  return n
}

/** Write the `mutations` encoding at `pos`; returns the position after it. */
export function writeMutations (out: Uint8Array, pos: number, ms: readonly Mutation[]): number {
  pos = putU32(out, pos, ms.length)
  for (const m of ms) {
    pos = putU32(out, pos, m.tableId)
    pos = putU32(out, pos, m.pkBytes.length)
    out.set(m.pkBytes, pos); pos += m.pkBytes.length
    out.set(m.versionId, pos); pos += 16
    out[pos++] = m.row === null ? 1 : 0
    const rowLen = m.row?.length ?? 0
    pos = putU32(out, pos, rowLen)
    if (m.row !== null && rowLen > 0) { out.set(m.row, pos); pos += rowLen }
  }
  return pos
}

function putU32 (out: Uint8Array, pos: number, v: number): number {
  out[pos] = v >>> 24; out[pos + 1] = (v >>> 16) & 0xff; out[pos + 2] = (v >>> 8) & 0xff; out[pos + 3] = v & 0xff
  return pos + 4
}

/** Read a `mutations` encoding spanning exactly `b[pos, end)`. */
export function readMutations (b: Uint8Array, pos: number, end: number): Mutation[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const need = (n: number): void => { if (pos + n > end) throw corrupt('mutation list: truncated') }
  need(4)
  const count = dv.getUint32(pos); pos += 4
  // Each mutation takes at least 29 bytes: a count the bytes cannot hold is garbage, not a
  // reason to allocate.
  if (count * 29 > end - pos) throw corrupt('mutation list: count exceeds data', { count })
  const out: Mutation[] = []
  for (let i = 0; i < count; i++) {
    need(8)
    const tableId = dv.getUint32(pos); pos += 4
    const pkLen = dv.getUint32(pos); pos += 4
    need(pkLen + 17)
    const pkBytes = b.slice(pos, pos + pkLen); pos += pkLen
    const versionId = b.slice(pos, pos + 16); pos += 16
    const flags = b[pos++]!
    if (flags > 1) throw corrupt('mutation list: unknown flags', { flags })
    need(4)
    const rowLen = dv.getUint32(pos); pos += 4
    need(rowLen)
    if (flags === 1 && rowLen !== 0) throw corrupt('mutation list: tombstone with a row image')
    const row = flags === 1 ? null : b.slice(pos, pos + rowLen)
    pos += rowLen
    out.push({ tableId, pkBytes, versionId, row })
  }
  if (pos !== end) throw corrupt('mutation list: trailing bytes')
  return out
}

export function encodeCommitEntry (xid: Xid, commitHlc: HlcTs, ms: readonly Mutation[], arena?: Arena): Uint8Array {
  const size = 17 + mutationsSize(ms)
  const out = arena !== undefined ? arena.alloc(size) : new Uint8Array(size)
  out[0] = COMMIT_LOG_FORMAT
  writeU64(out, 1, xid)
  writeU64(out, 9, commitHlc)
  writeMutations(out, 17, ms)
  return out
}

export function decodeCommitEntry (lsn: bigint, b: Uint8Array): GenLogEntry {
  if (b.length < 21 || b[0] !== COMMIT_LOG_FORMAT) throw corrupt('commit log entry: bad header', { lsn: String(lsn) })
  return entryAt(lsn, 0n, b, 1, b.length)
}

function entryAt (lsn: bigint, generation: bigint, b: Uint8Array, pos: number, end: number): GenLogEntry {
  const mutations = readMutations(b, pos + 16, end).map(m => ({
    tableId: m.tableId,
    pk: decodeTuple(m.pkBytes),
    versionId: m.versionId,
    row: m.row
  }))
  return { lsn, generation, xid: asXid(readU64(b, pos)), commitHlc: asHlcTs(readU64(b, pos + 8)), mutations }
}

/** What a control entry says: a new primary's noop, or the voters from its LSN on. */
export type ControlEntry = { readonly kind: 'noop' } | { readonly kind: 'config', readonly voters: readonly NodeId[] }
  /** A split of `shards` = n shards into 2n switches at this entry's LSN (see the top). */
  | { readonly kind: 'split_switch', readonly shards: number, readonly rule?: CleanupRule | undefined }

/** Which step of two-phase commit a twopc6 entry records (see the top). */
export type TwoPhaseStep = 'prepare' | 'commit' | 'abort'
const TWOPC_STEPS: readonly TwoPhaseStep[] = ['prepare', 'commit', 'abort']

/** The raw parts of one entry: its mutations still encoded (replica apply re-logs them as they are). */
export interface RawLogEntry {
  readonly lsn: bigint
  readonly generation: bigint
  readonly xid: Xid
  readonly commitHlc: HlcTs
  readonly mutations: Mutation[]
  /** Set for a control entry (xid and commitHlc 0, no mutations); absent for a transaction. */
  readonly control?: ControlEntry | undefined
  /** Set for a two-phase entry (format 6); absent for a plain commit and a control entry. */
  readonly phase?: TwoPhaseStep | undefined
}

/** The value of a two-phase entry appended at `generation` (format 6, see the top). */
export function encodeTwoPhaseEntry (generation: bigint, phase: TwoPhaseStep, xid: Xid, commitHlc: HlcTs, ms: readonly Mutation[], arena?: Arena): Uint8Array {
  const size = 26 + mutationsSize(ms)
  const out = arena !== undefined ? arena.alloc(size) : new Uint8Array(size)
  out[0] = COMMIT_TWOPC_FORMAT
  writeU64(out, 1, generation)
  out[9] = TWOPC_STEPS.indexOf(phase) + 1
  writeU64(out, 10, xid)
  writeU64(out, 18, phase === 'commit' ? commitHlc : 0n)
  writeMutations(out, 26, ms)
  return out
}

/** The value of a control entry appended at `generation` (format 5, see the top). */
export function encodeControlEntry (generation: bigint, c: ControlEntry): Uint8Array {
  const voters = c.kind === 'config' ? c.voters : []
  if (c.kind === 'config' && (voters.length < 1 || voters.length > MAX_CONTROL_VOTERS)) throw new Error(`ScratchBird assertion: a config entry lists 1..${MAX_CONTROL_VOTERS} voters`)
  const rule = c.kind === 'split_switch' && c.rule !== undefined ? ruleBytes(c.rule) : undefined
  const out = new Uint8Array(11 + 2 * voters.length + (c.kind === 'split_switch' ? 4 + (rule?.length ?? 0) : 0))
  out[0] = COMMIT_CONTROL_FORMAT
  writeU64(out, 1, generation)
  out[9] = CONTROL_KIND_CODES[c.kind]
  out[10] = voters.length
  const dv = new DataView(out.buffer)
  voters.forEach((v, i) => dv.setUint16(11 + 2 * i, v))
  if (c.kind === 'split_switch') dv.setUint32(11, c.shards)
  if (rule !== undefined) out.set(rule, 15)
  return out
}

function ruleBytes (rule: CleanupRule): Uint8Array {
  const w = new CodecWriter(64)
  writeRule(w, rule)
  return w.take()
}

const CONTROL_KIND_CODES: Record<ControlEntry['kind'], number> = { noop: 1, config: 2, split_switch: 3 }

/** SB_BAD_ARGUMENT unless `c` is a noop, a config of 1..MAX_CONTROL_VOTERS distinct node ids, or
 *  a split switch of a shard count a split can double (1..MAX_SHARDS / 2). */
export function checkControlEntry (c: ControlEntry): void {
  const bad = (why: string): never => { throw new ScratchBirdError('SB_BAD_ARGUMENT', `replication control entry: ${why}`) }
  if (c === null || typeof c !== 'object') bad('not an object')
  if (c.kind === 'noop') return
  if (c.kind === 'split_switch') {
    if (!Number.isInteger(c.shards) || c.shards < 1 || c.shards * 2 > MAX_SHARDS) bad(`a split switch names a shard count of 1..${MAX_SHARDS / 2}`)
    if (c.rule !== undefined) {
      // The entry does not name its shard: shard 0 is one of every count a rule may have.
      checkCleanupRule(c.rule, asShardId(0))
      checkFenceRule(c.rule, c.shards)
    }
    return
  }
  if (c.kind !== 'config') bad(`unknown kind ${String((c as { kind: unknown }).kind)}`)
  const voters = (c as { voters: unknown }).voters
  if (!Array.isArray(voters) || voters.length < 1 || voters.length > MAX_CONTROL_VOTERS) bad(`a config lists 1..${MAX_CONTROL_VOTERS} voters`)
  const vs = voters as unknown[]
  if (vs.some((v, i) => !isNodeId(v) || vs.indexOf(v) !== i)) bad('config voters must be distinct node ids')
}

function decodeControl (lsn: bigint, b: Uint8Array): ControlEntry {
  const kind = b[9]
  const count = b[10]!
  if (kind === 3 && count === 0 && b.length >= 15) {
    const shards = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(11)
    if (shards < 1 || shards * 2 > MAX_SHARDS) throw corrupt('commit log split switch entry: bad shard count', { lsn: String(lsn), shards })
    if (b.length === 15) return { kind: 'split_switch', shards }
    const bad = (why: string): ScratchBirdError => corrupt(`commit log split switch entry: ${why}`, { lsn: String(lsn) })
    const r = new CodecReader(b.subarray(15), bad)
    const c: ControlEntry = { kind: 'split_switch', shards, rule: readRule(r) }
    r.finish()
    try { checkControlEntry(c) } catch (e) { throw bad(messageOf(e)) }
    return c
  }
  if (b.length !== 11 + 2 * count) throw corrupt('commit log control entry: bad length', { lsn: String(lsn) })
  if (kind === 1 && count === 0) return { kind: 'noop' }
  if (kind !== 2 || count < 1 || count > MAX_CONTROL_VOTERS) throw corrupt('commit log control entry: bad kind or voter count', { lsn: String(lsn), kind, count })
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const voters: NodeId[] = []
  for (let i = 0; i < count; i++) {
    const v = dv.getUint16(11 + 2 * i)
    if (!isNodeId(v) || voters.includes(v)) throw corrupt('commit log control entry: bad voter', { lsn: String(lsn), voter: v })
    voters.push(v)
  }
  return { kind: 'config', voters }
}

/** One pass's commits, to be stored under commitKey(first LSN). */
export interface PendingCommit {
  readonly xid: Xid
  readonly commitHlc: HlcTs
  readonly mutations: readonly Mutation[]
  /** A two-phase entry (stored in a value of its own); absent for a plain commit. */
  readonly phase?: TwoPhaseStep | undefined
}

/**
 * The stored values for consecutive entries starting at `firstLsn`: runs of plain commits share a
 * value (a group), each two-phase entry has its own (format 6). [first LSN, value] each.
 */
export function encodeLogValues (firstLsn: bigint, commits: readonly PendingCommit[], arena?: Arena, generation = 0n): Array<[bigint, Uint8Array]> {
  const out: Array<[bigint, Uint8Array]> = []
  let i = 0
  while (i < commits.length) {
    const c = commits[i]!
    if (c.phase !== undefined) {
      if (generation === 0n) throw new Error('ScratchBird assertion: a two-phase log entry needs a replication generation')
      out.push([firstLsn + BigInt(i), encodeTwoPhaseEntry(generation, c.phase, c.xid, c.commitHlc, c.mutations, arena)])
      i++
      continue
    }
    let j = i + 1
    while (j < commits.length && commits[j]!.phase === undefined) j++
    out.push([firstLsn + BigInt(i), encodeCommitGroup(commits.slice(i, j), arena, generation)])
    i = j
  }
  return out
}

/** The value holding `commits` (consecutive LSNs) appended at `generation`: format 1 for one,
 *  a group for more; formats 3 and 4 when the generation is not 0 (see the top). */
export function encodeCommitGroup (commits: readonly PendingCommit[], arena?: Arena, generation = 0n): Uint8Array {
  if (commits.length === 0) throw new Error('ScratchBird assertion: empty commit group')
  const g = generation === 0n ? 0 : 8
  if (commits.length === 1) {
    const c = commits[0]!
    if (g === 0) return encodeCommitEntry(c.xid, c.commitHlc, c.mutations, arena)
    const size = 25 + mutationsSize(c.mutations)
    const out = arena !== undefined ? arena.alloc(size) : new Uint8Array(size)
    out[0] = COMMIT_LOG_GEN_FORMAT
    writeU64(out, 1, generation)
    writeU64(out, 9, c.xid)
    writeU64(out, 17, c.commitHlc)
    writeMutations(out, 25, c.mutations)
    return out
  }
  let size = 5 + g
  for (const c of commits) size += 4 + 16 + mutationsSize(c.mutations)
  const out = arena !== undefined ? arena.alloc(size) : new Uint8Array(size)
  out[0] = g === 0 ? COMMIT_GROUP_FORMAT : COMMIT_GROUP_GEN_FORMAT
  if (g !== 0) writeU64(out, 1, generation)
  let pos = putU32(out, 1 + g, commits.length)
  for (const c of commits) {
    const at = pos
    pos += 4
    writeU64(out, pos, c.xid)
    writeU64(out, pos + 8, c.commitHlc)
    pos = writeMutations(out, pos + 16, c.mutations)
    putU32(out, at, pos - at - 4)
  }
  return out
}

/** What the header of a stored value says: its entries' generation, their count, where the
 *  first entry starts (its xid; for a group, its entryLen) and whether it is a group. */
interface ValueHeader { readonly generation: bigint, readonly count: number, readonly pos: number, readonly grouped: boolean, readonly control: ControlEntry | null, readonly phase?: TwoPhaseStep }

function valueHeader (firstLsn: bigint, b: Uint8Array): ValueHeader {
  const f = b[0]
  if (f === COMMIT_LOG_FORMAT && b.length >= 21) return { generation: 0n, count: 1, pos: 1, grouped: false, control: null }
  if (f === COMMIT_LOG_GEN_FORMAT && b.length >= 29) return { generation: readU64(b, 1), count: 1, pos: 9, grouped: false, control: null }
  if (f === COMMIT_CONTROL_FORMAT && b.length >= 11) return { generation: readU64(b, 1), count: 1, pos: 9, grouped: false, control: decodeControl(firstLsn, b) }
  if (f === COMMIT_TWOPC_FORMAT && b.length >= 30) {
    const phase = TWOPC_STEPS[b[9]! - 1]
    if (phase === undefined) throw corrupt('commit log two-phase entry: unknown phase', { lsn: String(firstLsn), phase: b[9] })
    return { generation: readU64(b, 1), count: 1, pos: 10, grouped: false, control: null, phase }
  }
  const g = f === COMMIT_GROUP_FORMAT ? 0 : f === COMMIT_GROUP_GEN_FORMAT ? 8 : -1
  if (g < 0 || b.length < 5 + g) throw corrupt('commit log entry: bad header', { lsn: String(firstLsn) })
  const count = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(1 + g)
  // Each entry takes at least 24 bytes (length, xid, HLC, mutation count).
  if (count < 2 || count * 24 > b.length - 5 - g) throw corrupt('commit log group: bad count', { lsn: String(firstLsn), count })
  return { generation: g === 0 ? 0n : readU64(b, 1), count, pos: 5 + g, grouped: true, control: null }
}

/** Number of entries (LSNs) a stored value holds, validating only its header. */
export function commitValueCount (firstLsn: bigint, b: Uint8Array): number {
  return valueHeader(firstLsn, b).count
}

/** Generation of the entries of a stored value (0 for formats 1 and 2), validating only its header. */
export function commitValueGeneration (firstLsn: bigint, b: Uint8Array): bigint {
  return valueHeader(firstLsn, b).generation
}

/** Each entry of a stored value as [lsn, start, end] of its xid·commitHlc·mutations bytes. */
function entrySpans (firstLsn: bigint, b: Uint8Array, h: ValueHeader): Array<[bigint, number, number]> {
  if (!h.grouped) return [[firstLsn, h.pos, b.length]]
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const out: Array<[bigint, number, number]> = []
  let pos = h.pos
  for (let i = 0; i < h.count; i++) {
    if (pos + 4 > b.length) throw corrupt('commit log group: truncated', { lsn: String(firstLsn) })
    const len = dv.getUint32(pos)
    const end = pos + 4 + len
    if (len < 20 || end > b.length) throw corrupt('commit log group: bad entry length', { lsn: String(firstLsn), entry: i })
    out.push([firstLsn + BigInt(i), pos + 4, end])
    pos = end
  }
  if (pos !== b.length) throw corrupt('commit log group: trailing bytes', { lsn: String(firstLsn) })
  return out
}

/** The transactions of the value stored at c/<firstLsn> with LSN ≥ fromLsn, at most `max` (a
 *  control entry holds none: its value decodes to nothing here). */
export function decodeCommitValue (firstLsn: bigint, b: Uint8Array, fromLsn = firstLsn, max = Infinity): GenLogEntry[] {
  const h = valueHeader(firstLsn, b)
  const out: GenLogEntry[] = []
  // A control entry holds no transaction; a prepare or an abort commits nothing.
  if (h.control !== null || (h.phase !== undefined && h.phase !== 'commit')) return out
  for (const [lsn, start, end] of entrySpans(firstLsn, b, h)) {
    if (lsn >= fromLsn && out.length < max) out.push(entryAt(lsn, h.generation, b, start, end))
  }
  return out
}

/** As decodeCommitValue, keeping each entry's mutations encoded (pk bytes as in the row key). */
export function decodeCommitValueRaw (firstLsn: bigint, b: Uint8Array): RawLogEntry[] {
  const h = valueHeader(firstLsn, b)
  if (h.control !== null) return [{ lsn: firstLsn, generation: h.generation, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [], control: h.control }]
  return entrySpans(firstLsn, b, h).map(([lsn, start, end]) => {
    const e: RawLogEntry = { lsn, generation: h.generation, xid: asXid(readU64(b, start)), commitHlc: asHlcTs(readU64(b, start + 8)), mutations: readMutations(b, start + 16, end) }
    return h.phase === undefined ? e : { ...e, phase: h.phase }
  })
}

/** End (exclusive) of the c/ key space. */
export const COMMIT_END = Uint8Array.of(COMMIT_PREFIX[0]!, COMMIT_PREFIX[1]! + 1)

/** Entries with LSN ≥ fromLsn, in LSN order, at most `limit` (≤ MAX_COMMIT_LOG_READ). */
export async function readCommitLog (kv: KvStore, fromLsn: bigint, limit: number): Promise<GenLogEntry[]> {
  const out: GenLogEntry[] = []
  const n = Math.max(0, Math.min(limit, MAX_COMMIT_LOG_READ))
  if (n === 0) return out
  const from = fromLsn < 0n ? 0n : fromLsn
  // fromLsn may sit inside a group stored under an earlier LSN: start at the last key ≤ it.
  let start = commitKey(from)
  for await (const [k] of kv.iterate({ gte: COMMIT_PREFIX, lte: start, reverse: true, limit: 1 })) start = k
  for await (const [k, v] of kv.iterate({ gte: start, lt: COMMIT_END })) {
    for (const e of decodeCommitValue(u64OfKey(k, COMMIT_PREFIX), v, from, n - out.length)) out.push(e)
    if (out.length >= n) break
  }
  return out
}

/**
 * As readCommitLog, with each entry's mutations still encoded (what a primary ships to its
 * replicas, replica-apply.ts): at most `limit` entries, and no more once `maxBytes` (estimated as
 * encoded) are reached — the first entry always comes.
 */
export async function readCommitLogRaw (kv: KvStore, fromLsn: bigint, limit: number, maxBytes: number): Promise<RawLogEntry[]> {
  const out: RawLogEntry[] = []
  const n = Math.max(0, Math.min(limit, MAX_COMMIT_LOG_READ))
  if (n === 0) return out
  const from = fromLsn < 0n ? 0n : fromLsn
  let start = commitKey(from)
  for await (const [k] of kv.iterate({ gte: COMMIT_PREFIX, lte: start, reverse: true, limit: 1 })) start = k
  let bytes = 0
  for await (const [k, v] of kv.iterate({ gte: start, lt: COMMIT_END })) {
    for (const e of decodeCommitValueRaw(u64OfKey(k, COMMIT_PREFIX), v)) {
      if (e.lsn < from) continue
      const size = 40 + mutationsSize(e.mutations) + (e.control?.kind === 'config' ? 2 * e.control.voters.length : 0) +
        (e.control?.kind === 'split_switch' ? 8 * (e.control.rule?.relations.length ?? 0) : 0)
      if (out.length > 0 && bytes + size > maxBytes) return out
      bytes += size
      out.push(e)
      if (out.length >= n) return out
    }
  }
  return out
}

/** Highest LSN present in the log (0n when empty). */
export async function lastLoggedLsn (kv: KvStore): Promise<bigint> {
  let last = 0n
  for await (const [k, v] of kv.iterate({ gte: COMMIT_PREFIX, lt: COMMIT_END, reverse: true, limit: 1 })) {
    const first = u64OfKey(k, COMMIT_PREFIX)
    last = first + BigInt(commitValueCount(first, v) - 1)
  }
  return last
}

// ---- truncation --------------------------------------------------------------------------------
//
// The log is kept from the lowest LSN any consumer still needs (DESIGN §6: replicas, the last
// backup, a retention window). Consumers are an explicit list — today the sweeper passes only
// the storage.commit_log_retention_hours window; replication and backup add theirs — and
// commitLogNeed() is the one place their needs combine. A stored value (one entry, or a group of
// one write pass) goes only when it lies wholly below what is needed: a group straddling the cut
// is kept whole, so the first LSN still available may be below the cut. Truncation walks from the
// oldest key and stops at the first value it keeps: the log stays one contiguous range of LSNs.

/** A reader of the commit log and what it still needs; unset fields need nothing. */
export interface CommitLogConsumer {
  /** For reports and logs ('retention', 'replica node 3', 'backup'). */
  readonly name: string
  /** Needs every entry with LSN ≥ fromLsn. */
  readonly fromLsn?: bigint | undefined
  /** Needs every entry committed at or after sinceHlc (a time window). */
  readonly sinceHlc?: HlcTs | undefined
}

/** What the log must keep: the union of the consumers' needs. */
export interface CommitLogNeed {
  /** Lowest LSN a consumer needs; undefined: no consumer counts in LSNs. */
  readonly fromLsn: bigint | undefined
  /** Oldest commit HLC a consumer needs; undefined: no consumer counts in time. */
  readonly sinceHlc: HlcTs | undefined
  /** No consumer at all: nothing may be truncated (an empty list is a caller's mistake, not "keep nothing"). */
  readonly keepAll: boolean
}

/** THE rule: the log keeps whatever any consumer still needs (the minimum over them). */
export function commitLogNeed (consumers: readonly CommitLogConsumer[]): CommitLogNeed {
  let fromLsn: bigint | undefined
  let sinceHlc: HlcTs | undefined
  for (const c of consumers) {
    if (c.fromLsn !== undefined && (fromLsn === undefined || c.fromLsn < fromLsn)) fromLsn = c.fromLsn
    if (c.sinceHlc !== undefined && (sinceHlc === undefined || c.sinceHlc < sinceHlc)) sinceHlc = c.sinceHlc
  }
  return { fromLsn, sinceHlc, keepAll: consumers.length === 0 }
}

/** May the value holding LSNs firstLsn .. firstLsn + count − 1, newest commit HLC maxCommitHlc, go? */
export function commitValueDroppable (need: CommitLogNeed, firstLsn: bigint, count: number, maxCommitHlc: HlcTs): boolean {
  if (need.keepAll) return false
  if (need.fromLsn !== undefined && firstLsn + BigInt(count) - 1n >= need.fromLsn) return false
  if (need.sinceHlc !== undefined && maxCommitHlc >= need.sinceHlc) return false
  return true
}

/** Entry count and newest commit HLC of a stored value, reading headers only (no mutations). */
export function commitValueSpan (firstLsn: bigint, b: Uint8Array): { count: number, maxCommitHlc: HlcTs } {
  const h = valueHeader(firstLsn, b)
  if (h.control !== null) return { count: 1, maxCommitHlc: asHlcTs(0n) }
  let max = 0n
  for (const [, start] of entrySpans(firstLsn, b, h)) {
    const hlc = readU64(b, start + 8)
    if (hlc > max) max = hlc
  }
  return { count: h.count, maxCommitHlc: asHlcTs(max) }
}
