import type { Logger } from 'pino'
import type { Clock } from '../core/clock'
import type { Config } from '../core/config/load'
import { describe, messageOf } from '../core/errors'
import { shardIds } from '../core/ids'
import type { ForestConfig } from '../storage/merkle/forest'
import { sealingGraceMs, windowLengthMs } from '../storage/merkle/window'
import type { ShardRequester } from './shard-router'
import type { ShardCountSource } from '../cluster/shard-count'

// Sealing the Merkle windows of this node's shard replicas (DESIGN §6 "Anti-entropy"): a window is
// sealed anti_entropy.sealing_grace_period_minutes after it ends. The shard workers read no clock
// for it: every check sends MERKLE_SEAL with this node's wall clock to every local shard, which
// seals what is due (nothing, most of the time: one comparison). Checks run a quarter window
// apart, at least every minute and at most every second, so a window is sealed at most that long
// after it became due.

const MAX_CHECK_MS = 60_000
const MIN_CHECK_MS = 1_000

/** The forest's windows from the anti_entropy section; null when anti-entropy is off (no forest kept). */
export function merkleForestConfig (ae: Config['anti_entropy']): ForestConfig | null {
  if (!ae.enabled) return null
  return { windowMs: windowLengthMs(ae.merkle_tree_window_hours), graceMs: sealingGraceMs(ae.sealing_grace_period_minutes) }
}

export interface MerkleSealerDeps {
  /** This node's own shard workers (sealing is of local replicas, never routed). */
  readonly workers: ShardRequester
  /** Read at each check: a split's new shards are sealed from its switch on (cluster/shard-count.ts). */
  readonly shardCount: ShardCountSource
  readonly forest: ForestConfig
  /** Wall time sent with MERKLE_SEAL. */
  readonly clock: Clock
  readonly log: Logger
}

export class MerkleSealer {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null

  constructor (private readonly deps: MerkleSealerDeps) {}

  get intervalMs (): number { return Math.min(MAX_CHECK_MS, Math.max(MIN_CHECK_MS, Math.floor(this.deps.forest.windowMs / 4))) }

  start (): void {
    this.tick()
    this.timer = setInterval(() => this.tick(), this.intervalMs)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.running
  }

  /** Seal what is due on every local shard now; a shard that fails is logged and tried again at the next check. */
  async sealNow (): Promise<void> {
    const nowMs = Math.floor(this.deps.clock.now())
    for (const shard of shardIds(this.deps.shardCount.shards)) {
      try {
        const r = await this.deps.workers.request('MERKLE_SEAL', { shard, nowMs })
        if (r.sealed.length > 0) this.deps.log.debug({ shard, windows: r.sealed, reseals: r.reseals }, `Merkle windows ${r.sealed.join(',')} of shard ${shard} sealed`)
      } catch (e) {
        this.deps.log.warn({ shard, err: describe(e) }, `sealing the Merkle windows of shard ${shard} failed: ${messageOf(e)}`)
      }
    }
  }

  private tick (): void {
    if (this.running !== null) return // the previous check is still running
    this.running = this.sealNow().finally(() => { this.running = null })
  }
}
