import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { ShardEngine, type ReplicaWrite } from '../../../src/storage/engine'
import { BACK_SPACE, encodeTupleWith, KEY_END, MERKLE_TABLE_PREFIX, MERKLE_TREE_PREFIX, merkleTableKey, prefixRange, ROW_SPACE, writeU64 } from '../../../src/storage/keys'
import type { KvBatchOptions, KvIterateOptions, KvOp, KvSnapshot, KvStore } from '../../../src/storage/kv'
import { LevelKv } from '../../../src/storage/kv-level'
import { MemoryKv, MemoryStore } from '../../../src/storage/kv-memory'
import { PURGE_CHUNK_KEYS } from '../../../src/storage/purge-relations'
import { hlcTs, type HlcTs } from '../../../src/storage/types'

// Purging the storage of dropped relations (issue 17, storage/purge-relations.ts) on a real shard
// engine, over both backends (the compliance suite's pair: the in-memory store and LevelDB): the
// rows, back versions and index entries of dropped MGA relations and the rows and Merkle leaves of
// a dropped leaderless one are gone, the other relations untouched, and the forest is exactly the
// forest of a replica that never held the dropped relation (so anti-entropy sees no difference);
// and a purge cut short by a failed batch (the process dying) finishes after a restart.

beforeAll(async () => { await initHashing() })

const HOUR = 3_600_000
const MIN = 60_000
const MERKLE = { windowMs: HOUR, graceMs: 10 * MIN }
const BASE = 1_767_225_600_000
const H = (n: number): HlcTs => hlcTs(BASE + n)

const KEEP = 1050 // MGA table kept
const DROP = 1100 // MGA table dropped
const DROP_IDX = 1101 // its index relation (entries are rows of the index's id)
const L_DROP = 1200 // leaderless table dropped
const L_KEEP = 1300 // leaderless table kept
const ROWS = PURGE_CHUNK_KEYS + 88 // more than one purge chunk
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

let seq = 0
/** MGA version ids (any 16 bytes, increasing). */
function vid (): Uint8Array {
  const b = new Uint8Array(16)
  writeU64(b, 0, BigInt(++seq))
  b[8] = 0x80
  return b
}
/** A UUIDv8-HLC at `ms` (leaderless versions: their window is ms / HOUR). */
const v8 = (ms: number, counter = 0): Uint8Array => encodeUuidV8({ ts: ms, counter, nodeId: 1, random: 5 })

/** A KvStore whose batches start failing after `failAfter` more (the process dying mid-purge). */
class DyingKv implements KvStore {
  failAfter = Infinity
  constructor (readonly inner: KvStore) {}
  get (k: Uint8Array): Promise<Uint8Array | undefined> { return this.inner.get(k) }
  getMany (ks: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> { return this.inner.getMany(ks) }
  async batch (ops: readonly KvOp[], o: KvBatchOptions): Promise<void> {
    if (this.failAfter <= 0) throw new Error('injected: process died')
    this.failAfter--
    await this.inner.batch(ops, o)
  }

  iterate (o: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]> { return this.inner.iterate(o) }
  snapshot (): KvSnapshot { return this.inner.snapshot() }
  close (): Promise<void> { return this.inner.close() }
}

interface Backend { open: () => Promise<KvStore>, destroy: () => void }
const backends: Array<[string, () => Backend]> = [
  ['in-memory', () => { const store = new MemoryStore(); return { open: async () => MemoryKv.open(store), destroy: () => {} } }],
  ['classic-level', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-purge-'))
    return { open: () => LevelKv.open(dir), destroy: () => rmSync(dir, { recursive: true, force: true }) }
  }]
]

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c() })

async function openEngine (b: Backend): Promise<{ engine: ShardEngine, kv: DyingKv }> {
  const kv = new DyingKv(await b.open())
  const engine = await ShardEngine.open(kv, { shardId: asShardId(1), nodeId: asNodeId(2), durability: 'none', clock: new ManualClock(), merkle: MERKLE })
  return { engine, kv }
}

/** Keys of relation `id` in space r/ or b/. */
async function count (kv: KvStore, space: typeof ROW_SPACE, id: number): Promise<number> {
  const gte = encodeTupleWith(space.gte, [BigInt(id)])
  let n = 0
  for await (const _ of kv.iterate({ gte, lt: Uint8Array.from([...gte, KEY_END]) })) n++ // eslint-disable-line @typescript-eslint/no-unused-vars
  return n
}

async function countPrefix (kv: KvStore, prefix: Uint8Array): Promise<number> {
  let n = 0
  for await (const _ of kv.iterate(prefixRange(prefix))) n++ // eslint-disable-line @typescript-eslint/no-unused-vars
  return n
}

async function rows (e: ShardEngine, table: number): Promise<unknown[]> {
  const out: unknown[] = []
  for await (const r of e.scan(table, {})) out.push(r)
  return out
}

const lwwWrites = (table: number, ms: number, n: number, tag: string): ReplicaWrite[] =>
  Array.from({ length: n }, (_, i) => ({ tableId: table, pk: [BigInt(i)], versionId: v8(ms, i), row: enc(`${tag}${i}`) }))

let hlc = 10
/** The leaderless writes of the kept table, the same on every engine that gets them. */
async function keptLeaderless (e: ShardEngine): Promise<void> {
  await e.applyVersions({ writes: lwwWrites(L_KEEP, 2 * HOUR + 5, 5, 'k2-'), commitHlc: H(++hlc) })
  await e.applyVersions({ writes: lwwWrites(L_KEEP, 5 * HOUR + 5, 3, 'k5-'), commitHlc: H(++hlc) })
}

/** Fill: KEEP and DROP (with back versions) and DROP's index; L_DROP in sealed windows 2 and 3 and active window 5, L_KEEP in 2 and 5. */
async function fill (e: ShardEngine): Promise<void> {
  for (const [table, n] of [[KEEP, 5], [DROP, ROWS], [DROP_IDX, ROWS]] as const) {
    const writes = Array.from({ length: n }, (_, i) => ({ op: 'insert' as const, tableId: table, pk: [BigInt(i)], row: enc(`r${i}`), versionId: vid() }))
    await e.autocommit({ writes, commitHlc: H(++hlc) })
  }
  for (const table of [KEEP, DROP]) {
    const writes = Array.from({ length: 3 }, (_, i) => ({ op: 'update' as const, tableId: table, pk: [BigInt(i)], row: enc(`u${i}`), versionId: vid() }))
    await e.autocommit({ writes, commitHlc: H(++hlc) })
  }
  await keptLeaderless(e)
  await e.applyVersions({ writes: lwwWrites(L_DROP, 2 * HOUR + 7, 4, 'd2-'), commitHlc: H(++hlc) })
  await e.applyVersions({ writes: lwwWrites(L_DROP, 3 * HOUR + 7, 4, 'd3-'), commitHlc: H(++hlc) })
  await e.applyVersions({ writes: lwwWrites(L_DROP, 5 * HOUR + 7, 4, 'd5-'), commitHlc: H(++hlc) })
  // a newer version of a dropped row: LWW keeps the older one as a back version
  await e.applyVersions({ writes: lwwWrites(L_DROP, 5 * HOUR + 9, 1, 'd5b-'), commitHlc: H(++hlc) })
}

/** The forest of a replica that only ever got the kept leaderless table's writes, sealed alike. */
async function forestWithoutDropped (b: Backend): Promise<unknown> {
  const { engine } = await openEngine(b)
  cleanup.push(() => engine.close())
  await keptLeaderless(engine)
  await engine.merkleSeal(4 * HOUR + 10 * MIN)
  return engine.merkleRoots()
}

describe.each(backends)('purge of dropped relations (%s)', (_name, backend) => {
  it('deletes rows, back versions, index entries and forest leaves of dropped relations only; idempotent', async () => {
    const b = backend()
    cleanup.push(() => b.destroy())
    const { engine, kv } = await openEngine(b)
    cleanup.push(() => engine.close().catch(() => {}))
    await fill(engine)
    expect((await engine.merkleSeal(4 * HOUR + 10 * MIN)).sealed).toEqual([2, 3])
    expect(await count(kv, ROW_SPACE, DROP)).toBe(ROWS)
    expect(await count(kv, BACK_SPACE, DROP)).toBe(3)
    // LWW keeps the superseded versions of a key as back versions: 4 keys, 13 versions
    expect(await count(kv, ROW_SPACE, L_DROP)).toBe(4)
    expect(await count(kv, BACK_SPACE, L_DROP)).toBe(9)
    const keptRows = await rows(engine, KEEP)
    const keptLww = await rows(engine, L_KEEP)
    expect(keptRows).toHaveLength(5)
    expect(keptLww).toHaveLength(5)

    const r = await engine.sweep(H(1), { purgeRelations: [DROP, DROP_IDX, L_DROP, 4242] })
    expect(r.relationsPurged).toEqual([
      { tableId: DROP, rows: ROWS, backVersions: 3, leaves: 0 },
      { tableId: DROP_IDX, rows: ROWS, backVersions: 0, leaves: 0 },
      { tableId: L_DROP, rows: 4, backVersions: 9, leaves: 4 + 4 + 4 }
    ])
    for (const id of [DROP, DROP_IDX, L_DROP]) {
      expect(await count(kv, ROW_SPACE, id)).toBe(0)
      expect(await count(kv, BACK_SPACE, id)).toBe(0)
    }
    expect(await kv.get(merkleTableKey(L_DROP))).toBeUndefined()
    expect(await kv.get(merkleTableKey(L_KEEP))).toBeDefined()
    expect(await count(kv, BACK_SPACE, KEEP)).toBe(3) // the horizon H(1) keeps KEEP's back versions: only dropped ids went
    expect(await rows(engine, KEEP)).toEqual(keptRows)
    expect(await rows(engine, L_KEEP)).toEqual(keptLww)
    // window 3 held only dropped leaves: its tree is gone; the forest is that of a replica that never had L_DROP
    expect(await countPrefix(kv, MERKLE_TREE_PREFIX)).toBe(1)
    const expected = await forestWithoutDropped(backend())
    expect(engine.merkleRoots()).toEqual(expected)

    expect((await engine.sweep(H(1), { purgeRelations: [DROP, DROP_IDX, L_DROP] })).relationsPurged).toEqual([])
    await engine.close()
    const again = await openEngine(b)
    cleanup.push(() => again.engine.close())
    expect(again.engine.merkleRoots()).toEqual(expected)
    expect(again.engine.merkleStats().rebuilds).toBe(0)
    expect(await countPrefix(again.kv, MERKLE_TABLE_PREFIX)).toBe(1)
  })

  // Batches 1.. are the row chunks (DROP r/ ×2, DROP_IDX r/ ×2, L_DROP r/, DROP b/, L_DROP b/),
  // then one per forest window and the forget: dying at each point must be finished by a restart.
  it.each([0, 1, 3, 6, 7, 8, 9, 10])('a purge that dies after %i batches is finished after a restart', async (batches) => {
    const b = backend()
    cleanup.push(() => b.destroy())
    const first = await openEngine(b)
    await fill(first.engine)
    await first.engine.merkleSeal(4 * HOUR + 10 * MIN)
    first.kv.failAfter = batches
    await expect(first.engine.sweep(H(1), { purgeRelations: [DROP, DROP_IDX, L_DROP] })).rejects.toThrow(/process died/)
    await first.kv.close() // the process is gone: its engine is abandoned, not closed
    const { engine, kv } = await openEngine(b)
    cleanup.push(() => engine.close())
    await engine.sweep(H(1), { purgeRelations: [DROP, DROP_IDX, L_DROP] })
    for (const id of [DROP, DROP_IDX, L_DROP]) {
      expect(await count(kv, ROW_SPACE, id)).toBe(0)
      expect(await count(kv, BACK_SPACE, id)).toBe(0)
    }
    expect(await rows(engine, KEEP)).toHaveLength(5)
    expect(engine.merkleRoots()).toEqual(await forestWithoutDropped(backend()))
    expect(await kv.get(merkleTableKey(L_DROP))).toBeUndefined()
  })
})
