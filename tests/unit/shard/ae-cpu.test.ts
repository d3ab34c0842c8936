import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { asNodeId, asShardId, type ShardId } from '../../../src/core/ids'
import { AeCpuMeter } from '../../../src/shard/ae-cpu'
import { ShardEngine } from '../../../src/storage/engine'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { threadCpuClock } from '../../../workers/thread-cpu'
import { nextHlc } from '../node/worker-fixtures'
import { HostClient } from './host-fixtures'

// Issue 15: scratchbird_anti_entropy_cpu_percent is real CPU — the thread CPU time of the shard
// worker's anti-entropy work, per shard (src/shard/ae-cpu.ts) — not the wall time of a round's
// requests. The host charges the synchronous parts of the anti-entropy ops to their shard and
// nothing else; the worker's clock is /proc/thread-self/schedstat (workers/thread-cpu.ts).

const S0 = asShardId(0)
const S1 = asShardId(1)
const FOREST = { windowMs: 3_600_000, graceMs: 600_000 }
const ROW = new Uint8Array([1, 2, 3])

async function host (cpu: (() => number) | undefined): Promise<HostClient> {
  const clock = new ManualClock()
  const engines = new Map<ShardId, ShardEngine>()
  for (const shard of [S0, S1]) engines.set(shard, await ShardEngine.open(MemoryKv.open(), { shardId: shard, nodeId: asNodeId(1), durability: 'none', clock, merkle: FOREST }))
  return new HostClient(engines, 60_000, clock, 0, { threadCpuNs: cpu })
}

let c = 0
const v8 = (): Uint8Array => encodeUuidV8({ ts: 1_700_000_000_000 + c, counter: ++c & 0xfff, nodeId: 2, random: c })

describe('anti-entropy CPU in the shard host', () => {
  it('charges the anti-entropy ops of a shard (each measured segment: one tick of the thread clock) and nothing else', async () => {
    let ns = 0
    const h = await host(() => (ns += 1_000_000)) // every reading 1 ms later: a segment costs 1 ms
    const cpu = async (shard: ShardId): Promise<number> => (await h.request('AE_CPU', { shard })).cpuNs
    await h.request('REPLICA_APPLY', { shard: S0, writes: Array.from({ length: 20 }, (_, i) => ({ op: 'lww' as const, tableId: 5, pk: [`k${i}`], versionId: v8(), row: ROW })), commitHlc: nextHlc() } as never)
    expect(await cpu(S0)).toBe(0) // writes are not anti-entropy, even with their leaves
    const roots = await h.request('MERKLE_ROOTS', { shard: S0 })
    expect(roots.windows).toHaveLength(1)
    const afterRoots = await cpu(S0)
    expect(afterRoots).toBeGreaterThanOrEqual(2_000_000) // decode + handler + encode: 3 segments
    await h.request('MERKLE_BUCKETS', { shard: S0, window: roots.windows[0]!.window })
    await h.request('MERKLE_LEAVES', { shard: S0, window: roots.windows[0]!.window, buckets: [0, 1, 2], maxLeaves: 100, maxBytes: 1 << 20 })
    expect(await cpu(S0)).toBeGreaterThan(afterRoots + 4_000_000)
    expect(await cpu(S1)).toBe(0)
    expect((await h.request('AE_CPU', { shard: S0 })).measured).toBe(true)
  })

  it('without a thread clock nothing is measured, and says so', async () => {
    const h = await host(undefined)
    await h.request('MERKLE_ROOTS', { shard: S0 })
    expect(await h.request('AE_CPU', { shard: S0 })).toEqual({ cpuNs: 0, measured: false })
    await expect(h.request('AE_CPU', { shard: asShardId(7) })).rejects.toMatchObject({ code: expect.any(String) })
  })

  it('a segment that throws is charged too', () => {
    let ns = 0
    const m = new AeCpuMeter(() => (ns += 500))
    expect(() => m.run(S0, () => { throw new Error('x') })).toThrow('x')
    expect(m.run(S1, () => 7)).toBe(7)
    expect([m.total(S0), m.total(S1)]).toEqual([500, 500])
  })
})

describe('the worker\'s thread CPU clock', () => {
  it('reads this thread\'s CPU time in ns, moving forward with work done (Linux)', () => {
    const clock = threadCpuClock()
    if (process.platform !== 'linux') { expect(clock).toBeUndefined(); return }
    expect(clock).toBeDefined()
    const a = clock!()
    let x = 0
    for (let i = 0; i < 5_000_000; i++) x += Math.sqrt(i)
    const b = clock!()
    expect(x).toBeGreaterThan(0)
    expect(Number.isSafeInteger(a) && a > 0).toBe(true)
    expect(b).toBeGreaterThan(a)
  })
})
