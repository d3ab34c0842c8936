// Transaction inventory (TIP, DESIGN §4/§6): the state of every transaction that wrote to this
// shard replica, persisted under t/<xid>, deciding which record versions are visible.
//
//   active     writing, outcome unknown          → invisible to others, blocks their writes
//   limbo      prepared (2PC), awaiting decision → invisible, blocks writes and sweep of its rows
//   committed  with its commit HLC               → visible to snapshots started after that HLC
//   dead       rolled back or crashed            → invisible forever; the sweep removes it
//
// Value layout: state u8 · commitHlc u64 BE (0 unless committed) · [limbo: the transaction's
// mutation list (commit-log encoding), so it can be committed and logged after a restart].
//
// Which states live where:
//   - active and limbo transactions are few and authoritative in memory (`active`, `limbo`);
//     s/o/<xid> indexes them on disk so recovery reads only those (every `active` one → dead);
//   - committed/dead entries are read from disk on demand and kept in a bounded LRU
//     (TIP_CACHE_ENTRIES) — versions written by autocommit statements carry their commit HLC
//     inline and never need a TIP lookup, which keeps the hot set small.
//
// TIP groups. The autocommit statements of one write pass (with xids handed out here) are
// recorded together, in the same batch as their versions, as ONE record g/<last xid>:
//   group := format=1 u8 · count u32 (≥ 2) · (xid u64 · commitHlc u64)^count, xids strictly increasing
// instead of one t/<xid> put each (LevelDB's per-put cost dominated that path). Groups never
// overlap: xids are handed out in increasing order (XidSource) and queued in that order, each
// pass takes a prefix of the queue, and the writer checks it (writer.ts). So the only group that
// can hold xid X is the first one at or after g/<X>: a lookup is an exact t/<X> read, then on a
// miss one seek. Only committed statements are in a group; an xid in no group and without a
// t/ entry committed nothing here (dead), as before. A pass with one such statement writes a
// plain t/<xid> entry.

import { corrupt, readU64, TIP_GROUP_PREFIX, tipGroupKey, tipKey, writeU64, type Arena } from './keys'
import { readMutations, writeMutations, mutationsSize, type Mutation } from './commit-log'
import type { KvStore } from './kv'
import { asHlcTs, asXid } from '../core/ids'
import { HLC_ZERO, type HlcTs, type Xid } from './types'

export type TipState = 'active' | 'committed' | 'dead' | 'limbo'

/** Final TIP entries (committed/dead) cached in memory per shard replica. */
export const TIP_CACHE_ENTRIES = 65_536

const STATE_CODES: Record<TipState, number> = { active: 1, committed: 2, dead: 3, limbo: 4 }
const STATES: readonly (TipState | undefined)[] = [undefined, 'active', 'committed', 'dead', 'limbo']

export interface TipEntry {
  readonly state: TipState
  /** Set only when committed. */
  readonly commitHlc?: HlcTs | undefined
}

export interface DecodedTipEntry extends TipEntry {
  /** Only for limbo: the prepared transaction's mutations. */
  readonly mutations?: Mutation[] | undefined
}

export const TIP_ACTIVE: TipEntry = Object.freeze({ state: 'active' })
export const TIP_DEAD: TipEntry = Object.freeze({ state: 'dead' })
export const TIP_LIMBO: TipEntry = Object.freeze({ state: 'limbo' })

export function encodeTipEntry (state: TipState, commitHlc: HlcTs = HLC_ZERO, mutations?: readonly Mutation[]): Uint8Array {
  const out = new Uint8Array(9 + (mutations !== undefined ? mutationsSize(mutations) : 0))
  out[0] = STATE_CODES[state]
  writeU64(out, 1, commitHlc)
  if (mutations !== undefined) writeMutations(out, 9, mutations)
  return out
}

export function decodeTipEntry (b: Uint8Array): DecodedTipEntry {
  if (b.length < 9) throw corrupt('TIP entry: too short', { length: b.length })
  const state = STATES[b[0]!]
  if (state === undefined) throw corrupt('TIP entry: unknown state', { state: b[0] })
  const commitHlc = asHlcTs(readU64(b, 1))
  if (state === 'limbo') return { state, mutations: readMutations(b, 9, b.length) }
  if (b.length !== 9) throw corrupt('TIP entry: trailing bytes')
  if (state === 'committed') return { state, commitHlc }
  if (commitHlc !== 0n) throw corrupt('TIP entry: commit HLC on an uncommitted entry')
  return state === 'active' ? TIP_ACTIVE : TIP_DEAD
}

export const TIP_GROUP_FORMAT = 1

/** The value of a TIP group; `xids` strictly increasing, at least two. */
export function encodeTipGroup (xids: readonly Xid[], hlcs: readonly HlcTs[], arena?: Arena): Uint8Array {
  const size = 5 + 16 * xids.length
  const out = arena !== undefined ? arena.alloc(size) : new Uint8Array(size)
  out[0] = TIP_GROUP_FORMAT
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(1, xids.length)
  for (let i = 0; i < xids.length; i++) {
    writeU64(out, 5 + 16 * i, xids[i]!)
    writeU64(out, 13 + 16 * i, hlcs[i]!)
  }
  return out
}

function groupCount (b: Uint8Array): number {
  if (b.length < 5 || b[0] !== TIP_GROUP_FORMAT) throw corrupt('TIP group: bad header', { length: b.length })
  const count = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(1)
  if (count < 2 || b.length !== 5 + 16 * count) throw corrupt('TIP group: bad length', { count, length: b.length })
  return count
}

/** Every (xid, commitHlc) of a TIP group, validated (xids strictly increasing). */
export function decodeTipGroup (b: Uint8Array): Array<[Xid, HlcTs]> {
  const count = groupCount(b)
  const out: Array<[Xid, HlcTs]> = []
  for (let i = 0; i < count; i++) {
    const xid = asXid(readU64(b, 5 + 16 * i))
    if (i > 0 && xid <= out[i - 1]![0]) throw corrupt('TIP group: xids not increasing')
    out.push([xid, asHlcTs(readU64(b, 13 + 16 * i))])
  }
  return out
}

/** The commit HLC of `xid` in a TIP group (binary search), or undefined when not a member. */
export function findInTipGroup (b: Uint8Array, xid: Xid): HlcTs | undefined {
  let lo = 0
  let hi = groupCount(b) - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const x = readU64(b, 5 + 16 * mid)
    if (x === xid) return asHlcTs(readU64(b, 13 + 16 * mid))
    if (x < xid) lo = mid + 1
    else hi = mid - 1
  }
  return undefined
}

const TIP_GROUP_END = Uint8Array.of(TIP_GROUP_PREFIX[0]!, TIP_GROUP_PREFIX[1]! + 1)

/** A prepared transaction waiting for its coordinator's decision. */
export interface LimboTxn {
  readonly xid: Xid
  readonly mutations: readonly Mutation[]
}

/** Bounded LRU (Map keeps insertion order; a hit re-inserts at the young end). */
export class TipCache {
  private readonly map = new Map<Xid, TipEntry>()

  constructor (readonly capacity = TIP_CACHE_ENTRIES) {}

  get size (): number { return this.map.size }

  get (xid: Xid): TipEntry | undefined {
    const e = this.map.get(xid)
    if (e !== undefined && this.map.size > 1) {
      this.map.delete(xid)
      this.map.set(xid, e)
    }
    return e
  }

  /** Forget everything (the store's TIP was replaced: a snapshot bootstrap). */
  clear (): void { this.map.clear() }

  set (xid: Xid, e: TipEntry): void {
    this.map.delete(xid)
    this.map.set(xid, e)
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
  }
}

/** TIP state lookup for one shard replica: memory first, then disk. */
export class Tip {
  /** Transactions running here (local or remote xid), whatever they have written so far. */
  readonly active = new Set<Xid>()
  readonly limbo = new Map<Xid, LimboTxn>()
  readonly cache: TipCache

  constructor (private readonly kv: KvStore, cacheEntries = TIP_CACHE_ENTRIES) {
    this.cache = new TipCache(cacheEntries)
  }

  /** The state if known without I/O. */
  peek (xid: Xid): TipEntry | undefined {
    if (this.active.has(xid)) return TIP_ACTIVE
    if (this.limbo.has(xid)) return TIP_LIMBO
    return this.cache.get(xid)
  }

  /** The state, reading t/<xid> on a cache miss. No entry at all means the transaction never
   *  committed anything here: dead (it is neither running nor prepared). */
  async get (xid: Xid): Promise<TipEntry> {
    const known = this.peek(xid)
    if (known !== undefined) return known
    const stored = await this.read(xid)
    // Re-check: the transaction may have finished while we read.
    const again = this.peek(xid)
    if (again !== undefined) return again
    let e: TipEntry = stored ?? TIP_DEAD
    // An `active` or `limbo` entry on disk that memory does not know was left by a crash that
    // recovery already resolved for active ones; for safety treat an unknown active one as dead.
    if (e.state === 'active') e = TIP_DEAD
    if (e.state === 'committed' || e.state === 'dead') this.cache.set(xid, e)
    return e
  }

  /** Whether the store holds any TIP record of `xid` (its own entry or a group membership). */
  async recorded (xid: Xid): Promise<boolean> {
    return await this.read(xid) !== undefined
  }

  /** The stored TIP record of `xid`: t/<xid>, else its group (see the top), else undefined. */
  private async read (xid: Xid): Promise<DecodedTipEntry | undefined> {
    const raw = await this.kv.get(tipKey(xid))
    if (raw !== undefined) return decodeTipEntry(raw)
    for await (const [, v] of this.kv.iterate({ gte: tipGroupKey(xid), lt: TIP_GROUP_END, limit: 1 })) {
      const commitHlc = findInTipGroup(v, xid)
      if (commitHlc !== undefined) return { state: 'committed', commitHlc }
    }
    return undefined
  }

  /** Record a final state decided here (after its batch landed). */
  settle (xid: Xid, e: TipEntry): void {
    this.cache.set(xid, e)
    this.active.delete(xid)
    this.limbo.delete(xid)
  }
}
