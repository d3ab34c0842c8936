import { assert } from '../../core/errors'
import type { NodeId } from '../../core/ids'
import type { Generation, LogBase, Lsn, ReplEntry } from './types'

// The machine's view of one shard's retained log: the base (snapshot / compaction point) and the
// entries after it, in memory, bounded by ReplicationConfig.maxRetainedBytes through compaction.
// Pure bookkeeping: the shell persists the same changes, which the Ready lists.

/** Bytes an entry counts toward the retention bound (payload + a fixed overhead). */
export function entryBytes (e: ReplEntry): number {
  return 32 + (e.kind === 'data' ? e.payload.length : e.kind === 'config' ? 2 * e.voters.length : 0)
}

export class ReplLog {
  private baseLsn: Lsn
  private baseGeneration: Generation
  private baseVoters: NodeId[]
  private entries: ReplEntry[]
  private byteCount = 0
  /** votersAt(lastLsn), kept current: the machine asks for it on every step. */
  private latestVoters: NodeId[] = []
  /**
   * The LSNs of the config entries retained, ascending: configAt and lastConfigAfter are asked on
   * every step and every sync (committed voters), and scanning ~1,000 retained entries for the
   * rare config entry each time was a visible share of a primary's main thread.
   */
  private configLsns: Lsn[] = []

  constructor (base: LogBase, entries: readonly ReplEntry[]) {
    this.baseLsn = base.lsn
    this.baseGeneration = base.generation
    this.baseVoters = [...base.voters]
    this.entries = []
    for (const e of entries) this.push(e)
    this.latestVoters = this.votersAt(this.lastLsn)
  }

  /** The voters in effect at the end of the log (the latest config entry, committed or not). */
  get voters (): readonly NodeId[] { return this.latestVoters }

  get base (): LogBase { return { lsn: this.baseLsn, generation: this.baseGeneration, voters: [...this.baseVoters] } }
  get firstLsn (): Lsn { return this.baseLsn + 1n }
  get lastLsn (): Lsn { return this.baseLsn + BigInt(this.entries.length) }
  get lastGeneration (): Generation { return this.generationAt(this.lastLsn)! }
  get bytes (): number { return this.byteCount }
  get length (): number { return this.entries.length }

  /** The generation of the entry at `lsn`; base.generation at the base; undefined outside the retained range. */
  generationAt (lsn: Lsn): Generation | undefined {
    if (lsn === this.baseLsn) return this.baseGeneration
    return this.entry(lsn)?.generation
  }

  entry (lsn: Lsn): ReplEntry | undefined {
    if (lsn <= this.baseLsn || lsn > this.lastLsn) return undefined
    return this.entries[Number(lsn - this.baseLsn) - 1]
  }

  /** Entries from..to inclusive (clamped to the retained range): at most `max`, and past the first at most `maxBytes` (entryBytes). */
  slice (from: Lsn, to: Lsn, max: number, maxBytes = Infinity): ReplEntry[] {
    const lo = from <= this.baseLsn ? 1 : Number(from - this.baseLsn)
    const hi = to > this.lastLsn ? this.entries.length : Number(to - this.baseLsn)
    const out: ReplEntry[] = []
    let bytes = 0
    for (let i = lo - 1; i < hi && out.length < max; i++) {
      const e = this.entries[i]!
      bytes += entryBytes(e)
      if (out.length > 0 && bytes > maxBytes) break
      out.push(e)
    }
    return out
  }

  /** The voters in effect at `lsn` (the last config entry at or below it, else the base's). */
  votersAt (lsn: Lsn): NodeId[] {
    return this.configAt(lsn).voters
  }

  /**
   * The voters in effect at `lsn` and the LSN that set them: the last config entry at or below it,
   * or the base (whose voters came from the snapshot, the compaction, or what the log started with).
   */
  configAt (lsn: Lsn): { lsn: Lsn, voters: NodeId[] } {
    const at = lsn < this.lastLsn ? lsn : this.lastLsn
    for (let i = this.configLsns.length - 1; i >= 0; i--) {
      const l = this.configLsns[i]!
      if (l > at) continue
      const e = this.entries[Number(l - this.baseLsn) - 1]!
      assert(e.kind === 'config', `replication log: entry ${l} is not the config entry recorded there`)
      return { lsn: l, voters: [...e.voters] }
    }
    return { lsn: this.baseLsn, voters: [...this.baseVoters] }
  }

  /** The LSN of the last config entry above `after`, or null. */
  lastConfigAfter (after: Lsn): Lsn | null {
    const last = this.configLsns[this.configLsns.length - 1]
    return last !== undefined && last > after ? last : null
  }

  /**
   * The largest LSN ≤ `lsn` whose generation is ≤ `generation` (etcd raft's findConflictByTerm):
   * where two logs may agree, given that the other holds `generation` at `lsn`. Never below the base.
   */
  agreeingAtOrBelow (lsn: Lsn, generation: Generation): Lsn {
    let l = lsn > this.lastLsn ? this.lastLsn : lsn
    while (l > this.baseLsn && this.entries[Number(l - this.baseLsn) - 1]!.generation > generation) l--
    return l
  }

  append (e: ReplEntry): void {
    assert(e.lsn === this.lastLsn + 1n, `replication log: append of lsn ${e.lsn} after ${this.lastLsn}`)
    assert(e.generation >= this.lastGeneration, 'replication log: generation went down')
    this.push(e)
    if (e.kind === 'config') this.latestVoters = [...e.voters]
  }

  /** Removes the entries above `lsn` (> base); returns how many. */
  truncateAfter (lsn: Lsn): number {
    assert(lsn >= this.baseLsn, 'replication log: truncation below the base')
    const keep = Number(lsn - this.baseLsn)
    const removed = this.entries.splice(keep)
    for (const e of removed) this.byteCount -= entryBytes(e)
    while (this.configLsns.length > 0 && this.configLsns[this.configLsns.length - 1]! > lsn) this.configLsns.pop()
    if (removed.some(e => e.kind === 'config')) this.latestVoters = this.votersAt(this.lastLsn)
    return removed.length
  }

  /** Drops the entries ≤ `lsn` (within the retained range): the base moves there. */
  compactThrough (lsn: Lsn): void {
    assert(lsn > this.baseLsn && lsn <= this.lastLsn, 'replication log: compaction outside the retained range')
    const voters = this.votersAt(lsn)
    const generation = this.generationAt(lsn)!
    const dropped = this.entries.splice(0, Number(lsn - this.baseLsn))
    for (const e of dropped) this.byteCount -= entryBytes(e)
    let gone = 0
    while (gone < this.configLsns.length && this.configLsns[gone]! <= lsn) gone++
    if (gone > 0) this.configLsns.splice(0, gone)
    this.baseLsn = lsn
    this.baseGeneration = generation
    this.baseVoters = voters
  }

  /** Replaces everything by a snapshot's base (the log restarts after it). */
  reset (base: LogBase): void {
    this.baseLsn = base.lsn
    this.baseGeneration = base.generation
    this.baseVoters = [...base.voters]
    this.entries = []
    this.configLsns = []
    this.byteCount = 0
    this.latestVoters = [...base.voters]
  }

  /** The LSN through which compaction brings the retained bytes to at most `maxBytes`, capped at `limit`; null if nothing need go. */
  sizeCut (maxBytes: number, limit: Lsn): Lsn | null {
    let bytes = this.byteCount
    let l = this.baseLsn
    for (const e of this.entries) {
      if (bytes <= maxBytes || e.lsn > limit) break
      bytes -= entryBytes(e)
      l = e.lsn
    }
    return l > this.baseLsn ? l : null
  }

  private push (e: ReplEntry): void {
    this.entries.push(e)
    this.byteCount += entryBytes(e)
    if (e.kind === 'config') this.configLsns.push(e.lsn)
  }
}
