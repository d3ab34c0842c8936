import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../../src/core/hash'
import { encodeUuidV8 } from '../../../../src/core/hlc'
import { divergentWindows, ForestIndex } from '../../../../src/storage/merkle/forest-index'
import { MerkleTree } from '../../../../src/storage/merkle/tree'
import { firstUnsealable, isSealable, sealingGraceMs, windowLengthMs, windowOf } from '../../../../src/storage/merkle/window'

beforeAll(async () => { await initHashing() })

const HOUR = 3_600_000
const MIN = 60_000
const version = (ts: number, counter = 0, nodeId = 1): Uint8Array => encodeUuidV8({ ts, counter, nodeId, random: 3 })
const key = (s: string): Uint8Array => new TextEncoder().encode(s)
const badArg = expect.objectContaining({ code: 'SB_BAD_ARGUMENT' })

describe('window rules', () => {
  it('hand cases: window = floor(HLC ms / length), sealable at end + grace', () => {
    const W = windowLengthMs(1)
    const G = sealingGraceMs(10)
    expect(W).toBe(HOUR)
    expect(G).toBe(10 * MIN)
    expect(windowOf(version(0), W)).toBe(0)
    expect(windowOf(version(HOUR - 1, 4095), W)).toBe(0)
    expect(windowOf(version(HOUR), W)).toBe(1)
    expect(windowOf(version(150 * HOUR + 59 * MIN), W)).toBe(150)
    expect(isSealable(150, W, G, 151 * HOUR + 10 * MIN - 1)).toBe(false)
    expect(isSealable(150, W, G, 151 * HOUR + 10 * MIN)).toBe(true)
    expect(firstUnsealable(W, G, 151 * HOUR + 10 * MIN)).toBe(151)
    expect(firstUnsealable(W, G, 151 * HOUR + 10 * MIN - 1)).toBe(150)
    expect(windowLengthMs(0.5)).toBe(HOUR / 2)
  })

  it('firstUnsealable agrees with isSealable on both sides of the boundary', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10 * HOUR }), fc.integer({ min: 0, max: HOUR }), fc.integer({ min: 0, max: 2 ** 47 }), (W, G, now) => {
      const f = firstUnsealable(W, G, now)
      expect(isSealable(f - 1, W, G, now)).toBe(true)
      expect(isSealable(f, W, G, now)).toBe(false)
    }), { numRuns: 1000 })
  })

  it('a version\'s window holds its timestamp', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 10 * HOUR }), fc.integer({ min: 0, max: 2 ** 47 }), fc.integer({ min: 0, max: 4095 }), (W, ts, c) => {
      const w = windowOf(version(ts, c), W)
      expect(w * W <= ts && ts < (w + 1) * W).toBe(true)
    }), { numRuns: 1000 })
  })

  it('bad lengths, graces and ids are coded errors', () => {
    expect(() => windowLengthMs(0)).toThrow(badArg)
    expect(() => windowLengthMs(Number.NaN)).toThrow(badArg)
    expect(() => sealingGraceMs(-1)).toThrow(badArg)
    expect(() => windowOf(version(1), 0)).toThrow(badArg)
    expect(() => isSealable(1, HOUR, -5, 0)).toThrow(badArg)
    expect(() => windowOf(new Uint8Array(16), HOUR)).toThrow(expect.objectContaining({ code: 'SB_UUID_INVALID' }))
    expect(() => new ForestIndex({ windowMs: 0, graceMs: 0 })).toThrow(badArg)
  })
})

describe('ForestIndex', () => {
  const opts = { windowMs: HOUR, graceMs: 10 * MIN }

  it('puts a leaf in its version\'s window and keeps the highest version per key there', () => {
    const f = new ForestIndex(opts)
    expect(f.apply(key('a'), version(5 * HOUR + 1, 1), 10n)).toBe('added')
    expect(f.apply(key('a'), version(5 * HOUR + 1, 0), 11n)).toBe('kept') // older: ignored
    expect(f.apply(key('a'), version(5 * HOUR + 1, 1), 12n)).toBe('kept') // same version: a replay
    expect(f.apply(key('a'), version(5 * HOUR + 2), 13n)).toBe('replaced')
    expect(f.apply(key('a'), version(6 * HOUR), 14n)).toBe('added') // another window: its own leaf
    expect(f.tree(5)!.get(key('a'))!.rowHash).toBe(13n)
    expect(f.list().map(w => [w.window, w.leafCount, w.sealed])).toEqual([[5, 1, false], [6, 1, false]])
  })

  it('the windows do not depend on arrival order (every replica that saw the same writes agrees)', () => {
    const writeArb = fc.array(fc.record({ k: fc.integer({ min: 0, max: 20 }), ts: fc.integer({ min: 0, max: 5 * HOUR }), c: fc.integer({ min: 0, max: 3 }), h: fc.bigInt({ min: 0n, max: 1000n }) }), { maxLength: 60 })
    fc.assert(fc.property(writeArb.chain(ws => fc.tuple(fc.constant(ws), fc.shuffledSubarray(ws, { minLength: ws.length, maxLength: ws.length }))), ([ws, shuffled]) => {
      // one row image per version id, as in production (a version is one write)
      const hashOf = new Map<string, bigint>()
      const run = (list: typeof ws): ForestIndex => {
        const f = new ForestIndex(opts)
        for (const w of list) {
          const id = `${w.k}/${w.ts}/${w.c}`
          if (!hashOf.has(id)) hashOf.set(id, w.h)
          f.apply(key(`k${w.k}`), version(w.ts, w.c), hashOf.get(id)!)
        }
        return f
      }
      const a = run(ws)
      const b = run(shuffled)
      expect(b.list()).toEqual(a.list())
    }), { numRuns: 300 })
  })

  it('seal(now) seals windows whose end + grace passed; a later change counts a reseal', () => {
    const f = new ForestIndex(opts)
    f.apply(key('a'), version(150 * HOUR + 5), 1n)
    f.apply(key('b'), version(151 * HOUR + 5), 1n)
    expect(f.seal(151 * HOUR + 10 * MIN - 1)).toEqual([])
    expect(f.seal(151 * HOUR + 10 * MIN)).toEqual([150])
    expect(f.seal(151 * HOUR + 10 * MIN)).toEqual([]) // already sealed
    expect(f.window(150).sealed).toBe(true)
    expect(f.window(151).sealed).toBe(false)
    expect([...f.sealedRoots().keys()]).toEqual([150])
    const root = f.window(150).root

    expect(f.apply(key('a'), version(150 * HOUR + 1), 2n)).toBe('kept') // older: no reseal
    expect(f.reseals).toBe(0)
    expect(f.apply(key('c'), version(150 * HOUR + 2), 2n)).toBe('added') // late write (hint, repair)
    expect(f.reseals).toBe(1)
    expect(f.window(150)).toMatchObject({ reseals: 1, leafCount: 2, sealed: true })
    expect(f.window(150).root).not.toBe(root)
    f.apply(key('b'), version(151 * HOUR + 6), 2n) // the active window: not a reseal
    expect(f.reseals).toBe(1)

    // a window below the boundary that only now gets its first leaf changed from empty: a reseal
    expect(f.apply(key('z'), version(10 * HOUR), 3n)).toBe('added')
    expect(f.window(10)).toMatchObject({ sealed: true, reseals: 1 })
    expect(f.reseals).toBe(2)

    // the boundary never moves back (a clock stepping backwards unseals nothing)
    expect(f.seal(0)).toEqual([])
    expect(f.window(150).sealed).toBe(true)
  })

  it('a bad leaf is a coded error and leaves the forest unchanged (no empty window left behind)', () => {
    const f = new ForestIndex(opts)
    expect(() => f.apply(key('a'), version(HOUR), -1n)).toThrow(badArg)
    expect(() => f.apply('a' as unknown as Uint8Array, version(HOUR), 1n)).toThrow(badArg)
    expect(() => f.apply(key('a'), new Uint8Array(16), 1n)).toThrow(expect.objectContaining({ code: 'SB_UUID_INVALID' }))
    expect(f.list()).toEqual([])
  })

  it('divergentWindows: differing, one-sided and equal roots', () => {
    expect(divergentWindows(new Map([[1, 5n], [2, 6n], [3, 7n]]), new Map([[1, 5n], [2, 9n], [4, 8n], [5, 0n]]))).toEqual([2, 3, 4])
    expect(divergentWindows(new Map([[1, 0n]]), new Map())).toEqual([])
  })

  it('two forests of the same writes have no divergent window; one missed write shows its window only', () => {
    const a = new ForestIndex(opts)
    const b = new ForestIndex(opts)
    for (let i = 0; i < 500; i++) {
      const v = version(i * 7 * MIN, 0, 1 + (i % 3))
      a.apply(key(`k${i % 97}`), v, BigInt(i))
      if (i !== 321) b.apply(key(`k${i % 97}`), v, BigInt(i))
    }
    const now = 100 * HOUR
    a.seal(now); b.seal(now)
    const w = Math.floor(321 * 7 * MIN / HOUR)
    expect(divergentWindows(a.sealedRoots(), b.sealedRoots())).toEqual([w])
    b.apply(key(`k${321 % 97}`), version(321 * 7 * MIN, 0, 1 + (321 % 3)), 321n)
    expect(divergentWindows(a.sealedRoots(), b.sealedRoots())).toEqual([])
    expect(b.reseals).toBe(1)
    expect(new MerkleTree().root()).toBe(0n)
  })
})
