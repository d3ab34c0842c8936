import cron, { type ScheduledTask } from 'node-cron'
import type { Logger } from 'pino'
import type { Clock } from '../core/clock'
import { describe, messageOf, ScratchBirdError } from '../core/errors'
import type { Hlc } from '../core/hlc'
import { sweepHorizon } from '../cluster/snapshot-horizon'
import { nextHlcTs } from '../storage/hlc-ts'
import type { HlcTs } from '../storage/types'
import type { ShardRequester } from './shard-router'

// Scheduled sweep (Firebird's sweep, DESIGN §6 "Visibility and garbage collection"): on the
// storage.sweep_schedule cron expression, every shard removes the versions no transaction can
// see any more. The horizon is this node's HLC now, lowered to the start of the oldest snapshot
// transaction open on this node — whether or not it has reached the shard yet — and, in a
// cluster, to the oldest one a live peer gossips (cluster/snapshot-horizon.ts). Each engine
// lowers it further to the snapshots it holds itself.

export interface SweepTotals { shards: number, backVersionsRemoved: number, deadVersionsRemoved: number, rowsRemoved: number, horizonHlc: HlcTs, durationMs: number }

export interface SweeperDeps {
  /** This node's own shard workers (a sweep is of local replicas, never routed). */
  readonly workers: ShardRequester
  readonly shards: number
  readonly hlc: Hlc
  /** For the duration figure only. */
  readonly clock: Clock
  readonly log: Logger
  /** Oldest snapshot start the sweep must keep versions for (this node's registry, and the live
   *  peers' announcements in a cluster); undefined: none. Read at the start of every run. */
  readonly oldestSnapshot: () => HlcTs | undefined
  readonly onSwept?: ((t: SweepTotals) => void) | undefined
}

export class Sweeper {
  private task: ScheduledTask | null = null
  private running: Promise<SweepTotals> | null = null
  runs = 0

  constructor (private readonly d: SweeperDeps) {}

  /** Runs runOnce() on the node-cron `schedule`; a schedule node-cron rejects is SB_CONFIG_INVALID. */
  start (schedule: string): void {
    if (!cron.validate(schedule)) {
      throw new ScratchBirdError('SB_CONFIG_INVALID', `storage.sweep_schedule is not a valid cron expression: ${JSON.stringify(schedule)}`, { key: 'storage.sweep_schedule', value: schedule })
    }
    this.task = cron.schedule(schedule, () => { void this.runOnce().catch(() => {}) }, { name: 'sweep', noOverlap: true })
  }

  /** One sweep of every shard, in order (one at a time keeps the workers responsive). */
  runOnce (): Promise<SweepTotals> {
    this.running ??= this.sweepAll().finally(() => { this.running = null })
    return this.running
  }

  private async sweepAll (): Promise<SweepTotals> {
    const { clock, log } = this.d
    const t0 = clock.monotonic()
    const horizonHlc = sweepHorizon(nextHlcTs(this.d.hlc), this.d.oldestSnapshot())
    const totals: SweepTotals = { shards: 0, backVersionsRemoved: 0, deadVersionsRemoved: 0, rowsRemoved: 0, horizonHlc, durationMs: 0 }
    for (let shard = 0; shard < this.d.shards; shard++) {
      try {
        const r = await this.d.workers.request('SWEEP', { shard, horizonHlc })
        totals.shards++
        totals.backVersionsRemoved += r.backVersionsRemoved
        totals.deadVersionsRemoved += r.deadVersionsRemoved
        totals.rowsRemoved += r.rowsRemoved
      } catch (e) {
        log.warn({ shard, err: describe(e) }, `Sweep of shard ${shard} failed: ${messageOf(e)}`)
      }
    }
    totals.durationMs = Math.round(clock.monotonic() - t0)
    this.runs++
    this.d.onSwept?.(totals)
    const removed = totals.backVersionsRemoved + totals.deadVersionsRemoved
    log[removed > 0 ? 'info' : 'debug']({ ...totals, horizonHlc: String(horizonHlc) }, `Sweep: removed ${totals.backVersionsRemoved} back versions and ${totals.deadVersionsRemoved} dead versions in ${totals.shards} shards (${totals.durationMs} ms)`)
    return totals
  }

  async stop (): Promise<void> {
    await this.task?.stop()
    this.task = null
    await this.running?.catch(() => {})
  }
}
