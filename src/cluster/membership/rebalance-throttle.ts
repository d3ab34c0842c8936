import { assert } from '../../core/errors'
import type { Clock } from '../../core/clock'
import type { NodeId } from '../../core/ids'

// Rebalance throttling (issue 20 item 3): cluster.rebalance_rate_bytes_per_s bounds the snapshot
// bytes a node streams to bootstrap replicas (node/replication/snapshot-stream.ts), so a move
// leaves the disk and network to the client load. A token bucket, pure but for the injected
// Clock (monotonic milliseconds): the shell asks before each chunk how long to wait and sleeps.
//
// The bucket fills at `rate` bytes per second up to one second's worth (`burst`). A chunk may be
// larger than the burst (chunks are bounded by storage.max_message_bytes, not by the rate): it is
// taken at once and leaves the bucket in debt, and the wait is how long the debt takes to repay —
// so the average over any span stays at most `rate` (plus one burst), whatever the chunk size, and
// several streams sharing the bucket share the rate.
// And each stream paces itself (paceAfterChunk, below): after a chunk it waits in proportion to
// how long the chunk kept it busy (cluster.rebalance_max_busy_share).

export class TokenBucket {
  private tokens: number
  private at: number
  private readonly burst: number

  /** `rateBytesPerS` 0: unlimited (every take waits 0). */
  constructor (private readonly rateBytesPerS: number, private readonly clock: Clock, burstBytes = rateBytesPerS) {
    assert(Number.isFinite(rateBytesPerS) && rateBytesPerS >= 0, 'rebalance throttle: the rate must be ≥ 0')
    this.burst = Math.max(1, burstBytes)
    this.tokens = this.burst
    this.at = clock.monotonic()
  }

  get unlimited (): boolean { return this.rateBytesPerS === 0 }

  /**
   * Takes `bytes` now; returns how many milliseconds the caller waits before sending them (0: at
   * once). A caller that does not send after all does not give them back: the next ones wait.
   */
  take (bytes: number): number {
    if (this.unlimited || bytes <= 0) return 0
    this.refill()
    this.tokens -= bytes
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens * 1000 / this.rateBytesPerS)
  }

  private refill (): void {
    const now = this.clock.monotonic()
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.at) * this.rateBytesPerS / 1000)
      this.at = now
    }
  }
}

/**
 * cluster.rebalance_max_busy_share: how long a snapshot stream waits after a chunk that kept it
 * busy `busyMs` (from its read to the replica's reply: the read on this node's shard worker, the
 * transfer, the install on the replica's), so that the stream is busy at most `share` of the
 * time. The wait scales with how long the chunk took, which is how busy the nodes are: on idle
 * nodes a chunk takes little and the move runs near full speed; under client load the chunk
 * queues behind statements on both shard workers, takes longer, and the move slows by itself —
 * which a fixed byte rate cannot do (a rate low enough for a loaded node wastes an idle one). 1:
 * no wait. Pure.
 */
export function paceAfterChunk (busyMs: number, share: number): number {
  assert(Number.isFinite(share) && share > 0 && share <= 1, 'rebalance pacing: the busy share must be in (0, 1]')
  if (!(busyMs > 0) || share >= 1) return 0
  return Math.min(MAX_PACE_MS, Math.ceil(busyMs * (1 - share) / share))
}

/**
 * The longest pacing wait: the source closes a snapshot no chunk read for a minute
 * (storage/replica-snapshot.ts SNAPSHOT_IDLE_MS), and a stream whose snapshot closed starts over.
 */
export const MAX_PACE_MS = 10_000

/**
 * Is the bootstrap of `to` paced (cluster.rebalance_max_busy_share) — a copy added to a group that
 * has its copies (a join, a drain) — or a recovery, sent as fast as the rate allows? Recovery:
 * `to` is a voter already (it fell behind the primary's log or lost it: the shard has one
 * up-to-date copy fewer until it is done), or some voter is gone for good (REMOVE NODE: its
 * replacement restores the copy count). Pure.
 */
export function pacedBootstrap (to: NodeId, voters: readonly NodeId[], gone: readonly NodeId[]): boolean {
  return !voters.includes(to) && !voters.some(v => gone.includes(v))
}
