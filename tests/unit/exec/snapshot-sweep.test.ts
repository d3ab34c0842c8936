import pino from 'pino'
import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { SessionState } from '../../../src/exec/txn'
import { Sweeper, tombstonePurgeTables } from '../../../src/node/sweeper'
import { testNode } from './local-shards'

// Issue 13 item 1: a sweep must not remove versions an open snapshot transaction will still read,
// on shards the transaction has not touched yet. Through the SQL executor over real shard engines
// (local-shards.ts) and the node's Sweeper reading the node's snapshot registry, as node.ts wires
// it: BEGIN (snapshot) → read one row (its shard) → another session updates every other row twice
// and commits → sweep → the snapshot reads every row as of its start.

beforeAll(async () => { await initHashing() })

describe('the sweep and open snapshots', () => {
  it('keeps the versions an open snapshot sees on shards it has not read yet', async () => {
    const node = await testNode(4, false)
    await node.sql('CREATE TABLE t (k INT PRIMARY KEY, v INT)')
    const keys = [...Array(16).keys()].map(i => i + 1)
    for (const k of keys) await node.sql(`INSERT INTO t VALUES (${k}, ${k * 10})`)

    const snap = new SessionState()
    await node.sql('BEGIN', snap)
    expect((await node.sql('SELECT v FROM t WHERE k = 1', snap))[0]!.rows).toEqual([[10]])
    expect(node.env.snapshots.size).toBe(1)

    await node.sql('UPDATE t SET v = v + 1 WHERE k > 1')
    await node.sql('UPDATE t SET v = v + 1 WHERE k > 1')

    const sweeper = new Sweeper({
      workers: node.shards,
      shardCount: { shards: 4 },
      hlc: node.env.hlc,
      clock: node.clock,
      log: pino({ level: 'silent' }),
      oldestSnapshot: () => node.env.snapshots.oldest(),
      announceLagMs: 0,
      tombstonePurgeTables: () => tombstonePurgeTables(node.env.catalog()),
      commitLogRetentionHours: 24
    })
    const held = await sweeper.runOnce()
    expect(held.shards).toBe(4)
    expect(held.backVersionsRemoved).toBe(0)

    // Every row as of BEGIN, on every shard (the other 15 rows span the shards the snapshot never joined).
    const seen = (await node.sql('SELECT k, v FROM t ORDER BY k', snap))[0]!.rows
    expect(seen).toEqual(keys.map(k => [k, k * 10]))
    await node.sql('COMMIT', snap)
    expect(node.env.snapshots.size).toBe(0)

    // With the snapshot gone the superseded versions go: two per updated row (and the versions of
    // the two-phase commits' decision records, stored in the shards too).
    expect((await sweeper.runOnce()).backVersionsRemoved).toBeGreaterThanOrEqual(2 * (keys.length - 1))
    expect((await node.sql('SELECT v FROM t WHERE k = 2'))[0]!.rows).toEqual([[22]])
  })

  it('a rolled-back snapshot transaction no longer holds the sweep back; read-committed ones never do', async () => {
    const node = await testNode(2, false)
    await node.sql('CREATE TABLE t (k INT PRIMARY KEY, v INT)')
    const s = new SessionState()
    await node.sql('BEGIN', s)
    expect(node.env.snapshots.size).toBe(1)
    await node.sql('ROLLBACK', s)
    expect(node.env.snapshots.size).toBe(0)
    await node.sql('BEGIN ISOLATION LEVEL READ COMMITTED', s)
    expect(node.env.snapshots.size).toBe(0)
    await node.sql('ROLLBACK', s)
    await expect(node.sql('BEGIN; SELECT 1/0', s)).rejects.toMatchObject({ code: 'SB_DIVISION_BY_ZERO' })
    expect(node.env.snapshots.size).toBe(1)
    await node.sql('ROLLBACK', s)
    expect(node.env.snapshots.size).toBe(0)
  })

  it('SHOW TRANSACTIONS HORIZON shows the open snapshot holding the horizon, then the horizon moving to now once it ends', async () => {
    const node = await testNode(2, false)
    await node.sql('CREATE TABLE t (k INT PRIMARY KEY, v INT)')
    const show = async (): Promise<unknown[][]> => (await node.sql('SHOW TRANSACTIONS HORIZON'))[0]!.rows.map(r => [...r])
    const idle = await show()
    expect(idle).toHaveLength(2)
    expect(idle[0]!.slice(0, 3)).toEqual([1, 'normal (this node)', null])
    expect(idle[0]![4]).toBe('no open snapshot')
    expect(idle[1]!.slice(0, 2)).toEqual([null, 'cluster'])

    const snap = new SessionState()
    await node.sql('BEGIN', snap)
    await node.sql('SELECT v FROM t WHERE k = 1', snap)
    const start = node.env.snapshots.oldest()!
    node.clock.advance(60_000)
    const held = await show()
    expect(held[0]![2]).toBe(start.toString())
    expect(held[0]![4]).toBe('holds the horizon')
    expect(held[1]![2]).toBe(start.toString()) // the horizon is the snapshot's start, a minute behind now
    await node.sql('COMMIT', snap)
    const after = await show()
    expect(BigInt(after[1]![2] as string)).toBeGreaterThan(start)
    expect(after[0]![4]).toBe('no open snapshot')
  })
})
