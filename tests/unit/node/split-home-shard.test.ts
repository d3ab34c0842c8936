import fc from 'fast-check'
import { catalogOf } from '../../helpers/catalog-of'
import { beforeAll, describe, expect, it } from 'vitest'
import { deliveryBatches } from '../../../src/cluster/hints/batches'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { pkTuple, shardOfRow, tableShape } from '../../../src/plan/table-types'
import { cleanupRule, homeShardOf } from '../../../src/node/split-cleanup'
import { encodeTuple } from '../../../src/storage/keys'
import type { StoredHint } from '../../../src/storage/hint-store'
import { asXid } from '../../../src/core/ids'
import { SqlDate, SqlTimestamp } from '../../../src/types/datetime'
import { makeDecimal } from '../../../src/types/decimal'
import { SqlUuid, type SqlValue } from '../../../src/types/values'

// The key-only placement a split's cleanup and hint re-routing use (node/split-cleanup.ts: each
// partition column's position in the key and how it is hashed) must place every key exactly where
// the router places its row (plan/table-types.ts shardOfRow from the row's values), for every
// column type a partition key can have; and a hint stored under a parent shard before a split is
// delivered to the shard its key belongs in now.

beforeAll(async () => { await initHashing() })

const CAT = catalogOf([
  'CREATE TABLE t (a TEXT, b BIGINT, c UUID, d DATE, e TIMESTAMP, f DECIMAL(12,2), g BOOLEAN, h DOUBLE PRECISION, i BYTEA, j SMALLINT, v TEXT, PRIMARY KEY (a, b, c, d, e, f, g, h, i, j))',
  "ALTER TABLE t SET partition_key_columns = 'j,i,h,g,f,e,d,c,b,a'",
  'CREATE TABLE one (k INTEGER, x VARCHAR(20), PRIMARY KEY (x, k))',
  "ALTER TABLE one SET partition_key_columns = 'k'",
  "CREATE TABLE leaderless (id TEXT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum')"
])
const T = tableShape(CAT.table('t')!)
const ONE = tableShape(CAT.table('one')!)

const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 })
const rowOfT = fc.tuple(
  fc.string(), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), bytes16, fc.integer({ min: -100_000, max: 100_000 }),
  fc.bigInt({ min: 0n, max: 1n << 50n }), fc.bigInt({ min: -(10n ** 11n), max: 10n ** 11n }), fc.boolean(),
  fc.double({ noNaN: true }), fc.uint8Array({ maxLength: 8 }), fc.integer({ min: -32768, max: 32767 })
).map(([a, b, c, d, e, f, g, h, i, j]): SqlValue[] => [a, b, new SqlUuid(c), new SqlDate(d), new SqlTimestamp(e), makeDecimal(f, 2), g, h, i, BigInt(j), null])

describe('the key-only placement of split cleanup and hint re-routing', () => {
  it('places every key where the router places its row, for every partition column type and count', () => {
    for (const shards of [2, 4, 8, 64]) {
      const home = homeShardOf(CAT, shards)
      fc.assert(fc.property(rowOfT, row => {
        expect(home(T.info.id, encodeTuple(pkTuple(T, row)))).toBe(shardOfRow(T, row, shards))
      }), { numRuns: 200 })
      fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.string({ maxLength: 20 }), (k, x) => {
        const row: SqlValue[] = [BigInt(k), x]
        expect(home(ONE.info.id, encodeTuple(pkTuple(ONE, row)))).toBe(shardOfRow(ONE, row, shards))
      }), { numRuns: 200 })
    }
  })

  it('the cleanup rule names the split tables and the decision records, not leaderless ones', () => {
    const ids = cleanupRule(CAT, 4).relations.map(r => r.tableId)
    expect(ids).toContain(T.info.id)
    expect(ids).toContain(ONE.info.id)
    expect(ids).not.toContain(CAT.table('leaderless')!.id)
  })

  it('delivers a hint stored under a parent shard to the shard its key belongs in after the split', () => {
    const shape = tableShape(CAT.table('leaderless')!)
    const hints: StoredHint[] = []
    for (let i = 0; hints.length < 20; i++) {
      const row: SqlValue[] = [`k${i}`, 'v']
      // Stored while the cluster had 2 shards: under the row's shard of 2.
      const shard = shardOfRow(shape, row, 2)
      if (shard !== 0) continue
      hints.push({ id: Uint8Array.of(i), bytes: 1, target: asNodeId(2), shard, tableId: shape.info.id, key: encodeTuple(pkTuple(shape, row)), xid: asXid(7n), versionId: new Uint8Array(16), row: null, createdAtMs: 0 })
    }
    const home = homeShardOf(CAT, 4)
    const batches = deliveryBatches(hints, home)
    const expected = new Map<number, number>()
    for (const h of hints) { const s = shardOfRow(shape, [decodeKey(h.key), 'v'], 4); expected.set(s, (expected.get(s) ?? 0) + 1) }
    // Both halves of parent 0 of 2 occur, and each batch goes to the shard of 4 its keys hash to.
    expect([...expected.keys()].sort()).toEqual([0, 2])
    expect(new Map(batches.map(b => [b.shard as number, b.writes.length]))).toEqual(expected)
    for (const b of batches) for (const w of b.writes) expect(home(w.tableId, w.pkBytes!)).toBe(b.shard)
    // Without a split (no function) the stored shard stands.
    expect(deliveryBatches(hints).map(b => b.shard)).toEqual([asShardId(0)])
  })
})

function decodeKey (key: Uint8Array): string {
  // The leaderless table's key is one TEXT column.
  return new TextDecoder().decode(key.subarray(1, key.length - 1))
}
