import { describe, expect, it } from 'vitest'
import { ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'

// Issue 14 item 4 on real processes: ALTER TABLE … SET replication_factor on a populated
// primary_replica table while a writer runs. Raised from 2 to 3, each shard's third node is
// bootstrapped (snapshot, then the log) and promoted to voter by a config entry; every
// acknowledged row ends on all three copies. Lowered back to 2, the extra voter is removed.

const SHARDS = 2
const t = useReplicatedCluster({ nodes: 3, shards: SHARDS, replication: { log_retention_bytes: 4096 } })
const RETRY = [...ELECTION_CODES, 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE']

const insert = async (id: number, k: string, v: string): Promise<void> => { await t.write(id, 'INSERT INTO t (k, v) VALUES ($1, $2)', [k, v], { retry: RETRY, okCodes: ['SB_UNIQUE_VIOLATION'], timeoutMs: 20_000 }) }
const readAll = async (id: number): Promise<string[]> => (await t.read(id, 'SELECT k, v FROM t ORDER BY k', [], { retry: RETRY, timeoutMs: 20_000 })).map(r => `${String(r[0])}=${String(r[1])}`)

const key = (i: number): string => `k${String(i).padStart(4, '0')}`
const out = (): string => t.cluster.ids.map(id => t.cluster.node(id).stdout()).join('\n')

describe('raising and lowering N of a populated primary_replica table', () => {
  it('2 → 3 while a writer runs: every row on three copies, the new replica promoted to voter; 3 → 2 removes it', async () => {
    const c = await t.cluster.sql(1, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 2)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    const acked: string[] = []
    let i = 0
    const pad = 'p'.repeat(100)
    for (; i < 40; i++) { await insert(1 + (i % 3), key(i), `v${i}${pad}`); acked.push(`${key(i)}=v${i}${pad}`) }
    // A writer runs through the ALTER.
    const writing = { on: true }
    const writer = (async () => {
      for (; writing.on; i++) { await insert(1 + (i % 3), key(i), `v${i}`); acked.push(`${key(i)}=v${i}`) }
    })()
    const a = await t.cluster.sql(2, 'ALTER TABLE t SET replication_factor = 3')
    expect(a.status, JSON.stringify(a.body)).toBe(200)
    await t.cluster.waitFor(async () => (out().match(/promotes node \d+ as a voter/g) ?? []).length >= SHARDS ? true : null,
      { what: 'each shard to promote its third replica to voter', timeoutMs: 60_000 })
    const more = i + 10
    await t.cluster.waitFor(async () => i >= more ? true : null, { what: 'the writer to go on after the promotions', timeoutMs: 30_000 })
    writing.on = false
    await writer
    // Every copy of every shard at the same LSN: all three nodes hold every acknowledged row.
    await t.sameLsn('all three copies of every shard to reach the same LSN', 60_000)
    for (const id of t.cluster.ids) expect(await readAll(id), `through node ${id}`).toEqual(acked.slice().sort())
    // SHOW SHARD MAP on each shard's primary: its generation, and every replica in sync.
    const maps = await t.cluster.waitFor(async () => {
      const all = (await Promise.all(t.cluster.ids.map(async id => await t.cluster.rows(id, 'SHOW SHARD MAP')))).flat()
      const led = all.filter(r => r[6] !== null && /:primary/.test(String(r[6])))
      return led.length === SHARDS && led.every(r => (String(r[6]).match(/:in sync/g) ?? []).length === 2) ? led : null
    }, { what: 'each shard\'s primary to show its two other replicas in sync', timeoutMs: 30_000 })
    for (const [, , primary, , , generation, states] of maps) {
      expect(Number(generation)).toBeGreaterThan(0)
      expect(String(states)).toContain(`${String(primary)}:primary`)
    }
    // Lowered: each shard's third node leaves the voters.
    const l = await t.cluster.sql(1, 'ALTER TABLE t SET replication_factor = 2')
    expect(l.status, JSON.stringify(l.body)).toBe(200)
    await t.cluster.waitFor(async () => (out().match(/removes node \d+ as a voter/g) ?? []).length >= SHARDS ? true : null,
      { what: 'each shard to remove its third voter', timeoutMs: 60_000 })
    await insert(1, 'after', 'lowered')
    expect(await readAll(3)).toContain('after=lowered')
  }, 240_000)
})
