import { describe, expect, it } from 'vitest'
import { splitCluster } from '../helpers/split-cluster'

// Issue 20 item 5, a SECOND split on real processes: 16 → 32 → 64 on a running 3-node cluster
// while a writer runs into a single-copy table and a Mode 1 table of three copies. The second split
// starts from a layout that already records one (splitFrom [16], placementShards 16), its parents
// include the first split's children (shards 16‥31, whose Mode 1 groups started at the first
// switch with empty logs) and the former parents may still be cleaning rows of the first split.
// Checked: each split is recorded on every node (splitFrom [16, 32], placementShards stays 16, so
// nothing moves); SHOW SHARD MAP lists 64 shards; every acknowledged row is read exactly once
// through every node, and SELECT count(*) counts each once.

const TABLES = ['t', 'm'] as const
const key = (i: number): string => `k${String(i).padStart(5, '0')}`

const split = splitCluster('shard-split-twice')

describe('two splits in a row on a running cluster', () => {
  it('16 → 32 → 64 with a writer running into a single-copy and a Mode 1 (N = 3) table: every acknowledged row once, through every node', async () => {
    const { c, sqlOk, insert, readAll, layoutOf } = await split.start(16)

    await sqlOk(1, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)')
    await sqlOk(1, 'CREATE TABLE m (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    const acked: Record<string, string[]> = { t: [], m: [] }
    let i = 0
    for (; i < 150; i++) for (const t of TABLES) { await insert(1 + (i % 3), t, key(i), `v${i}`); acked[t]!.push(`${key(i)}=v${i}`) }
    const writing = { on: true }
    const writer = (async () => {
      for (; writing.on; i++) for (const t of TABLES) { await insert(1 + (i % 3), t, key(i), `w${i}`); acked[t]!.push(`${key(i)}=w${i}`) }
    })()

    for (const [from, to, through] of [[16, 32, 2], [32, 64, 3]] as const) {
      const alter = await sqlOk(through, `ALTER CLUSTER SET shards = ${to}`)
      expect(alter.refused, `ALTER CLUSTER SET shards = ${to}`).toBeUndefined()
      for (const id of [1, 2, 3]) {
        await c.waitFor(async () => layoutOf(id).shards === to ? true : null, { what: `node ${id} to record ${to} shards`, timeoutMs: 600_000 })
      }
      expect(layoutOf(1), `the layout after ${from} → ${to}`).toMatchObject({ shards: to, splitFrom: to === 32 ? [16] : [16, 32], placementShards: 16 })
      // The writer goes on after each split (its rows land in the new shards).
      const more = i + 20
      await c.waitFor(async () => i >= more ? true : null, { what: `the writer to go on after the split to ${to}`, timeoutMs: 300_000 })
    }
    writing.on = false
    await writer

    for (const id of [1, 2, 3]) expect(layoutOf(id), `node ${id}'s layout`).toMatchObject({ shards: 64, splitFrom: [16, 32], placementShards: 16 })
    for (const t of TABLES) {
      const want = acked[t]!.slice().sort()
      for (const id of [1, 2, 3]) expect(await readAll(id, t), `table ${t} through node ${id}`).toEqual(want)
      for (const id of [1, 2, 3]) {
        const n = await sqlOk(id, `SELECT count(*) FROM ${t}`)
        expect(Number((n.rows as unknown[][])[0]![0]), `count(*) of ${t} through node ${id}`).toBe(want.length)
      }
    }
    for (const id of [1, 2, 3]) expect((await c.rows(id, 'SHOW SHARD MAP')).length, `SHOW SHARD MAP through node ${id}`).toBe(64)
  }, 1_500_000)
})
