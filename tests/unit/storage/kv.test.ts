import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KvIterateOptions, KvOp, KvStore } from '../../../src/storage/kv'
import { LevelKv } from '../../../src/storage/kv-level'
import { MemoryKv, MemoryStore } from '../../../src/storage/kv-memory'

// The in-memory backend must answer exactly like LevelDB: same random writes, same random range
// queries, same answers.

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

async function all (kv: KvStore, o: KvIterateOptions): Promise<string[]> {
  const out: string[] = []
  for await (const [k, v] of kv.iterate(o)) out.push(`${hex(k)}=${hex(v)}`)
  return out
}

// Small alphabet so keys collide, share prefixes and hit the bounds exactly.
const keyArb = fc.uint8Array({ maxLength: 4 }).map(a => a.map(b => [0, 1, 0x7f, 0xff][b % 4]!)).filter(k => k.length > 0)
const opArb: fc.Arbitrary<KvOp> = fc.oneof(
  fc.record({ type: fc.constant('put' as const), key: keyArb, value: fc.uint8Array({ maxLength: 3 }) }),
  fc.record({ type: fc.constant('del' as const), key: keyArb })
)
const rangeArb: fc.Arbitrary<KvIterateOptions> = fc.record({
  gt: fc.option(keyArb, { nil: undefined }),
  gte: fc.option(keyArb, { nil: undefined }),
  lt: fc.option(keyArb, { nil: undefined }),
  lte: fc.option(keyArb, { nil: undefined }),
  reverse: fc.boolean(),
  limit: fc.option(fc.integer({ min: -1, max: 6 }), { nil: undefined })
}, { requiredKeys: [] })

describe('MemoryKv behaves like LevelKv', () => {
  let dir: string
  let level: LevelKv

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-kv-'))
    level = await LevelKv.open(dir)
  })
  afterAll(async () => {
    await level.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('random batches, then random ranges, gets and getMany', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.array(opArb, { maxLength: 12 }), { maxLength: 6 }), fc.array(rangeArb, { minLength: 1, maxLength: 6 }), fc.array(keyArb, { maxLength: 5 }),
      async (batches, ranges, probes) => {
        const existing: KvOp[] = []
        for await (const [k] of level.iterate({})) existing.push({ type: 'del', key: k })
        await level.batch(existing, { sync: false })
        const mem = MemoryKv.open()
        for (const b of batches) {
          await level.batch(b, { sync: false })
          await mem.batch(b, { sync: false })
        }
        for (const r of ranges) expect(await all(mem, r)).toEqual(await all(level, r))
        expect((await mem.getMany(probes)).map(v => v && hex(v))).toEqual((await level.getMany(probes)).map(v => v && hex(v)))
        for (const p of probes) expect((await mem.get(p)) && hex((await mem.get(p))!)).toEqual((await level.get(p)) && hex((await level.get(p))!))
        await mem.close()
      }), { numRuns: 300 })
  })

  it('large store: chunk splits and merges keep order', async () => {
    const mem = MemoryKv.open()
    const keys: Uint8Array[] = []
    for (let i = 0; i < 5000; i++) keys.push(Uint8Array.of((i * 7919) % 251, (i * 31) % 256, i % 7))
    await mem.batch(keys.map(k => ({ type: 'put', key: k, value: k })), { sync: false })
    await mem.batch(keys.filter((_, i) => i % 3 === 0).map(k => ({ type: 'del', key: k })), { sync: false })
    const expected = [...new Set(keys.filter((_, i) => i % 3 !== 0).map(hex))]
      .filter(h => !keys.some((k, i) => i % 3 === 0 && hex(k) === h)).sort()
    const got: string[] = []
    for await (const [k] of mem.iterate({})) got.push(hex(k))
    expect(got).toEqual(expected)
    const rev: string[] = []
    for await (const [k] of mem.iterate({ reverse: true })) rev.push(hex(k))
    expect(rev).toEqual([...expected].reverse())
    await mem.close()
  })

  it('one open handle per store; data survives close and reopen; closed handle refuses', async () => {
    const store = new MemoryStore()
    const a = MemoryKv.open(store)
    expect(() => MemoryKv.open(store)).toThrow(expect.objectContaining({ code: 'SB_DATA_DIR_LOCKED' }))
    await a.batch([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(2) }], { sync: true })
    await a.close()
    await expect(a.get(Uint8Array.of(1))).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' })
    const b = MemoryKv.open(store)
    expect(await b.get(Uint8Array.of(1))).toEqual(Uint8Array.of(2))
    await b.close()
  })

  it('LevelKv reports a locked directory as SB_DATA_DIR_LOCKED', async () => {
    await expect(LevelKv.open(dir)).rejects.toMatchObject({ code: 'SB_DATA_DIR_LOCKED' })
  })
})
