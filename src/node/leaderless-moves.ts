import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { currentMarks, fillJobs, sameMark, type FillJob, type FillMark, type MoveView } from '../cluster/membership/leaderless-moves'
import { writeFileAtomic } from '../core/atomic-file'
import type { Clock } from '../core/clock'
import { describe, isScratchBirdError, messageOf } from '../core/errors'
import { isNodeId, type NodeId, type ShardId } from '../core/ids'
import { TickLoop } from './tick-loop'
import type { FillRequest } from './leaderless-bootstrap'

// The I/O shell of leaderless replicas in a join or drain (cluster/membership/leaderless-moves.ts
// holds the rules): every FILL_TICK_MS, while a move is under way, this node runs the first fill it
// is a source of and has not finished — LeaderlessBootstrap.fillShard, resumable by chunk — then
// records the mark in DATA_DIR/leaderless-fills.json (atomic replace) before it reports it to the
// decider (MEMBERSHIP_STATUS). A crash at any step leaves the move resumable: an unfinished fill
// starts again (re-applying a version is a no-op, last write wins), a finished one is not redone.
// A mark lost (a missing or unreadable file) only costs a re-fill, so a bad file is logged and
// ignored, never fatal. Marks of another move are dropped (currentMarks).
//
// A fill starts only once every live member that may hold copies has announced this node's
// membership epoch in gossip (ClusterShell.layoutSettled), and write_timeout_ms after that: a
// coordinator still on the layout before the move writes to the old replicas only, and a write it
// started then is acknowledged (by W old replicas, so by some source) within its deadline — after
// that wait, every acknowledged write the new replicas did not receive themselves is in the
// sources' snapshots.

/** How often the node looks for fills to run. */
export const FILL_TICK_MS = 1_000
export const FILLS_FILE = 'leaderless-fills.json'
/** Marks the file holds at most (one per shard and factor of the move under way). */
const MAX_MARKS = 1 << 16

export interface LeaderlessMoveDeps {
  readonly selfId: NodeId
  readonly dataDir: string
  /** The move under way (null: none). */
  readonly view: () => MoveView | null
  readonly alive: (id: NodeId) => boolean
  /** LeaderlessBootstrap.fillShard. */
  readonly fill: (req: FillRequest) => Promise<{ keys: number, bytes: number }>
  /** This node's membership epoch, and whether every live holding member announced it (ClusterShell.layoutSettled). */
  readonly epoch: () => number
  readonly settled: () => boolean
  /** replication.write_timeout_ms: how long after the layout settled a write by the previous one may still be acknowledged. */
  readonly settleMs: () => number
  readonly clock: Clock
  readonly log: Logger
}

/** The marks in `text` (the file's), or null when it is not what save writes. */
export function parseMarks (text: string): FillMark[] | null {
  let v: unknown
  try { v = JSON.parse(text) } catch { return null }
  const marks = (v as { marks?: unknown } | null)?.marks
  if (!Array.isArray(marks) || marks.length > MAX_MARKS) return null
  const out: FillMark[] = []
  for (const m of marks as unknown[]) {
    const r = m as Partial<FillMark> | null
    if (typeof r !== 'object' || r === null || !Number.isInteger(r.shard) || r.shard! < 0 || !Number.isInteger(r.factor) || r.factor! < 1 ||
      !Array.isArray(r.targets) || !r.targets.every(isNodeId)) return null
    out.push({ shard: r.shard!, factor: r.factor!, targets: [...r.targets] })
  }
  return out
}

export class LeaderlessMoveShell {
  private readonly loop = new TickLoop(FILL_TICK_MS, async () => await this.tick())
  private marks: FillMark[]
  /** The fill running now, with its progress (SHOW SHARD MAP). */
  private current: { job: FillJob, keys: number, bytes: number } | null = null
  /** Since when (monotonic ms) every live holding member has announced `epoch` (null: not yet). */
  private settledAt: { epoch: number, at: number } | null = null

  constructor (private readonly d: LeaderlessMoveDeps) {
    this.marks = this.load()
  }

  start (): void { this.loop.start() }

  /** Stops the rounds and waits for the one in flight. */
  async stop (): Promise<void> { await this.loop.stop() }

  /** The fills this node finished for the move under way (MEMBERSHIP_STATUS). */
  finished (): FillMark[] {
    const v = this.d.view()
    return v === null ? [] : currentMarks(v, this.marks)
  }

  /** The fill of `shard` this node runs now, as SHOW SHARD MAP says it (null: none). */
  progress (shard: ShardId): string | null {
    const c = this.current
    if (c === null || c.job.shard !== shard) return null
    return `leaderless fill of node(s) ${c.job.targets.join(', ')} from node ${this.d.selfId}: ${c.keys} keys, ${c.bytes} bytes sent`
  }

  /** One round (tests call it): drop marks of other moves, run the first fill due. */
  async tick (): Promise<void> {
    const v = this.d.view()
    const kept = v === null ? [] : currentMarks(v, this.marks)
    if (kept.length !== this.marks.length) {
      this.marks = kept
      this.save()
    }
    if (v === null || this.loop.stopped || !this.mayStart()) return
    const job = fillJobs(v, this.d.selfId, this.d.alive, m => this.marks.some(x => sameMark(x, m)))[0]
    if (job === undefined) return
    const who = `shard ${job.shard} (leaderless tables of replication_factor ${job.factor}) on node(s) ${job.targets.join(', ')}`
    const details = { shard: job.shard, factor: job.factor, targets: job.targets, tables: job.tableIds }
    this.d.log.info(details, `Leaderless move: filling ${who} from node ${this.d.selfId}`)
    this.current = { job, keys: 0, bytes: 0 }
    try {
      const done = await this.d.fill({ shard: job.shard as ShardId, tableIds: job.tableIds, targets: job.targets, onProgress: (keys, bytes) => { this.current = { job, keys, bytes } } })
      const mark: FillMark = { shard: job.shard, factor: job.factor, targets: job.targets }
      this.marks = [...this.marks.filter(m => !sameMark(m, mark)), mark]
      this.save()
      this.d.log.info({ ...details, keys: done.keys, bytes: done.bytes }, `Leaderless move: filled ${who} from node ${this.d.selfId}: ${done.keys} keys, ${done.bytes} bytes`)
    } catch (e) {
      this.d.log.warn({ ...details, err: describe(e) }, `Leaderless move: filling ${who} interrupted (resumed at the next try): ${isScratchBirdError(e) ? `${e.code}: ${e.message}` : messageOf(e)}`)
    } finally {
      this.current = null
    }
  }

  /** Has the layout been settled for settleMs (see the top)? */
  private mayStart (): boolean {
    const epoch = this.d.epoch()
    if (!this.d.settled()) {
      this.settledAt = null
      return false
    }
    const now = this.d.clock.monotonic()
    if (this.settledAt?.epoch !== epoch) this.settledAt = { epoch, at: now }
    return now - this.settledAt.at >= this.d.settleMs()
  }

  private load (): FillMark[] {
    const path = join(this.d.dataDir, FILLS_FILE)
    let text: string
    try { text = readFileSync(path, 'utf8') } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.d.log.warn({ path, err: describe(e) }, `cannot read ${path} (${messageOf(e)}): the leaderless fills it recorded are run again`)
      return []
    }
    const marks = parseMarks(text)
    if (marks === null) this.d.log.warn({ path }, `${path} is not a list of leaderless fill marks: the fills it recorded are run again`)
    return marks ?? []
  }

  /** Records the marks (atomic replace); a failure is logged and the mark kept in memory (reported; a restart re-fills). */
  private save (): void {
    const path = join(this.d.dataDir, FILLS_FILE)
    try {
      writeFileAtomic(path, JSON.stringify({ marks: this.marks }) + '\n')
    } catch (e) {
      this.d.log.warn({ path, err: describe(e) }, `cannot record leaderless fill marks in ${path} (${messageOf(e)}): a restart fills those shards again`)
    }
  }
}
