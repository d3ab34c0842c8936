// The node's open snapshot transactions (DESIGN §6 "Visibility and garbage collection"): the start
// HLC of every snapshot transaction a session of this node holds, from BEGIN to COMMIT/ROLLBACK,
// whatever shards it has joined. A shard knows only the transactions that reached it; a snapshot
// that has not read a shard yet must still hold back that shard's sweep, so the sweeper lowers its
// horizon to oldest() here (and, in a cluster, to the oldest any live node gossips).
//
// Pure data: no clock, no I/O. Bounded by the sessions (each holds at most one transaction).
import type { HlcTs } from '../storage/types'

/** What register() returns; release() takes it back. */
export type SnapshotToken = number

export class SnapshotRegistry {
  private readonly open = new Map<SnapshotToken, HlcTs>()
  private next: SnapshotToken = 1

  /** A snapshot transaction started at `startHlc` is open until release(token). */
  register (startHlc: HlcTs): SnapshotToken {
    const token = this.next++
    this.open.set(token, startHlc)
    return token
  }

  /** The transaction ended (releasing twice, or an unknown token, is a no-op). */
  release (token: SnapshotToken): void {
    this.open.delete(token)
  }

  /** Start HLC of the oldest open snapshot transaction; undefined when none is open. */
  oldest (): HlcTs | undefined {
    let min: HlcTs | undefined
    for (const s of this.open.values()) if (min === undefined || s < min) min = s
    return min
  }

  get size (): number { return this.open.size }
}
