import cron, { type ScheduledTask } from 'node-cron'
import type { Logger } from 'pino'
import type { Hlc } from '../core/hlc'
import { nextHlcTs } from '../storage/hlc-ts'
import type { ShardWorkers } from './shard-workers'
import { describe, messageOf } from '../core/errors'

// Scheduled sweep (Firebird's sweep, DESIGN §6 "Visibility and garbage collection"): on the
// storage.sweep_schedule cron expression, every shard removes the versions no transaction can
// see any more. The horizon is this node's HLC now; each engine lowers it to its oldest open
// snapshot. (With a cluster the horizon becomes the minimum over live nodes' oldest snapshots.)

export interface SweepTotals { shards: number, backVersionsRemoved: number, deadVersionsRemoved: number, rowsRemoved: number, durationMs: number }

export class Sweeper {
  private task: ScheduledTask | null = null
  private running: Promise<SweepTotals> | null = null
  runs = 0

  constructor (
    private readonly workers: ShardWorkers,
    private readonly shards: number,
    private readonly hlc: Hlc,
    private readonly log: Logger,
    private readonly onSwept: (t: SweepTotals) => void = () => {}
  ) {}

  start (schedule: string): void {
    this.task = cron.schedule(schedule, () => { void this.runOnce().catch(() => {}) }, { name: 'sweep', noOverlap: true })
  }

  /** One sweep of every shard, in order (one at a time keeps the workers responsive). */
  runOnce (): Promise<SweepTotals> {
    this.running ??= this.sweepAll().finally(() => { this.running = null })
    return this.running
  }

  private async sweepAll (): Promise<SweepTotals> {
    const t0 = performance.now()
    const totals: SweepTotals = { shards: 0, backVersionsRemoved: 0, deadVersionsRemoved: 0, rowsRemoved: 0, durationMs: 0 }
    const horizonHlc = nextHlcTs(this.hlc)
    for (let shard = 0; shard < this.shards; shard++) {
      try {
        const r = await this.workers.request('SWEEP', { shard, horizonHlc })
        totals.shards++
        totals.backVersionsRemoved += r.backVersionsRemoved
        totals.deadVersionsRemoved += r.deadVersionsRemoved
        totals.rowsRemoved += r.rowsRemoved
      } catch (e) {
        this.log.warn({ shard, err: describe(e) }, `Sweep of shard ${shard} failed: ${messageOf(e)}`)
      }
    }
    totals.durationMs = Math.round(performance.now() - t0)
    this.runs++
    this.onSwept(totals)
    const removed = totals.backVersionsRemoved + totals.deadVersionsRemoved
    this.log[removed > 0 ? 'info' : 'debug'](totals, `Sweep: removed ${totals.backVersionsRemoved} back versions and ${totals.deadVersionsRemoved} dead versions in ${totals.shards} shards (${totals.durationMs} ms)`)
    return totals
  }

  async stop (): Promise<void> {
    await this.task?.stop()
    this.task = null
    await this.running?.catch(() => {})
  }
}
