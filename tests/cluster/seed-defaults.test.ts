import { describe, expect, it } from 'vitest'
import { asShardId } from '../../src/core/ids'
import { useReplicatedCluster } from '../helpers/mode1'

// Issue 14's acceptance on real processes: the seeds' cluster.yaml replication section as written
// (default_mode: primary_replica, default_factor: 2, and its timeouts) — a table created without
// options is a primary_replica table with two copies: every shard has one replica in sync besides
// its primary, and each row is stored by exactly the two nodes of its shard, not the third.

const t = useReplicatedCluster({
  nodes: 3,
  shards: 4,
  replication: { default_mode: 'primary_replica', default_factor: 2, write_timeout_ms: 5000, read_timeout_ms: 3000, hint_expiration_days: 7 }
})

describe('the seeds\' replication defaults', () => {
  it('a table created without options has two copies of every row, on its shard\'s two replicas only', async () => {
    await t.ok(1, 'CREATE TABLE orders (order_id BIGINT PRIMARY KEY, note TEXT)')
    expect((await t.read(2, "SELECT replication_mode, replication_factor FROM sys_tables WHERE table_name = 'orders'")).map(r => r.map(String))).toEqual([['primary_replica', '2']])
    const tableId = Number((await t.read(1, "SELECT table_id FROM sys_tables WHERE table_name = 'orders'"))[0]![0])
    for (let k = 0; k < 12; k++) await t.write(1 + (k % 3), 'INSERT INTO orders VALUES ($1, $2)', [k, `n${k}`], { okCodes: ['SB_UNIQUE_VIOLATION'] })

    // Each shard's primary shows one other replica in sync.
    const led = await t.cluster.waitFor(async () => {
      const all = (await Promise.all(t.cluster.ids.map(async id => await t.cluster.rows(id, 'SHOW SHARD MAP')))).flat()
      const rows = all.filter(r => r[6] !== null && /:primary/.test(String(r[6])))
      return rows.length === 4 && rows.every(r => (String(r[6]).match(/:in sync/g) ?? []).length === 1) ? rows : null
    }, { what: 'each shard\'s primary to show its one other replica in sync', timeoutMs: 30_000 })
    const replicas = new Map(led.map(r => [Number(r[0]), String(r[3]).split(',').map(Number)]))
    for (const [, nodes] of replicas) expect(nodes).toHaveLength(2)

    for (let k = 0; k < 12; k++) {
      const shard = await t.shardOf('orders', 'order_id', k)
      const holders = replicas.get(shard)!
      await t.cluster.waitFor(async () => {
        const held = await Promise.all(t.cluster.ids.map(async id => (await t.ownCopy(id, asShardId(shard), tableId, BigInt(k)))?.row != null))
        return held.every((h, i) => h === holders.includes(t.cluster.ids[i]!)) ? true : null
      }, { what: `row ${k} stored by nodes ${holders.join(', ')} only`, timeoutMs: 20_000 })
    }
  }, 180_000)
})
