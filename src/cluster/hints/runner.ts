import type { Clock } from '../../core/clock'
import { isScratchBirdError } from '../../core/errors'
import { deliveryBatches, type HintedBatch } from './batches'
import type { HintDelivery, HintDeliveryAction } from './delivery'
import type { StoredHint } from '../../storage/hint-store'
import type { HintLog } from './hint-log'
import type { NodeId, ShardId } from '../../core/ids'

// Carries out HintDelivery's actions against a hint log (hint-log.ts: the node's ShardedHintLog, a HintStore in the simulator) (DESIGN §6 Mode 3 "Hints"): read a
// target's oldest hints, send them as one REPLICA_APPLY per (shard, xid) (batches.ts), delete them
// once every request was acknowledged, report back to the scheduler; expire old hints. The node's
// shell (src/node/quorum.ts) and the simulator (tests/sim/quorum.sim.test.ts) both run this, with
// their own `send` (worker or cluster RPC; the simulated network) and clock; what happened comes
// out as events for the shell's logs and metrics.
//
// Failure policy: a batch whose hints do not decode is dropped (dropCorrupt: a corrupt hint is
// useless, never dangerous — anti-entropy repairs what it carried) and retried next interval; any
// failed request fails the whole batch (nothing removed: applying is idempotent, so the
// acknowledged part is simply delivered again); a failed expiry is reported and tried again at
// the next expiry tick. Nothing here throws.

export type HintRunnerEvent =
  | { readonly type: 'expired', readonly count: number }
  | { readonly type: 'expire-failed', readonly error: unknown }
  /** Reading `target`'s hints failed; `dropped` corrupt ones were deleted (undefined: not a corruption). */
  | { readonly type: 'read-failed', readonly target: NodeId, readonly error: unknown, readonly dropped: number | undefined }
  | { readonly type: 'delivered', readonly target: NodeId, readonly count: number }
  | { readonly type: 'delivery-failed', readonly target: NodeId, readonly error: unknown, readonly retryInMs: number }

export interface HintRunnerPorts {
  readonly store: HintLog
  readonly scheduler: HintDelivery
  /** Sends one batch to `target` as REPLICA_APPLY; resolves on its acknowledgement. */
  readonly send: (target: NodeId, batch: HintedBatch) => Promise<void>
  /** Gossip liveness. */
  readonly alive: (nodeId: NodeId) => boolean
  /** The shard a hinted row's key belongs in now (after a split: batches.ts deliveryBatches); absent: the stored shard. */
  readonly homeShard?: ((tableId: number, key: Uint8Array) => ShardId | undefined) | undefined
  /** monotonic() for the scheduler, now() (wall clock) for expiry. */
  readonly clock: Clock
  readonly onEvent?: ((e: HintRunnerEvent) => void) | undefined
}

export class HintDeliveryRunner {
  private ticking: Promise<number> | null = null
  private stopped = false

  constructor (private readonly p: HintRunnerPorts) {}

  /** A tick is running (the shell's periodic timer skips rather than queue behind it). */
  get busy (): boolean { return this.ticking !== null }

  /** No tick starts after this; one running finishes. */
  stop (): void { this.stopped = true }

  /**
   * One scheduler tick; resolves when its batches are done with how many hints reached `target`.
   * Ticks run one at a time: the scheduler must see the store after the previous tick's removals.
   */
  async tick (target?: NodeId): Promise<number> {
    while (this.ticking !== null) await this.ticking.catch(() => 0)
    if (this.stopped) return 0
    const run = (async () => {
      const actions = this.p.scheduler.tick(this.p.clock.monotonic(), this.p.alive, this.p.store.stats())
      const counts = await Promise.all(actions.map(a => this.act(a)))
      return actions.reduce((n, a, i) => a.type === 'deliver' && a.target === target ? n + counts[i]! : n, 0)
    })()
    this.ticking = run
    try { return await run } finally { this.ticking = null }
  }

  private emit (e: HintRunnerEvent): void { this.p.onEvent?.(e) }

  private async act (a: HintDeliveryAction): Promise<number> {
    const { store, scheduler, clock } = this.p
    if (a.type === 'expire') {
      try {
        const count = await store.expire(clock.now(), a.maxAgeMs)
        if (count > 0) this.emit({ type: 'expired', count })
      } catch (error) {
        this.emit({ type: 'expire-failed', error })
      }
      return 0
    }
    const { target, batch } = a
    let hints: StoredHint[]
    try {
      hints = await store.list(target, a.maxHints, { maxBytes: a.maxBytes })
    } catch (error) {
      const dropped = isScratchBirdError(error, 'SB_STORAGE_CORRUPT') ? await store.dropCorrupt(target).catch(() => 0) : undefined
      this.emit({ type: 'read-failed', target, error, dropped })
      scheduler.onFailed(target, batch, clock.monotonic())
      return 0
    }
    try {
      await Promise.all(deliveryBatches(hints, this.p.homeShard).map(g => this.p.send(target, g)))
      await store.remove(hints)
      scheduler.onDelivered(target, batch, hints.length)
      this.emit({ type: 'delivered', target, count: hints.length })
      return hints.length
    } catch (error) {
      scheduler.onFailed(target, batch, clock.monotonic())
      this.emit({ type: 'delivery-failed', target, error, retryInMs: scheduler.intervalMs })
      return 0
    }
  }
}
