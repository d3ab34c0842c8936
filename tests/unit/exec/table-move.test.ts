import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { shardIds } from '../../../src/core/ids'
import { runDdl } from '../../../src/exec/executor'
import { MOVE_BATCH_ROWS, runMove } from '../../../src/exec/table-move'
import { SessionState } from '../../../src/exec/txn'
import type { DdlStatement } from '../../../src/sql/ast'
import { formatStatement } from '../../../src/sql/format'
import { parse } from '../../../src/sql/parser'
import { testNode, type TestNode } from './local-shards'

// ALTER TABLE … SET partition_key_columns on a populated table (issue 17 item 7) through the
// executor over real shard engines: the rows move to the shards of their new key, nothing is lost
// or duplicated, writes are refused while they move, and a move interrupted at any step resumes.

beforeAll(async () => { await initHashing() })

const POS = { line: 1, column: 1, offset: 0 }

/** A move step as it travels (parsed from its SQL text). */
function statement (sql: string): DdlStatement {
  const s = parse(sql)[0]!
  if (s.kind !== 'alter_table' || formatStatement(s) !== sql) throw new Error(`not a move step that formats back: ${sql}`)
  return s
}
const START = "ALTER TABLE orders MOVE START BY NODE 1 SHARDS 8 SET partition_key_columns = 'user_id'"

async function failure (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  return await p.then(() => { throw new Error('expected the statement to fail') }, (e: { code: string, message: string }) => e)
}

/** Rows of table id `id` stored on each shard (committed, visible now). */
async function storedRows (node: TestNode, id: number): Promise<number[]> {
  const out: number[] = []
  for (const s of shardIds(node.env.shards)) {
    let n = 0
    for await (const row of node.shards.engines[s]!.scan(id, {})) if (row !== undefined) n++
    out.push(n)
  }
  return out
}

async function populated (rows: number): Promise<TestNode> {
  const node = await testNode(8, false)
  await node.sql('CREATE TABLE orders (order_id BIGINT PRIMARY KEY, user_id TEXT NOT NULL, amount BIGINT)')
  const values: string[] = []
  for (let i = 1; i <= rows; i++) values.push(`(${i}, 'u${i % 7}', ${i * 10})`)
  await node.sql(`INSERT INTO orders VALUES ${values.join(', ')}`)
  return node
}

const ddl = (node: TestNode) => async (s: DdlStatement) => await runDdl(node.env, s)

describe('re-partitioning a populated table', () => {
  it('moves every row to the shard of its new key: count, sums and the old relation gone', async () => {
    const rows = MOVE_BATCH_ROWS * 2 + 17
    const node = await populated(rows)
    const oldId = node.env.catalog().table('orders')!.id
    const res = await node.sql("ALTER TABLE orders SET partition_key_columns = 'user_id'")
    expect(res[0]!.command).toBe('ALTER TABLE')
    // A primary key without the partition key: a global unique index keeps it unique (and says so).
    expect(res[0]!.warnings.join(' ')).toMatch(/global unique index "orders\$move_pkey"/)
    const t = node.env.catalog().table('orders')!
    expect(t.id).not.toBe(oldId)
    expect(t.move).toBeUndefined()
    expect(node.env.catalog().tables.filter(x => x.moving !== undefined)).toEqual([])
    expect(node.env.catalog().indexesOf(t.id).map(i => i.name)).toEqual(['orders_pkey'])
    expect((await node.sql('SELECT partition_key_columns FROM sys_tables WHERE table_name = \'orders\''))[0]!.rows).toEqual([['user_id']])
    expect((await node.sql('SELECT count(*), sum(amount) FROM orders'))[0]!.rows).toEqual([[String(rows), String(10 * rows * (rows + 1) / 2)]])
    // Found by the new key on its one shard, and by the old key through the global index.
    expect((await node.sql("SELECT count(*) FROM orders WHERE user_id = 'u3'"))[0]!.rows).toEqual([[String([...Array(rows).keys()].filter(i => (i + 1) % 7 === 3).length)]])
    expect((await node.sql('SELECT amount FROM orders WHERE order_id = 1000'))[0]!.rows).toEqual([['10000']])
    // Every row of the new id sits on one of the 7 shards of its user_id; the old id holds none.
    expect((await storedRows(node, t.id)).reduce((a, b) => a + b)).toBe(rows)
    expect((await storedRows(node, t.id)).filter(n => n > 0).length).toBeLessThanOrEqual(7)
    expect(await storedRows(node, oldId)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
    // The primary key still refuses a duplicate (the global index came along), and writes work again.
    expect((await failure(node.sql("INSERT INTO orders VALUES (5, 'u9', 1)"))).code).toBe('SB_UNIQUE_VIOLATION')
    await node.sql("INSERT INTO orders VALUES (0, 'u9', 1)")
    expect((await node.sql('SELECT count(*) FROM orders'))[0]!.rows).toEqual([[String(rows + 1)]])
  })

  it('refuses writes while the rows are copied; reads see the old layout whole until the switch', async () => {
    const node = await populated(40)
    const d = ddl(node)
    await d(statement(START))
    for (const sql of ["INSERT INTO orders VALUES (100, 'u1', 1)", 'UPDATE orders SET amount = 0 WHERE order_id = 1', 'DELETE FROM orders']) {
      const e = await failure(node.sql(sql))
      expect(e.code).toBe('SB_TABLE_ALTERING')
      expect(e.message).toMatch(/is being moved to a new layout/)
    }
    expect((await failure(node.sql('ALTER TABLE orders ADD COLUMN note TEXT'))).code).toBe('SB_TABLE_ALTERING')
    expect((await failure(node.sql('DROP TABLE orders'))).code).toBe('SB_TABLE_ALTERING')
    // The target is no user's relation.
    expect((await failure(node.sql('SELECT * FROM "orders$move"'))).code).toBe('SB_UNDEFINED_TABLE')
    expect((await node.sql("SELECT count(*) FROM sys_tables WHERE table_name LIKE 'orders%'"))[0]!.rows).toEqual([['1']])
    expect((await node.sql('SELECT count(*) FROM orders'))[0]!.rows).toEqual([['40']])
    await runMove(node.env, 'orders', POS, d)
    expect((await node.sql('SELECT count(*), sum(amount) FROM orders'))[0]!.rows).toEqual([['40', String(10 * 40 * 41 / 2)]])
    await node.sql("INSERT INTO orders VALUES (100, 'u1', 1)")
  })

  it('an ON DELETE CASCADE into a table being moved is refused (its copied rows would come back after the switch); nothing changes', async () => {
    const node = await testNode(8, false)
    await node.sql('CREATE TABLE customers (customer_id BIGINT PRIMARY KEY, name TEXT)')
    await node.sql('CREATE TABLE orders (order_id BIGINT PRIMARY KEY, user_id TEXT NOT NULL, customer_id BIGINT REFERENCES customers ON DELETE CASCADE)')
    await node.sql("INSERT INTO customers VALUES (1, 'a'), (2, 'b')")
    const values: string[] = []
    for (let i = 1; i <= 30; i++) values.push(`(${i}, 'u${i % 7}', ${1 + (i % 2)})`)
    await node.sql(`INSERT INTO orders VALUES ${values.join(', ')}`)
    const d = ddl(node)
    await d(statement(START))
    const e = await failure(node.sql('DELETE FROM customers WHERE customer_id = 1'))
    expect(e.code).toBe('SB_TABLE_ALTERING')
    expect(e.message).toMatch(/"orders" is being moved.*ON DELETE CASCADE from "customers"/)
    expect((await node.sql('SELECT count(*) FROM customers'))[0]!.rows).toEqual([['2']])
    await runMove(node.env, 'orders', POS, d)
    expect((await node.sql('SELECT count(*) FROM orders WHERE customer_id = 1'))[0]!.rows).toEqual([['15']])
    // After the move the cascade runs as before.
    await node.sql('DELETE FROM customers WHERE customer_id = 1')
    expect((await node.sql('SELECT count(*) FROM orders'))[0]!.rows).toEqual([['15']])
  })

  it('a client\'s run and a resumed run of one move on one node join, from any env derived from the node\'s', async () => {
    const node = await populated(40)
    const d = ddl(node)
    await d(statement(START))
    // A statement's env is a copy of the node's (shard-count-retry.ts pinShardCount spreads it).
    const statementEnv = { ...node.env }
    const steps: string[] = []
    const both = await Promise.allSettled([
      runMove(statementEnv, 'orders', POS, d, s => steps.push(`a ${s}`)),
      runMove(node.env, 'orders', POS, d, s => steps.push(`b ${s}`))
    ])
    // Before: each ran the steps, and the second SWITCH failed (SB_TABLE_MOVE_STATE, "is in phase cleanup, not copy").
    expect(both.map(r => r.status)).toEqual(['fulfilled', 'fulfilled'])
    expect(steps.filter(s => s.endsWith('switch'))).toHaveLength(1)
    expect((await node.sql('SELECT count(*), sum(amount) FROM orders'))[0]!.rows).toEqual([['40', String(10 * 40 * 41 / 2)]])
  })

  it('resumes from every step a crash can leave it at: nothing lost, nothing duplicated', async () => {
    for (const stopAfter of ['start', 'copied 3', 'copied all', 'switch', 'cleanup rows']) {
      const node = await populated(60)
      const oldId = node.env.catalog().table('orders')!.id
      const d = ddl(node)
      await d(statement(START))
      // A runner that "crashes" after a number of steps: its DDL function fails from then on.
      let budget = { start: 0, 'copied 3': 3, 'copied all': 8, switch: 9, 'cleanup rows': 9 }[stopAfter]!
      const crashing = async (s: DdlStatement) => {
        if (budget-- <= 0) throw new Error('crash')
        return await d(s)
      }
      await expect(runMove(node.env, 'orders', POS, crashing)).rejects.toThrow('crash')
      if (stopAfter === 'cleanup rows') expect(await storedRows(node, oldId)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
      // Another run (the restarted node) finishes it; rows copied twice are one row.
      await runMove(node.env, 'orders', POS, d)
      expect(node.env.catalog().table('orders')!.move).toBeUndefined()
      expect((await node.sql('SELECT count(*), count(DISTINCT order_id), sum(amount) FROM orders'))[0]!.rows).toEqual([['60', '60', String(10 * 60 * 61 / 2)]])
      expect(await storedRows(node, oldId)).toEqual([0, 0, 0, 0, 0, 0, 0, 0])
      expect((await storedRows(node, node.env.catalog().table('orders')!.id)).reduce((a, b) => a + b)).toBe(60)
    }
  })

  it('a transaction that wrote the table before the move cannot commit after it started', async () => {
    const node = await populated(10)
    const session = new SessionState()
    await node.sql("BEGIN; INSERT INTO orders VALUES (500, 'u1', 5)", session)
    await node.sql("ALTER TABLE orders SET partition_key_columns = 'user_id'")
    const e = await failure(node.sql('COMMIT', session))
    expect(e.code).toBe('SB_TABLE_ALTERING')
    expect((await node.sql('SELECT count(*) FROM orders WHERE order_id = 500'))[0]!.rows).toEqual([['0']])
    expect((await node.sql('SELECT count(*) FROM orders'))[0]!.rows).toEqual([['10']])
  })

  it('an empty table just changes its key (no move); a mode change with rows moves them (table-move-mode.test.ts)', async () => {
    const node = await testNode(8, false)
    await node.sql('CREATE TABLE e (id BIGINT PRIMARY KEY, k TEXT)')
    const v = node.env.catalog().version
    await node.sql("ALTER TABLE e SET partition_key_columns = 'k'")
    expect(node.env.catalog().version).toBe(v + 1)
    await node.sql("INSERT INTO e VALUES (1, 'a')")
    const id = node.env.catalog().table('e')!.id
    // Both at once (a leaderless table is partitioned by its primary key's columns): one move.
    await node.sql("ALTER TABLE e SET replication_mode = 'leaderless_quorum', partition_key_columns = 'id'")
    expect(node.env.catalog().table('e')!.id).not.toBe(id)
    expect((await node.sql('SELECT id, k FROM e'))[0]!.rows).toEqual([['1', 'a']])
  })
})
