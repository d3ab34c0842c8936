import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { ScratchBirdError } from '../../../../src/core/errors'
import { initHashing, xxhash64 } from '../../../../src/core/hash'
import { encodeUuidV8 } from '../../../../src/core/hlc'
import { decodeTree, encodeTree, MERKLE_TREE_FORMAT } from '../../../../src/storage/merkle/codec'
import { MerkleTree } from '../../../../src/storage/merkle/tree'

beforeAll(async () => { await initHashing() })

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const leavesArb = fc.uniqueArray(
  fc.record({ key: fc.uint8Array({ maxLength: 20 }), ts: fc.integer({ min: 0, max: 2 ** 47 }), rowHash: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
  { selector: l => hex(l.key), maxLength: 60 })

function build (ls: Array<{ key: Uint8Array, ts: number, rowHash: bigint }>): MerkleTree {
  const t = new MerkleTree()
  for (const l of ls) t.set(l.key, encodeUuidV8({ ts: l.ts, counter: 0, nodeId: 3, random: 1 }), l.rowHash)
  return t
}

function leavesOf (t: MerkleTree): string[] {
  return [...t.leaves()].map(l => `${hex(l.key)}/${hex(l.version)}/${l.rowHash}`)
}

/** decodeTree must either succeed or throw SB_STORAGE_CORRUPT — never anything else. */
function decodeOrCorrupt (b: Uint8Array): MerkleTree | 'corrupt' {
  try {
    return decodeTree(b)
  } catch (e) {
    expect(e).toBeInstanceOf(ScratchBirdError)
    expect((e as ScratchBirdError).code).toBe('SB_STORAGE_CORRUPT')
    return 'corrupt'
  }
}

/** A body with a correct checksum, so the checks after it are the ones exercised. */
function sealed (body: number[]): Uint8Array {
  const b = Uint8Array.from(body)
  const out = new Uint8Array(b.length + 8)
  out.set(b)
  new DataView(out.buffer).setBigUint64(b.length, xxhash64(b))
  return out
}

describe('Merkle tree codec', () => {
  it('round-trips: same leaves, same root, same bytes', () => {
    fc.assert(fc.property(leavesArb, ls => {
      const t = build(ls)
      const bytes = encodeTree(t)
      expect(bytes[0]).toBe(MERKLE_TREE_FORMAT)
      const back = decodeTree(bytes)
      expect(back.root()).toBe(t.root())
      expect(back.size).toBe(t.size)
      expect(leavesOf(back)).toEqual(leavesOf(t))
      expect(encodeTree(back)).toEqual(bytes)
    }), { numRuns: 200 })
  })

  it('any single bit flip is SB_STORAGE_CORRUPT', () => {
    fc.assert(fc.property(leavesArb, fc.nat(), fc.integer({ min: 0, max: 7 }), (ls, at, bit) => {
      const bytes = encodeTree(build(ls))
      const i = at % bytes.length
      bytes[i] = bytes[i]! ^ (1 << bit)
      expect(decodeOrCorrupt(bytes)).toBe('corrupt')
    }), { numRuns: 500 })
  })

  it('truncation is SB_STORAGE_CORRUPT', () => {
    const bytes = encodeTree(build([{ key: Uint8Array.of(1, 2), ts: 5, rowHash: 9n }]))
    for (let n = 0; n < bytes.length; n++) expect(decodeOrCorrupt(bytes.subarray(0, n))).toBe('corrupt')
  })

  it('random bytes never crash: a tree or SB_STORAGE_CORRUPT', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), b => { decodeOrCorrupt(b) }), { numRuns: 2000 })
    // with a valid checksum the parser behind it sees the garbage too
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 120 }), body => { decodeOrCorrupt(sealed(body)) }), { numRuns: 2000 })
  })

  it('an unknown format version, a huge count or trailing bytes are corrupt even with a good checksum', () => {
    expect(decodeOrCorrupt(sealed([1, 0]))).not.toBe('corrupt') // the empty tree
    expect(decodeOrCorrupt(sealed([2, 0]))).toBe('corrupt')
    expect(decodeOrCorrupt(sealed([0, 0]))).toBe('corrupt')
    expect(decodeOrCorrupt(sealed([1, 0xff, 0xff, 0xff, 0x7f]))).toBe('corrupt')
    expect(decodeOrCorrupt(sealed([1, 0, 0]))).toBe('corrupt')
  })

  it('a key written twice (or out of order) is corrupt, not silently merged', () => {
    const leaf = [1, 0xaa, ...encodeUuidV8({ ts: 1, counter: 0, nodeId: 1, random: 0 }), 0, 0, 0, 0, 0, 0, 0, 1]
    expect(decodeOrCorrupt(sealed([1, 1, ...leaf]))).not.toBe('corrupt')
    expect(decodeOrCorrupt(sealed([1, 2, ...leaf, ...leaf]))).toBe('corrupt')
  })
})
