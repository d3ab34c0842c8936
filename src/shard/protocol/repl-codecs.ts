import type { CodecReader, CodecWriter } from '../../core/codec'
import { messageOf } from '../../core/errors'
import { asNodeId } from '../../core/ids'
import type { RawLogEntry, SnapshotEntry, SnapshotSplitState } from '../../storage/engine'
import { checkControlEntry, type ControlEntry, type Mutation } from '../../storage/commit-log'
import { checkTuple } from '../../storage/keys'
import { readRule, writeRule } from '../../storage/split-cleanup'
import { REPL_ROLES, type BootstrapRecord, type ReplHardState } from '../../storage/repl-state'
import type { ReplReplies, ReplRequests } from './repl-messages'
import { readRow, readVersionId, writeRow, writeVersionId } from './parts'

// Binary bodies of the Mode 1 replication ops (repl-messages.ts), in the conventions of
// op-codecs.ts: integers big-endian, shard u32 first, xid/HLC/LSN/generation u64, counts varint,
// optional values behind a presence byte, and a decoder that consumes the whole payload.
//
//   entry     := lsn u64 · generation u64 · xid u64 · commitHlc u64 · mutations · control opt
//   control   := kind u8 (0 noop, 1 config) · voters (count · u16 each; config only)
//   mutations := count · (tableId u32 · pk blob (tuple encoding, checked canonical) · versionId[16] · row opt blob)
//   hard      := generation u64 · votedFor u16 (0: none) · commitLsn u64 · role u8
//   kv entry  := key blob · value blob

/** How one op's request and reply are written and read (also split-codecs.ts). */
export type Writer<T> = (w: CodecWriter, v: T) => void
export type Reader<T> = (r: CodecReader) => T
export interface Body<Req, Rep> {
  readonly req: [Writer<Req>, Reader<Req>]
  readonly rep: [Writer<Rep>, Reader<Rep>]
}
type ReplBodies = { [K in keyof ReplRequests]: Body<ReplRequests[K], ReplReplies[K]> }

export const writeMutation = (w: CodecWriter, m: Mutation): void => { w.u32(m.tableId); w.blob(m.pkBytes); writeVersionId(w, m.versionId); writeRow(w, m.row) }
export const readMutation = (r: CodecReader): Mutation => {
  const tableId = r.u32()
  const pkBytes = r.blob()
  try {
    checkTuple(pkBytes)
  } catch (e) {
    throw r.malformed(`primary key: ${messageOf(e)}`)
  }
  return { tableId, pkBytes, versionId: readVersionId(r), row: readRow(r) }
}

const CONTROL_KINDS = ['noop', 'config', 'split_switch'] as const
const writeControl = (w: CodecWriter, c: ControlEntry): void => {
  w.u8(CONTROL_KINDS.indexOf(c.kind))
  if (c.kind === 'config') w.array(c.voters, v => w.u16(v))
  if (c.kind === 'split_switch') { w.u32(c.shards); w.opt(c.rule, r => writeRule(w, r)) }
}
const splitSwitchOf = (r: CodecReader): ControlEntry => {
  const shards = r.u32()
  const rule = r.opt(() => readRule(r))
  return rule === undefined ? { kind: 'split_switch', shards } : { kind: 'split_switch', shards, rule }
}
const readControl = (r: CodecReader): ControlEntry => {
  const kind = r.pick(CONTROL_KINDS, 'control entry kind')
  if (kind === 'noop') return { kind }
  const c: ControlEntry = kind === 'split_switch' ? splitSwitchOf(r) : { kind, voters: r.array(() => r.nodeId(), 2) }
  try {
    checkControlEntry(c)
  } catch (e) {
    throw r.malformed(messageOf(e))
  }
  return c
}

const TWOPC_STEPS = ['prepare', 'commit', 'abort'] as const
export const writeEntry = (w: CodecWriter, e: RawLogEntry): void => {
  w.u64(e.lsn); w.u64(e.generation); w.u64(e.xid); w.u64(e.commitHlc)
  w.array(e.mutations, m => writeMutation(w, m))
  w.opt(e.control, c => writeControl(w, c))
  w.opt(e.phase, p => w.u8(TWOPC_STEPS.indexOf(p)))
}
export const readEntry = (r: CodecReader): RawLogEntry => {
  const e = { lsn: r.u64(), generation: r.u64(), xid: r.xid(), commitHlc: r.hlc(), mutations: r.array(() => readMutation(r), 22) }
  const control = r.opt(() => readControl(r))
  const phase = r.opt(() => r.pick(TWOPC_STEPS, 'two-phase step'))
  if (control !== undefined && phase !== undefined) throw r.malformed('an entry is a control entry or a two-phase entry, not both')
  return control !== undefined ? { ...e, control } : phase !== undefined ? { ...e, phase } : e
}

const writeHard = (w: CodecWriter, s: ReplHardState): void => {
  w.u64(s.generation); w.u16(s.votedFor ?? 0); w.u64(s.commitLsn); w.u8(REPL_ROLES.indexOf(s.role))
  // 0: keep the stored config (absent), 1: none (null), 2: this one.
  const c = s.config
  w.u8(c === undefined ? 0 : c === null ? 1 : 2)
  if (c !== undefined && c !== null) { w.u64(c.lsn); w.array(c.voters, v => w.u16(v)) }
}
const readHard = (r: CodecReader): ReplHardState => {
  const generation = r.u64()
  const voted = r.u16()
  const votedFor = voted === 0 ? null : asNodeId(voted) // every other u16 is a node id
  const commitLsn = r.u64()
  const role = r.pick(REPL_ROLES, 'replication role')
  const has = r.u8()
  if (has > 2) throw r.malformed(`config flag ${has}`)
  const base = { generation, votedFor, commitLsn, role }
  return has === 0 ? base : { ...base, config: has === 1 ? null : { lsn: r.u64(), voters: r.array(() => r.nodeId(), 2) } }
}

const writeBoot = (w: CodecWriter, b: BootstrapRecord): void => {
  w.u64(b.snapshotId); w.u64(b.lsn); w.u64(b.generation); w.u64(b.hlcHighWater); w.bool(b.wiped); w.uint(b.installedKeys); w.opt(b.lastKey, k => w.blob(k))
}
const readBoot = (r: CodecReader): BootstrapRecord => ({
  snapshotId: r.u64(), lsn: r.u64(), generation: r.u64(), hlcHighWater: r.u64(), wiped: r.bool(), installedKeys: r.uint(), lastKey: r.opt(() => r.blob()) ?? null
})

// Kept / skipped tables (storage/kept-tables.ts): absent or null → none.
/** A snapshot's split state (storage/snapshot-split.ts): the fence record as stored, the count its rows are clean for. */
const writeSplit = (w: CodecWriter, v: SnapshotSplitState | null | undefined): void => { w.opt(v, x => { w.opt(x.fence, f => w.blob(f)); w.u32(x.cleanedFor) }) }
const readSplit = (r: CodecReader): SnapshotSplitState | null => r.opt(() => ({ fence: r.opt(() => r.blob()) ?? null, cleanedFor: r.u32() })) ?? null
const writeTables = (w: CodecWriter, ids: readonly number[] | null | undefined): void => { w.opt(ids, ts => w.array(ts, t => w.u32(t))) }
const readTables = (r: CodecReader): number[] | null => r.opt(() => r.array(() => r.u32(), 4)) ?? null
const writeKv = (w: CodecWriter, e: SnapshotEntry): void => { w.blob(e.key); w.blob(e.value) }
/** A snapshot chunk's entries: views into one copy of their bytes (CodecReader.blobPairs), not a copy each. */
const readKvs = (r: CodecReader): SnapshotEntry[] => r.blobPairs(r.count(2))

interface Identity { snapshotId: bigint, lsn: bigint, generation: bigint, hlcHighWater: bigint }
const writeIdentity = (w: CodecWriter, v: Identity): void => { w.u64(v.snapshotId); w.u64(v.lsn); w.u64(v.generation); w.u64(v.hlcHighWater) }
const readIdentity = (r: CodecReader): Identity => ({ snapshotId: r.u64(), lsn: r.u64(), generation: r.u64(), hlcHighWater: r.u64() })

export const REPL_BODIES: ReplBodies = {
  REPL_APPLY: {
    req: [(w, v) => { w.u32(v.shard); w.array(v.entries, e => writeEntry(w, e)); writeTables(w, v.keepTables) }, r => ({ shard: r.shard(), entries: r.array(() => readEntry(r), 33), keepTables: readTables(r) })],
    rep: [(w, v) => { w.uint(v.applied); w.uint(v.skipped); w.u64(v.lastLsn) }, r => ({ applied: r.uint(), skipped: r.uint(), lastLsn: r.u64() })]
  },
  REPL_LOG_READ: {
    req: [(w, v) => { w.u32(v.shard); w.u64(v.fromLsn); w.uint(v.limit); w.uint(v.maxBytes) },
      r => ({ shard: r.shard(), fromLsn: r.u64(), limit: r.uint(), maxBytes: r.uint() })],
    rep: [(w, v) => w.array(v.entries, e => writeEntry(w, e)), r => ({ entries: r.array(() => readEntry(r), 33) })]
  },
  REPL_TRUNCATE: {
    req: [(w, v) => { w.u32(v.shard); w.u64(v.afterLsn); w.u64(v.committedLsn); writeTables(w, v.keepTables) }, r => ({ shard: r.shard(), afterLsn: r.u64(), committedLsn: r.u64(), keepTables: readTables(r) })],
    rep: [(w, v) => { w.uint(v.entriesRemoved); w.uint(v.versionsRemoved); w.uint(v.rowsWithoutEarlierVersion); w.u64(v.lastLsn) },
      r => ({ entriesRemoved: r.uint(), versionsRemoved: r.uint(), rowsWithoutEarlierVersion: r.uint(), lastLsn: r.u64() })]
  },
  REPL_STATE_GET: {
    req: [(w, v) => w.u32(v.shard), r => ({ shard: r.shard() })],
    rep: [(w, v) => { writeHard(w, v); w.u64(v.lastLsn); w.u64(v.lastGeneration); w.u64(v.firstAvailableLsn); w.opt(v.bootstrap, b => writeBoot(w, b)) },
      r => ({ ...readHard(r), lastLsn: r.u64(), lastGeneration: r.u64(), firstAvailableLsn: r.u64(), bootstrap: r.opt(() => readBoot(r)) ?? null })]
  },
  REPL_STATE_SET: {
    req: [(w, v) => { w.u32(v.shard); writeHard(w, v.state) }, r => ({ shard: r.shard(), state: readHard(r) })],
    rep: [() => {}, () => ({})]
  },
  REPL_SNAPSHOT_READ: {
    req: [(w, v) => { w.u32(v.shard); w.u64(v.snapshotId); w.opt(v.after, k => w.blob(k)); w.uint(v.maxKeys); w.uint(v.maxBytes); writeTables(w, v.skipTables) },
      r => ({ shard: r.shard(), snapshotId: r.u64(), after: r.opt(() => r.blob()) ?? null, maxKeys: r.uint(), maxBytes: r.uint(), skipTables: readTables(r) })],
    rep: [(w, v) => { writeIdentity(w, v); w.array(v.entries, e => writeKv(w, e)); w.bool(v.done); writeSplit(w, v.split) },
      r => ({ ...readIdentity(r), entries: readKvs(r), done: r.bool(), split: readSplit(r) })]
  },
  REPL_SNAPSHOT_INSTALL: {
    req: [(w, v) => { w.u32(v.shard); writeIdentity(w, v); w.opt(v.after, k => w.blob(k)); w.array(v.entries, e => writeKv(w, e)); w.bool(v.done); w.opt(v.voters, vs => w.array(vs, x => w.u16(x))); writeTables(w, v.keepTables); writeSplit(w, v.split) },
      r => ({ shard: r.shard(), ...readIdentity(r), after: r.opt(() => r.blob()) ?? null, entries: readKvs(r), done: r.bool(), voters: r.opt(() => r.array(() => r.nodeId(), 2)) ?? null, keepTables: readTables(r), split: readSplit(r) })],
    rep: [(w, v) => { w.uint(v.installedKeys); w.opt(v.lastKey, k => w.blob(k)); w.bool(v.complete) },
      r => ({ installedKeys: r.uint(), lastKey: r.opt(() => r.blob()) ?? null, complete: r.bool() })]
  },
  REPL_CONTROL_APPEND: {
    req: [(w, v) => { w.u32(v.shard); w.u64(v.generation); writeControl(w, v.control) }, r => ({ shard: r.shard(), generation: r.u64(), control: readControl(r) })],
    rep: [(w, v) => w.u64(v.lsn), r => ({ lsn: r.u64() })]
  }
}
