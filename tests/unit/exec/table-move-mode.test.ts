import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { encodeUuidV8, uuidv8Counter, uuidv8Timestamp } from '../../../src/core/hlc'
import { asNodeId, shardIds } from '../../../src/core/ids'
import { runDdl } from '../../../src/exec/executor'
import { runMove } from '../../../src/exec/table-move'
import { leaderlessVersion, mergeReplicaPages } from '../../../src/exec/table-move-source'
import { SessionState } from '../../../src/exec/txn'
import type { QuorumIo } from '../../../src/exec/env'
import { tableShape } from '../../../src/plan/table-types'
import type { DdlStatement } from '../../../src/sql/ast'
import { parse } from '../../../src/sql/parser'
import { ShardEngine } from '../../../src/storage/engine'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { SharedXidCounter, SharedXidSource } from '../../../src/storage/xid-shared'
import { compareVersionIds } from '../../../src/storage/lww'
import { hlcCounter, hlcMs, hlcTs } from '../../../src/storage/types'
import type { VersionScanRow } from '../../../src/storage/version-scan'
import { encodeRow } from '../../../src/types/row-codec'
import { testNode, type TestNode } from './local-shards'

// ALTER TABLE … SET replication_mode on a populated table (issue 14 item 8) and re-partitioning a
// populated leaderless table, through the executor over real shard engines with quorum replication
// (one replica per shard, testNode(…, true): a node in a cluster). Mode 1 → leaderless gives each
// row the UUIDv8-HLC of its commit HLC; leaderless → Mode 1 takes each key's LWW winner across the
// replicas, so a stale replica neither wins with an older version nor brings a deleted key back.

beforeAll(async () => { await initHashing() })

const POS = { line: 1, column: 1, offset: 0 }
const ddl = (node: TestNode) => async (s: DdlStatement) => await runDdl(node.env, s)

async function failure (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  return await p.then(() => { throw new Error('expected the statement to fail') }, (e: { code: string, message: string }) => e)
}

/** Every stored key's latest committed version of table `id` (tombstones included), over all shards. */
async function versions (node: TestNode, id: number): Promise<VersionScanRow[]> {
  const out: VersionScanRow[] = []
  for (const s of shardIds(node.env.shards)) out.push(...await node.shards.engines[s]!.scanVersions(id, null, 2000))
  return out
}

const rowsOf = async (node: TestNode, sql: string): Promise<unknown[][]> => (await node.sql(sql))[0]!.rows

function row (pk: number, v: string, hlc: bigint): VersionScanRow {
  return { pk: [BigInt(pk)], versionId: encodeUuidV8({ ts: Number(hlc), counter: 0, nodeId: 1, random: pk }), row: v === '' ? null : Uint8Array.of(v.charCodeAt(0)), commitHlc: hlcTs(Number(hlc)) }
}

describe('the versioned source of a move (pure)', () => {
  it('merges replica pages by version: an older version does not win, a tombstone winner stays (as a tombstone)', () => {
    const fresh = [row(1, 'a', 200n), row(2, '', 300n), row(3, 'c', 100n)]
    const stale = [row(1, 'x', 100n), row(2, 'b', 100n), row(4, 'd', 100n)]
    // Whichever replica answered first.
    for (const pages of [[stale, fresh], [fresh, stale]]) {
      const m = mergeReplicaPages(pages, 10)
      expect(m.next).toBeNull()
      expect(m.rows.map(r => [r.pk[0], r.row === null ? null : String.fromCharCode(r.row[0]!)])).toEqual([[1n, 'a'], [2n, null], [3n, 'c'], [4n, 'd']])
    }
  })

  it('decides only the keys every full page has covered; the next page starts after the smallest last key', () => {
    const a = [row(1, 'a', 1n), row(5, 'e', 1n)]
    const b = [row(2, 'b', 1n), row(3, 'c', 1n)]
    const m = mergeReplicaPages([a, b], 2)
    expect(m.rows.map(r => r.pk[0])).toEqual([1n, 2n, 3n])
    expect(m.next).toEqual([3n])
  })

  it('a Mode 1 row\'s leaderless version carries its commit HLC, the same each time, and orders by it', () => {
    const source = encodeUuidV8({ ts: 1000, counter: 3, nodeId: 7, random: 12345 })
    const hlc = hlcTs(1_700_000_000_000, 42)
    const v = leaderlessVersion(hlc, source)
    expect([uuidv8Timestamp(v), uuidv8Counter(v)]).toEqual([hlcMs(hlc), hlcCounter(hlc)])
    expect(leaderlessVersion(hlc, source)).toEqual(v)
    expect(compareVersionIds(v, leaderlessVersion(hlcTs(1_700_000_000_000, 43), source))).toBe(-1)
  })
})

async function populated (leaderless: boolean): Promise<TestNode> {
  const node = await testNode(8, true)
  const mode = leaderless ? " WITH (replication_mode = 'leaderless_quorum')" : ''
  await node.sql(`CREATE TABLE orders (order_id BIGINT PRIMARY KEY, user_id TEXT NOT NULL, amount BIGINT)${mode}`)
  const values: string[] = []
  for (let i = 1; i <= 60; i++) values.push(`(${i}, 'u${i % 7}', ${i * 10})`)
  await node.sql(`INSERT INTO orders VALUES ${values.join(', ')}`)
  node.clock.advance(5)
  await node.sql('DELETE FROM orders WHERE order_id = 7')
  await node.sql('UPDATE orders SET amount = 1 WHERE order_id = 8')
  return node
}

const SUM = 10 * 60 * 61 / 2 - 70 - 80 + 1

describe('replication_mode of a populated table', () => {
  it('primary_replica → leaderless_quorum: every row with the version of its commit HLC; a deleted key stays deleted; later writes win', async () => {
    const node = await populated(false)
    // One row from a multi-statement transaction: its commit HLC is in the TIP, not stamped inline.
    const session = new SessionState()
    await node.sql("BEGIN; INSERT INTO orders VALUES (100, 'u1', 0); COMMIT", session)
    const oldId = node.env.catalog().table('orders')!.id
    const before = new Map((await versions(node, oldId)).filter(r => r.row !== null).map(r => [String(r.pk[0]), r]))
    expect(before.size).toBe(60)
    await node.sql("ALTER TABLE orders SET replication_mode = 'leaderless_quorum'")
    const t = node.env.catalog().table('orders')!
    expect(t.id).not.toBe(oldId)
    expect(t.replication.replication_mode).toBe('leaderless_quorum')
    expect(t.move).toBeUndefined()
    expect(await rowsOf(node, 'SELECT count(*), sum(amount) FROM orders')).toEqual([['60', String(SUM)]])
    expect(await rowsOf(node, 'SELECT count(*) FROM orders WHERE order_id = 7')).toEqual([['0']])
    const after = await versions(node, t.id)
    expect(after.length).toBe(60)
    for (const v of after) {
      const src = before.get(String(v.pk[0]))!
      expect(v.versionId).toEqual(leaderlessVersion(src.commitHlc, src.versionId))
      expect([uuidv8Timestamp(v.versionId), uuidv8Counter(v.versionId)]).toEqual([hlcMs(src.commitHlc), hlcCounter(src.commitHlc)])
    }
    expect((await versions(node, oldId)).filter(r => r.row !== null)).toEqual([])
    // A write after the conversion is stamped later than every commit: it wins.
    await node.sql('UPDATE orders SET amount = 2 WHERE order_id = 100')
    await node.sql("INSERT INTO orders VALUES (7, 'u0', 7)")
    expect(await rowsOf(node, 'SELECT amount FROM orders WHERE order_id IN (7, 100) ORDER BY order_id')).toEqual([['7'], ['2']])
  })

  it('refuses writes while it converts; reads see the old rows until the switch; resumes after a crash', async () => {
    const node = await populated(false)
    const d = ddl(node)
    const start = parse("ALTER TABLE orders MOVE START BY NODE 1 SHARDS 8 SET replication_mode = 'leaderless_quorum'")[0] as DdlStatement
    await d(start)
    expect((await failure(node.sql("INSERT INTO orders VALUES (200, 'u1', 1)"))).code).toBe('SB_TABLE_ALTERING')
    expect(await rowsOf(node, 'SELECT count(*), sum(amount) FROM orders')).toEqual([['59', String(SUM)]])
    let budget = 3
    await expect(runMove(node.env, 'orders', POS, async s => { if (budget-- <= 0) throw new Error('crash'); return await d(s) })).rejects.toThrow('crash')
    expect(await rowsOf(node, 'SELECT count(*) FROM orders')).toEqual([['59']])
    await runMove(node.env, 'orders', POS, d)
    expect(node.env.catalog().table('orders')!.replication.replication_mode).toBe('leaderless_quorum')
    expect(await rowsOf(node, 'SELECT count(*), count(DISTINCT order_id), sum(amount) FROM orders')).toEqual([['59', '59', String(SUM)]])
    await node.sql("INSERT INTO orders VALUES (200, 'u1', 1)")
  })

  it('leaderless_quorum → primary_replica: each key\'s winner across the replicas; a stale replica neither wins nor resurrects', async () => {
    const node = await populated(true)
    const t = node.env.catalog().table('orders')!
    // A second replica of every shard that missed the DELETE of 7 and the UPDATE of 8: it holds
    // their older versions (the first INSERT's images).
    const counter = new SharedXidCounter(new SharedArrayBuffer(8))
    const stale = await Promise.all(shardIds(8).map(async s => await ShardEngine.open(MemoryKv.open(), { shardId: s, nodeId: asNodeId(2), durability: 'none', clock: node.clock, xids: new SharedXidSource(counter, asNodeId(2), 0n) })))
    const shape = tableShape(t)
    for (const v of await versions(node, t.id)) {
      const id = Number(v.pk[0])
      if (id !== 7 && id !== 8) continue
      // Older than the live replica's (the DELETE / UPDATE came later): the first INSERT's image.
      const older = encodeUuidV8({ ts: uuidv8Timestamp(v.versionId) - 1, counter: 0, nodeId: 1, random: 1 })
      const img = encodeRow(shape.types, [BigInt(id), `u${id % 7}`, BigInt(id * 10)])
      for (const s of shardIds(8)) {
        const there = (await node.shards.engines[s]!.scanVersions(t.id, null, 2000)).some(x => x.pk[0] === v.pk[0])
        if (there) await stale[s]!.applyVersions({ writes: [{ tableId: t.id, pk: v.pk, versionId: older, row: img }], commitHlc: hlcTs(1) })
      }
    }
    const q = node.env.quorum!
    const twoReplicas: QuorumIo = {
      ...q,
      scanReplicas: async (table, shard, after, limit) => [...await q.scanReplicas(table, shard, after, limit), await stale[shard]!.scanVersions(table.id, after, limit)]
    }
    Object.assign(node.env, { quorum: twoReplicas })
    await node.sql("ALTER TABLE orders SET replication_mode = 'primary_replica'")
    // The old relation's rows got tombstones on the replicas (the cleanup reads them as the copy does).
    expect((await versions(node, t.id)).filter(r => r.row !== null)).toEqual([])
    const m = node.env.catalog().table('orders')!
    expect(m.replication.replication_mode).toBe('primary_replica')
    expect(await rowsOf(node, 'SELECT count(*), sum(amount) FROM orders')).toEqual([['59', String(SUM)]])
    expect(await rowsOf(node, 'SELECT count(*) FROM orders WHERE order_id = 7')).toEqual([['0']])
    expect(await rowsOf(node, 'SELECT amount FROM orders WHERE order_id = 8')).toEqual([['1']])
    // Mode 1 again: an INSERT of an existing key is a duplicate, not an upsert.
    expect((await failure(node.sql("INSERT INTO orders VALUES (8, 'u1', 1)"))).code).toBe('SB_UNIQUE_VIOLATION')
  })

  it('re-partitions a populated leaderless table (the winners move; versions kept)', async () => {
    const node = await testNode(8, true)
    await node.sql("CREATE TABLE kv (a BIGINT, b BIGINT, v TEXT, PRIMARY KEY (a, b)) WITH (replication_mode = 'leaderless_quorum')")
    const values: string[] = []
    for (let i = 1; i <= 50; i++) values.push(`(${i % 5}, ${i}, 'v${i}')`)
    await node.sql(`INSERT INTO kv VALUES ${values.join(', ')}`)
    node.clock.advance(5)
    await node.sql('DELETE FROM kv WHERE a = 1 AND b = 1')
    const oldId = node.env.catalog().table('kv')!.id
    const before = new Map((await versions(node, oldId)).filter(r => r.row !== null).map(r => [`${r.pk[0]}/${r.pk[1]}`, r.versionId]))
    await node.sql("ALTER TABLE kv SET partition_key_columns = 'a'")
    const t = node.env.catalog().table('kv')!
    expect(t.id).not.toBe(oldId)
    expect(t.replication.replication_mode).toBe('leaderless_quorum')
    expect(await rowsOf(node, 'SELECT count(*) FROM kv')).toEqual([['49']])
    expect(await rowsOf(node, 'SELECT count(*) FROM kv WHERE a = 1 AND b = 1')).toEqual([['0']])
    const moved = (await versions(node, t.id)).filter(r => r.row !== null)
    expect(moved.length).toBe(49)
    for (const v of moved) expect(v.versionId).toEqual(before.get(`${v.pk[0]}/${v.pk[1]}`))
    // Every row of a = k sits on one shard now.
    const shardsOfA = new Set<number>()
    for (const s of shardIds(8)) if ((await node.shards.engines[s]!.scanVersions(t.id, null, 2000)).some(r => r.pk[0] === 2n)) shardsOfA.add(s)
    expect(shardsOfA.size).toBe(1)
    expect((await versions(node, oldId)).filter(r => r.row !== null)).toEqual([])
  })
})
