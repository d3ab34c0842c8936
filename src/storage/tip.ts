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

import { corrupt, readU64, writeU64 } from './keys'
import { readMutations, writeMutations, mutationsSize, type Mutation } from './commit-log'
import { tipKey } from './keys'
import type { KvStore } from './kv'
import type { HlcTs, Xid } from './types'

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

export function encodeTipEntry (state: TipState, commitHlc = 0n, mutations?: readonly Mutation[]): Uint8Array {
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
  const commitHlc = readU64(b, 1)
  if (state === 'limbo') return { state, mutations: readMutations(b, 9, b.length) }
  if (b.length !== 9) throw corrupt('TIP entry: trailing bytes')
  if (state === 'committed') return { state, commitHlc }
  if (commitHlc !== 0n) throw corrupt('TIP entry: commit HLC on an uncommitted entry')
  return state === 'active' ? TIP_ACTIVE : TIP_DEAD
}

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
    const raw = await this.kv.get(tipKey(xid))
    // Re-check: the transaction may have finished while we read.
    const again = this.peek(xid)
    if (again !== undefined) return again
    let e: TipEntry = raw === undefined ? TIP_DEAD : decodeTipEntry(raw)
    // An `active` or `limbo` entry on disk that memory does not know was left by a crash that
    // recovery already resolved for active ones; for safety treat an unknown active one as dead.
    if (e.state === 'active') e = TIP_DEAD
    if (e.state === 'committed' || e.state === 'dead') this.cache.set(xid, e)
    return e
  }

  /** Record a final state decided here (after its batch landed). */
  settle (xid: Xid, e: TipEntry): void {
    this.cache.set(xid, e)
    this.active.delete(xid)
    this.limbo.delete(xid)
  }
}
