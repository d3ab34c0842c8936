// Commit-log truncation (DESIGN §6 "The log is truncated below the lowest LSN any consumer still
// needs"), run by the sweep: the oldest c/ values that no consumer needs any more
// (commit-log.ts, commitLogNeed / commitValueDroppable) are deleted, oldest first, in chunks of
// TRUNCATE_CHUNK_KEYS keys, each chunk one exclusive writer job (no commit interleaves with its
// reads and its batch). The first LSN still available is persisted (s/logfloor) in the same
// batch as the deletes, so a reader asking for a truncated range gets a clear error naming it
// (engine.readCommitLog), also after a restart and also when the whole log was truncated.
// With it goes the (LSN, generation) of the last entry removed (p/logbase, repl-state.ts): a log
// truncated to empty must still tell the replication machine the generation of its last entry.

import { COMMIT_END, commitValueDroppable, commitValueGeneration, commitValueSpan, type CommitLogNeed } from './commit-log'
import { COMMIT_PREFIX, metaKey, u64OfKey, writeU64 } from './keys'
import type { KvOp, KvStore } from './kv'
import { encodeLogBase, LOG_BASE_KEY } from './repl-state'

/** c/ keys one truncation step examines before letting queued writes run. */
export const TRUNCATE_CHUNK_KEYS = 512
/** s/logfloor: the first LSN the log still holds (absent: 1, nothing truncated yet). */
export const LOG_FLOOR_META = metaKey('logfloor')

export interface TruncateHost {
  readonly kv: KvStore
  /** Run `fn` as an exclusive writer job. */
  exclusive<T>(fn: () => Promise<T>): Promise<T>
  /** First LSN still available. */
  floor (): bigint
  /** Called once a step's batch landed. */
  setFloor (lsn: bigint): void
}

export interface TruncateReport {
  /** Entries (LSNs) removed. */
  entriesTruncated: number
  /** First LSN the log holds now (the next LSN to be written when it is empty). */
  firstAvailableLsn: bigint
}

export function floorValue (lsn: bigint): Uint8Array {
  const b = new Uint8Array(8)
  writeU64(b, 0, lsn)
  return b
}

export async function truncateCommitLog (host: TruncateHost, need: CommitLogNeed): Promise<TruncateReport> {
  const report: TruncateReport = { entriesTruncated: 0, firstAvailableLsn: host.floor() }
  if (need.keepAll) return report
  for (;;) {
    const more = await host.exclusive(async () => {
      const ops: KvOp[] = []
      let floor = host.floor()
      let seen = 0
      let kept = false
      let generation = 0n
      for await (const [k, v] of host.kv.iterate({ gte: COMMIT_PREFIX, lt: COMMIT_END, limit: TRUNCATE_CHUNK_KEYS })) {
        seen++
        const first = u64OfKey(k, COMMIT_PREFIX)
        const { count, maxCommitHlc } = commitValueSpan(first, v)
        // The oldest value still needed ends the truncation: the log stays contiguous.
        if (!commitValueDroppable(need, first, count, maxCommitHlc)) { kept = true; break }
        ops.push({ type: 'del', key: k })
        report.entriesTruncated += count
        floor = first + BigInt(count)
        generation = commitValueGeneration(first, v)
      }
      if (ops.length > 0) {
        ops.push({ type: 'put', key: LOG_FLOOR_META, value: floorValue(floor) })
        ops.push({ type: 'put', key: LOG_BASE_KEY, value: encodeLogBase({ lsn: floor - 1n, generation }) })
        await host.kv.batch(ops, { sync: false })
        host.setFloor(floor)
      }
      return !kept && seen === TRUNCATE_CHUNK_KEYS
    })
    if (!more) break
  }
  report.firstAvailableLsn = host.floor()
  return report
}
