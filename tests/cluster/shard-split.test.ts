import { describe, expect, it } from 'vitest'
import { splitCluster } from '../helpers/split-cluster'

// Issue 20 item 5 on real processes: ALTER CLUSTER SET shards = 32 on a running 3-node cluster of
// 16 shards while a writer runs, into a single-copy table (the default replication_factor 1) and
// a Mode 1 table of three copies at once. Each parent's holders derive its child from their own
// copy, the parent's primary switches, the decider records the 32-shard layout (routing changes
// once), children are placed with their parents and start their groups, parents clean their moved
// rows up. Checked: SHOW SHARD MAP shows the progress while it runs and 32 shards after; a second
// ALTER to 64 while it runs is refused through every node alike; every acknowledged row readable
// through every node afterwards, SELECT count(*) counting each once; writes go on; a restart of a
// node keeps 32 shards and every row.

const TABLES = ['t', 'm'] as const
const key = (i: number): string => `k${String(i).padStart(5, '0')}`

const split = splitCluster('shard-split')

describe('ALTER CLUSTER SET shards = 32 on a running cluster', () => {
  it('16 → 32 with a writer running into a single-copy and a Mode 1 (N = 3) table: every acknowledged row once, through every node, also after a restart', async () => {
    const { c, sqlOk, insert, readAll, layoutOf } = await split.start(16)

    await sqlOk(1, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)')
    await sqlOk(1, 'CREATE TABLE m (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    const acked: Record<string, string[]> = { t: [], m: [] }
    let i = 0
    for (; i < 200; i++) for (const t of TABLES) { await insert(1 + (i % 3), t, key(i), `v${i}`); acked[t]!.push(`${key(i)}=v${i}`) }
    const writing = { on: true }
    const writer = (async () => {
      for (; writing.on; i++) for (const t of TABLES) { await insert(1 + (i % 3), t, key(i), `w${i}`); acked[t]!.push(`${key(i)}=w${i}`) }
    })()

    const alter = await sqlOk(2, 'ALTER CLUSTER SET shards = 32')
    expect(alter.refused).toBeUndefined()
    // While it runs: another count is refused alike through every node (the decider judges it against its layout).
    for (const id of [1, 2, 3]) {
      const r = await sqlOk(id, 'ALTER CLUSTER SET shards = 64', [], code => code === 'SB_SHARD_SPLIT_INVALID')
      expect(r.refused, `ALTER 64 through node ${id} while the split runs`).toBe('SB_SHARD_SPLIT_INVALID')
    }
    // SHOW SHARD MAP shows each parent's progress while it runs (or the split is already done).
    let sawProgress = false
    await c.waitFor(async () => {
      if (layoutOf(1).shards === 32) return true
      const map = await c.sql(1, 'SHOW SHARD MAP')
      if (map.status === 200 && JSON.stringify(map.body.rows).includes('splitting into shards')) { sawProgress = true; return true }
      return null
    }, { what: 'SHOW SHARD MAP to show the split', timeoutMs: 120_000 })
    for (const id of [1, 2, 3]) {
      await c.waitFor(async () => layoutOf(id).shards === 32 ? true : null, { what: `node ${id} to record 32 shards`, timeoutMs: 600_000 })
    }
    expect(layoutOf(1)).toMatchObject({ shards: 32, splitFrom: [16], placementShards: 16 })
    expect(sawProgress || layoutOf(1).shards === 32).toBe(true)
    const more = i + 30
    await c.waitFor(async () => i >= more ? true : null, { what: 'the writer to go on after the split', timeoutMs: 300_000 })
    writing.on = false
    await writer

    const check = async (ids: number[]): Promise<void> => {
      for (const t of TABLES) {
        const want = acked[t]!.slice().sort()
        for (const id of ids) expect(await readAll(id, t), `table ${t} through node ${id}`).toEqual(want)
        const n = await sqlOk(ids[0]!, `SELECT count(*) FROM ${t}`)
        expect(Number((n.rows as unknown[][])[0]![0]), `count(*) of ${t}`).toBe(want.length)
      }
    }
    await check([1, 2, 3])
    expect((await c.rows(1, 'SHOW SHARD MAP')).length).toBe(32)

    // A restart after the switch keeps 32 shards and every row.
    await c.restart(3)
    await c.waitAllNormal([1, 2, 3], 120_000)
    expect(layoutOf(3).shards).toBe(32)
    await check([3, 1])
  }, 1_500_000)
})
