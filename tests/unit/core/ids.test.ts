import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { isScratchBirdError } from '../../../src/core/errors'
import { asHlcTs, asNodeId, asShardId, asXid, MAX_SHARDS, NODE_ID_MAX, shardIds, type HlcTs, type NodeId, type ShardId, type Xid } from '../../../src/core/ids'
import { decisionShard } from '../../../src/cluster/twopc/decision'
import { shardOf } from '../../../src/core/partition'
import { preferenceList } from '../../../src/cluster/placement'
import { hintsOf } from '../../../src/cluster/hints/batches'
import { encodeHintId } from '../../../src/storage/hint-store'
import { tipKey } from '../../../src/storage/keys'
import { encodeTipEntry } from '../../../src/storage/tip'
import { hlcTs, HLC_ZERO } from '../../../src/storage/types'
import { makeXid } from '../../../src/storage/xid'

// The brands exist only for the compiler: tsc checks every `@ts-expect-error` below (an unused
// one is itself an error), so if Xid and HlcTs ever collapse into plain bigint again — or into
// each other — `npx tsc --noEmit -p .` fails on this file. vitest checks the run-time half: a
// branded id is the same bigint it was made from.

const takesXid = (x: Xid): bigint => x
const takesHlc = (h: HlcTs): bigint => h

describe('branded Xid / HlcTs', () => {
  it('an Xid is not an HlcTs, an HlcTs is not an Xid, a plain bigint is neither', () => {
    const xid = makeXid(asNodeId(3), 9n)
    const hlc = hlcTs(1_000)
    const plain = 42n
    // @ts-expect-error an Xid where an HLC timestamp is expected
    takesHlc(xid)
    // @ts-expect-error an HLC timestamp where an Xid is expected
    takesXid(hlc)
    // @ts-expect-error a plain bigint is not an HLC timestamp
    takesHlc(plain)
    // @ts-expect-error a plain bigint is not an Xid
    takesXid(plain)
    // @ts-expect-error nor is a literal
    const x: Xid = 5n
    // @ts-expect-error arithmetic on a brand yields a plain bigint, which must be re-branded
    const h: HlcTs = hlc + 1n
    expect([x, h]).toEqual([5n, hlc + 1n])
  })

  it('storage keys and TIP entries take their own kind', () => {
    // @ts-expect-error a TIP key is made from an xid, not an HLC
    tipKey(hlcTs(1_000))
    // @ts-expect-error a TIP entry stores a commit HLC, not an xid
    encodeTipEntry('committed', makeXid(3, 9n))
    expect(tipKey(makeXid(asNodeId(3), 9n))).toEqual(tipKey(asXid((3n << 48n) | 9n)))
  })

  it('each id is accepted where its own kind is expected, and a brand is still a bigint', () => {
    expect(takesXid(makeXid(asNodeId(3), 9n))).toBe((3n << 48n) | 9n)
    expect(takesXid(asXid(7n))).toBe(7n)
    expect(takesHlc(hlcTs(1_000, 5))).toBe((1_000n << 12n) | 5n)
    expect(takesHlc(asHlcTs(7n))).toBe(7n)
    expect(takesHlc(HLC_ZERO)).toBe(0n)
    const asPlain: bigint = asXid(1n) // widening to bigint is allowed (codecs write u64s)
    expect(typeof asPlain).toBe('bigint')
  })
})

beforeAll(async () => { await initHashing() })

const takesNode = (n: NodeId): number => n
const takesShard = (s: ShardId): number => s

describe('branded NodeId / ShardId', () => {
  it('a shard id is not a node id, a node id is not a shard id, a plain number is neither', () => {
    const node = asNodeId(3)
    const shard = asShardId(3)
    const plain = 3
    // @ts-expect-error a shard id where a node id is expected
    takesNode(shard)
    // @ts-expect-error a node id where a shard id is expected
    takesShard(node)
    // @ts-expect-error a plain number is not a node id
    takesNode(plain)
    // @ts-expect-error a plain number is not a shard id
    takesShard(plain)
    // @ts-expect-error nor is a literal
    const n: NodeId = 1
    // @ts-expect-error arithmetic on a brand yields a plain number, which must be re-branded
    const s: ShardId = shard + 1
    // @ts-expect-error a list of plain numbers is not a list of shard ids (loops use shardIds())
    const list: ShardId[] = [0, 1, 2]
    expect([n, s, list]).toEqual([1, 4, [0, 1, 2]])
  })

  it('each id is accepted where its own kind is expected, and a brand is still a number', () => {
    expect(takesNode(asNodeId(1))).toBe(1)
    expect(takesNode(asNodeId(NODE_ID_MAX))).toBe(NODE_ID_MAX)
    expect(takesShard(asShardId(0))).toBe(0)
    expect(takesShard(asShardId(MAX_SHARDS - 1))).toBe(MAX_SHARDS - 1)
    expect(takesShard(asShardId(5, 6))).toBe(5)
    const asPlain: number = asShardId(2) // widening to number is allowed (codecs write u32s)
    expect(asPlain).toBe(2)
  })

  it('asNodeId / asShardId refuse a value outside the range with a coded error', () => {
    const code = (f: () => unknown): string | undefined => {
      try { f() } catch (e) { return isScratchBirdError(e) ? e.code : 'uncoded' }
      return undefined
    }
    for (const bad of [0, -1, NODE_ID_MAX + 1, 1.5, Number.NaN]) expect(code(() => asNodeId(bad)), String(bad)).toBe('SB_BAD_ARGUMENT')
    for (const bad of [-1, MAX_SHARDS, 0.5, Number.NaN]) expect(code(() => asShardId(bad)), String(bad)).toBe('SB_BAD_ARGUMENT')
    // Against a layout's own shard count.
    expect(code(() => asShardId(16, 16))).toBe('SB_BAD_ARGUMENT')
  })

  it('shardIds(count) enumerates 0 ‥ count - 1 and refuses a count outside 0 ‥ MAX_SHARDS', () => {
    expect(shardIds(4)).toEqual([0, 1, 2, 3])
    expect(shardIds(0)).toEqual([])
    expect(shardIds(MAX_SHARDS)).toHaveLength(MAX_SHARDS)
    expect(() => shardIds(MAX_SHARDS + 1)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => shardIds(-1)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
  })

  it('placement, hints and the storage keys take their own kind', () => {
    // @ts-expect-error a node id where a shard id is expected
    preferenceList(asNodeId(1), [asNodeId(1)])
    // @ts-expect-error shard ids are not a membership
    preferenceList(asShardId(0), [asShardId(1)])
    // @ts-expect-error a hint's target is a node, not a shard
    hintsOf(asShardId(1), { shard: asShardId(1), xid: asXid(1n), writes: [] }, 0)
    // @ts-expect-error an xid is built from a node id, not a shard id
    makeXid(asShardId(3), 9n)
    // @ts-expect-error a hint id is keyed by a node id, not a plain number
    encodeHintId(2, 0, 0)
    const list: NodeId[] = preferenceList(asShardId(0), [asNodeId(1), asNodeId(2)])
    expect([...list].sort()).toEqual([1, 2])
  })

  it('computed shard ids come out branded: partition hashing and the 2PC decision shard', () => {
    const s: ShardId = decisionShard(asXid(37n), 16)
    expect(s).toBe(37 % 16)
    const p: ShardId = shardOf([{ type: 'int', value: 1n }], 16)
    expect(p).toBeGreaterThanOrEqual(0)
    expect(p).toBeLessThan(16)
  })
})
