import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { ShardEngine, type ReplicaWrite } from '../../../src/storage/engine'
import { MERKLE_LEAF_PREFIX, MERKLE_TREE_PREFIX, merkleTreeKey, prefixRange, rowKey } from '../../../src/storage/keys'
import type { KvBatchOptions, KvIterateOptions, KvOp, KvSnapshot, KvStore } from '../../../src/storage/kv'
import { LevelKv } from '../../../src/storage/kv-level'
import { decodeLeafKey } from '../../../src/storage/merkle/leaf-key'
import { MerkleTree, rowImageHash } from '../../../src/storage/merkle/tree'
import { hlcTs } from '../../../src/storage/types'
import { HostClient } from '../shard/host-fixtures'

// The Merkle forest of a shard engine over a real LevelDB (DESIGN §6 "Anti-entropy"): leaves in
// the write's own batch, order-independent roots, sealing and reseals, restart, rebuild of a
// corrupt or missing tree, and MERKLE_ADOPT's rule.

beforeAll(async () => { await initHashing() })

const HOUR = 3_600_000
const MIN = 60_000
const MERKLE = { windowMs: HOUR, graceMs: 10 * MIN }
const T = 7 // table id
const enc = new TextEncoder()

const dirs: string[] = []
const open: ShardEngine[] = []
afterEach(async () => {
  await Promise.allSettled(open.splice(0).map(e => e.close()))
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A KvStore over LevelDB whose next batch can be made to fail (an I/O error at the worst time). */
class FaultyKv implements KvStore {
  failNext = false
  constructor (readonly inner: LevelKv) {}
  get (k: Uint8Array): Promise<Uint8Array | undefined> { return this.inner.get(k) }
  getMany (ks: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> { return this.inner.getMany(ks) }
  async batch (ops: readonly KvOp[], o: KvBatchOptions): Promise<void> {
    if (this.failNext) { this.failNext = false; throw new Error('injected I/O error') }
    await this.inner.batch(ops, o)
  }

  iterate (o: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]> { return this.inner.iterate(o) }
  snapshot (): KvSnapshot { return this.inner.snapshot() }
  close (): Promise<void> { return this.inner.close() }
}

function newDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'sb-merkle-'))
  dirs.push(d)
  return d
}

async function openEngine (dir: string, merkle = MERKLE): Promise<{ engine: ShardEngine, kv: FaultyKv }> {
  const kv = new FaultyKv(await LevelKv.open(dir))
  const engine = await ShardEngine.open(kv, { shardId: asShardId(1), nodeId: asNodeId(2), durability: 'none', clock: new ManualClock(), merkle })
  open.push(engine)
  return { engine, kv }
}

async function reopen (engine: ShardEngine, dir: string): Promise<ShardEngine> {
  await engine.close()
  open.splice(open.indexOf(engine), 1)
  return (await openEngine(dir)).engine
}

/** A UUIDv8-HLC at `ms`. */
const v = (ms: number, counter = 0, node = 1): Uint8Array => encodeUuidV8({ ts: ms, counter, nodeId: node, random: 5 })
const w = (pk: string, version: Uint8Array, value: string | null): ReplicaWrite =>
  ({ tableId: T, pk: [pk], versionId: version, row: value === null ? null : enc.encode(value) })
let hlc = 1_000
const apply = (e: ShardEngine, ...writes: ReplicaWrite[]): Promise<unknown> => e.applyVersions({ writes, commitHlc: hlcTs(++hlc) })
const leafKey = (pk: string): Uint8Array => rowKey(T, [pk]).subarray(2)

async function countKeys (kv: KvStore, prefix: Uint8Array): Promise<number> {
  let n = 0
  for await (const _ of kv.iterate(prefixRange(prefix))) n++ // eslint-disable-line @typescript-eslint/no-unused-vars
  return n
}

describe('Merkle forest on the write path', () => {
  it('puts each version\'s leaf into its window, highest per key, in the write\'s batch; survives a restart', async () => {
    const dir = newDir()
    const opened = await openEngine(dir)
    const kv = opened.kv
    let engine = opened.engine
    await apply(engine, w('a', v(2 * HOUR + 5), 'a1'), w('b', v(2 * HOUR + 6), null))
    await apply(engine, w('a', v(3 * HOUR + 1), 'a2'))
    // older than what the replica holds: LWW keeps a2, the write is still history of window 2
    const r = await engine.applyVersions({ writes: [w('a', v(2 * HOUR + 9), 'a-late')], commitHlc: hlcTs(++hlc) })
    expect(r.applied).toEqual(['older'])

    const expect2 = new MerkleTree()
    expect2.set(leafKey('a'), v(2 * HOUR + 9), rowImageHash(enc.encode('a-late')))
    expect2.set(leafKey('b'), v(2 * HOUR + 6), rowImageHash(null))
    const expect3 = new MerkleTree()
    expect3.set(leafKey('a'), v(3 * HOUR + 1), rowImageHash(enc.encode('a2')))
    const roots = engine.merkleRoots()
    expect(roots).toEqual([
      { window: 2, sealed: false, root: expect2.root(), leaves: 2 },
      { window: 3, sealed: false, root: expect3.root(), leaves: 1 }
    ])
    expect(await countKeys(kv, MERKLE_LEAF_PREFIX)).toBe(3)
    expect(decodeLeafKey((await engine.merkleLeaves(3, [...Array(1024).keys()], 100, 1 << 20)).leaves[0]!.key)).toEqual({ tableId: T, pk: ['a'] })

    engine = await reopen(engine, dir)
    expect(engine.merkleRoots()).toEqual(roots)
    expect(engine.merkleStats()).toMatchObject({ windows: 2, sealed: 0, activeLeaves: 3, reseals: 0, rebuilds: 0 })
  })

  it('a batch that fails writes neither the row nor its leaf, and leaves the forest in memory as it was', async () => {
    const dir = newDir()
    const opened = await openEngine(dir)
    const kv = opened.kv
    let engine = opened.engine
    await apply(engine, w('a', v(HOUR), 'a1'))
    const before = engine.merkleRoots()
    kv.failNext = true
    await expect(apply(engine, w('b', v(HOUR + 1), 'b1'))).rejects.toThrow('injected I/O error')
    expect(engine.merkleRoots()).toEqual(before)
    expect(await engine.getVersioned(T, ['b'])).toBeUndefined()
    engine = await reopen(engine, dir)
    expect(engine.merkleRoots()).toEqual(before)
    expect(await engine.getVersioned(T, ['b'])).toBeUndefined()
    await apply(engine, w('b', v(HOUR + 1), 'b1'))
    expect(engine.merkleRoots()[0]!.leaves).toBe(2)
  })

  it('two replicas that received the same writes in different orders have the same roots', async () => {
    const writes = [
      w('a', v(HOUR + 1), 'a1'), w('a', v(HOUR + 2), 'a2'), w('a', v(2 * HOUR), null),
      w('b', v(HOUR + 3), 'b1'), w('c', v(5 * HOUR), 'c1'), w('c', v(5 * HOUR, 1), 'c2'), w('d', v(2 * HOUR + 7, 0, 9), 'd')
    ]
    const one = (await openEngine(newDir())).engine
    const two = (await openEngine(newDir())).engine
    for (const x of writes) await apply(one, x)
    for (const x of [...writes].reverse()) await apply(two, x)
    await apply(two, writes[1]!, writes[4]!) // a retry: idempotent
    expect(two.merkleRoots()).toEqual(one.merkleRoots())
    expect(one.merkleRoots().map(r => r.window)).toEqual([1, 2, 5])
    const other = (await openEngine(newDir())).engine
    for (const x of writes.filter((_, i) => i !== 1)) await apply(other, x) // a2 missed: window 1 differs
    expect(other.merkleRoots()).not.toEqual(one.merkleRoots())
  })

  it('refuses a leaderless write whose version id is not a UUIDv8-HLC, changing nothing', async () => {
    const { engine } = await openEngine(newDir())
    const bad = new Uint8Array(16).fill(0xab) // version nibble a
    await expect(apply(engine, w('a', bad, 'x'))).rejects.toMatchObject({ code: 'SB_UUID_INVALID' })
    expect(await engine.getVersioned(T, ['a'])).toBeUndefined()
    expect(engine.merkleRoots()).toEqual([])
  })

  it('keeps no forest without the merkle option (anti_entropy.enabled false)', async () => {
    const kv = await LevelKv.open(newDir())
    const engine = await ShardEngine.open(kv, { shardId: asShardId(1), nodeId: asNodeId(2), durability: 'none', clock: new ManualClock() })
    open.push(engine)
    await apply(engine, w('a', v(HOUR), 'a1'))
    expect(await countKeys(kv, MERKLE_LEAF_PREFIX)).toBe(0)
    expect(() => engine.merkleRoots()).toThrow(expect.objectContaining({ code: 'SB_FEATURE_NOT_SUPPORTED' }))
  })
})

describe('sealing', () => {
  it('seals a window grace after its end: tree stored, leaf records gone, root kept; a late write reseals it', async () => {
    const dir = newDir()
    const opened = await openEngine(dir)
    const kv = opened.kv
    let engine = opened.engine
    const early = [w('a', v(HOUR + 1), 'a1'), w('b', v(HOUR + 2), 'b1')]
    await apply(engine, ...early)
    await apply(engine, w('c', v(2 * HOUR + 1), 'c1'))
    const before = engine.merkleRoots()
    expect(await engine.merkleSeal(2 * HOUR + 10 * MIN - 1)).toEqual({ sealed: [], reseals: 0 })
    expect(await engine.merkleSeal(2 * HOUR + 10 * MIN)).toEqual({ sealed: [1], reseals: 0 })
    expect(engine.merkleRoots()).toEqual([{ ...before[0]!, sealed: true }, before[1]])
    expect(await countKeys(kv, MERKLE_LEAF_PREFIX)).toBe(1) // window 2's leaf
    expect(await countKeys(kv, MERKLE_TREE_PREFIX)).toBe(1)
    const stats = engine.merkleStats()
    expect(stats).toMatchObject({ windows: 2, sealed: 1, activeLeaves: 1, reseals: 0 })
    expect(stats.bytesOnDisk).toBeGreaterThan(0)
    expect(stats.bytesInMemory).toBeGreaterThan(0)

    // A hint delivered late: its version belongs to sealed window 1.
    const late = w('d', v(HOUR + 30 * MIN), 'd1')
    await apply(engine, late)
    expect(engine.merkleStats().reseals).toBe(1)
    const reference = (await openEngine(newDir())).engine
    await apply(reference, ...early, late, w('c', v(2 * HOUR + 1), 'c1'))
    const resealed = engine.merkleRoots()
    expect(resealed[0]).toEqual({ window: 1, sealed: true, root: reference.merkleRoots()[0]!.root, leaves: 3 })
    // The same bucket hashes and leaves from the stored tree as from the reference's active one.
    expect(await engine.merkleBuckets(1)).toEqual(await reference.merkleBuckets(1))
    const all = [...Array(1024).keys()]
    expect((await engine.merkleLeaves(1, all, 1000, 1 << 20)).leaves).toEqual((await reference.merkleLeaves(1, all, 1000, 1 << 20)).leaves)

    // A window never written is sealed too: its first leaf is a reseal (root 0 → something).
    await apply(engine, w('e', v(30 * MIN), 'e1'))
    expect(engine.merkleStats().reseals).toBe(2)
    expect(engine.merkleRoots()[0]).toMatchObject({ window: 0, sealed: true, leaves: 1 })

    const after = engine.merkleRoots()
    engine = await reopen(engine, dir)
    expect(engine.merkleRoots()).toEqual(after)
    expect(engine.merkleStats()).toMatchObject({ rebuilds: 0, sealed: 2 })
  })

  it('bucket hashes of an unknown window are all 0; leaves come in whole buckets with a more flag', async () => {
    const { engine } = await openEngine(newDir())
    expect(await engine.merkleBuckets(42)).toEqual(new Array(1024).fill(0n))
    for (let i = 0; i < 50; i++) await apply(engine, w(`k${i}`, v(HOUR + i), `v${i}`))
    const hashes = await engine.merkleBuckets(1)
    const full = [...hashes.keys()].filter(b => hashes[b] !== 0n)
    const page = await engine.merkleLeaves(1, full, 10, 1 << 20)
    expect(page.more).toBe(true)
    expect(page.bucketsDone).toBeGreaterThan(0)
    expect(page.bucketsDone).toBeLessThan(full.length)
    const rest = await engine.merkleLeaves(1, full.slice(page.bucketsDone), 1000, 1 << 20)
    expect(rest.more).toBe(false)
    expect(page.leaves.length + rest.leaves.length).toBe(50)
    expect(() => engine.merkleLeaves(1, [1024], 10, 100)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
  })
})

describe('restart with a damaged forest', () => {
  async function sealedShard (): Promise<{ dir: string, roots: unknown }> {
    const dir = newDir()
    const { engine } = await openEngine(dir)
    await apply(engine, w('a', v(HOUR + 1), 'a1'), w('b', v(HOUR + 2), null))
    await apply(engine, w('a', v(HOUR + 3), 'a2'))
    await apply(engine, w('c', v(3 * HOUR), 'c1'))
    await engine.merkleSeal(2 * HOUR + 10 * MIN)
    const roots = engine.merkleRoots()
    await engine.close()
    open.splice(open.indexOf(engine), 1)
    return { dir, roots }
  }

  it('a corrupt stored tree is rebuilt from the rows at open, logged and counted', async () => {
    const { dir, roots } = await sealedShard()
    const raw = await LevelKv.open(dir)
    const bytes = (await raw.get(merkleTreeKey(1)))!
    bytes[bytes.length - 3]! ^= 0xff // fails the checksum
    await raw.batch([{ type: 'put', key: merkleTreeKey(1), value: bytes }], { sync: true })
    await raw.close()
    const { engine } = await openEngine(dir)
    const logs: string[] = []
    engine.merkleForest!.setLog((_level, message) => logs.push(message))
    expect(engine.merkleRoots()).toEqual(roots)
    expect(engine.merkleStats()).toMatchObject({ rebuilds: 1, sealed: 1 })
    expect(logs).toEqual(['Merkle window 1 rebuilt from the rows: Merkle tree file is corrupt: checksum mismatch'])
    // The rebuilt tree was stored: the next open finds nothing to rebuild.
    const again = await reopen(engine, dir)
    expect(again.merkleStats().rebuilds).toBe(0)
    expect(again.merkleRoots()).toEqual(roots)
  })

  it('the shard host passes a rebuild made while the engine opened to the node\'s log', async () => {
    const { dir } = await sealedShard()
    const raw = await LevelKv.open(dir)
    await raw.batch([{ type: 'put', key: merkleTreeKey(1), value: Uint8Array.of(1, 2, 3) }], { sync: true })
    await raw.close()
    const { engine } = await openEngine(dir)
    const client = new HostClient(new Map([[asShardId(1), engine]]), 60_000)
    expect(client.logs).toEqual([{
      level: 'warn',
      message: 'shard 1: Merkle window 1 rebuilt from the rows: Merkle tree file is corrupt: 3 bytes is shorter than an empty tree',
      details: { shard: 1, window: 1, leaves: 2 }
    }])
    expect(await client.request('MERKLE_STATS', { shard: asShardId(1) })).toMatchObject({ enabled: true, rebuilds: 1 })
  })

  it('a corrupt leaf record of an active window is rebuilt from the rows at open', async () => {
    const dir = newDir()
    const first = await openEngine(dir)
    await apply(first.engine, w('a', v(HOUR + 1), 'a1'), w('b', v(HOUR + 2), 'b1'))
    await apply(first.engine, w('c', v(HOUR + 3), null))
    const roots = first.engine.merkleRoots()
    await first.engine.close()
    open.splice(open.indexOf(first.engine), 1)
    const raw = await LevelKv.open(dir)
    const records: Uint8Array[] = []
    for await (const [k] of raw.iterate(prefixRange(MERKLE_LEAF_PREFIX))) records.push(k)
    expect(records).toHaveLength(2) // one record per write pass, not per leaf
    await raw.batch([{ type: 'put', key: records[0]!, value: Uint8Array.of(1, 9) }], { sync: true })
    await raw.close()
    const { engine, kv } = await openEngine(dir)
    expect(engine.merkleRoots()).toEqual(roots)
    expect(engine.merkleStats()).toMatchObject({ rebuilds: 1, activeLeaves: 3 })
    expect(await countKeys(kv, MERKLE_LEAF_PREFIX)).toBe(1)
  })

  it('a missing stored tree is rebuilt from the rows at open', async () => {
    const { dir, roots } = await sealedShard()
    const raw = await LevelKv.open(dir)
    await raw.batch([{ type: 'del', key: merkleTreeKey(1) }], { sync: true })
    await raw.close()
    const { engine } = await openEngine(dir)
    expect(engine.merkleRoots()).toEqual(roots)
    expect(engine.merkleStats()).toMatchObject({ rebuilds: 1 })
  })

  it('a changed window length rebuilds every window from the rows', async () => {
    const { dir } = await sealedShard()
    const kv = await LevelKv.open(dir)
    const engine = await ShardEngine.open(kv, { shardId: asShardId(1), nodeId: asNodeId(2), durability: 'none', clock: new ManualClock(), merkle: { windowMs: 2 * HOUR, graceMs: 0 } })
    open.push(engine)
    expect(engine.merkleRoots().map(r => [r.window, r.sealed, r.leaves])).toEqual([[0, false, 2], [1, false, 1]])
    expect(engine.merkleStats().rebuilds).toBe(2)
  })
})

describe('MERKLE_ADOPT', () => {
  it('records a superseded version\'s leaf where the replica holds a newer version; asks for data otherwise', async () => {
    const full = (await openEngine(newDir())).engine
    const missed = (await openEngine(newDir())).engine
    const v1 = w('k', v(HOUR + 1), 'one')
    const v2 = w('k', v(2 * HOUR + 1), 'two')
    await apply(full, v1)
    await apply(full, v2)
    await apply(missed, v2) // v1 never arrived
    expect(missed.merkleRoots()).not.toEqual(full.merkleRoots())
    const leaf1 = (await full.merkleLeaves(1, [...Array(1024).keys()], 10, 1 << 20)).leaves[0]!

    const before = missed.merkleRoots()
    const lacking = { key: leafKey('zz'), version: v(HOUR + 5), rowHash: 9n } // no such row here
    const newer = { key: leafKey('k'), version: v(3 * HOUR), rowHash: 8n } // newer than what is held
    const r = await missed.merkleAdopt([leaf1, lacking, newer])
    expect(r.adopted).toBe(1)
    expect(r.needsData).toEqual([lacking, newer])
    expect(missed.merkleRoots()).toEqual(full.merkleRoots())
    expect(before).not.toEqual(missed.merkleRoots())
    // adopting again changes nothing
    expect((await missed.merkleAdopt([leaf1])).adopted).toBe(1)
    expect(missed.merkleRoots()).toEqual(full.merkleRoots())
  })

  it('refuses a bad leaf before changing anything', async () => {
    const { engine } = await openEngine(newDir())
    await apply(engine, w('k', v(2 * HOUR), 'x'))
    const before = engine.merkleRoots()
    const good = { key: leafKey('k'), version: v(HOUR), rowHash: 1n }
    expect(() => engine.merkleAdopt([good, { key: Uint8Array.of(0xff), version: v(HOUR), rowHash: 1n }])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => engine.merkleAdopt([good, { key: leafKey('k'), version: new Uint8Array(16), rowHash: 1n }])).toThrow(expect.objectContaining({ code: 'SB_UUID_INVALID' }))
    expect(() => engine.merkleAdopt([{ key: leafKey('k'), version: v(HOUR), rowHash: -1n }])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(engine.merkleRoots()).toEqual(before)
  })
})
