// Per-shard traffic of this node's shard replicas (issue 18 item 6): every request the shard
// workers serve — the node's own statements and requests forwarded by peers alike — is timed
// around its ring round trip and classified here as a read or a committed write, with the
// replication mode of what it touched. From that: scratchbird_write_tps and
// scratchbird_read_latency_p99_ms (sliding windows, src/ops/window-histogram.ts), the per-shard
// read and write counters, and each worker's busy time (time with a request in flight).
import type { ReplicationMode } from '../core/replication-modes'
import type { ShardId } from '../core/ids'
import { shardLabel, type NodeMetrics } from '../ops/metrics'
import { WindowHistogram } from '../ops/window-histogram'
import type { ShardOpName, ShardRequests } from '../shard/protocol/ops'

export type TrafficKind = 'read' | 'write'

/** What the ShardWorkers report of one request, its decoded request and reply when at hand. */
export interface ShardRequestDone {
  readonly op: ShardOpName
  readonly shard: ShardId
  readonly worker: number
  readonly ms: number
  /** The decoded request (absent for a forwarded request the node passed on as bytes). */
  readonly req: unknown
  /** The decoded reply; undefined when the request failed or was passed on as bytes. */
  readonly reply: unknown
  readonly ok: boolean
}

const READS: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['GET', 'SCAN', 'QUERY', 'JOIN_QUERY', 'REPLICA_READ', 'REPLICA_QUERY'])
const WRITES: ReadonlySet<ShardOpName> = new Set<ShardOpName>(['AUTOCOMMIT', 'COMMIT', 'COMMIT_PREPARED', 'REPLICA_APPLY'])

/** Ops whose classification needs the decoded request (the caller decodes forwarded bytes for these only). */
export function needsRequest (op: ShardOpName): boolean {
  return op === 'AUTOCOMMIT' || op === 'GET' || op === 'SCAN' || op === 'QUERY' || op === 'REPLICA_QUERY'
}

/** Ops whose classification needs the decoded reply (did the commit write anything?). */
export function needsReply (op: ShardOpName): boolean {
  return WRITES.has(op)
}

/**
 * A read, a write that committed something, or nothing to count. A commit counts only when it
 * wrote a commit-log entry (its reply's lsn is set): a read-only transaction's COMMIT is not a
 * write. Mode: the mode of the table an autocommit writes or a read reads (a single node writes
 * its leaderless tables with autocommits); REPLICA_READ and REPLICA_APPLY are leaderless_quorum (REPLICA_QUERY, a
 * read_from = replica read, names its table); a transaction's
 * COMMIT (no table named) is primary_replica.
 */
export function classify (d: ShardRequestDone, modeOfTable: (tableId: number) => ReplicationMode | undefined): { kind: TrafficKind, mode: ReplicationMode } | null {
  if (!d.ok) return null
  if (READS.has(d.op)) {
    if (d.op === 'REPLICA_READ') return { kind: 'read', mode: 'leaderless_quorum' }
    const tableId = (d.req as { tableId?: unknown } | undefined)?.tableId
    const mode = typeof tableId === 'number' ? modeOfTable(tableId) : undefined
    return { kind: 'read', mode: mode ?? 'primary_replica' }
  }
  if (!WRITES.has(d.op)) return null
  const lsn = (d.reply as { lsn?: unknown } | undefined)?.lsn
  if (d.reply !== undefined && lsn === null) return null
  if (d.op === 'REPLICA_APPLY') return { kind: 'write', mode: 'leaderless_quorum' }
  if (d.op === 'AUTOCOMMIT') {
    const first = (d.req as ShardRequests['AUTOCOMMIT'] | undefined)?.writes[0]
    const mode = first === undefined ? undefined : modeOfTable(first.tableId)
    return { kind: 'write', mode: mode ?? (first?.op === 'lww' ? 'leaderless_quorum' : 'primary_replica') }
  }
  return { kind: 'write', mode: 'primary_replica' }
}

/** Keeps the windows and busy time; the node refreshes the gauges at each scrape. */
export class ShardTraffic {
  private readonly windows = new Map<string, { shard: ShardId, mode: ReplicationMode, kind: TrafficKind, h: WindowHistogram, counter: { inc: () => void } }>()
  private readonly busy = new Map<number, { inFlight: number, since: number, totalMs: number }>()

  constructor (
    private readonly metrics: Pick<NodeMetrics, 'writeTps' | 'readLatencyP99Ms' | 'shardWrites' | 'shardReads' | 'workerBusySeconds'>,
    private readonly modeOfTable: (tableId: number) => ReplicationMode | undefined,
    /** Monotonic milliseconds. */
    private readonly now: () => number
  ) {}

  started (worker: number): void {
    const b = this.busyOf(worker)
    if (b.inFlight++ === 0) b.since = this.now()
  }

  done (d: ShardRequestDone): void {
    const now = this.now()
    const b = this.busyOf(d.worker)
    if (--b.inFlight === 0) b.totalMs += now - b.since
    const c = classify(d, this.modeOfTable)
    if (c === null) return
    const key = `${d.shard}|${c.mode}|${c.kind}`
    let w = this.windows.get(key)
    if (w === undefined) {
      // The labelled counter is looked up once per series, not per request (this runs on every shard request).
      const labels = { shard_id: shardLabel(d.shard), mode: c.mode }
      const counter = (c.kind === 'write' ? this.metrics.shardWrites : this.metrics.shardReads).labels(labels)
      w = { shard: d.shard, mode: c.mode, kind: c.kind, h: new WindowHistogram(now), counter }
      this.windows.set(key, w)
    }
    w.h.observe(d.ms, now)
    w.counter.inc()
  }

  /** Sets the window gauges and busy counters as of now (at each scrape). */
  refresh (): void {
    const now = this.now()
    for (const w of this.windows.values()) {
      const labels = { shard_id: shardLabel(w.shard), mode: w.mode }
      if (w.kind === 'write') {
        this.metrics.writeTps.set(labels, w.h.ratePerSecond(now))
      } else {
        const p99 = w.h.quantile(0.99, now)
        // No read in the window: 0 rather than the last value, which would claim a latency nobody saw.
        this.metrics.readLatencyP99Ms.set(labels, p99 ?? 0)
      }
    }
    for (const [worker, b] of this.busy) {
      if (worker < 0) continue // a request for a shard no worker owns (refused at once)
      this.metrics.workerBusySeconds.set({ worker: String(worker) }, (b.totalMs + (b.inFlight > 0 ? now - b.since : 0)) / 1000)
    }
  }

  private busyOf (worker: number): { inFlight: number, since: number, totalMs: number } {
    let b = this.busy.get(worker)
    if (b === undefined) { b = { inFlight: 0, since: 0, totalMs: 0 }; this.busy.set(worker, b) }
    return b
  }
}
