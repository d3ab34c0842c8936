import type { ShardId } from '../core/ids'
import type { Metered } from '../storage/engine'

// The CPU a shard worker spends on anti-entropy (issue 15, seeds: < 2 % of a node's CPU), per
// shard: the thread CPU time of the synchronous work of every anti-entropy op it serves — for
// this node's own repair rounds and for its peers' — decoding the request, building roots,
// bucket hashes and leaf pages, decoding a sealed tree, checking adopted leaves, encoding the
// reply. A worker runs other requests between the awaits of an async op (its writes go on), so
// only synchronous segments are measured: timing an op from its arrival to its reply would
// charge it the writes it waited behind. Not counted: LevelDB's own threads (reads of sealed
// trees and rows), and the writer pass an AE_APPLY joins (the rows a repair writes: ∝ the
// differences, like any write). The node's anti-entropy shell reads the totals (AE_CPU) and
// turns them into scratchbird_anti_entropy_cpu_percent.

/** This thread's CPU time so far, in ns (the worker reads /proc/thread-self/schedstat). */
export type ThreadCpuNs = () => number

export class AeCpuMeter {
  private readonly totals = new Map<ShardId, number>()

  constructor (private readonly cpuNs: ThreadCpuNs | undefined) {}

  /** Whether a thread CPU clock is there (else nothing is measured and totals stay 0). */
  get measuring (): boolean { return this.cpuNs !== undefined }

  /** `fn` run, its thread CPU time added to `shard`'s total (also when it throws). */
  run<T> (shard: ShardId, fn: () => T): T {
    const cpu = this.cpuNs
    if (cpu === undefined) return fn()
    const start = cpu()
    try {
      return fn()
    } finally {
      this.add(shard, cpu() - start)
    }
  }

  /** A Metered that charges `shard`. */
  forShard (shard: ShardId): Metered {
    return <T>(fn: () => T): T => this.run(shard, fn)
  }

  /** Thread CPU ns charged to `shard` since the worker started. */
  total (shard: ShardId): number {
    return this.totals.get(shard) ?? 0
  }

  private add (shard: ShardId, ns: number): void {
    if (ns > 0) this.totals.set(shard, (this.totals.get(shard) ?? 0) + ns)
  }
}
