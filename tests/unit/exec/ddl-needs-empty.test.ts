import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { SessionState } from '../../../src/exec/txn'
import type { TableFenceShell } from '../../../src/node/table-fences'
import { testNode, type TestNode } from './local-shards'

// ALTER TABLE … SET changes that need a table without rows (issue 13 items 3 and 4), through the
// executor over real shard engines: "has rows" is asked of every shard (the row may be on any of
// them), and a refused change leaves the catalog as it was.

beforeAll(async () => { await initHashing() })

async function failure (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  return await p.then(() => { throw new Error('expected the statement to fail') }, (e: { code: string, message: string }) => e)
}

async function options (node: TestNode, table: string): Promise<unknown[]> {
  const res = await node.sql(`SELECT replication_mode, replication_factor, write_quorum, read_quorum, partition_key_columns FROM sys_tables WHERE table_name = '${table}'`)
  return res[0]!.rows[0]!
}

describe('ALTER TABLE on a populated table', () => {
  it('a new replication_mode or new partition_key_columns move a populated table\'s rows (exec/table-move.ts)', async () => {
    const node = await testNode(8, false)
    await node.sql('CREATE TABLE orders (order_id BIGINT PRIMARY KEY, user_id TEXT, amount BIGINT)')
    await node.sql("INSERT INTO orders VALUES (42, 'u1', 7)")
    const id = node.env.catalog().table('orders')!.id
    await node.sql("ALTER TABLE orders SET replication_mode = 'leaderless_quorum'")
    expect(await options(node, 'orders')).toEqual(['leaderless_quorum', 1, 1, 1, null])
    expect(node.env.catalog().table('orders')!.id).not.toBe(id)
    await node.sql("ALTER TABLE orders SET replication_mode = 'primary_replica'")
    expect(await options(node, 'orders')).toEqual(['primary_replica', 1, 1, 1, null])
    // The row is still found by its key.
    expect((await node.sql('SELECT amount FROM orders WHERE order_id = 42'))[0]!.rows).toEqual([['7']])
    // The primary key named explicitly is the key in effect: no change, allowed.
    await node.sql("ALTER TABLE orders SET partition_key_columns = 'order_id'")
    // With the row: it moves to its new key's shard (exec/table-move.ts).
    await node.sql("ALTER TABLE orders SET partition_key_columns = 'user_id'")
    expect(await options(node, 'orders')).toEqual(['primary_replica', 1, 1, 1, 'user_id'])
    expect((await node.sql("SELECT amount FROM orders WHERE user_id = 'u1'"))[0]!.rows).toEqual([['7']])
  })

  it('accepts raising replication_factor of a populated leaderless table: the new replicas are recorded as bootstrapping (issue 14 item 4)', async () => {
    const node = await testNode(4, true, undefined, { liveNodes: 3 })
    await node.sql("CREATE TABLE kv (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 2, read_quorum = 1)")
    await node.sql("INSERT INTO kv VALUES (1, 'a')")
    await node.sql('ALTER TABLE kv SET replication_factor = 3')
    expect(await options(node, 'kv')).toEqual(['leaderless_quorum', 3, 2, 1, null])
    expect(node.env.catalog().table('kv')!.bootstrap).toEqual({ readyFactor: 2, readyShards: [] })
    // Lowered back to the ready replicas: nothing waits any more.
    await node.sql('ALTER TABLE kv SET replication_factor = 2')
    expect(node.env.catalog().table('kv')!.bootstrap).toBeUndefined()
    expect((await node.sql('SELECT v FROM kv WHERE k = 1'))[0]!.rows).toEqual([['a']])
    // A table without rows has nothing to fill: its new replicas count at once (exec/leaderless-raise.ts).
    await node.sql("CREATE TABLE e (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 2, read_quorum = 1)")
    await node.sql('ALTER TABLE e SET replication_factor = 3')
    expect(await options(node, 'e')).toEqual(['leaderless_quorum', 3, 2, 1, null])
    expect(node.env.catalog().table('e')!.bootstrap).toBeUndefined()
  })

  it('a write racing the change is refused, not misplaced: before the probe, between probe and change, or planned before and arriving after it', async () => {
    const node = await testNode(8, false)
    const fences = node.env.fences as TableFenceShell
    await node.sql('CREATE TABLE orders (order_id BIGINT PRIMARY KEY, user_id TEXT, amount BIGINT)')
    // A transaction that wrote before the change cannot commit its row under the old layout.
    const holder = new SessionState()
    await node.sql("BEGIN; INSERT INTO orders VALUES (1, 'u1', 5)", holder)
    // An INSERT planned by the old catalog whose shard write is held until after the change.
    let arrive!: () => void
    const gate = new Promise<void>(resolve => { arrive = resolve })
    const request = node.env.request
    let held = 0
    node.env.request = async (op, req) => {
      if (op === 'AUTOCOMMIT' && held++ === 0) await gate
      return await request(op, req)
    }
    const late = failure(node.sql("INSERT INTO orders VALUES (2, 'u2', 6)"))
    // An INSERT between every replica's "no rows" and the catalog change.
    const fence = fences.fence.bind(fences)
    let between: Promise<{ code: string }> | undefined
    fences.fence = async (t, token) => {
      const rows = await fence(t, token)
      between = failure(node.sql("INSERT INTO orders VALUES (42, 'u1', 7)"))
      await between
      return rows
    }
    await node.sql("ALTER TABLE orders SET partition_key_columns = 'user_id'")
    fences.fence = fence
    expect(await options(node, 'orders')).toEqual(['primary_replica', 1, 1, 1, 'user_id'])
    expect(await between).toMatchObject({ code: 'SB_TABLE_ALTERING' })
    // The held INSERT still runs on the old catalog: the fence stays while it runs, so it is refused.
    fences.checkDue()
    arrive()
    expect(await late).toMatchObject({ code: 'SB_TABLE_ALTERING' })
    expect(await failure(node.sql('COMMIT', holder))).toMatchObject({ code: 'SB_TABLE_ALTERING' })
    // Once no write of the old catalog runs, the fence lifts: new rows go where the new key says.
    fences.checkDue()
    expect(fences.held()).toEqual([])
    await node.sql("INSERT INTO orders VALUES (42, 'u1', 7)")
    expect((await node.sql("SELECT order_id FROM orders WHERE user_id = 'u1'"))[0]!.rows).toEqual([['42']])
    expect((await node.sql('SELECT count(*) FROM orders'))[0]!.rows).toEqual([['1']])
  })

  it('new tables take the node\'s configured defaults (sys_tables shows them); WITH wins', async () => {
    const node = await testNode(2, true, undefined, { liveNodes: 3, tableDefaults: { replication_mode: 'leaderless_quorum', replication_factor: 3, write_quorum: 2, read_quorum: 2 } })
    await node.sql('CREATE TABLE d (k BIGINT PRIMARY KEY); CREATE TABLE w (k BIGINT PRIMARY KEY) WITH (read_quorum = 1)')
    expect(await options(node, 'd')).toEqual(['leaderless_quorum', 3, 2, 2, null])
    expect(await options(node, 'w')).toEqual(['leaderless_quorum', 3, 2, 1, null])
    expect((await node.sql("SELECT uuid_type FROM sys_tables WHERE table_name = 'd'"))[0]!.rows).toEqual([['v8_hlc']])
  })
})
