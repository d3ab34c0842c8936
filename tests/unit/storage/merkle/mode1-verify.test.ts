import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../../src/core/clock'
import { asNodeId, asShardId } from '../../../../src/core/ids'
import { judgeMode1Leaves, mode1DivergedBuckets } from '../../../../src/cluster/anti-entropy/mode1-rules'
import { ShardEngine, type ShardEngineOptions } from '../../../../src/storage/engine'
import { rowKey, writeU64, type Tuple } from '../../../../src/storage/keys'
import { MemoryKv } from '../../../../src/storage/kv-memory'
import { decodeLeafKey, leafKeyOfRowKey } from '../../../../src/storage/merkle/leaf-key'
import { MAX_MODE1_LEAVES } from '../../../../src/storage/merkle/mode1-scan'
import { bucketOf } from '../../../../src/storage/merkle/tree'
import { hlcTs, type HlcTs } from '../../../../src/storage/types'
import { decodeVersion, encodeVersionOf } from '../../../../src/storage/versions'
import { codecOf } from '../../../../src/shard/protocol/ops'

// MODE1_VERIFY's scan (storage/merkle/mode1-scan.ts) on real engines: a primary and a replica
// that applied the same writes (same version ids, same commit HLCs, as REPL_APPLY does), then
// one of them damaged in its store, behind the engine's back — the case the write-path forest
// cannot see.

const T = 1
const BASE = 1_767_225_600_000
const H = (n: number): HlcTs => hlcTs(BASE + n)
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
let seq = 0
function vid (): Uint8Array {
  const b = new Uint8Array(16)
  writeU64(b, 0, BigInt(++seq))
  b[8] = 0x80
  return b
}

const opts = (shard: number): ShardEngineOptions => ({ shardId: asShardId(shard), nodeId: asNodeId(7), durability: 'none', clock: new ManualClock() })

describe('MODE1_VERIFY: leaves from the stored rows at a snapshot', () => {
  let primary: ShardEngine
  let replica: ShardEngine
  let replicaKv: MemoryKv

  /** The same write on both engines, as the replicated log applies it. */
  async function both (op: 'insert' | 'update' | 'delete', pk: Tuple, row: string, at: HlcTs): Promise<void> {
    const versionId = vid()
    const w = op === 'delete' ? { op, tableId: T, pk, versionId } : { op, tableId: T, pk, row: enc(row), versionId }
    await primary.autocommit({ writes: [w], commitHlc: at })
    await replica.autocommit({ writes: [w], commitHlc: at })
  }

  /** Rewrites the stored image of the row's primary version (silent corruption: same version id, other bytes). */
  async function corrupt (kv: MemoryKv, pk: Tuple, image: string): Promise<void> {
    const key = rowKey(T, pk)
    const v = decodeVersion((await kv.get(key))!)
    await kv.batch([{ type: 'put', key, value: encodeVersionOf(v.xid, v.versionId, v.tombstone, v.commitHlc, v.prev, enc(image)) }], { sync: false })
  }

  async function compare (snapshotHlc: HlcTs): Promise<ReturnType<typeof judgeMode1Leaves> & { buckets: number[] }> {
    const req = { tableIds: [T], snapshotHlc, buckets: null }
    const buckets = mode1DivergedBuckets((await primary.mode1Verify(req)).hashes, (await replica.mode1Verify(req)).hashes)
    if (buckets.length === 0) return { buckets, diverged: [], deferred: [] }
    const p = await primary.mode1Verify({ ...req, buckets })
    const r = await replica.mode1Verify({ ...req, buckets })
    return { buckets, ...judgeMode1Leaves(p, r) }
  }

  beforeEach(async () => {
    primary = await ShardEngine.open(await MemoryKv.open(), opts(3))
    replicaKv = await MemoryKv.open()
    replica = await ShardEngine.open(replicaKv, opts(3))
    for (let i = 1; i <= 50; i++) await both('insert', [BigInt(i)], `row ${i}`, H(i))
    await both('update', [7n], 'row 7 again', H(60))
    await both('delete', [9n], '', H(61))
  })

  afterEach(async () => {
    await primary.close()
    await replica.close()
  })

  it('the same committed history gives the same buckets; the replica\'s damaged row is found, and only it', async () => {
    expect(await compare(H(100))).toEqual({ buckets: [], diverged: [], deferred: [] })
    await corrupt(replicaKv, [7n], 'row 7 damaged')
    const r = await compare(H(100))
    const leafKey = leafKeyOfRowKey(rowKey(T, [7n]))
    expect(r.buckets).toEqual([bucketOf(leafKey)])
    expect(r.deferred).toEqual([])
    expect(r.diverged).toHaveLength(1)
    const d = r.diverged[0]!
    expect(decodeLeafKey(d.key)).toEqual({ tableId: T, pk: [7n] })
    // Same version id, other image: LWW cannot tell which copy is right; the primary's is the truth.
    expect(d.newer).toBe('neither')
    expect(d.mine!.version).toEqual(d.theirs!.version)
    expect(d.mine!.rowHash).not.toBe(d.theirs!.rowHash)
  })

  it('a delete the replica does not hold (the primary has no leaf) and a row it lacks are divergences', async () => {
    await primary.autocommit({ writes: [{ op: 'delete', tableId: T, pk: [3n], versionId: vid() }], commitHlc: H(70) })
    await primary.autocommit({ writes: [{ op: 'insert', tableId: T, pk: [99n], row: enc('only on the primary'), versionId: vid() }], commitHlc: H(71) })
    const r = await compare(H(100))
    expect(r.deferred).toEqual([])
    const byPk = new Map(r.diverged.map(d => [decodeLeafKey(d.key).pk[0], d]))
    expect([...byPk.keys()].sort()).toEqual([3n, 99n])
    expect(byPk.get(3n)!.mine).toBeNull()
    expect(byPk.get(3n)!.theirs).not.toBeNull()
    expect(byPk.get(99n)!.theirs).toBeNull()
  })

  it('the snapshot hides later commits; a differing key written since the snapshot is deferred, not diverged', async () => {
    // Committed on the primary after the snapshot and not yet on the replica: invisible at it.
    await primary.autocommit({ writes: [{ op: 'update', tableId: T, pk: [4n], row: enc('in flight'), versionId: vid() }], commitHlc: H(200) })
    expect(await compare(H(100))).toEqual({ buckets: [], diverged: [], deferred: [] })
    // The replica's copy of row 4 is damaged too, but the primary has written it since: a later round decides.
    await corrupt(replicaKv, [4n], 'row 4 damaged')
    const r = await compare(H(100))
    expect(r.diverged).toEqual([])
    expect(r.deferred.map(k => decodeLeafKey(k).pk[0])).toEqual([4n])
    // Seen from a snapshot after that commit, the replica simply lacks it: diverged.
    const later = await compare(H(300))
    expect(later.diverged.map(d => decodeLeafKey(d.key).pk[0])).toEqual([4n])
  })

  it('MODE1_REPAIR gives the damaged version the primary\'s image, only on a replica following at the generation named', async () => {
    await corrupt(replicaKv, [7n], 'row 7 damaged')
    const r = await compare(H(100))
    expect(r.diverged).toHaveLength(1)
    const [primaryVersion] = await primary.getVersionedMany(T, [[7n]])
    const rows = [{ key: r.diverged[0]!.key, versionId: primaryVersion!.versionId, row: primaryVersion!.row! }]
    // Not following any primary (role none), then following at generation 3: asked at 2, and as primary: refused, nothing changed.
    await expect(replica.mode1Repair(3n, rows)).rejects.toMatchObject({ code: 'SB_MODE1_REPAIR_REFUSED' })
    await replica.setReplState({ generation: 3n, votedFor: null, commitLsn: 0n, role: 'replica', config: null })
    await expect(replica.mode1Repair(2n, rows)).rejects.toMatchObject({ code: 'SB_MODE1_REPAIR_REFUSED' })
    await primary.setReplState({ generation: 3n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
    await expect(primary.mode1Repair(3n, rows)).rejects.toMatchObject({ code: 'SB_MODE1_REPAIR_REFUSED' })
    expect((await compare(H(100))).diverged).toHaveLength(1)
    // A row whose latest version is another one is skipped, the damaged one repaired.
    const other = { key: leafKeyOfRowKey(rowKey(T, [8n])), versionId: vid(), row: enc('not this version') }
    expect(await replica.mode1Repair(3n, [...rows, other])).toEqual({ repaired: 1, skipped: 1 })
    expect(await compare(H(100))).toEqual({ buckets: [], diverged: [], deferred: [] })
    const [repaired] = await replica.getVersionedMany(T, [[7n]])
    expect(repaired).toEqual(primaryVersion)
    expect(new TextDecoder().decode((await replica.getVersionedMany(T, [[8n]]))[0]!.row!)).toBe('row 8')
    // Repeated: nothing left to write.
    expect(await replica.mode1Repair(3n, rows)).toEqual({ repaired: 0, skipped: 0 })
  })

  it('bad requests are coded errors; the op\'s bytes round-trip', async () => {
    await expect(primary.mode1Verify({ tableIds: [T], snapshotHlc: H(1), buckets: [1024] })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    await expect(primary.mode1Verify({ tableIds: [], snapshotHlc: H(1), buckets: null })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    expect(() => mode1DivergedBuckets([1n], [])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    const codec = codecOf('MODE1_VERIFY')
    const req = { shard: asShardId(3), tableIds: [T, 4], snapshotHlc: H(5), buckets: [0, 1023] }
    expect(codec.decodeRequest(codec.encodeRequest(req))).toEqual(req)
    const reply = await primary.mode1Verify({ tableIds: [T], snapshotHlc: H(100), buckets: null })
    expect(codec.decodeReply(codec.encodeReply({ hashes: reply.hashes, leaves: [], recent: [] })).hashes).toEqual(reply.hashes)
    expect(() => codec.decodeReply(codec.encodeReply({ hashes: [1n, 2n], leaves: [], recent: [] }))).toThrow(expect.objectContaining({ code: expect.stringMatching(/^SB_/) }))
  })

  it('more leaves in the requested buckets than one reply holds: SB_BAD_ARGUMENT naming how many (the caller splits the buckets)', async () => {
    const writes = Array.from({ length: MAX_MODE1_LEAVES }, (_, i) => ({ op: 'insert' as const, tableId: T, pk: [BigInt(1000 + i)], row: enc('x'), versionId: vid() }))
    await primary.autocommit({ writes, commitHlc: H(70) })
    const all = Array.from({ length: 1024 }, (_, b) => b)
    await expect(primary.mode1Verify({ tableIds: [T], snapshotHlc: H(100), buckets: all })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT', details: { too_many_leaves: MAX_MODE1_LEAVES + 49 } })
    // Half the buckets fit.
    expect((await primary.mode1Verify({ tableIds: [T], snapshotHlc: H(100), buckets: all.slice(0, 512) })).leaves.length).toBeLessThanOrEqual(MAX_MODE1_LEAVES)
  })
})
