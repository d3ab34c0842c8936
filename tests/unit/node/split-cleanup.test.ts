import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { catalogOf } from '../../helpers/catalog-of'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DECISION_TABLE_ID, encodeDecision } from '../../../src/cluster/twopc'
import { ManualClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId, type ShardId } from '../../../src/core/ids'
import { pkTuple, shardOfRow, tableShape, type TableShape } from '../../../src/plan/table-types'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { cleanupRule, SplitCleanup } from '../../../src/node/split-cleanup'
import type { RowWrite } from '../../../src/storage/engine'
import { BACK_SPACE, decodeRowKey, ROW_SPACE, type Tuple } from '../../../src/storage/keys'
import { LevelKv } from '../../../src/storage/kv-level'
import type { SnapshotChunk } from '../../../src/storage/replica-snapshot'
import { CLEANUP_CHUNK_KEYS, MovedKeys } from '../../../src/storage/split-cleanup'
import { SqlDate } from '../../../src/types/datetime'
import { encodeRow } from '../../../src/types/row-codec'
import type { SqlValue } from '../../../src/types/values'
import { nextHlc, testWorkerOptions, vid } from './worker-fixtures'

// The CLEANUP of a shard split (cluster/shard-split.ts "4. CLEANUP", storage/split-cleanup.ts,
// node/split-cleanup.ts) through real shard workers and LevelDB: parent shard 0 of 2 holds rows of
// both halves (updated: back versions; deleted: tombstones), index entries and 2PC decision
// records; the child-side ones are also in child shard 2 (as the derive leaves them) once the node
// follows 4 shards. While the cleanup runs, a scan of every shard counts each row once; after a
// restart in the middle it goes on from where it was; at the end the parent's store holds no key
// of the child's side at all (every version gone), its own side untouched.

const SHARDS = 4 // after the split of 2
let started: ShardWorkers[] = []
afterEach(async () => { for (const w of started) await w.stop(); started = [] })
beforeAll(async () => { await initHashing() })

async function node (dir: string): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(dir, { nodeId: asNodeId(3), clock: new ManualClock() }), pino({ level: 'silent' }), () => {})
  await w.start([[0, 1, 2, 3].map(s => asShardId(s))])
  started.push(w)
  return w
}

const CAT = catalogOf([
  'CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT)',
  'CREATE INDEX users_name ON users (name) LOCAL',
  // Partition column second in a composite key, and a type hashed by its key encoding.
  'CREATE TABLE orders (region TEXT, n BIGINT, amount BIGINT, PRIMARY KEY (region, n))',
  "ALTER TABLE orders SET partition_key_columns = 'n'",
  'CREATE TABLE days (d DATE PRIMARY KEY, note TEXT)'
])
const shape = (name: string): TableShape => tableShape(CAT.table(name)!)
const USERS = shape('users')
const INDEX = shape('users_name')
const ORDERS = shape('orders')
const DAYS = shape('days')

const put = (t: TableShape, values: SqlValue[]): RowWrite => ({ op: 'put', tableId: t.info.id, pk: pkTuple(t, values), row: encodeRow(t.types, values), versionId: vid() })
const del = (t: TableShape, values: SqlValue[]): RowWrite => ({ op: 'delete', tableId: t.info.id, pk: pkTuple(t, values), versionId: vid() })
const home = (t: TableShape, values: SqlValue[]): number => shardOfRow(t, values, SHARDS)

/** Every row each shard's SCAN returns, as "table pk" strings (what a SELECT without a key reads). */
async function scanAll (w: ShardWorkers, shards: ShardId[]): Promise<string[]> {
  const out: string[] = []
  for (const shard of shards) {
    for (const t of [USERS, INDEX, ORDERS, DAYS]) {
      let after: Tuple | undefined
      for (;;) {
        const { rows } = await w.request('SCAN', { shard, tableId: t.info.id, options: after === undefined ? { limit: 100 } : { gt: after, limit: 100 } })
        for (const r of rows) out.push(`${t.info.name} ${JSON.stringify(r.pk, (_k, v: unknown) => typeof v === 'bigint' ? String(v) : v)}`)
        if (rows.length < 100) break
        after = rows[rows.length - 1]!.pk
      }
    }
  }
  return out.sort()
}

/** The keys a REPL_SNAPSHOT_READ of `shard` streams, every chunk. */
async function snapshotKeys (w: ShardWorkers, shard: ShardId): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  let snapshotId = 0n
  let after: Uint8Array | null = null
  for (;;) {
    const c: SnapshotChunk = await w.request('REPL_SNAPSHOT_READ', { shard, snapshotId, after, maxKeys: 100, maxBytes: 8000 })
    snapshotId = c.snapshotId
    for (const e of c.entries) out.push(e.key)
    if (c.done) return out
    after = c.entries[c.entries.length - 1]!.key
  }
}

/** Every stored key of shard `s` under `dir` (read with the workers stopped): r/ and b/ keys per relation, and whether each is on `s`'s side. */
async function storedKeys (dir: string, s: number): Promise<{ rows: Map<number, number>, back: number, moved: number }> {
  const kv = await LevelKv.open(join(dir, 'shards', String(s)))
  const rule = cleanupRule(CAT, SHARDS)
  const rows = new Map<number, number>()
  let back = 0
  let moved = 0
  try {
    for await (const [k] of kv.iterate({ gte: ROW_SPACE.gte, lt: ROW_SPACE.lt })) {
      const { tableId } = decodeRowKey(k)
      rows.set(tableId, (rows.get(tableId) ?? 0) + 1)
    }
    for await (const [k] of kv.iterate({ gte: BACK_SPACE.gte, lt: BACK_SPACE.lt })) if (k.length > 0) back++
    const m = new MovedKeys(rule, asShardId(s))
    for await (const [k] of kv.iterate({ gte: ROW_SPACE.gte, lt: ROW_SPACE.lt })) if (m.moved(k)) moved++
  } finally { await kv.close() }
  return { rows, back, moved }
}

describe('split cleanup of a former parent shard', () => {
  it('scans count each row once while it runs, it resumes after a restart, and it leaves no version of a moved key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-split-clean-'))
    let w = await node(dir)
    // Shard 0 of 2: users whose id hashes to 0 or 2 of 4; both halves; more than a chunk.
    const users: string[] = []
    for (let i = 0; users.length < CLEANUP_CHUNK_KEYS + 150; i++) {
      const id = `u${i}`
      if (home(USERS, [id, null]) % 2 === 0) users.push(id)
    }
    const orders: bigint[] = []
    for (let i = 0n; orders.length < 40; i++) if (home(ORDERS, ['eu', i, null]) % 2 === 0) orders.push(i)
    const days: number[] = []
    for (let i = 0; days.length < 40; i++) if (home(DAYS, [new SqlDate(19000 + i), null]) % 2 === 0) days.push(19000 + i)
    expect(new Set(users.map(u => home(USERS, [u, null])))).toEqual(new Set([0, 2]))
    expect(new Set(orders.map(n => home(ORDERS, ['eu', n, null])))).toEqual(new Set([0, 2]))
    expect(new Set(days.map(d => home(DAYS, [new SqlDate(d), null])))).toEqual(new Set([0, 2]))

    // The same writes go to the parent and, for the child's side, to the child (what its derive holds).
    const apply = async (writes: Array<{ w: RowWrite, child: boolean }>): Promise<void> => {
      const commitHlc = nextHlc()
      await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: writes.map(x => x.w), commitHlc })
      const child = writes.filter(x => x.child).map(x => x.w)
      if (child.length > 0) await w.request('AUTOCOMMIT', { shard: asShardId(2), writes: child, commitHlc })
    }
    for (const id of users) {
      const child = home(USERS, [id, null]) === 2
      // The index entry is partitioned by the table's key (id): it sits with its row.
      await apply([{ w: put(USERS, [id, 'first']), child }, { w: put(INDEX, ['first', id]), child }])
    }
    // Updates (back versions) and deletes (tombstones) on both halves.
    for (const id of users.slice(0, 60)) await apply([{ w: put(USERS, [id, 'second']), child: home(USERS, [id, null]) === 2 }])
    for (const id of users.slice(60, 80)) await apply([{ w: del(USERS, [id, null]), child: home(USERS, [id, null]) === 2 }, { w: del(INDEX, ['first', id]), child: home(USERS, [id, null]) === 2 }])
    for (const n of orders) await apply([{ w: put(ORDERS, ['eu', n, n * 10n]), child: home(ORDERS, ['eu', n, null]) === 2 }])
    for (const d of days) await apply([{ w: put(DAYS, [new SqlDate(d), 'x']), child: home(DAYS, [new SqlDate(d), null]) === 2 }])
    // 2PC decision records, placed by xid: xids 10..29 are in shard 0 of 2 when even.
    const decisions: RowWrite[] = []
    for (let x = 10n; x < 30n; x += 2n) decisions.push({ op: 'put', tableId: DECISION_TABLE_ID, pk: [x], row: encodeDecision({ outcome: 'abort' }), versionId: vid() })
    await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: decisions, commitHlc: nextHlc() })
    await w.request('AUTOCOMMIT', { shard: asShardId(2), writes: decisions.filter(d => (d.pk[0] as bigint) % 4n === 2n), commitHlc: nextHlc() })

    // What a SELECT without a key must see at 4 shards: each live row once.
    const live = users.filter((_u, i) => i < 60 || i >= 80)
    const expected = [
      ...live.map(u => `users ${JSON.stringify([u])}`),
      ...live.map(u => `users_name ${JSON.stringify(['first', u])}`),
      ...orders.map(n => `orders ${JSON.stringify(['eu', String(n)])}`),
      ...days.map(d => `days ${JSON.stringify([String(d)])}`)
    ].sort()
    const all = [0, 1, 2, 3].map(s => asShardId(s))
    // Before any cleanup request the parent still serves its leftovers (the double count the filter exists for).
    expect((await scanAll(w, all)).length).toBeGreaterThan(expected.length)

    const rule = cleanupRule(CAT, SHARDS)
    const first = await w.request('SPLIT_CLEANUP', { shard: asShardId(0), rule, maxChunks: 1 })
    expect(first.done).toBe(false)
    expect(first.rows).toBeGreaterThan(0)
    // Mid-cleanup: every row once, the leftovers still on disk skipped.
    expect(await scanAll(w, all)).toEqual(expected)
    // A snapshot of the parent (a Mode 1 replica's bootstrap, a full backup) streams none of them either.
    const snap = await snapshotKeys(w, asShardId(0))
    const moved = new MovedKeys(rule, asShardId(0))
    expect(snap.length).toBeGreaterThan(0)
    expect(snap.filter(k => moved.movedAny(k))).toEqual([])
    expect(snap.filter(k => k[0] === BACK_SPACE.gte[0]).length).toBeGreaterThan(0)
    // Mode 1 verification compares the parent's replicas without the leftovers (replicas clean at their own pace).
    const verifyAt = nextHlc()
    const verify = async (): Promise<bigint[]> => (await w.request('MODE1_VERIFY', { shard: asShardId(0), tableIds: [USERS, INDEX, ORDERS, DAYS].map(t => t.info.id), snapshotHlc: verifyAt, buckets: null })).hashes
    const midHashes = await verify()

    // A restart in the middle: the record keeps the filter and the resume point.
    await w.stop(); started = []
    const mid = await storedKeys(dir, 0)
    expect(mid.moved).toBeGreaterThan(0)
    w = await node(dir)
    expect(await scanAll(w, all)).toEqual(expected)

    const deleted: number[] = []
    const runner = new SplitCleanup({ workers: w, shardCount: { shards: SHARDS }, catalog: () => CAT, log: pino({ level: 'silent' }), onDeleted: (rows, back) => deleted.push(rows, back) })
    await runner.kick()
    expect(deleted.length).toBeGreaterThan(0)
    expect(await scanAll(w, all)).toEqual(expected)
    expect(await verify()).toEqual(midHashes)
    // Idempotent: a second pass finds shard 0 cleaned for 4 shards.
    deleted.length = 0
    await runner.kick()
    expect(deleted).toEqual([])
    const again = await w.request('SPLIT_CLEANUP', { shard: asShardId(0), rule, maxChunks: 1 })
    expect(again).toEqual({ rows: 0, backVersions: 0, done: true })

    await w.stop(); started = []
    const parent = await storedKeys(dir, 0)
    const child = await storedKeys(dir, 2)
    // No version of a moved key left in the parent; the parent keeps exactly its own side (as many keys as before minus the child's).
    expect(parent.moved).toBe(0)
    expect(child.moved).toBe(0)
    for (const t of [USERS, INDEX, ORDERS, DAYS]) {
      const mine = (t === ORDERS ? orders.map(n => home(ORDERS, ['eu', n, null])) : t === DAYS ? days.map(d => home(DAYS, [new SqlDate(d), null])) : users.map(u => home(USERS, [u, null]))).filter(s => s === 0).length
      expect(parent.rows.get(t.info.id), t.info.name).toBe(mine)
      expect(child.rows.get(t.info.id), t.info.name).toBe(mine === 0 ? undefined : (t === ORDERS ? orders.length : t === DAYS ? days.length : users.length) - mine)
    }
    expect(parent.rows.get(DECISION_TABLE_ID)).toBe(decisions.filter(d => (d.pk[0] as bigint) % 4n === 0n).length)
    // Back versions of the parent's own updated rows stay (the sweep's business); the child's went with their keys.
    const ownUpdated = users.slice(0, 60).filter(u => home(USERS, [u, null]) === 0).length + users.slice(60, 80).filter(u => home(USERS, [u, null]) === 0).length * 2
    expect(parent.back).toBe(ownUpdated)
  })

  it('refuses a rule that is not one a shard can clean by, changing nothing', async () => {
    const w = await node(mkdtempSync(join(tmpdir(), 'sb-split-clean-')))
    const rule = cleanupRule(CAT, SHARDS)
    await expect(w.request('SPLIT_CLEANUP', { shard: asShardId(3), rule: { ...rule, shards: 3 }, maxChunks: 1 })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    await expect(w.request('SPLIT_CLEANUP', { shard: asShardId(0), rule: { shards: 4, relations: [{ tableId: 5, parts: [] }] }, maxChunks: 1 })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
  })
})
