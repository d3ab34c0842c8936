import type { NodeId } from '../../core/ids'
import type { Lsn } from './types'

// Replication lag of a primary's replicas (issue 14 item 7, the seeds' replication_lag_ms), pure.
// A replica's lag in LSNs is how many entries of the primary's log it does not hold yet; its lag in
// milliseconds is how long ago the oldest of those entries landed in the primary's log — 0 when it
// holds everything. "Landed" is when the shell saw the entry in the log tail (monotonic ms), so the
// figure covers the primary's own queueing, the network, the replica's durable write and the
// acknowledgement's way back: what a client reading that replica would miss, and for how long.
//
// LandingTimes keeps (lsn, time) of the entries landed since the slowest replica's match, bounded:
// beyond MAX_TRACKED the oldest are forgotten and a replica that far behind is reported from the
// oldest time still known (a lower bound, marked by `atLeast`).

export const MAX_TRACKED = 100_000

export interface ReplicaLag {
  readonly replica: NodeId
  readonly matchLsn: Lsn
  readonly lagLsns: bigint
  readonly lagMs: number
  /** lagMs is a lower bound: the entry it should be measured from was forgotten. */
  readonly atLeast: boolean
}

export class LandingTimes {
  private lsns: Lsn[] = []
  private times: number[] = []
  private head = 0

  /** Entry `lsn` landed at `at` (ascending LSNs; an LSN not above the last is ignored). */
  landed (lsn: Lsn, at: number): void {
    const n = this.lsns.length
    if (n > this.head && this.lsns[n - 1]! >= lsn) return
    this.lsns.push(lsn)
    this.times.push(at)
    if (n + 1 - this.head > MAX_TRACKED) this.head++
    this.compact()
  }

  /** Forget entries at or below `lsn` (every replica holds them). */
  forgetThrough (lsn: Lsn): void {
    while (this.head < this.lsns.length && this.lsns[this.head]! <= lsn) this.head++
    this.compact()
  }

  /** Forget everything (a new life of the machine: LSNs may have been truncated). */
  clear (): void { this.lsns = []; this.times = []; this.head = 0 }

  get size (): number { return this.lsns.length - this.head }

  /** Lag of a replica holding the log through `match`, the primary's last LSN being `last`. */
  lagOf (replica: NodeId, match: Lsn, last: Lsn, now: number): ReplicaLag {
    if (match >= last) return { replica, matchLsn: match, lagLsns: 0n, lagMs: 0, atLeast: false }
    // The first landed entry above match (binary search over the live part).
    let lo = this.head
    let hi = this.lsns.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.lsns[mid]! <= match) lo = mid + 1
      else hi = mid
    }
    const known = lo < this.lsns.length
    const exact = known && (lo > this.head || this.lsns[lo] === match + 1n)
    const at = known ? this.times[lo]! : now
    return { replica, matchLsn: match, lagLsns: last - match, lagMs: Math.max(0, Math.round(now - at)), atLeast: !exact }
  }

  private compact (): void {
    if (this.head > 4096 && this.head * 2 > this.lsns.length) {
      this.lsns = this.lsns.slice(this.head)
      this.times = this.times.slice(this.head)
      this.head = 0
    }
  }
}
