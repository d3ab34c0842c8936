import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { asShardId } from '../../../src/core/ids'
import { ShardWorkers } from '../../../src/node/shard-workers'
import type { ReplicaWrite } from '../../../src/storage/engine'
import { hlcTs } from '../../../src/storage/types'
import { testWorkerOptions } from '../node/worker-fixtures'

// The Merkle ops (30-35) through a real shard worker, its rings and LevelDB: what a repair round
// asks of two replicas of a shard (here two shards of one worker standing in for the two replicas:
// each has its own store), and the forest surviving a worker restart.

const HOUR = 3_600_000
const MIN = 60_000
const MERKLE = { windowMs: HOUR, graceMs: 10 * MIN }
const A = asShardId(0)
const B = asShardId(1)
const enc = new TextEncoder()
const v = (ms: number): Uint8Array => encodeUuidV8({ ts: ms, counter: 0, nodeId: 4, random: 11 })
const w = (pk: string, version: Uint8Array, value: string): ReplicaWrite => ({ tableId: 3, pk: [pk], versionId: version, row: enc.encode(value) })
const ALL = [...Array(1024).keys()]

let workers: ShardWorkers | undefined
const dirs: string[] = []
afterEach(async () => {
  await workers?.stop()
  workers = undefined
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

async function start (dir: string, merkle: typeof MERKLE | null = MERKLE): Promise<ShardWorkers> {
  const ws = new ShardWorkers(testWorkerOptions(dir, { merkle }), pino({ level: 'silent' }), () => {})
  await ws.start([[A, B]])
  workers = ws
  return ws
}

let hlc = 5_000
const apply = (ws: ShardWorkers, shard: typeof A, ...writes: ReplicaWrite[]): Promise<unknown> =>
  ws.request('REPLICA_APPLY', { shard, writes, commitHlc: hlcTs(++hlc) })

describe('Merkle shard ops through a worker', () => {
  it('roots, buckets, leaves, adopt, seal and stats; the forest survives a worker restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-merkle-ops-'))
    dirs.push(dir)
    let ws = await start(dir)
    const v1 = w('k', v(HOUR + 1), 'one')
    const v2 = w('k', v(2 * HOUR + 1), 'two')
    await apply(ws, A, v1)
    await apply(ws, A, v2, w('j', v(2 * HOUR + 2), 'jay'))
    await apply(ws, B, v2, w('j', v(2 * HOUR + 2), 'jay')) // B missed v1

    const rootsA = (await ws.request('MERKLE_ROOTS', { shard: A })).windows
    const rootsB = (await ws.request('MERKLE_ROOTS', { shard: B })).windows
    expect(rootsA.map(r => [r.window, r.sealed, r.leaves])).toEqual([[1, false, 1], [2, false, 2]])
    expect(rootsB.map(r => r.window)).toEqual([2])
    expect(rootsB[0]!.root).toBe(rootsA[1]!.root)

    // Drill into window 1: B's buckets are all 0, A's differ in one bucket holding v1's leaf.
    const bucketsA = (await ws.request('MERKLE_BUCKETS', { shard: A, window: 1 })).hashes
    const bucketsB = (await ws.request('MERKLE_BUCKETS', { shard: B, window: 1 })).hashes
    expect(bucketsB).toEqual(new Array(1024).fill(0n))
    const differing = ALL.filter(b => bucketsA[b] !== bucketsB[b])
    expect(differing).toHaveLength(1)
    const page = await ws.request('MERKLE_LEAVES', { shard: A, window: 1, buckets: differing, maxLeaves: 100, maxBytes: 1 << 16 })
    expect(page).toMatchObject({ bucketsDone: 1, more: false })
    expect(page.leaves).toHaveLength(1)
    expect(page.leaves[0]!.versionId).toEqual(v1.versionId)

    // B holds v2 ≥ v1: it adopts v1's leaf without its data; a key it lacks comes back.
    const lacking = { ...page.leaves[0]!, key: Uint8Array.of(...page.leaves[0]!.key.subarray(0, page.leaves[0]!.key.length - 2), 0x78, 0x00) }
    const adopted = await ws.request('MERKLE_ADOPT', { shard: B, leaves: [page.leaves[0]!, lacking] })
    expect(adopted.adopted).toBe(1)
    expect(adopted.needsData).toEqual([lacking])
    expect((await ws.request('MERKLE_ROOTS', { shard: B })).windows).toEqual(rootsA)

    // Sealing is driven by the caller's clock.
    expect(await ws.request('MERKLE_SEAL', { shard: A, nowMs: 2 * HOUR + 10 * MIN })).toEqual({ sealed: [1], reseals: 0 })
    const stats = await ws.request('MERKLE_STATS', { shard: A })
    expect(stats).toMatchObject({ enabled: true, windows: 2, sealed: 1, activeLeaves: 2, reseals: 0, rebuilds: 0 })
    expect(stats.bytesOnDisk).toBeGreaterThan(0)
    const sealedRoots = (await ws.request('MERKLE_ROOTS', { shard: A })).windows
    expect(sealedRoots[0]).toEqual({ ...rootsA[0]!, sealed: true })

    // A malformed request is a coded error, not a crash.
    await expect(ws.request('MERKLE_LEAVES', { shard: A, window: 1, buckets: [5000], maxLeaves: 1, maxBytes: 1 })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    await expect(ws.request('MERKLE_ADOPT', { shard: A, leaves: [{ key: Uint8Array.of(1), versionId: v(1), rowHash: 0n }] })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })

    await ws.stop()
    ws = await start(dir)
    expect((await ws.request('MERKLE_ROOTS', { shard: A })).windows).toEqual(sealedRoots)
    expect((await ws.request('MERKLE_ROOTS', { shard: B })).windows).toEqual(rootsA)
  })

  it('keeps no forest when anti-entropy is off: stats say so, the other ops are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-merkle-off-'))
    dirs.push(dir)
    const ws = await start(dir, null)
    await apply(ws, A, w('k', v(HOUR), 'x'))
    expect(await ws.request('MERKLE_STATS', { shard: A })).toMatchObject({ enabled: false, windows: 0 })
    await expect(ws.request('MERKLE_ROOTS', { shard: A })).rejects.toMatchObject({ code: 'SB_FEATURE_NOT_SUPPORTED' })
  })
})
