import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../../src/core/hash'
import { encodeUuidV8 } from '../../../../src/core/hlc'
import { bucketOf, diffLeaves, MERKLE_BUCKETS, MerkleTree, rowImageHash, type MerkleLeaf } from '../../../../src/storage/merkle/tree'
import { compareVersionIds } from '../../../../src/storage/lww'

beforeAll(async () => { await initHashing() })

const version = (ts: number, counter = 0, nodeId = 1): Uint8Array => encodeUuidV8({ ts, counter, nodeId, random: 7 })
const key = (s: string): Uint8Array => new TextEncoder().encode(s)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

interface Spec { key: Uint8Array, ts: number, rowHash: bigint }

/** Leaves with distinct keys. */
const leavesArb = fc.uniqueArray(
  fc.record({ key: fc.uint8Array({ minLength: 0, maxLength: 12 }), ts: fc.integer({ min: 0, max: 2 ** 40 }), rowHash: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
  { selector: l => hex(l.key), maxLength: 80 })

function build (leaves: readonly Spec[]): MerkleTree {
  const t = new MerkleTree()
  for (const l of leaves) t.set(l.key, version(l.ts), l.rowHash)
  return t
}

describe('MerkleTree', () => {
  it('an empty tree has root 0 and every bucket 0', () => {
    const t = new MerkleTree()
    expect(t.root()).toBe(0n)
    expect(t.bucketHashes()).toEqual(new Array(MERKLE_BUCKETS).fill(0n))
  })

  it('the root is the same under every insertion order', () => {
    fc.assert(fc.property(leavesArb.chain(ls => fc.tuple(fc.constant(ls), fc.shuffledSubarray(ls, { minLength: ls.length, maxLength: ls.length }))), ([ls, shuffled]) => {
      const a = build(ls)
      const b = build(shuffled)
      expect(b.root()).toBe(a.root())
      expect(b.bucketHashes()).toEqual(a.bucketHashes())
    }), { numRuns: 200 })
  })

  it('the root does not depend on when it was computed (lazy rehash = full rehash)', () => {
    fc.assert(fc.property(leavesArb, fc.integer({ min: 0, max: 80 }), (ls, cut) => {
      const a = new MerkleTree()
      ls.forEach((l, i) => {
        a.set(l.key, version(l.ts), l.rowHash)
        if (i === cut) a.root() // an intermediate root must not leave stale hashes behind
      })
      expect(a.root()).toBe(build(ls).root())
    }), { numRuns: 200 })
  })

  it('set replaces the key\'s leaf; delete removes it; the root follows the content', () => {
    const t = new MerkleTree()
    t.set(key('a'), version(1), 5n)
    const one = t.root()
    expect(one).not.toBe(0n)
    t.set(key('b'), version(2), 6n)
    expect(t.size).toBe(2)
    t.set(key('b'), version(3), 7n)
    expect(t.size).toBe(2)
    expect(t.get(key('b'))).toMatchObject({ rowHash: 7n })
    expect(t.delete(key('b'))).toBe(true)
    expect(t.delete(key('b'))).toBe(false)
    expect(t.root()).toBe(one)
    t.delete(key('a'))
    expect(t.root()).toBe(0n)
  })

  it('setIfNewer (the write path) agrees with get/compareVersionIds and set, deletes mixed in', () => {
    const arb = fc.array(fc.record({ k: fc.integer({ min: 0, max: 60 }), ts: fc.integer({ min: 0, max: 2 ** 40 }), c: fc.integer({ min: 0, max: 4095 }), del: fc.boolean() }), { maxLength: 200 })
    fc.assert(fc.property(arb, (writes) => {
      const slow = new MerkleTree()
      const fast = new MerkleTree()
      for (const w of writes) {
        const k = key(`k${w.k}`)
        if (w.del && w.c % 4 === 0) {
          expect(fast.delete(k)).toBe(slow.delete(k))
          continue
        }
        const v = version(w.ts, w.c)
        const held = slow.get(k)
        const newer = held === undefined || compareVersionIds(v, held.version) > 0
        const hash = ((BigInt(w.ts) << 22n) ^ BigInt(w.c) ^ (BigInt(w.k) << 58n)) & 0xffff_ffff_ffff_ffffn
        expect(fast.setIfNewer(k, v, Number(hash >> 32n), Number(hash & 0xffff_ffffn))).toBe(newer)
        if (newer) slow.set(k, v, hash)
      }
      expect(fast.size).toBe(slow.size)
      expect(fast.root()).toBe(slow.root())
      expect([...fast.leaves()]).toEqual([...slow.leaves()])
      for (let i = 0; i <= 60; i++) expect(fast.get(key(`k${i}`))).toEqual(slow.get(key(`k${i}`)))
    }), { numRuns: 200 })
  })

  it('many deletes (table shifts, moved leaves, arena compaction) leave exactly the survivors', () => {
    const t = new MerkleTree()
    const N = 20_000 // enough deleted key bytes to compact the key arena (> 64 KiB)
    const keys = Array.from({ length: N }, (_, i) => key(`key-${i}-${'p'.repeat(i % 13)}`))
    keys.forEach((k, i) => t.set(k, version(i + 1), BigInt(i)))
    const gone = new Set<number>()
    for (let i = 0; i < N; i++) if ((i * 7919) % 10 < 8) { expect(t.delete(keys[i]!)).toBe(true); gone.add(i) }
    const fresh = new MerkleTree()
    keys.forEach((k, i) => { if (!gone.has(i)) fresh.set(k, version(i + 1), BigInt(i)) })
    expect(t.size).toBe(N - gone.size)
    expect(t.heapBytes()).toBeLessThan(fresh.heapBytes() * 1.5) // chunks and arena given back
    expect(t.root()).toBe(fresh.root())
    keys.forEach((k, i) => expect(t.get(k)?.rowHash).toBe(gone.has(i) ? undefined : BigInt(i)))
    // and the tree keeps working after the compaction
    t.set(keys[0]!, version(99_999), 1n)
    expect(t.get(keys[0]!)?.rowHash).toBe(1n)
  })

  it('heapBytes counts the packed leaves: it grows with the leaves and stays within 48 bytes per leaf of a 12-byte key', () => {
    // the shape bench/merkle.ts measures (merkle_bytes_per_leaf: heap + external of the process)
    const t = new MerkleTree()
    const empty = t.heapBytes()
    const k = new Uint8Array(12)
    const v = new DataView(k.buffer)
    for (let i = 0; i < 100_000; i++) {
      v.setUint32(0, 0x7400_0001); v.setBigUint64(4, BigInt(i))
      t.set(k, version(i), BigInt(i))
    }
    const perLeaf = (t.heapBytes() - empty) / t.size
    expect(perLeaf).toBeGreaterThan(24 + 12) // at least the version, row hash and key bytes
    expect(perLeaf).toBeLessThanOrEqual(48)
  })

  it('lookups in crowded buckets of keys sharing long prefixes find exactly the keys held (the binary search)', () => {
    // ~30 keys a bucket, most sharing 4 to 12 leading bytes with their neighbours, some a prefix of others
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), seed => {
      let x = seed
      const rnd = (n: number): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return (x >>> 8) % n }
      const keyAt = (): Uint8Array => Uint8Array.from({ length: rnd(14) }, (_, j) => (j < 4 ? 7 : j < 10 ? rnd(3) : rnd(256)))
      const t = new MerkleTree()
      const model = new Map<string, bigint>()
      for (let i = 0; i < 30_000; i++) {
        const k = keyAt()
        if (i % 7 === 0) { expect(t.delete(k)).toBe(model.delete(hex(k))); continue }
        t.setIfNewer(k, version(i), 0, i)
        model.set(hex(k), BigInt(i))
      }
      expect(t.size).toBe(model.size)
      for (let i = 0; i < 3000; i++) {
        const k = keyAt()
        expect(t.get(k)?.rowHash).toBe(model.get(hex(k)))
      }
      for (const [id, h] of model) expect(t.get(Buffer.from(id, 'hex'))?.rowHash).toBe(h)
      for (let b = 0; b < MERKLE_BUCKETS; b += 97) {
        const ls = t.leavesOf(b).map(l => Buffer.from(l.key))
        for (let i = 1; i < ls.length; i++) expect(Buffer.compare(ls[i - 1]!, ls[i]!)).toBe(-1)
      }
    }), { numRuns: 4 })
  })

  it('keys longer than an arena chunk, and buckets that grow and shrink back, keep every leaf', () => {
    const t = new MerkleTree()
    const model = new Map<string, bigint>()
    const huge = (i: number): Uint8Array => new Uint8Array(70_000 + i).map((_, j) => (j * 13 + i) & 0xff)
    const keys: Uint8Array[] = []
    for (let i = 0; i < 3000; i++) keys.push(i % 500 === 0 ? huge(i) : key(`k-${i}`))
    keys.forEach((k, i) => { t.set(k, version(i), BigInt(i)); model.set(hex(k), BigInt(i)) })
    // empty most of every bucket (their ref arrays shrink), then grow them again
    keys.forEach((k, i) => { if (i % 8 !== 0) { expect(t.delete(k)).toBe(true); model.delete(hex(k)) } })
    keys.forEach((k, i) => { if (i % 16 === 1) { t.set(k, version(i + 5000), 7n); model.set(hex(k), 7n) } })
    expect(t.size).toBe(model.size)
    for (const k of keys) expect(t.get(k)?.rowHash).toBe(model.get(hex(k)))
    const fresh = new MerkleTree()
    for (const l of t.leaves()) fresh.set(l.key, l.version, l.rowHash)
    expect(fresh.root()).toBe(t.root())
    expect(hex([...t.leaves()].find(l => l.key.length > 65_536)!.key)).toBe(hex(huge(0)))
  })

  it('a different version, row hash or key changes the root', () => {
    const base = build([{ key: key('k'), ts: 10, rowHash: 1n }]).root()
    expect(build([{ key: key('k'), ts: 11, rowHash: 1n }]).root()).not.toBe(base)
    expect(build([{ key: key('k'), ts: 10, rowHash: 2n }]).root()).not.toBe(base)
    expect(build([{ key: key('j'), ts: 10, rowHash: 1n }]).root()).not.toBe(base)
  })

  it('copies the caller\'s bytes', () => {
    const k = key('x')
    const v = version(5)
    const t = new MerkleTree()
    t.set(k, v, 1n)
    const root = t.root()
    k[0] = 0; v[15] = 0
    expect(build([{ key: key('x'), ts: 5, rowHash: 1n }]).root()).toBe(root)
    expect(t.get(key('x'))).toBeDefined()
  })

  it('long keys (the other byte-to-string path) behave like short ones', () => {
    const long = new Uint8Array(1000).map((_, i) => (i * 31) & 0xff)
    const t = new MerkleTree()
    t.set(long, version(9), 3n)
    expect(hex(t.get(long.slice())!.key)).toBe(hex(long))
    expect(hex([...t.leaves()][0]!.key)).toBe(hex(long))
    expect(t.delete(long.slice())).toBe(true)
    expect(t.size).toBe(0)
  })

  it('leavesOf returns a bucket in unsigned key order', () => {
    const t = new MerkleTree()
    const keys: Uint8Array[] = []
    for (let i = 0; i < 5000; i++) keys.push(Uint8Array.of(i & 0xff, (i * 7) & 0xff, 0x80 + (i % 3)))
    for (const k of keys) t.set(k, version(1), 0n)
    for (let b = 0; b < MERKLE_BUCKETS; b++) {
      const ls = t.leavesOf(b).map(l => Buffer.from(l.key))
      expect(ls.every(k => bucketOf(k) === b)).toBe(true)
      for (let i = 1; i < ls.length; i++) expect(Buffer.compare(ls[i - 1]!, ls[i]!)).toBe(-1)
    }
  })

  it('bad leaves and peer bucket lists are SB_BAD_ARGUMENT, tree unchanged', () => {
    const t = new MerkleTree()
    t.set(key('a'), version(1), 1n)
    const root = t.root()
    expect(() => t.set(key('b'), new Uint8Array(15), 1n)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => t.set(key('b'), version(1), -1n)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => t.set(key('b'), version(1), 2n ** 64n)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => t.diffBuckets([1n, 2n])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => t.leavesOf(MERKLE_BUCKETS)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => t.get('a' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => t.delete([1] as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(t.size).toBe(1)
    expect(t.root()).toBe(root)
  })

  it('rowImageHash: a tombstone differs from every row image tried, including the empty one', () => {
    expect(rowImageHash(null)).toBe(rowImageHash(null))
    expect(rowImageHash(null)).not.toBe(rowImageHash(new Uint8Array(0)))
    expect(rowImageHash(key('r'))).toBe(rowImageHash(key('r')))
  })
})

describe('drill-down', () => {
  type Edit = { kind: 'drop' } | { kind: 'newer', ts: number } | { kind: 'older' } | { kind: 'rehash', rowHash: bigint }
  const editArb: fc.Arbitrary<Edit> = fc.oneof(
    fc.constant({ kind: 'drop' as const }),
    fc.record({ kind: fc.constant('newer' as const), ts: fc.integer({ min: 1, max: 1000 }) }),
    fc.constant({ kind: 'older' as const }),
    fc.record({ kind: fc.constant('rehash' as const), rowHash: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }))
  const extraArb = fc.uniqueArray(fc.uint8Array({ minLength: 13, maxLength: 16 }), { selector: hex, maxLength: 5 }) // longer than leavesArb keys: never clash

  it('finds exactly the edited keys, and which side is newer', () => {
    fc.assert(fc.property(leavesArb, fc.array(fc.tuple(fc.nat(), editArb), { maxLength: 10 }), extraArb, (ls, edits, extra) => {
      const specs = ls.map(l => ({ ...l, ts: l.ts + 2000 })) // room for older versions
      const mine = build(specs)
      const theirs = build(specs)
      const expected = new Map<string, 'mine' | 'theirs' | 'neither'>()
      for (const [i, e] of edits) {
        if (specs.length === 0) break
        const s = specs[i % specs.length]!
        const id = hex(s.key)
        if (expected.has(id)) continue // one edit per key keeps the expectation simple
        if (e.kind === 'drop') { theirs.delete(s.key); expected.set(id, 'mine') }
        if (e.kind === 'newer') { theirs.set(s.key, version(s.ts + e.ts), s.rowHash); expected.set(id, 'theirs') }
        if (e.kind === 'older') { theirs.set(s.key, version(s.ts - 1000), s.rowHash); expected.set(id, 'mine') }
        if (e.kind === 'rehash') {
          if (e.rowHash === s.rowHash) continue
          theirs.set(s.key, version(s.ts), e.rowHash); expected.set(id, 'neither')
        }
      }
      for (const k of extra) { theirs.set(k, version(1), 1n); expected.set(hex(k), 'theirs') }

      const found = new Map<string, string>()
      const buckets = mine.diffBuckets(theirs.bucketHashes())
      for (const b of buckets) {
        for (const d of diffLeaves(mine.leavesOf(b), theirs.leavesOf(b))) found.set(hex(d.key), d.newer)
      }
      expect(found).toEqual(expected)
      expect(buckets.length === 0).toBe(mine.root() === theirs.root())
      // only buckets holding an edited key are visited
      expect(buckets).toEqual([...new Set([...expected.keys()].map(k => bucketOf(Buffer.from(k, 'hex'))))].sort((a, b) => a - b))
    }), { numRuns: 300 })
  })

  it('diffLeaves applies the production LWW order to version ids (not the row hash)', () => {
    const a: MerkleLeaf = { key: key('k'), version: version(100, 5), rowHash: 1n }
    const b: MerkleLeaf = { key: key('k'), version: version(100, 6), rowHash: 0n }
    expect(diffLeaves([a], [b])).toEqual([{ key: a.key, mine: a, theirs: b, newer: 'theirs' }])
    expect(diffLeaves([b], [a])[0]!.newer).toBe('mine')
    expect(diffLeaves([a], [{ ...a }])).toEqual([])
  })

  it('diffLeaves: a malformed leaf (from a peer) is SB_BAD_ARGUMENT, not a TypeError', () => {
    const good: MerkleLeaf = { key: key('k'), version: version(1), rowHash: 1n }
    const bad = [
      { key: 'k', version: version(1), rowHash: 1n },
      { key: key('k'), version: new Uint8Array(3), rowHash: 1n },
      { key: key('k'), version: version(1), rowHash: 1 },
      null
    ] as unknown as MerkleLeaf[]
    for (const b of bad) {
      expect(() => diffLeaves([good], [b])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
      expect(() => diffLeaves([b], [good])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    }
  })
})
