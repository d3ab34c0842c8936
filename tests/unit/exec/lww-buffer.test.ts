import { ddlContext } from '../../../src/plan/column-default'
import { beforeAll, describe, expect, it } from 'vitest'
import { Catalog, type TableInfo } from '../../../src/catalog/catalog'
import { ManualClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { Hlc, uuidv8Timestamp } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'
import { UuidV7Generator } from '../../../src/core/uuid'
import { LwwTxnBuffer } from '../../../src/exec/access/lww-buffer'
import type { QuorumBatch } from '../../../src/exec/env'
import type { ShardWrites } from '../../../src/exec/shard-writes'
import { SessionState } from '../../../src/exec/txn'
import type { CreateTableStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import { testNode } from './local-shards'
import { asShardId, type ShardId } from '../../../src/core/ids'

// A transaction's buffered leaderless writes (access/lww-buffer.ts): one image per key, versions
// stamped when COMMIT ships them, one batch per shard and (N, W), bounded.

beforeAll(async () => { await initHashing() })

function tables (): { a: TableInfo, b: TableInfo } {
  let cat = new Catalog()
  for (const ddl of [
    "CREATE TABLE a (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc', replication_factor = 3, write_quorum = 2, read_quorum = 2)",
    "CREATE TABLE b (k BIGINT PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc', replication_factor = 3, write_quorum = 3, read_quorum = 1)"
  ]) cat = cat.createTable(parseOne(ddl) as CreateTableStatement, ddlContext(3)).catalog
  return { a: cat.mustTable('a'), b: cat.mustTable('b') }
}

const row = (n: number): Uint8Array => new Uint8Array(n).fill(7)

function put (table: TableInfo, shard: ShardId, k: bigint, bytes = 4): ShardWrites {
  return new Map([[shard, [{ op: 'insert', tableId: table.id, pk: [k], row: row(bytes), versionId: new Uint8Array(16) }]]])
}

function del (table: TableInfo, shard: ShardId, k: bigint): ShardWrites {
  return new Map([[shard, [{ op: 'delete', tableId: table.id, pk: [k], versionId: new Uint8Array(16) }]]])
}

function buffer (maxBatchBytes = 1 << 20): { buf: LwwTxnBuffer, shipped: QuorumBatch[][], clock: ManualClock } {
  const clock = new ManualClock()
  const shipped: QuorumBatch[][] = []
  const io = { maxBatchBytes, writeBatches: async (b: readonly QuorumBatch[]) => { shipped.push([...b]) } }
  const buf = new LwwTxnBuffer(io, { hlc: new Hlc({ nodeId: 5, clock, rng: new SeededRng(3) }), uuidV7: new UuidV7Generator(clock, new SeededRng(4)) })
  return { buf, shipped, clock }
}

describe('LwwTxnBuffer', () => {
  it('keeps the latest image per key: a later write replaces it, a DELETE leaves a tombstone', () => {
    const { a } = tables()
    const { buf } = buffer()
    buf.add(a, put(a, asShardId(0), 1n))
    buf.add(a, put(a, asShardId(0), 1n, 9))
    buf.add(a, put(a, asShardId(1), 2n))
    buf.add(a, del(a, asShardId(1), 2n))
    expect(buf.size).toBe(2)
    expect(buf.get(a.id, [1n])).toEqual(row(9))
    expect(buf.get(a.id, [2n])).toBeNull()
    expect(buf.get(a.id, [3n])).toBeUndefined()
    expect(buf.hasTable(a.id)).toBe(true)
    expect([...buf.tableRows(a.id, [asShardId(1)]).values()]).toEqual([null])
  })

  it('ships one batch per shard and (N, W), versioned at COMMIT time, then holds nothing', async () => {
    const { a, b } = tables()
    const { buf, shipped, clock } = buffer()
    buf.add(a, put(a, asShardId(0), 1n))
    buf.add(b, put(b, asShardId(0), 1n))
    buf.add(a, put(a, asShardId(3), 2n))
    clock.advance(5_000)
    await buf.ship()
    expect(buf.size).toBe(0)
    expect(buf.hasTable(a.id)).toBe(false)
    const batches = shipped[0]!
    expect(batches.map(x => [x.shard, x.replicationFactor, x.writeQuorum, x.writes.length])).toEqual([[0, 3, 2, 1], [0, 3, 3, 1], [3, 3, 2, 1]])
    // the v8 versions carry the HLC of the COMMIT, not of the statement
    for (const x of batches) for (const w of x.writes) expect(uuidv8Timestamp(w.versionId)).toBe(clock.now())
    await buf.ship()
    expect(shipped).toHaveLength(1)
  })

  it('refuses a shard batch larger than one REPLICA_APPLY with SB_TXN_TOO_LARGE', () => {
    const { a } = tables()
    const { buf } = buffer(200)
    buf.add(a, put(a, asShardId(0), 1n, 100))
    expect(() => buf.add(a, put(a, asShardId(0), 2n, 100))).toThrow(expect.objectContaining({ code: 'SB_TXN_TOO_LARGE' }))
    // another shard has its own batch
    buf.add(a, put(a, asShardId(1), 3n, 100))
  })

  it('through the executor: the statement over the bound fails, the transaction aborts and COMMIT ships nothing', async () => {
    const node = await testNode(1, true, 300)
    await node.sql("CREATE TABLE q (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')")
    const s = new SessionState()
    const long = 'x'.repeat(200)
    const err = await node.sql(`BEGIN; INSERT INTO q VALUES (1, 'a'); INSERT INTO q VALUES (2, '${long}')`, s).then(() => null, (e: { code: string }) => e)
    expect(err?.code).toBe('SB_TXN_TOO_LARGE')
    const commit = await node.sql('COMMIT', s)
    expect(commit[0]!.command).toBe('ROLLBACK')
    expect((await node.sql('SELECT count(*) FROM q'))[0]!.rows).toEqual([['0']])
  })
})
