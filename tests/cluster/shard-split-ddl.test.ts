import { describe, expect, it } from 'vitest'
import { splitCluster } from '../helpers/split-cluster'

// DDL while a shard split runs, on real processes (cluster/split-ddl-guard.ts): a 3-node cluster of
// 8 shards with a Mode 1 table of three copies; node 3 is down, so the split to 16 started by the
// other two cannot switch (node 3 holds a copy of every parent and reports nothing) and stays
// under way for as long as the test needs. Meanwhile ALTER TABLE … SET replication_factor (which
// would change every group's voters) and CREATE TABLE of a leaderless table (which a derive cannot
// copy) are refused with SB_SHARD_SPLIT_IN_PROGRESS through either live node — the coordinator's
// check, so a forwarded statement too — and the catalog is unchanged. After the cancel the same
// ALTER TABLE runs; while node 3 is still down the groups holding it cannot commit their new
// voters, so a new split is refused naming them (the decider's voter_change blocker); once node 3
// is back the split is accepted and runs to 16 shards, and every row is read through every node.

const split = splitCluster('shard-split-ddl')

describe('DDL while a split runs', () => {
  it('a changed replication_factor and a new leaderless table are refused naming the split, nothing changed; after the cancel the ALTER runs, and a split waits for the voters to settle', async () => {
    const { c, sqlOk, layoutOf } = await split.start(8)
    const factorOf = async (id: number): Promise<number> => Number((await sqlOk(id, "SELECT replication_factor FROM sys_tables WHERE table_name = 'm'")).rows[0][0])

    await sqlOk(1, 'CREATE TABLE m (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)
    for (const k of keys) await sqlOk(1 + (Number(k.slice(1)) % 3), 'INSERT INTO m (k, v) VALUES ($1, $2)', [k, 'v'], code => code === 'SB_UNIQUE_VIOLATION')

    await c.stop(3)
    const alter = await sqlOk(1, 'ALTER CLUSTER SET shards = 16')
    expect(alter.refused).toBeUndefined()
    expect(layoutOf(1).split).toEqual({ to: 16 })

    for (const id of [1, 2]) {
      const r = await sqlOk(id, 'ALTER TABLE m SET replication_factor = 2', [], code => code === 'SB_SHARD_SPLIT_IN_PROGRESS')
      expect(r.refused, `ALTER TABLE through node ${id} while the split runs`).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
      expect(r.message).toMatch(/split of 8 shards into 16 is under way/)
      const l = await sqlOk(id, "CREATE TABLE l (k TEXT PRIMARY KEY) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 1, read_quorum = 1)", [], code => code === 'SB_SHARD_SPLIT_IN_PROGRESS')
      expect(l.refused, `CREATE TABLE l through node ${id}`).toBe('SB_SHARD_SPLIT_IN_PROGRESS')
      expect(await factorOf(id)).toBe(3)
    }
    expect(Number((await sqlOk(1, "SELECT count(*) FROM sys_tables WHERE table_name = 'l'")).rows[0][0])).toBe(0)
    // A DDL that changes neither runs.
    await sqlOk(2, 'CREATE TABLE u (k TEXT PRIMARY KEY, v TEXT)')

    // The cancel (no parent can have switched: node 3 reported nothing), then the same ALTER runs.
    const cancel = await sqlOk(2, 'ALTER CLUSTER SET shards = 8')
    expect(cancel.refused).toBeUndefined()
    await c.waitFor(async () => layoutOf(1).split === undefined && layoutOf(2).split === undefined ? true : null, { what: 'the cancel recorded', timeoutMs: 60_000 })
    await sqlOk(1, 'ALTER TABLE m SET replication_factor = 2')
    expect(await factorOf(2)).toBe(2)
    // The groups that hold node 3 cannot commit their new voters while it is down: the decider
    // (node 1) sees its own groups' voters differ from the placement and refuses to start a split.
    const early = await sqlOk(1, 'ALTER CLUSTER SET shards = 16', [], code => code === 'SB_SHARD_SPLIT_UNSUPPORTED')
    expect(early.refused, 'a split while the voters change').toBe('SB_SHARD_SPLIT_UNSUPPORTED')
    expect(early.message).toMatch(/still changing their voters/)
    expect(layoutOf(1).split).toBeUndefined()

    // Node 3 back: the changes complete, the split is accepted and runs to 16 shards.
    await c.start(3)
    await c.waitAllNormal([1, 2, 3], 120_000)
    await c.waitFor(async () => layoutOf(3).split === undefined && layoutOf(3).shards === 8 ? true : null, { what: 'node 3 to learn the cancel', timeoutMs: 60_000 })
    await c.waitFor(async () => (await sqlOk(1, 'ALTER CLUSTER SET shards = 16', [], code => code === 'SB_SHARD_SPLIT_UNSUPPORTED')).refused === undefined ? true : null,
      { what: 'the split to start once the voters settled', timeoutMs: 120_000 })
    for (const id of [1, 2, 3]) await c.waitFor(async () => layoutOf(id).shards === 16 ? true : null, { what: `node ${id} to record 16 shards`, timeoutMs: 300_000 })
    for (const id of [1, 2, 3]) {
      const rows = (await sqlOk(id, 'SELECT k FROM m ORDER BY k')).rows.map((r: unknown[]) => String(r[0]))
      expect(rows, `m through node ${id}`).toEqual(keys.slice().sort())
      expect(Number((await sqlOk(id, 'SELECT count(*) FROM m')).rows[0][0]), `count(*) of m through node ${id}`).toBe(keys.length)
    }
  }, 600_000)
})
