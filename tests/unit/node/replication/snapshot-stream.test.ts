import { describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../../src/core/errors'
import { afterChunkFailure, SnapshotStreams, type StreamProgress } from '../../../../src/node/replication/snapshot-stream'
import { TokenBucket } from '../../../../src/cluster/membership/rebalance-throttle'
import { ManualClock } from '../../../../src/core/clock'
import { asNodeId, asShardId, type ShardId } from '../../../../src/core/ids'
import type { ShardRequester } from '../../../../src/node/shard-router'

// The decision after a bootstrap chunk failed (node/replication/snapshot-stream.ts): resume our
// snapshot where the replica says it stands, start a new one, or give the stream up.

describe('afterChunkFailure', () => {
  it('resumes our snapshot after the key the replica installed last (a reply lost on the way)', () => {
    const e = new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', 'x', { expected_snapshot_id: '42', expected_after: '0a0b' })
    expect(afterChunkFailure(e, 42n)).toEqual({ action: 'resume', after: Uint8Array.of(0x0a, 0x0b) })
  })

  it('starts a new snapshot when the replica installs another one, names no key, or the source lost ours', () => {
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', 'x', { expected_snapshot_id: '7', expected_after: '0a' }), 42n)).toEqual({ action: 'restart' })
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', 'x', { expected_snapshot_id: '42', expected_after: null }), 42n)).toEqual({ action: 'restart' })
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', 'x', { expected_snapshot_id: '42', expected_after: 'zz' }), 42n)).toEqual({ action: 'restart' })
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_GONE', 'x', {}), 42n)).toEqual({ action: 'restart' })
  })

  it('gives up on anything else (unreachable, refused by fencing): the machine offers again', () => {
    expect(afterChunkFailure(new ScratchBirdError('SB_NODE_UNREACHABLE', 'x', {}), 42n)).toEqual({ action: 'give-up' })
    expect(afterChunkFailure(new ScratchBirdError('SB_REPL_SNAPSHOT_REFUSED', 'x', {}), 42n)).toEqual({ action: 'give-up' })
    expect(afterChunkFailure(new Error('boom'), 42n)).toEqual({ action: 'give-up' })
  })
})

// Rebalance throttling and progress (issue 20 items 3–4): a source of 10 chunks of 1,000 bytes
// (10 keys each) streamed through cluster.rebalance_rate_bytes_per_s = 2,000 and a bounded number
// of concurrent streams; the worker and the replica are scripted, the clock is a ManualClock the
// recorded sleeps advance.
describe('SnapshotStreams throttling and progress', () => {
  const CHUNKS = 10
  const KEYS = 10
  const VALUE = 100 - 4

  function setup (opts: { rate: number, maxStreams?: number, hold?: Promise<void>, busyShare?: number, installMs?: number }): { streams: SnapshotStreams, clock: ManualClock, waits: number[], seen: StreamProgress[][] } {
    const clock = new ManualClock()
    const waits: number[] = []
    const seen: StreamProgress[][] = []
    let streams: SnapshotStreams | null = null
    const chunkAt = new Map<string, number>()
    const workers: ShardRequester = {
      request: (async (_op: string, req: { shard: ShardId, after: Uint8Array | null }) => {
        const k = String(req.shard)
        const i = req.after === null ? 0 : (chunkAt.get(k) ?? 0)
        chunkAt.set(k, i + 1)
        const entries = Array.from({ length: KEYS }, (_, j) => ({ key: Uint8Array.of(0, 0, i, j), value: new Uint8Array(VALUE) }))
        if (opts.hold !== undefined) await opts.hold
        return { snapshotId: 7n, lsn: 100n, generation: 2n, hlcHighWater: 1n, entries, done: i === CHUNKS - 1 }
      }) as ShardRequester['request']
    }
    streams = new SnapshotStreams({
      self: asNodeId(1),
      workers,
      maxMessageBytes: 1 << 20,
      sendChunk: async (_to, chunk) => {
        seen.push(streams!.progress(chunk.shard))
        // The replica's install takes this long (a busy replica: longer).
        clock.advance(opts.installMs ?? 0)
        const i = chunk.entries[0]!.key[2]!
        return { installedKeys: (i + 1) * KEYS, lastKey: chunk.entries[KEYS - 1]!.key, complete: i === CHUNKS - 1 }
      },
      log: () => {},
      now: () => clock.monotonic(),
      maxStreams: opts.maxStreams,
      throttle: new TokenBucket(opts.rate, clock),
      sleep: async (ms) => { waits.push(ms); clock.advance(ms) },
      busyShare: opts.busyShare
    })
    return { streams, clock, waits, seen }
  }

  it('cluster.rebalance_max_busy_share paces each stream by how long its chunks take: 0.2 busy, so a chunk of 10 ms waits 40 ms, one of 50 ms waits 200 ms', async () => {
    for (const installMs of [10, 50]) {
      const { streams, clock, waits } = setup({ rate: 0, busyShare: 0.2, installMs })
      expect(await streams.stream(asShardId(3), asNodeId(2), 2)).not.toBeNull()
      // No wait after the last chunk (nothing follows).
      expect(waits).toEqual(Array.from({ length: CHUNKS - 1 }, () => 4 * installMs))
      expect(clock.monotonic()).toBe(CHUNKS * installMs + (CHUNKS - 1) * 4 * installMs)
    }
    // 1: not paced; nor a recovery (paced false).
    const { streams, waits } = setup({ rate: 0, busyShare: 1, installMs: 10 })
    await streams.stream(asShardId(3), asNodeId(2), 2)
    expect(waits).toEqual([])
    const recovery = setup({ rate: 0, busyShare: 0.2, installMs: 10 })
    await recovery.streams.stream(asShardId(3), asNodeId(2), 2, false)
    expect(recovery.waits).toEqual([])
  })

  it('the rate\'s own wait is not counted as busy time', async () => {
    const { streams, waits } = setup({ rate: 2000, busyShare: 0.5, installMs: 10 })
    await streams.stream(asShardId(3), asNodeId(2), 2)
    // Rate waits (500 ms per 1,000-byte chunk after the first second's burst) interleave with pacing waits of 10 ms each.
    expect(waits.filter(w => w === 10)).toHaveLength(CHUNKS - 1)
    expect(waits.filter(w => w !== 10).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(4000)
  })

  it('the chunks wait for cluster.rebalance_rate_bytes_per_s: 10,000 bytes at 2,000 B/s take 4 s after the first second\'s burst', async () => {
    const { streams, clock, waits } = setup({ rate: 2000 })
    const done = await streams.stream(asShardId(3), asNodeId(2), 2)
    expect(done).toMatchObject({ lsn: 100n, bytes: CHUNKS * 1000, keys: CHUNKS * KEYS })
    expect(waits.reduce((a, b) => a + b, 0)).toBe(4000)
    expect(clock.monotonic()).toBe(4000)
  })

  it('0 is unlimited: no chunk waits', async () => {
    const { streams, waits } = setup({ rate: 0 })
    expect(await streams.stream(asShardId(3), asNodeId(2), 2)).not.toBeNull()
    expect(waits).toEqual([])
  })

  it('progress: keys and bytes sent so far while it runs, none after; the size finished streams had is the ETA\'s estimate', async () => {
    const { streams, seen } = setup({ rate: 0 })
    expect(streams.expectedBytes()).toBeNull()
    await streams.stream(asShardId(3), asNodeId(2), 2)
    // Before each chunk is sent: what the previous ones sent.
    expect(seen.map(p => p.map(x => [x.to, x.rows, x.bytes]))).toEqual(Array.from({ length: CHUNKS }, (_, i) => [[2, i * KEYS, i * 1000]]))
    expect(streams.progress(asShardId(3))).toEqual([])
    expect(streams.expectedBytes()).toBe(CHUNKS * 1000)
  })

  it('at most cluster.rebalance_max_concurrent_shards streams at once: a further one is not started (offered again later)', async () => {
    let release!: () => void
    const hold = new Promise<void>(resolve => { release = resolve })
    const { streams } = setup({ rate: 0, maxStreams: 1, hold })
    const first = streams.stream(asShardId(1), asNodeId(2), 2)
    expect(await streams.stream(asShardId(2), asNodeId(2), 2)).toBeNull()
    release()
    expect(await first).not.toBeNull()
    expect(await streams.stream(asShardId(2), asNodeId(2), 2)).not.toBeNull()
  })
})
