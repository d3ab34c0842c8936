import { describe, expect, it } from 'vitest'
import { hintsOf, type HintedBatch } from '../../../src/cluster/hints/batches'
import { HintDelivery } from '../../../src/cluster/hints/delivery'
import { HintDeliveryRunner, type HintRunnerEvent } from '../../../src/cluster/hints/runner'
import { encodeHintId, HintStore } from '../../../src/storage/hint-store'
import { ManualClock } from '../../../src/core/clock'
import { encodeUuidV8 } from '../../../src/core/hlc'
import type { ReplicaWrite } from '../../../src/storage/engine'
import { MemoryKv, MemoryStore } from '../../../src/storage/kv-memory'
import { asNodeId, asShardId, asXid } from '../../../src/core/ids'

// HintDeliveryRunner (src/cluster/hints/runner.ts): HintDelivery's actions carried out against a
// real HintStore over MemoryKv; `send` is the replica side, recorded here (it acknowledges or
// refuses as each test says), the clock a ManualClock.

const T0 = 1_767_225_600_000
const DAY = 86_400_000
const vid = (ts: number): Uint8Array => encodeUuidV8({ ts: T0 + ts, counter: 0, nodeId: 1, random: 0 })
const rw = (pk: number, ts: number): ReplicaWrite => ({ tableId: 2, pk: [BigInt(pk)], versionId: vid(ts), row: Uint8Array.of(pk) })

async function setup (answer: (target: number, b: HintedBatch) => Promise<void> = async () => {}, kvStore = new MemoryStore()): Promise<{
  store: HintStore, clock: ManualClock, runner: HintDeliveryRunner, sent: Array<{ target: number, batch: HintedBatch }>, events: HintRunnerEvent[]
}> {
  const store = await HintStore.open(MemoryKv.open(kvStore), { sync: false })
  const clock = new ManualClock(T0)
  const sent: Array<{ target: number, batch: HintedBatch }> = []
  const events: HintRunnerEvent[] = []
  const runner = new HintDeliveryRunner({
    store,
    scheduler: new HintDelivery({ intervalMs: 1000, ratePerSecond: 100 }),
    send: async (target, batch) => { sent.push({ target, batch }); await answer(target, batch) },
    alive: () => true,
    clock,
    onEvent: e => events.push(e)
  })
  return { store, clock, runner, sent, events }
}

describe('HintDeliveryRunner', () => {
  it('delivers a target\'s hints as one request per (shard, xid) after the interval, then deletes them', async () => {
    const { store, clock, runner, sent, events } = await setup()
    await store.add([
      ...hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(10n), writes: [rw(1, 1), rw(2, 2)] }, T0),
      ...hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(11n), writes: [rw(1, 3)] }, T0),
      ...hintsOf(asNodeId(4), { shard: asShardId(2), xid: asXid(10n), writes: [rw(5, 4)] }, T0)
    ])
    expect(await runner.tick(asNodeId(3))).toBe(0) // first sight: the round starts one interval later
    expect(sent).toEqual([])
    clock.advance(1000)
    expect(await runner.tick(asNodeId(3))).toBe(3)
    // Targets are delivered concurrently; per target, in the order the hints were stored.
    expect(sent.filter(s => s.target === 3).map(s => [s.batch.shard, s.batch.xid, s.batch.writes.length])).toEqual([[1, 10n, 2], [1, 11n, 1]])
    expect(sent.filter(s => s.target === 4).map(s => [s.batch.shard, s.batch.xid, s.batch.writes.length])).toEqual([[2, 10n, 1]])
    expect(store.stats().size).toBe(0)
    const delivered = events.filter(e => e.type === 'delivered')
    expect(delivered).toHaveLength(2)
    expect(delivered).toEqual(expect.arrayContaining([{ type: 'delivered', target: 3, count: 3 }, { type: 'delivered', target: 4, count: 1 }]))
  })

  it('a refused request keeps every hint of the batch and retries one interval later', async () => {
    let refuse = true
    const { store, clock, runner, sent, events } = await setup(async (_t, b) => { if (refuse && b.xid === 11n) throw new Error('replica said no') })
    await store.add([...hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(10n), writes: [rw(1, 1)] }, T0), ...hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(11n), writes: [rw(2, 2)] }, T0)])
    await runner.tick()
    clock.advance(1000)
    expect(await runner.tick(asNodeId(3))).toBe(0)
    expect(store.stats().get(asNodeId(3))?.count).toBe(2) // the acknowledged half too: applying again is a no-op
    expect(events.at(-1)).toMatchObject({ type: 'delivery-failed', target: 3, retryInMs: 1000 })
    refuse = false
    clock.advance(500)
    await runner.tick()
    expect(sent).toHaveLength(2) // not before the interval
    clock.advance(500)
    expect(await runner.tick(asNodeId(3))).toBe(2)
    expect(store.stats().size).toBe(0)
  })

  it('drops a target\'s corrupt hints and reports them', async () => {
    const kv = new MemoryStore()
    const { store, clock, events } = await setup(async () => {}, kv)
    await store.add(hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(10n), writes: [rw(1, 1)] }, T0))
    await store.close()
    const raw = MemoryKv.open(kv)
    await raw.batch([{ type: 'put', key: encodeHintId(asNodeId(3), T0, 99), value: Uint8Array.of(7, 7, 7) }], { sync: false })
    await raw.close()
    const reopened = await HintStore.open(MemoryKv.open(kv), { sync: false })
    const r2 = new HintDeliveryRunner({ store: reopened, scheduler: new HintDelivery({ intervalMs: 1000 }), send: async () => {}, alive: () => true, clock, onEvent: e => events.push(e) })
    await r2.tick()
    clock.advance(1000)
    expect(await r2.tick(asNodeId(3))).toBe(0)
    expect(events.find(e => e.type === 'read-failed')).toMatchObject({ type: 'read-failed', target: 3, dropped: 1 })
    expect(reopened.stats().get(asNodeId(3))?.count).toBe(1) // the good one stays, delivered next interval
    clock.advance(1000)
    expect(await r2.tick(asNodeId(3))).toBe(1)
  })

  it('expires hints older than hint_expiration_days on the first tick', async () => {
    const { store, runner, events } = await setup()
    await store.add([...hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(1n), writes: [rw(1, 1)] }, T0 - 8 * DAY), ...hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(2n), writes: [rw(2, 2)] }, T0)])
    await runner.tick()
    expect(events).toEqual([{ type: 'expired', count: 1 }])
    expect(store.stats().get(asNodeId(3))?.count).toBe(1)
  })

  it('runs one tick at a time; after stop() no tick starts', async () => {
    let release: () => void = () => {}
    const { store, clock, runner, sent } = await setup(async () => { await new Promise<void>(resolve => { release = resolve }) })
    await store.add(hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(1n), writes: [rw(1, 1)] }, T0))
    await runner.tick()
    clock.advance(1000)
    const first = runner.tick(asNodeId(3))
    await new Promise(resolve => setImmediate(resolve))
    expect(runner.busy).toBe(true)
    const second = runner.tick(asNodeId(3))
    await new Promise(resolve => setImmediate(resolve))
    expect(sent).toHaveLength(1) // the second waits for the first's removals
    release()
    expect(await first).toBe(1)
    expect(await second).toBe(0)
    runner.stop()
    await store.add(hintsOf(asNodeId(3), { shard: asShardId(1), xid: asXid(2n), writes: [rw(2, 2)] }, T0))
    clock.advance(5000)
    expect(await runner.tick(asNodeId(3))).toBe(0)
    expect(sent).toHaveLength(1)
  })
})
