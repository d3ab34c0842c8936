import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing, xxhash64 } from '../../../../src/core/hash'
import { encodeUuidV8 } from '../../../../src/core/hlc'
import { decodeTree, encodeTree } from '../../../../src/storage/merkle/codec'
import { MERKLE_BUCKETS, MerkleTree } from '../../../../src/storage/merkle/tree'

// Roots, bucket hashes and encoded trees are a wire and disk format: a peer on an older build
// compares its roots with ours and a stored sealed tree is decoded by whatever build reads it. So
// however the tree is laid out in memory, these must not change. Two checks: fixed values computed
// by the first packed tree (commit 77c66cf), and an independent model of the definition (WASM
// xxhash64, plain arrays) that every tree must agree with.

beforeAll(async () => { await initHashing() })

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** The 3,000 writes behind the fixed values below: keys of 0 to 349 bytes, repeated keys replaced. */
function fixedTree (): MerkleTree {
  const t = new MerkleTree()
  let x = 12345
  const rnd = (): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x }
  for (let i = 0; i < 3000; i++) {
    const len = i % 97 === 0 ? 200 + (i % 150) : (i % 20)
    const k = Uint8Array.from({ length: len }, (_, j) => (j < 3 ? j : (rnd() >>> 8) & 0xff))
    t.set(k, encodeUuidV8({ ts: 1_760_000_000_000 + i * 37, counter: i & 0xfff, nodeId: i % 5, random: i * 7919 }), (BigInt(rnd()) << 32n) | BigInt(rnd()))
  }
  return t
}

function bucketHashesDigest (hashes: readonly bigint[]): bigint {
  const buf = new Uint8Array(8 * hashes.length)
  const dv = new DataView(buf.buffer)
  hashes.forEach((h, i) => dv.setBigUint64(8 * i, h))
  return xxhash64(buf)
}

function varint (n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return out
}

function u64be (v: bigint): number[] {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, v)
  return [...b]
}

interface Leaf { key: Uint8Array, version: Uint8Array, rowHash: bigint }

/** The definition, written out: bucket = low bits of xxhash64(key); bucket hash over its leaves in key order; node = xxhash64(left ‖ right), 0 over two 0s. */
function modelHashes (leaves: readonly Leaf[]): { root: bigint, buckets: bigint[] } {
  const byBucket: Leaf[][] = Array.from({ length: MERKLE_BUCKETS }, () => [])
  for (const l of leaves) byBucket[Number(xxhash64(l.key) & BigInt(MERKLE_BUCKETS - 1))]!.push(l)
  const buckets = byBucket.map(ls => {
    if (ls.length === 0) return 0n
    ls.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)))
    return xxhash64(Uint8Array.from(ls.flatMap(l => [...varint(l.key.length), ...l.key, ...l.version, ...u64be(l.rowHash)])))
  })
  let level = buckets
  while (level.length > 1) {
    const up: bigint[] = []
    for (let i = 0; i < level.length; i += 2) {
      const [a, b] = [level[i]!, level[i + 1]!]
      up.push(a === 0n && b === 0n ? 0n : xxhash64(Uint8Array.from([...u64be(a), ...u64be(b)])))
    }
    level = up
  }
  return { root: level[0]!, buckets }
}

describe('Merkle tree format stays byte-identical', () => {
  it('the fixed tree has the root, bucket hashes and encoding it had at 77c66cf', () => {
    const t = fixedTree()
    expect(t.size).toBe(2382)
    expect(t.root()).toBe(0xf4bf55995575fb10n)
    const buckets = t.bucketHashes()
    expect(buckets.filter(h => h === 0n).length).toBe(104)
    expect(bucketHashesDigest(buckets)).toBe(0xedb409a396f36396n)
    const bytes = encodeTree(t)
    expect(bytes.length).toBe(95344)
    expect(xxhash64(bytes)).toBe(0x91a77f0adc7c3b82n)
    expect(decodeTree(bytes).root()).toBe(0xf4bf55995575fb10n)
  })

  it('every tree agrees with the written-out definition (keys up to 300 bytes, replaced and deleted leaves)', () => {
    const opArb = fc.record({
      key: fc.oneof(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ minLength: 120, maxLength: 300 })),
      ts: fc.integer({ min: 0, max: 2 ** 47 }),
      rowHash: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      del: fc.integer({ min: 0, max: 5 })
    })
    fc.assert(fc.property(fc.array(opArb, { maxLength: 150 }), ops => {
      const t = new MerkleTree()
      const model = new Map<string, Leaf>()
      for (const op of ops) {
        if (op.del === 0) {
          expect(t.delete(op.key)).toBe(model.delete(hex(op.key)))
          continue
        }
        const version = encodeUuidV8({ ts: op.ts, counter: 1, nodeId: 2, random: 3 })
        t.set(op.key, version, op.rowHash)
        model.set(hex(op.key), { key: op.key, version, rowHash: op.rowHash })
      }
      const want = modelHashes([...model.values()])
      expect(t.bucketHashes()).toEqual(want.buckets)
      expect(t.root()).toBe(want.root)
      expect(t.size).toBe(model.size)
    }), { numRuns: 200 })
  })
})
