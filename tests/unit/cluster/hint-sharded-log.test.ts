import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { ShardedHintLog, type HintRequester } from '../../../src/cluster/hints/sharded-log'
import { codecOf, type ShardReplies } from '../../../src/shard/protocol/ops'
import { ShardEngine } from '../../../src/storage/engine'
import { HintStore, type Hint } from '../../../src/storage/hint-store'
import { MemoryKv, MemoryStore } from '../../../src/storage/kv-memory'
import { HostClient } from '../shard/host-fixtures'
import { asHlcTs, asNodeId, asShardId, asXid, type NodeId, type ShardId, shardIds } from '../../../src/core/ids'

// The node's hint log (src/cluster/hints/sharded-log.ts) over real shard hosts (src/shard/host.ts
// + hint-ops.ts, requests and replies through the binary codecs as on the rings), each shard's
// HintStore sharing the KvStore of that shard's engine: hints land in the store of their own shard,
// figures are summed over shards, the per-target caps hold over all shards, and a restart reports
// the same figures.

const SHARDS = 4
const hosts: HostClient[] = []

afterEach(async () => { for (const h of hosts.splice(0)) await h.host.close() })

interface Node {
  /** Shard id → the MemoryStore behind its KvStore (survives a close, like a disk). */
  disks: Map<number, MemoryStore>
  hints: Map<ShardId, HintStore>
  engines: Map<ShardId, ShardEngine>
  request: HintRequester
  sent: Array<{ op: string, shard: ShardId }>
  /** Encoded size of every HINT_LIST reply. */
  listReplyBytes: number[]
}

/** Two "workers" (hosts) with shards 0,2 and 1,3, over `disks` (fresh when absent). */
async function startNode (disks = new Map<number, MemoryStore>()): Promise<Node> {
  const clock = new ManualClock()
  const hints = new Map<ShardId, HintStore>()
  const engines = new Map<ShardId, ShardEngine>()
  const byShard = new Map<ShardId, HostClient>()
  for (const [worker, shards] of [[0, 2], [1, 3]].map(ss => ss.map(s => asShardId(s))).entries()) {
    const es = new Map<ShardId, ShardEngine>()
    const hs = new Map<ShardId, HintStore>()
    for (const shard of shards) {
      if (!disks.has(shard)) disks.set(shard, new MemoryStore())
      const kv = MemoryKv.open(disks.get(shard))
      es.set(shard, await ShardEngine.open(kv, { shardId: shard, nodeId: asNodeId(1), durability: 'none', clock }))
      hs.set(shard, await HintStore.open(kv, { ownsKv: false, sync: false }))
    }
    const host = new HostClient(es, 60_000, clock, worker, { hints: hs })
    hosts.push(host)
    for (const shard of shards) { byShard.set(shard, host); hints.set(shard, hs.get(shard)!); engines.set(shard, es.get(shard)!) }
  }
  const sent: Node['sent'] = []
  const listReplyBytes: number[] = []
  const request: HintRequester = async (op, req) => {
    sent.push({ op, shard: req.shard })
    const reply = await byShard.get(req.shard)!.request(op, req)
    if (op === 'HINT_LIST') listReplyBytes.push(codecOf('HINT_LIST').encodeReply(reply as unknown as ShardReplies['HINT_LIST']).length)
    return reply
  }
  return { disks, hints, engines, request, sent, listReplyBytes }
}

let seq = 0
function hint (target: NodeId, shard: ShardId, createdAtMs = 1000, rowBytes = 10): Hint {
  seq++
  return { target, shard, tableId: 9, key: Uint8Array.of(0x31, seq & 0xff, seq >> 8), xid: asXid(BigInt(seq)), versionId: new Uint8Array(16).fill(seq & 0xff), row: new Uint8Array(rowBytes).fill(7), createdAtMs }
}

function logOf (n: Node, caps: { maxHintsPerTarget?: number, maxBytesPerTarget?: number } = {}, maxMessageBytes = 1024 * 1024): ShardedHintLog {
  return new ShardedHintLog({ shardCount: { shards: SHARDS }, request: n.request, maxMessageBytes, ...caps })
}

describe('ShardedHintLog over the shard workers\' stores', () => {
  it('keeps each hint in the store of its own shard, sums the figures, lists, removes and expires across shards', async () => {
    const n = await startNode()
    const log = logOf(n)
    await log.load()
    expect(log.stats().size).toBe(0)
    await log.add([hint(asNodeId(7), asShardId(0)), hint(asNodeId(7), asShardId(1)), hint(asNodeId(8), asShardId(3))])
    await log.add([hint(asNodeId(7), asShardId(2), 5000)])
    // In the shard's own store, beside its engine's keys.
    expect(shardIds(4).map(s => n.hints.get(s)!.stats().get(asNodeId(7))?.count ?? 0)).toEqual([1, 1, 1, 0])
    expect(n.hints.get(asShardId(3))!.stats().get(asNodeId(8))?.count).toBe(1)
    const perShard = [...n.hints.values()].reduce((b, h) => b + (h.stats().get(asNodeId(7))?.bytes ?? 0), 0)
    expect(log.stats().get(asNodeId(7))).toEqual({ count: 3, bytes: perShard })
    expect(log.stats().get(asNodeId(8))?.count).toBe(1)

    const listed = await log.list(asNodeId(7), 10)
    expect(listed.map(h => h.shard).sort()).toEqual([0, 1, 2])
    expect(listed.every(h => h.target === 7)).toBe(true)
    expect(await log.list(asNodeId(7), 2)).toHaveLength(2)
    expect(await log.remove(listed.slice(0, 2))).toBe(2)
    expect(log.stats().get(asNodeId(7))?.count).toBe(1)
    // Expiry cuts on createdAtMs in every shard: the 5000 ms hint of target 7 stays.
    expect(await log.expire(3000, 1000)).toBe(1)
    expect(log.stats().get(asNodeId(7))?.count).toBe(1)
    expect(log.stats().has(asNodeId(8))).toBe(false)
    expect(await log.dropTarget(asNodeId(7))).toBe(1)
    expect(log.stats().size).toBe(0)
  })

  it('leaves the shard\'s rows alone: the engine scans its table and reopens over a store holding hints', async () => {
    const n = await startNode()
    const log = logOf(n)
    await n.engines.get(asShardId(0))!.autocommit({ writes: [{ op: 'put', tableId: 9, pk: [1n], versionId: new Uint8Array(16).fill(1), row: Uint8Array.of(1, 2) }], commitHlc: asHlcTs(1n << 20n) })
    await log.add([hint(asNodeId(7), asShardId(0)), hint(asNodeId(7), asShardId(0))])
    const rows = []
    for await (const r of n.engines.get(asShardId(0))!.scan(9, {})) rows.push(r)
    expect(rows).toHaveLength(1)
    for (const h of hosts.splice(0)) await h.host.close()
    const again = await startNode(n.disks)
    const rows2 = []
    for await (const r of again.engines.get(asShardId(0))!.scan(9, {})) rows2.push(r)
    expect(rows2).toHaveLength(1)
    expect(again.hints.get(asShardId(0))!.stats().get(asNodeId(7))?.count).toBe(2)
  })

  it('enforces the per-target cap over all shards before sending anything, batches in flight included', async () => {
    const n = await startNode()
    const log = logOf(n, { maxHintsPerTarget: 3 })
    await log.load()
    await log.add([hint(asNodeId(7), asShardId(0)), hint(asNodeId(7), asShardId(0))])
    n.sent.length = 0
    // Shard 1 holds no hint of node 7, but node 7 has 2 of its 3 already: refused whole, nothing sent.
    await expect(log.add([hint(asNodeId(7), asShardId(1)), hint(asNodeId(7), asShardId(1))])).rejects.toMatchObject({ code: 'SB_HINT_LOG_FULL', details: { target_nodes: [7] } })
    expect(n.sent).toEqual([])
    expect(n.hints.get(asShardId(1))!.stats().size).toBe(0)
    // Other targets are not affected; one more hint of node 7 fits.
    await log.add([hint(asNodeId(8), asShardId(1)), hint(asNodeId(8), asShardId(1)), hint(asNodeId(8), asShardId(2))])
    await log.add([hint(asNodeId(7), asShardId(3))])
    expect(log.stats().get(asNodeId(7))?.count).toBe(3)
    // Two adds racing for the last room of node 9: the second sees the first reserved.
    const racing = await Promise.allSettled([log.add([hint(asNodeId(9), asShardId(0)), hint(asNodeId(9), asShardId(1))]), log.add([hint(asNodeId(9), asShardId(2)), hint(asNodeId(9), asShardId(3))])])
    expect(racing.map(r => r.status)).toEqual(['fulfilled', 'rejected'])
    expect(log.stats().get(asNodeId(9))?.count).toBe(2)
  })

  it('enforces the byte cap over all shards (key + value bytes as the stores count them)', async () => {
    const n = await startNode()
    const probe = logOf(n)
    await probe.add([hint(asNodeId(5), asShardId(0))])
    const one = probe.stats().get(asNodeId(5))!.bytes
    await probe.dropTarget(asNodeId(5))
    const log = logOf(n, { maxBytesPerTarget: 2 * one })
    await log.load()
    await log.add([hint(asNodeId(5), asShardId(0))])
    await log.add([hint(asNodeId(5), asShardId(1))])
    await expect(log.add([hint(asNodeId(5), asShardId(2))])).rejects.toMatchObject({ code: 'SB_HINT_LOG_FULL' })
    expect(log.stats().get(asNodeId(5))).toEqual({ count: 2, bytes: 2 * one })
  })

  it('reports the same per-target figures after a restart (load() asks every shard)', async () => {
    const n = await startNode()
    const log = logOf(n)
    await log.add([hint(asNodeId(7), asShardId(0)), hint(asNodeId(7), asShardId(3)), hint(asNodeId(8), asShardId(1))])
    const before = log.stats()
    for (const h of hosts.splice(0)) await h.host.close()
    const again = await startNode(n.disks)
    const reloaded = logOf(again)
    await reloaded.load()
    expect(reloaded.stats()).toEqual(before)
    expect((await reloaded.list(asNodeId(7), 10)).length).toBe(2)
  })

  it('splits adds and bounds list replies to fit one ring message; the byte budget of a delivery batch spans shards', async () => {
    const n = await startNode()
    const log = logOf(n, {}, 600)
    const hs = Array.from({ length: 12 }, (_, i) => hint(asNodeId(7), asShardId(i % 2), 1000, 60))
    await log.add(hs)
    expect(n.sent.filter(s => s.op === 'HINT_ADD').length).toBeGreaterThan(2)
    expect(log.stats().get(asNodeId(7))?.count).toBe(12)
    const one = log.stats().get(asNodeId(7))!.bytes / 12
    // Budget of 3 hints: stops there, across shards, and never returns more than asked.
    const three = await log.list(asNodeId(7), 100, { maxBytes: Math.floor(3.5 * one) })
    expect(three).toHaveLength(3)
    // A byte budget smaller than one hint still yields one hint (the first always comes).
    expect(await log.list(asNodeId(7), 100, { maxBytes: 1 })).toHaveLength(1)
    // Without a budget: one reply per shard, each within the 600-byte message; the rest comes in
    // the next batch, after these are removed.
    n.listReplyBytes.length = 0
    const first = await log.list(asNodeId(7), 100)
    expect(first.length).toBeGreaterThan(3)
    expect(new Set(first.map(h => h.shard))).toEqual(new Set([0, 1]))
    expect(Math.max(...n.listReplyBytes)).toBeLessThanOrEqual(600)
    await log.remove(first)
    let left = log.stats().get(asNodeId(7))?.count ?? 0
    while (left > 0) {
      await log.remove(await log.list(asNodeId(7), 100))
      const now = log.stats().get(asNodeId(7))?.count ?? 0
      expect(now).toBeLessThan(left)
      left = now
    }
    expect(Math.max(...n.listReplyBytes)).toBeLessThanOrEqual(600)
  })

  it('refuses a hint for a shard this node does not have, storing nothing', async () => {
    const n = await startNode()
    const log = logOf(n)
    await expect(log.add([hint(asNodeId(7), asShardId(0)), hint(asNodeId(7), asShardId(SHARDS, SHARDS + 1))])).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    expect(n.sent).toEqual([])
  })

  it('reads the shard count at each use: shards added by a split take hints and are expired and loaded', async () => {
    const n = await startNode()
    const count = { shards: 2 }
    const log = new ShardedHintLog({ shardCount: count, request: n.request, maxMessageBytes: 1 << 20 })
    await expect(log.add([hint(asNodeId(7), asShardId(3))])).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    count.shards = 4 // the switch of a 2 → 4 split
    expect(await log.add([hint(asNodeId(7), asShardId(3), 1000)])).toBe(1)
    n.sent.length = 0
    expect(await log.expire(10_000, 1000)).toBe(1)
    expect(n.sent.filter(s => s.op === 'HINT_EXPIRE').map(s => s.shard)).toEqual([0, 1, 2, 3])
    await log.add([hint(asNodeId(8), asShardId(2))])
    const again = new ShardedHintLog({ shardCount: count, request: n.request, maxMessageBytes: 1 << 20 })
    await again.load()
    expect(again.stats().get(asNodeId(8))?.count).toBe(1)
  })
})
