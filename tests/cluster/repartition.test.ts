import { describe, expect, it } from 'vitest'
import { codeOf, ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'

// Re-partitioning a populated table across three processes (issue 17 item 7's test): `orders`
// moves to user_id while a reader counts it through another node (the count never changes: reads
// see the old layout whole, then the new one whole); the node running the move is SIGKILLed half
// way and restarted: the move is resumed (node/table-moves.ts: by the lowest live node, which takes
// it over, or by the restarted node if it is back first) and ends with every row once, and a join
// with `users` on user_id is colocated — pinned to one shard.

const t = useReplicatedCluster({ nodes: 3 })
const ROWS = 3000
const RETRY = [...ELECTION_CODES, 'SB_CATALOG_STALE', 'SB_TABLE_ALTERING', 'SB_QUORUM_NOT_ACHIEVED']

describe('ALTER TABLE … SET partition_key_columns with rows', () => {
  it('moves orders to user_id while a reader runs, through a SIGKILL of its node half way', async () => {
    await t.ok(1, 'CREATE TABLE users (user_id BIGINT PRIMARY KEY, name TEXT)')
    await t.ok(1, 'CREATE TABLE orders (order_id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL, amount BIGINT)')
    await t.ok(1, `INSERT INTO users VALUES ${Array.from({ length: 50 }, (_, i) => `(${i}, 'u${i}')`).join(', ')}`)
    for (let from = 0; from < ROWS; from += 500) {
      await t.write(2, `INSERT INTO orders VALUES ${Array.from({ length: 500 }, (_, i) => `(${from + i}, ${(from + i) % 50}, ${from + i})`).join(', ')}`)
    }
    const total = String(ROWS * (ROWS - 1) / 2)
    expect(await t.read(3, 'SELECT count(*), sum(amount) FROM orders')).toEqual([[String(ROWS), total]])

    // The reader: every count it gets is the full count (failures of a node going away are retried).
    const counts: string[] = []
    const reading = { on: true }
    const reader = (async () => {
      while (reading.on) {
        const r = await t.cluster.sql(3, 'SELECT count(*), sum(amount) FROM orders').catch(() => null)
        if (r === null) continue
        if (r.status === 200) counts.push(`${String(r.body.rows[0][0])}/${String(r.body.rows[0][1])}`)
        else if (!RETRY.includes(codeOf(r.body))) counts.push(`error ${codeOf(r.body)}`)
      }
    })()

    // Node 1 runs the move; it is killed once a few shards are copied (each step is a catalog
    // version node 2 installs and logs), before the switch.
    const installed = (): number => t.lines(2, /catalog version \d+ (installed from node|could not)/).length
    const before = installed()
    const alter = t.cluster.sql(1, "ALTER TABLE orders SET partition_key_columns = 'user_id'").catch((e: unknown) => e)
    await t.cluster.waitFor(async () => installed() >= before + 4 ? true : null, { what: 'the move to start and copy a few shards', timeoutMs: 60_000 })
    await t.cluster.kill(1)
    await alter
    expect(await t.read(2, "SELECT partition_key_columns FROM sys_tables WHERE table_name = 'orders'", [], { retry: RETRY })).toEqual([[null]])
    // Writes are refused meanwhile, whoever is asked.
    const refused = await t.cluster.sql(3, 'INSERT INTO orders VALUES (999999, 1, 1)')
    expect(codeOf(refused.body)).toBe('SB_TABLE_ALTERING')

    await t.cluster.start(1)
    // Node 2 (the lowest live node) may have taken the move over while node 1 was down; node 1
    // resumes it if it is still its own when it is back. Either way one of them ends it.
    const ended = (): number[] => t.cluster.ids.filter(id => t.lines(id, /the move of table orders has ended/).length > 0)
    await t.cluster.waitFor(async () => ended().length > 0 ? true : null, { what: 'the move to be resumed and ended', timeoutMs: 120_000 })
      .catch((e: unknown) => { throw new Error(`${String(e)}\n${t.cluster.ids.flatMap(id => t.lines(id, /move of table|moves of tables|2PC recovery|limbo/).slice(-14).map(l => `node ${id}: ${l}`)).join('\n')}`) })
    expect(t.cluster.ids.some(id => t.lines(id, /resuming the move of table orders \(phase copy\)/).length > 0 && t.lines(id, /restart #|takes it over/).length > 0)).toBe(true)
    reading.on = false
    await reader

    for (const id of t.cluster.ids) {
      await t.cluster.waitFor(async () => {
        const r = await t.read(id, "SELECT partition_key_columns FROM sys_tables WHERE table_name = 'orders'", [], { retry: RETRY })
        return r[0]![0] === 'user_id' ? true : null
      }, { what: `node ${id} to hold the switched catalog` })
      expect(await t.read(id, 'SELECT count(*), count(DISTINCT order_id), sum(amount) FROM orders', [], { retry: RETRY })).toEqual([[String(ROWS), String(ROWS), total]])
    }
    expect(counts.length).toBeGreaterThan(0)
    expect(counts.filter(c => c !== `${ROWS}/${total}`)).toEqual([])

    // Colocated with users: a join pinned on user_id runs inside one shard.
    const plan = (await t.read(2, 'EXPLAIN SELECT o.order_id FROM orders o JOIN users u ON o.user_id = u.user_id WHERE u.user_id = 7')).map(r => String(r[0])).join('\n')
    expect(plan).toMatch(/colocated on the partition key: runs inside 1 shard/)
    expect(await t.read(2, 'SELECT count(*) FROM orders o JOIN users u ON o.user_id = u.user_id WHERE u.user_id = 7')).toEqual([[String(ROWS / 50)]])
    // Writes work again, by the new key.
    await t.write(3, 'INSERT INTO orders VALUES (999999, 7, 1)')
    expect(await t.read(1, 'SELECT count(*) FROM orders WHERE user_id = 7', [], { retry: RETRY })).toEqual([[String(ROWS / 50 + 1)]])
  }, 300_000)
})
