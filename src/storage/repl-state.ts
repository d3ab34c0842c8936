// Replication state of one shard replica (DESIGN §6 Mode 1), kept in the shard's own store under
// p/ (keys.ts) so that it is exactly as durable as the log it describes, and never part of a
// snapshot sent to another replica (it is this replica's, not the shard's).
//
//   p/state    hard state — what Raft persists before answering: the generation (term) this
//              replica has seen, the node it voted for in that generation, the highest LSN it knows
//              to be committed (acknowledged), and its role. Written fsynced, always (whatever the
//              shard's durability), before the reply: a vote or a generation forgotten in a crash
//              would let one generation have two primaries.
//                state := format=2 u8 · generation u64 · votedFor u16 (0: none) · commitLsn u64 · role u8 ·
//                         config: none u8=0 | u8=1 · configLsn u64 · count u8 · voter u16^count
//              (format 1 is the same without config, written before config was kept: read as none.)
//              config is the group's voters in effect AT commitLsn — the last config entry at or
//              below it, or the snapshot's voters — and the LSN that set them. Written together
//              with commitLsn, so whatever the log lost below it (front truncation, a snapshot
//              install, the restart loading only its tail) a restart starts its machine from the
//              voters the group really has, never from the replica list the node guesses from the
//              cluster layout: after a join that guess holds the new node, and with it a restarted
//              old replica could elect a primary that lacks acknowledged commits (issue 20).
//   p/boot     a snapshot bootstrap in progress (replica-snapshot.ts): which snapshot, its LSN and
//              generation, whether the old contents are wiped, how far the install got.
//                boot  := format=1 u8 · snapshotId u64 · lsn u64 · generation u64 · hlcHighWater u64 ·
//                         wiped u8 · installedKeys u64 · lastKeyLen u32 · lastKey bytes
//   p/snapseq  the last snapshot id handed out by this replica as a bootstrap source (u64).
//   p/logbase  (lsn u64 · generation u64) of the entry just below the log's first one — the
//              snapshot's last entry when the log was started from a snapshot, the last entry removed
//              when the log was truncated from the front (log-truncate.ts): the (generation, lsn)
//              compared with while the log holds no entry at all.
//
// Changes are decided here, pure (checkStateChange), and refused with a coded error rather than
// applied: the generation never goes back, a vote cast in a generation is never changed, the
// commit LSN never goes back (truncation relies on it: nothing at or below it is ever removed).

import { ScratchBirdError } from '../core/errors'
import { isNodeId, type NodeId, type ShardId } from '../core/ids'
import { corrupt, readU64, replKey, writeU64 } from './keys'
import type { KvStore } from './kv'

export const REPL_STATE_KEY = replKey('state')
export const BOOT_KEY = replKey('boot')
export const SNAPSEQ_KEY = replKey('snapseq')
export const LOG_BASE_KEY = replKey('logbase')

const STATE_FORMAT = 2
const STATE_FORMAT_NO_CONFIG = 1
/** Voters a config record lists at most (commit-log.ts MAX_CONTROL_VOTERS). */
const MAX_CONFIG_VOTERS = 16
const BOOT_FORMAT = 1

/** none: not part of a replicated group (a single copy); bootstrapping: set only by a snapshot install. */
export const REPL_ROLES = ['none', 'replica', 'candidate', 'primary', 'bootstrapping'] as const
export type ReplRole = typeof REPL_ROLES[number]

/** A group's voters in effect from `lsn` on (the config entry at `lsn`, or a snapshot's base). */
export interface ReplConfig {
  readonly lsn: bigint
  readonly voters: readonly NodeId[]
}

export interface ReplHardState {
  readonly generation: bigint
  /** The node voted for in `generation`; null: no vote cast in it. */
  readonly votedFor: NodeId | null
  readonly commitLsn: bigint
  readonly role: ReplRole
  /**
   * The voters in effect at commitLsn (see the top); null: not known (a fresh group, or a state
   * written before they were kept). Absent in a change asked for (REPL_STATE_SET): the stored
   * config stays; read back it is always present.
   */
  readonly config?: ReplConfig | null
}

export const INITIAL_HARD_STATE: ReplHardState = Object.freeze({ generation: 0n, votedFor: null, commitLsn: 0n, role: 'none', config: null })

export function encodeHardState (s: ReplHardState): Uint8Array {
  const c = s.config ?? null
  const out = new Uint8Array(21 + (c === null ? 0 : 9 + 2 * c.voters.length))
  const dv = new DataView(out.buffer)
  out[0] = STATE_FORMAT
  writeU64(out, 1, s.generation)
  dv.setUint16(9, s.votedFor ?? 0)
  writeU64(out, 11, s.commitLsn)
  out[19] = REPL_ROLES.indexOf(s.role)
  out[20] = c === null ? 0 : 1
  if (c !== null) {
    writeU64(out, 21, c.lsn)
    out[29] = c.voters.length
    c.voters.forEach((v, i) => dv.setUint16(30 + 2 * i, v))
  }
  return out
}

export function decodeHardState (b: Uint8Array): ReplHardState {
  const format = b[0]
  const fixed = format === STATE_FORMAT_NO_CONFIG ? 20 : 21
  if ((format !== STATE_FORMAT && format !== STATE_FORMAT_NO_CONFIG) || b.length < fixed) throw corrupt('replication hard state', { length: b.length, format })
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const voted = dv.getUint16(9)
  const role = REPL_ROLES[b[19]!]
  if (role === undefined) throw corrupt('replication hard state: unknown role', { role: b[19] })
  let config: ReplConfig | null = null
  if (format === STATE_FORMAT && b[20] === 1) {
    const count = b.length >= 30 ? b[29]! : 0
    if (count < 1 || count > MAX_CONFIG_VOTERS || b.length !== 30 + 2 * count) throw corrupt('replication hard state: bad config', { length: b.length, count })
    const voters: NodeId[] = []
    for (let i = 0; i < count; i++) voters.push(dv.getUint16(30 + 2 * i) as NodeId)
    config = { lsn: readU64(b, 21), voters }
  } else if (b.length !== fixed || (format === STATE_FORMAT && b[20] !== 0)) {
    throw corrupt('replication hard state', { length: b.length, format })
  }
  return { generation: readU64(b, 1), votedFor: voted === 0 ? null : voted as NodeId, commitLsn: readU64(b, 11), role, config }
}

export async function readHardState (kv: KvStore): Promise<ReplHardState> {
  const raw = await kv.get(REPL_STATE_KEY)
  return raw === undefined ? INITIAL_HARD_STATE : decodeHardState(raw)
}

/** Validate a hard state asked for from outside (a shard op): SB_BAD_ARGUMENT when it is not one. */
export function checkHardState (s: ReplHardState): void {
  const bad = (why: string): never => { throw new ScratchBirdError('SB_BAD_ARGUMENT', `replication hard state: ${why}`) }
  if (s === null || typeof s !== 'object') bad('not an object')
  if (typeof s.generation !== 'bigint' || s.generation < 0n || s.generation >= 1n << 64n) bad('generation must be a u64')
  if (typeof s.commitLsn !== 'bigint' || s.commitLsn < 0n || s.commitLsn >= 1n << 64n) bad('commitLsn must be a u64')
  if (s.votedFor !== null && !isNodeId(s.votedFor)) bad('votedFor must be a node id or null')
  if (!REPL_ROLES.includes(s.role)) bad(`unknown role ${String(s.role)}`)
  const c = s.config
  if (c !== null && c !== undefined) {
    if (typeof c !== 'object') bad('config must be an object or null')
    if (typeof c.lsn !== 'bigint' || c.lsn < 0n || c.lsn > s.commitLsn) bad('config.lsn must be a u64 at or below commitLsn')
    const vs = c.voters as unknown
    if (!Array.isArray(vs) || vs.length < 1 || vs.length > MAX_CONFIG_VOTERS) bad(`config lists 1..${MAX_CONFIG_VOTERS} voters`)
    if ((vs as unknown[]).some((v, i) => !isNodeId(v) || (vs as unknown[]).indexOf(v) !== i)) bad('config voters must be distinct node ids')
  }
}

/**
 * Whether `next` may replace `cur` (THE rule; see the top). `bootstrapping` is the install's to set
 * and clear: asked for from outside it is SB_BAD_ARGUMENT, and while a bootstrap runs the role
 * asked for must be `bootstrapping` (the rest may change: a bootstrapping replica still learns
 * generations).
 */
export function checkStateChange (shard: ShardId, cur: ReplHardState, next: ReplHardState): void {
  const refuse = (why: string): never => {
    throw new ScratchBirdError('SB_REPL_STATE_REFUSED', `replication state of shard ${shard}: ${why}`, {
      shard,
      generation: String(cur.generation),
      voted_for: cur.votedFor,
      commit_lsn: String(cur.commitLsn),
      asked_generation: String(next.generation),
      asked_voted_for: next.votedFor,
      asked_commit_lsn: String(next.commitLsn)
    })
  }
  if (next.generation < cur.generation) refuse(`generation ${next.generation} is below the generation ${cur.generation} already seen`)
  if (next.generation === cur.generation && cur.votedFor !== null && next.votedFor !== cur.votedFor) {
    refuse(`already voted for node ${cur.votedFor} in generation ${cur.generation}`)
  }
  if (next.commitLsn < cur.commitLsn) refuse(`commit LSN ${next.commitLsn} is below the committed LSN ${cur.commitLsn}`)
  if (cur.role === 'bootstrapping' && next.role !== 'bootstrapping') {
    throw new ScratchBirdError('SB_REPL_BOOTSTRAPPING', `shard ${shard} is being bootstrapped: its role changes when the last snapshot chunk is installed`, { shard })
  }
  if (cur.role !== 'bootstrapping' && next.role === 'bootstrapping') {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', 'the role bootstrapping is set by installing a snapshot, not by a state change', { shard })
  }
}

// ---- bootstrap record --------------------------------------------------------------------------

export interface BootstrapRecord {
  readonly snapshotId: bigint
  /** The snapshot's LSN: the log continues at lsn + 1 once installed. */
  readonly lsn: bigint
  /** Generation of the entry at `lsn`. */
  readonly generation: bigint
  /** The source's HLC high-water mark when the snapshot was taken. */
  readonly hlcHighWater: bigint
  /** The replica's old contents are gone (the first chunk may be installed). */
  readonly wiped: boolean
  readonly installedKeys: number
  /** Last key installed; null: none yet. */
  readonly lastKey: Uint8Array | null
}

export function encodeBootstrap (r: BootstrapRecord): Uint8Array {
  const k = r.lastKey ?? new Uint8Array(0)
  const out = new Uint8Array(46 + k.length)
  out[0] = BOOT_FORMAT
  writeU64(out, 1, r.snapshotId)
  writeU64(out, 9, r.lsn)
  writeU64(out, 17, r.generation)
  writeU64(out, 25, r.hlcHighWater)
  out[33] = r.wiped ? 1 : 0
  writeU64(out, 34, BigInt(r.installedKeys))
  new DataView(out.buffer).setUint32(42, r.lastKey === null ? 0xffffffff : k.length)
  out.set(k, 46)
  return out
}

export function decodeBootstrap (b: Uint8Array): BootstrapRecord {
  if (b.length < 46 || b[0] !== BOOT_FORMAT || b[33]! > 1) throw corrupt('bootstrap record', { length: b.length })
  const len = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(42)
  const none = len === 0xffffffff
  if (b.length !== 46 + (none ? 0 : len)) throw corrupt('bootstrap record: bad key length', { length: b.length })
  return {
    snapshotId: readU64(b, 1),
    lsn: readU64(b, 9),
    generation: readU64(b, 17),
    hlcHighWater: readU64(b, 25),
    wiped: b[33] === 1,
    installedKeys: Number(readU64(b, 34)),
    lastKey: none ? null : new Uint8Array(b.subarray(46)) // a plain copy, also of a Buffer
  }
}

export async function readBootstrap (kv: KvStore): Promise<BootstrapRecord | undefined> {
  const raw = await kv.get(BOOT_KEY)
  return raw === undefined ? undefined : decodeBootstrap(raw)
}

// ---- log base ------------------------------------------------------------------------------------

export interface LogBase { readonly lsn: bigint, readonly generation: bigint }

export function encodeLogBase (b: LogBase): Uint8Array {
  const out = new Uint8Array(16)
  writeU64(out, 0, b.lsn)
  writeU64(out, 8, b.generation)
  return out
}

export async function readLogBase (kv: KvStore): Promise<LogBase | undefined> {
  const raw = await kv.get(LOG_BASE_KEY)
  if (raw === undefined) return undefined
  if (raw.length !== 16) throw corrupt('log base', { length: raw.length })
  return { lsn: readU64(raw, 0), generation: readU64(raw, 8) }
}
