import { describe, expect, it } from 'vitest'
import { codeOf, ELECTION_CODES, useReplicatedCluster } from '../helpers/mode1'

// An open transaction whose coordinator is SIGKILLed leaves uncommitted versions on the shards it
// wrote (node/orphan-txns.ts). Before, every writer of those rows failed with
// SB_UPDATE_CONFLICT until the participant's lease (storage.txn_idle_timeout_ms, ten minutes);
// now the first conflicting writer's node finds the holder's coordinator down and rolls it back,
// so a retry gets through within gossip's failure detection — and the dead transaction's update
// is not visible, before or after.

const t = useReplicatedCluster({ nodes: 3, shards: 4 })
const RETRY = [...ELECTION_CODES, 'SB_CATALOG_STALE']

describe('a transaction abandoned by its dead coordinator', () => {
  it('is rolled back by the first node whose writer it blocks; the writer\'s retry succeeds', async () => {
    await t.ok(1, 'CREATE TABLE acct (id BIGINT PRIMARY KEY, v BIGINT) WITH (replication_factor = 3)')
    // The first N = 3 table starts the shards' replication groups; CREATE TABLE answers once they
    // have primaries, so the first write — through another node, at once — needs no retry.
    await t.ok(2, `INSERT INTO acct VALUES ${Array.from({ length: 16 }, (_, i) => `(${i}, 0)`).join(', ')}`)
    // A key whose shard's primary is not node 3: node 3's transaction then lives on another node.
    const map = await t.cluster.rows(1, 'SHOW SHARD MAP')
    const primary = new Map(map.map(r => [Number(r[0]), Number(r[2])]))
    let key = -1
    for (let k = 0; k < 16 && key < 0; k++) {
      const p = primary.get(await t.shardOf('acct', 'id', k))
      if (p !== undefined && p !== 3 && p > 0) key = k
    }
    expect(key).toBeGreaterThanOrEqual(0)

    const session = (await t.cluster.http(3, 'POST', '/v1/sessions')).body.id as string
    expect((await t.cluster.sql(3, 'BEGIN', [], { session })).status).toBe(200)
    const upd = await t.cluster.sql(3, 'UPDATE acct SET v = 100 WHERE id = $1', [key], { session })
    expect(upd.status, JSON.stringify(upd.body)).toBe(200)
    await t.cluster.kill(3)

    // Node 1's writer: conflicts while the holder stands, then gets through (long before the lease).
    const codes: string[] = []
    await t.cluster.waitFor(async () => {
      const r = await t.cluster.sql(1, 'UPDATE acct SET v = v + 1 WHERE id = $1', [key])
      if (r.status === 200) return true
      const code = codeOf(r.body)
      codes.push(code)
      if (code === 'SB_UPDATE_CONFLICT' || RETRY.includes(code)) return null
      throw new Error(`HTTP ${r.status} ${JSON.stringify(r.body)}`)
    }, { what: 'the writer to get past the abandoned transaction', timeoutMs: 60_000, intervalMs: 250 })
    expect(codes).toContain('SB_UPDATE_CONFLICT')
    expect(await t.read(1, 'SELECT v FROM acct WHERE id = $1', [key])).toEqual([['1']])
    expect(t.cluster.ids.filter(id => id !== 3).some(id => t.lines(id, /left uncommitted rows on shard \d+ and blocked a writer: rolled back \(its node 3 is down\)/).length > 0)).toBe(true)

    // Node 3 back: its old transaction stays gone, and its session with it.
    await t.cluster.start(3)
    expect(await t.read(3, 'SELECT v FROM acct WHERE id = $1', [key], { retry: RETRY })).toEqual([['1']])
  }, 180_000)
})
