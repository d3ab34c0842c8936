import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../../src/ops/metrics'
import { classify, ShardTraffic, type ShardRequestDone } from '../../../src/node/shard-traffic'
import type { ShardId } from '../../../src/core/ids'

const modes = (id: number) => id === 7 ? 'leaderless_quorum' as const : id === 1 ? 'primary_replica' as const : undefined
const done = (over: Partial<ShardRequestDone>): ShardRequestDone => ({ op: 'GET', shard: 0 as ShardId, worker: 0, ms: 1, req: { tableId: 1 }, reply: undefined, ok: true, ...over })

describe('shard traffic classification', () => {
  it('counts reads by their table\'s mode and commits only when they wrote', () => {
    expect(classify(done({ op: 'GET', req: { tableId: 7 } }), modes)).toEqual({ kind: 'read', mode: 'leaderless_quorum' })
    expect(classify(done({ op: 'QUERY', req: { tableId: 1 } }), modes)).toEqual({ kind: 'read', mode: 'primary_replica' })
    expect(classify(done({ op: 'REPLICA_READ', req: undefined }), modes)).toEqual({ kind: 'read', mode: 'leaderless_quorum' })
    expect(classify(done({ op: 'COMMIT', req: {}, reply: { lsn: 5n } }), modes)).toEqual({ kind: 'write', mode: 'primary_replica' })
    expect(classify(done({ op: 'COMMIT', req: {}, reply: { lsn: null } }), modes)).toBeNull() // a read-only transaction
    expect(classify(done({ op: 'AUTOCOMMIT', req: { writes: [{ tableId: 7, op: 'insert' }] }, reply: { lsn: 1n } }), modes)).toEqual({ kind: 'write', mode: 'leaderless_quorum' })
    expect(classify(done({ op: 'REPLICA_APPLY', req: undefined, reply: { lsn: 2n } }), modes)).toEqual({ kind: 'write', mode: 'leaderless_quorum' })
    expect(classify(done({ op: 'BEGIN' }), modes)).toBeNull()
    expect(classify(done({ op: 'GET', ok: false }), modes)).toBeNull()
  })

  it('sets write tps, read p99 and busy seconds at refresh', async () => {
    const metrics = createMetrics()
    let now = 1_000
    const t = new ShardTraffic(metrics, modes, () => now)
    t.started(1)
    now += 4
    t.done(done({ op: 'GET', shard: 3 as ShardId, worker: 1, ms: 4 }))
    for (let i = 0; i < 10; i++) { t.started(1); t.done(done({ op: 'AUTOCOMMIT', shard: 3 as ShardId, worker: 1, req: { writes: [{ tableId: 1, op: 'insert' }] }, reply: { lsn: BigInt(i + 1) } })) }
    now = 6_000
    t.refresh()
    const text = await metrics.registry.metrics()
    expect(text).toMatch(/scratchbird_write_tps\{shard_id="003",mode="primary_replica"\} 2\.00\d*\n/) // 10 writes in the 5 s since the first
    expect(text).toMatch(/scratchbird_read_latency_p99_ms\{shard_id="003",mode="primary_replica"\} 3\.9/)
    expect(text).toMatch(/scratchbird_shard_writes_total\{shard_id="003",mode="primary_replica"\} 10\n/)
    expect(text).toMatch(/scratchbird_shard_worker_busy_seconds_total\{worker="1"\} 0\.004\n/)
  })
})
