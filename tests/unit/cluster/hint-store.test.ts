import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import {
  decodeHint, decodeHintId, encodeHintId, encodeHintValue, HINT_KEY_LENGTH, HintStore,
  type Hint, type HintStoreOptions, type StoredHint
} from '../../../src/storage/hint-store'
import type { KvStore } from '../../../src/storage/kv'
import { LevelKv } from '../../../src/storage/kv-level'
import { MemoryKv, MemoryStore } from '../../../src/storage/kv-memory'
import { makeXid } from '../../../src/storage/xid'
import { asNodeId, asShardId, asXid, MAX_SHARDS, NODE_ID_MAX, NODE_ID_MIN, type NodeId } from '../../../src/core/ids'

const T0 = 1_767_225_600_000 // 2026-01-01
const DAY = 86_400_000

function hint (target: NodeId, createdAtMs: number, n: number, over: Partial<Hint> = {}): Hint {
  const versionId = new Uint8Array(16)
  versionId[0] = n >>> 8
  versionId[1] = n & 0xff
  versionId[6] = 0x80 // version 8
  return {
    target,
    shard: asShardId(7),
    tableId: 1000 + (n % 3),
    key: Uint8Array.of(0x14 + 1, n & 0xff),
    xid: makeXid(target, BigInt(n)),
    versionId,
    row: n % 4 === 3 ? null : new Uint8Array(10 + (n % 5)).fill(n & 0xff),
    createdAtMs,
    ...over
  }
}

const plain = (h: Hint): Hint => ({
  target: h.target, shard: h.shard, tableId: h.tableId, key: h.key, xid: h.xid, versionId: h.versionId, row: h.row, createdAtMs: h.createdAtMs
})

function expectCorrupt (f: () => unknown): void {
  try {
    f()
  } catch (e) {
    expect(isScratchBirdError(e, 'SB_STORAGE_CORRUPT')).toBe(true)
    return
  }
  throw new Error('expected SB_STORAGE_CORRUPT')
}

async function rejectsWith (p: Promise<unknown>, code: string): Promise<unknown> {
  try {
    await p
  } catch (e) {
    expect((e as { code?: string }).code).toBe(code)
    return e
  }
  throw new Error(`expected ${code}`)
}

/** One backend: how to open the hint KvStore of a "data directory" again and again. */
interface Backend {
  name: string
  /** A fresh directory; returns an opener for it. */
  fresh (): () => Promise<KvStore>
  cleanup (): void
}

const dirs: string[] = []
const backends: Backend[] = [
  {
    name: 'MemoryKv',
    fresh () { const store = new MemoryStore(); return async () => MemoryKv.open(store) },
    cleanup () {}
  },
  {
    name: 'LevelKv',
    fresh () {
      const dir = mkdtempSync(join(tmpdir(), 'sb-hints-'))
      dirs.push(dir)
      return async () => LevelKv.open(join(dir, 'hints'))
    },
    cleanup () { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) }
  }
]

afterAll(() => { for (const b of backends) b.cleanup() })

describe.each(backends)('HintStore on $name', (backend) => {
  async function fresh (options: HintStoreOptions = {}): Promise<{ store: HintStore, reopen: (o?: HintStoreOptions) => Promise<HintStore>, openKv: () => Promise<KvStore> }> {
    const openKv = backend.fresh()
    const store = await HintStore.open(await openKv(), options)
    return { store, openKv, reopen: async (o = options) => HintStore.open(await openKv(), o) }
  }

  it('opens empty', async () => {
    const { store } = await fresh()
    expect(store.targets()).toEqual([])
    expect(store.stats().size).toBe(0)
    expect(await store.list(asNodeId(2), 10)).toEqual([])
    await store.close()
  })

  it('adds, lists one target oldest first, round-trips every field', async () => {
    const { store } = await fresh()
    const hints = [
      hint(asNodeId(3), T0 + 50, 1), hint(asNodeId(2), T0 + 30, 2), hint(asNodeId(3), T0 + 10, 3), hint(asNodeId(3), T0 + 10, 4),
      hint(asNodeId(2), T0 + 5, 5), hint(asNodeId(0xffff), T0, 6), hint(asNodeId(1), T0, 7), hint(asNodeId(3), T0 + 20, 8, { row: new Uint8Array(0) })
    ]
    const stored = await store.add(hints.slice(0, 4))
    expect(stored.map(plain)).toEqual(hints.slice(0, 4))
    await store.add(hints.slice(4))
    const three = await store.list(asNodeId(3), 100)
    // createdAt order; equal createdAt in insertion order.
    expect(three.map(plain)).toEqual([hints[2], hints[3], hints[7], hints[0]])
    expect(three[2]!.row).toEqual(new Uint8Array(0)) // empty row is not a tombstone
    expect(three[0]!.row).toBeNull()
    expect((await store.list(asNodeId(2), 100)).map(h => h.createdAtMs)).toEqual([T0 + 5, T0 + 30])
    expect((await store.list(asNodeId(0xffff), 100)).map(plain)).toEqual([hints[5]])
    expect((await store.list(asNodeId(1), 100)).map(plain)).toEqual([hints[6]])
    expect(await store.list(asNodeId(4), 100)).toEqual([])
    expect((await store.list(asNodeId(3), 2)).map(plain)).toEqual([hints[2], hints[3]])
    expect(store.targets()).toEqual([1, 2, 3, 0xffff])
    const s3 = store.stats().get(asNodeId(3))!
    expect(s3.count).toBe(4)
    expect(s3.bytes).toBe(three.reduce((n, h) => n + h.bytes, 0))
    await store.close()
  })

  it('list honours maxBytes but always returns at least one hint', async () => {
    const { store } = await fresh()
    await store.add([1, 2, 3, 4].map(n => hint(asNodeId(5), T0 + n, n, { row: new Uint8Array(100) })))
    const one = (await store.list(asNodeId(5), 10))[0]!.bytes
    expect(await store.list(asNodeId(5), 10, { maxBytes: 1 })).toHaveLength(1)
    expect(await store.list(asNodeId(5), 10, { maxBytes: one * 2 })).toHaveLength(2)
    expect(await store.list(asNodeId(5), 10, { maxBytes: one * 2 + one - 1 })).toHaveLength(2)
    await store.close()
  })

  it('removes by id; unknown and repeated ids are skipped', async () => {
    const { store } = await fresh()
    await store.add([1, 2, 3, 4, 5].map(n => hint(asNodeId(2), T0 + n, n)))
    await store.add([hint(asNodeId(3), T0, 9)])
    const listed = await store.list(asNodeId(2), 3)
    expect(await store.remove([listed[0]!.id, listed[1]!.id, listed[1]!.id, encodeHintId(asNodeId(2), T0, 999)])).toBe(2)
    expect((await store.list(asNodeId(2), 10)).map(h => h.createdAtMs)).toEqual([T0 + 3, T0 + 4, T0 + 5])
    expect(store.stats().get(asNodeId(2))!.count).toBe(3)
    expect(await store.remove([listed[0]!.id])).toBe(0)
    const rest = await store.list(asNodeId(2), 10)
    expect(await store.remove(rest.map(h => h.id))).toBe(3)
    expect(store.targets()).toEqual([3])
    expect(store.stats().has(asNodeId(2))).toBe(false)
    await store.close()
  })

  it('expires hints older than the max age, per target, exactly at the cut', async () => {
    const { store } = await fresh()
    await store.add([
      hint(asNodeId(2), T0, 1), hint(asNodeId(2), T0 + DAY, 2), hint(asNodeId(2), T0 + 7 * DAY, 3), hint(asNodeId(3), T0 + 2 * DAY, 4), hint(asNodeId(3), T0 + 9 * DAY, 5)
    ])
    expect(await store.expire(T0 + 7 * DAY, 7 * DAY)).toBe(0) // age exactly 7 days: kept
    expect(await store.expire(T0 + 7 * DAY + 1, 7 * DAY)).toBe(1)
    expect(await store.expire(T0 + 9 * DAY, 7 * DAY)).toBe(1) // (3, T0 + 2 days) is exactly at the cut
    expect((await store.list(asNodeId(2), 10)).map(h => h.createdAtMs)).toEqual([T0 + 7 * DAY])
    expect(store.stats().get(asNodeId(3))!.count).toBe(2)
    expect(await store.expire(T0 + 16 * DAY, 7 * DAY)).toBe(2)
    expect(store.targets()).toEqual([3])
    expect(store.stats().get(asNodeId(3))!.count).toBe(1)
    expect(await store.expire(0, 7 * DAY)).toBe(0)
    await store.close()
  })

  it('expires large numbers in chunks and keeps figures exact', async () => {
    const { store } = await fresh({ sync: false })
    const many: Hint[] = []
    for (let i = 0; i < 12_500; i++) many.push(hint(asNodeId(4), T0 + i, i))
    await store.add(many)
    expect(store.stats().get(asNodeId(4))!.count).toBe(12_500)
    expect(await store.expire(T0 + 12_000 + DAY, DAY)).toBe(12_000)
    expect(store.stats().get(asNodeId(4))!.count).toBe(500)
    expect((await store.list(asNodeId(4), 1))[0]!.createdAtMs).toBe(T0 + 12_000)
    expect(await store.dropTarget(asNodeId(4))).toBe(500)
    expect(store.targets()).toEqual([])
    await store.close()
  })

  it('stats and sequence survive a reopen', async () => {
    const { store, reopen } = await fresh()
    await store.add([hint(asNodeId(2), T0, 1), hint(asNodeId(2), T0, 2), hint(asNodeId(3), T0 + 1, 3)])
    const ids = (await store.list(asNodeId(2), 10)).map(h => h.id)
    await store.remove([ids[0]!])
    const before = store.stats()
    await store.close()

    const again = await reopen()
    expect(again.stats()).toEqual(before)
    expect(again.targets()).toEqual([2, 3])
    expect(again.droppedAtOpen).toBe(0)
    // New hints in the same millisecond sort after the old ones (seq continues above the old max).
    await again.add([hint(asNodeId(2), T0, 4)])
    const list = await again.list(asNodeId(2), 10)
    expect(list.map(h => h.xid & 0xffffn)).toEqual([2n, 4n])
    expect(decodeHintId(list[1]!.id).seq).toBeGreaterThan(decodeHintId(list[0]!.id).seq)
    await again.close()
  })

  it('refuses a batch beyond the per-target cap with SB_HINT_LOG_FULL and stores none of it', async () => {
    const { store, reopen } = await fresh({ maxHintsPerTarget: 3 })
    await store.add([hint(asNodeId(2), T0, 1), hint(asNodeId(2), T0, 2)])
    const e = await rejectsWith(store.add([hint(asNodeId(3), T0, 3), hint(asNodeId(2), T0, 4), hint(asNodeId(2), T0, 5)]), 'SB_HINT_LOG_FULL') as { details: Record<string, unknown> }
    expect(e.details.target_nodes).toEqual([2])
    expect(store.stats().get(asNodeId(2))!.count).toBe(2)
    expect(store.targets()).toEqual([2])
    await store.add([hint(asNodeId(3), T0, 3), hint(asNodeId(2), T0, 4)])
    await rejectsWith(store.add([hint(asNodeId(2), T0, 6)]), 'SB_HINT_LOG_FULL')
    // After a delivery frees room, hints are accepted again.
    await store.remove([(await store.list(asNodeId(2), 1))[0]!.id])
    await store.add([hint(asNodeId(2), T0, 6)])
    await store.close()
    // The cap holds after a restart too (figures rebuilt from the scan).
    const again = await reopen()
    await rejectsWith(again.add([hint(asNodeId(2), T0, 7)]), 'SB_HINT_LOG_FULL')
    await again.close()
  })

  it('caps bytes per target too', async () => {
    const { store } = await fresh({ maxBytesPerTarget: 300 })
    await store.add([hint(asNodeId(2), T0, 1, { row: new Uint8Array(100) })])
    await rejectsWith(store.add([hint(asNodeId(2), T0, 2, { row: new Uint8Array(200) })]), 'SB_HINT_LOG_FULL')
    await store.add([hint(asNodeId(2), T0, 2, { row: new Uint8Array(50) })])
    expect(store.stats().get(asNodeId(2))!.bytes).toBeLessThanOrEqual(300)
    await store.close()
  })

  it('concurrent adds cannot race past the cap', async () => {
    const { store } = await fresh({ maxHintsPerTarget: 10, sync: false })
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.add([hint(asNodeId(2), T0 + i, i)])))
    expect(results.filter(r => r.status === 'fulfilled')).toHaveLength(10)
    expect(store.stats().get(asNodeId(2))!.count).toBe(10)
    expect(await store.list(asNodeId(2), 100)).toHaveLength(10)
    await store.close()
  })

  it('a stored value naming a shard id at or above MAX_SHARDS is corrupt, not a hint for a shard that cannot exist', () => {
    const h = { target: asNodeId(2), shard: asShardId(MAX_SHARDS - 1), tableId: 1, key: Uint8Array.of(1), xid: asXid(1n), versionId: new Uint8Array(16), row: null, createdAtMs: T0 }
    const id = encodeHintId(asNodeId(2), T0, 1)
    const value = encodeHintValue(h)
    expect(decodeHint(id, value).shard).toBe(MAX_SHARDS - 1)
    const bad = value.slice()
    new DataView(bad.buffer).setUint32(2, MAX_SHARDS, false) // format u8 · flags u8 · shard u32
    expect(() => decodeHint(id, bad)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT', message: expect.stringContaining(`shard id ${MAX_SHARDS}`) }))
  })

  it('a stored key naming target node 0 (reserved) is corrupt, not a hint for a node that cannot exist', () => {
    const id = encodeHintId(asNodeId(1), T0, 1)
    expect(decodeHintId(id).target).toBe(1)
    id[2] = 0 // target u16 after the 'h' prefix: 1 → 0
    expect(() => decodeHintId(id)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT', message: expect.stringContaining('target node id 0') }))
  })

  it('a corrupt value is SB_STORAGE_CORRUPT on list; dropCorrupt removes it and fixes the figures', async () => {
    const { store, openKv } = await fresh()
    await store.add([hint(asNodeId(2), T0, 1), hint(asNodeId(2), T0 + 1, 2), hint(asNodeId(2), T0 + 2, 3)])
    const victim = (await store.list(asNodeId(2), 10))[1]!
    await store.close()
    const kv = await openKv()
    await kv.batch([{ type: 'put', key: victim.id, value: Uint8Array.of(1, 0, 0) }], { sync: false })
    await kv.close()

    const again = await HintStore.open(await openKv())
    expect(again.stats().get(asNodeId(2))!.count).toBe(3)
    expect((await again.list(asNodeId(2), 1)).map(h => h.createdAtMs)).toEqual([T0])
    const err = await rejectsWith(again.list(asNodeId(2), 10), 'SB_STORAGE_CORRUPT') as { details: Record<string, unknown> }
    expect(err.details.target_node).toBe(2)
    expect(await again.dropCorrupt(asNodeId(2))).toBe(1)
    expect((await again.list(asNodeId(2), 10)).map(h => h.createdAtMs)).toEqual([T0, T0 + 2])
    expect(again.stats().get(asNodeId(2))!.count).toBe(2)
    expect(again.stats().get(asNodeId(2))!.bytes).toBe((await again.list(asNodeId(2), 10)).reduce((n, h) => n + h.bytes, 0))
    await again.close()
  })

  it('malformed keys in the hint range are dropped at open; other key ranges are left alone', async () => {
    const { store, openKv } = await fresh()
    await store.add([hint(asNodeId(2), T0, 1)])
    await store.close()
    const kv = await openKv()
    await kv.batch([
      { type: 'put', key: Uint8Array.of(0x68, 0, 2), value: Uint8Array.of(1) },
      { type: 'put', key: Uint8Array.of(0x6d, 1), value: Uint8Array.of(1) }
    ], { sync: false })
    await kv.close()
    const again = await HintStore.open(await openKv())
    expect(again.droppedAtOpen).toBe(1)
    expect(again.stats().get(asNodeId(2))!.count).toBe(1)
    expect(await again.list(asNodeId(2), 10)).toHaveLength(1)
    await again.close()
    const raw = await openKv()
    expect(await raw.get(Uint8Array.of(0x68, 0, 2))).toBeUndefined()
    expect([...(await raw.get(Uint8Array.of(0x6d, 1)))!]).toEqual([1])
    await raw.close()
  })

  it('after close, calls fail with SB_SHUTTING_DOWN', async () => {
    const { store } = await fresh()
    const pending = store.add([hint(asNodeId(2), T0, 1)])
    await store.close()
    await pending
    await rejectsWith(store.add([hint(asNodeId(2), T0, 2)]), 'SB_SHUTTING_DOWN')
    await rejectsWith(store.remove([]), 'SB_SHUTTING_DOWN')
    await rejectsWith(store.list(asNodeId(2), 1), 'SB_SHUTTING_DOWN')
  })
})

describe('hint encoding', () => {
  const hintArb: fc.Arbitrary<Hint> = fc.record({
    target: fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)),
    shard: fc.integer({ min: 0, max: MAX_SHARDS - 1 }).map(s => asShardId(s)),
    tableId: fc.integer({ min: 0, max: 0xffff_ffff }),
    key: fc.uint8Array({ maxLength: 300 }),
    xid: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(asXid),
    versionId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    row: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null }),
    createdAtMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })
  })

  it('round-trips and orders keys by (target, createdAt, seq)', () => {
    fc.assert(fc.property(hintArb, fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (h, seq) => {
      const id = encodeHintId(h.target, h.createdAtMs, seq)
      expect(id.length).toBe(HINT_KEY_LENGTH)
      expect(decodeHintId(id)).toEqual({ target: h.target, createdAtMs: h.createdAtMs, seq })
      const back: StoredHint = decodeHint(id, encodeHintValue(h))
      expect(plain(back)).toEqual(plain(h))
    }))
    const cmp = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b)
    fc.assert(fc.property(fc.tuple(fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)), fc.nat(), fc.nat()), fc.tuple(fc.integer({ min: NODE_ID_MIN, max: NODE_ID_MAX }).map(n => asNodeId(n)), fc.nat(), fc.nat()), (a, b) => {
      const expected = a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
      expect(Math.sign(cmp(encodeHintId(...a), encodeHintId(...b)))).toBe(Math.sign(expected))
    }))
  })

  it('decoding garbage gives SB_STORAGE_CORRUPT or a hint, never a crash', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 24 }), fc.uint8Array({ maxLength: 80 }), (k, v) => {
      try {
        decodeHint(k, v)
      } catch (e) {
        expect(isScratchBirdError(e, 'SB_STORAGE_CORRUPT')).toBe(true)
      }
    }), { numRuns: 2000 })
  })

  it('mutated encodings decode to SB_STORAGE_CORRUPT or a hint that re-encodes to the same bytes', () => {
    fc.assert(fc.property(hintArb, fc.nat(), fc.nat({ max: 255 }), fc.nat(), (h, at, byte, cut) => {
      const id = encodeHintId(h.target, h.createdAtMs, 1)
      const v = encodeHintValue(h)
      const flipped = v.slice()
      flipped[at % v.length] = byte
      for (const bad of [flipped, v.subarray(0, cut % v.length), Uint8Array.of(...v, 0)]) {
        try {
          const back = decodeHint(id, bad)
          expect(Buffer.from(encodeHintValue(back)).equals(Buffer.from(bad))).toBe(true)
        } catch (e) {
          expect(isScratchBirdError(e, 'SB_STORAGE_CORRUPT')).toBe(true)
        }
      }
    }), { numRuns: 1000 })
  })

  it('rejects non-canonical key fields', () => {
    const id = encodeHintId(asNodeId(2), T0, 5)
    expectCorrupt(() => decodeHintId(id.subarray(0, 18)))
    const wrongPrefix = id.slice(); wrongPrefix[0] = 0x67
    expectCorrupt(() => decodeHintId(wrongPrefix))
    const huge = id.slice(); huge[3] = 0xff
    expectCorrupt(() => decodeHintId(huge))
  })
})

describe('hint store in a shared KvStore (a shard\'s own store)', () => {
  it('importStored keeps ids, stores nothing twice, re-keys an id holding a different hint; ownsKv false leaves the KvStore open', async () => {
    const disk = new MemoryStore()
    const kv = MemoryKv.open(disk)
    const s = await HintStore.open(kv, { sync: false, ownsKv: false })
    const [a, b] = await s.add([hint(asNodeId(2), T0, 1), hint(asNodeId(2), T0, 2)])
    const entries = [a!, b!].map(h => ({ id: h.id, value: encodeHintValue(h) }))
    // The same entries again (a repeated copy): nothing new.
    expect(await s.importStored([...entries, entries[0]!])).toBe(0)
    expect(s.stats().get(asNodeId(2))?.count).toBe(2)
    // Another store's hint under an id taken here by a different hint: stored under a fresh id.
    const other = { id: a!.id, value: encodeHintValue(hint(asNodeId(2), T0, 9)) }
    const foreign = { id: encodeHintId(asNodeId(3), T0, 500), value: encodeHintValue(hint(asNodeId(3), T0, 10)) }
    expect(await s.importStored([other, foreign])).toBe(2)
    expect(s.stats().get(asNodeId(2))?.count).toBe(3)
    expect((await s.list(asNodeId(3), 10))[0]!.id).toEqual(foreign.id)
    // Later hints get sequence numbers above the imported ones.
    const [c] = await s.add([hint(asNodeId(3), T0, 11)])
    expect(decodeHintId(c!.id).seq).toBeGreaterThan(500)
    await s.close()
    expect(await kv.get(a!.id)).toBeDefined() // still open: the engine owns it
    await kv.close()
    const again = await HintStore.open(MemoryKv.open(disk))
    expect(again.stats()).toEqual(new Map([[2, s.stats().get(asNodeId(2))], [3, s.stats().get(asNodeId(3))]]))
    await again.close()
  })

  it('list with atLeastOne false returns nothing when the first hint alone is over maxBytes', async () => {
    const s = await HintStore.open(MemoryKv.open(), { sync: false })
    await s.add([hint(asNodeId(2), T0, 1)])
    expect(await s.list(asNodeId(2), 10, { maxBytes: 1 })).toHaveLength(1)
    expect(await s.list(asNodeId(2), 10, { maxBytes: 1, atLeastOne: false })).toHaveLength(0)
    await s.close()
  })
})
