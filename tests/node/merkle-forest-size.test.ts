import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'

// SHOW MERKLE FOREST SIZE on real nodes (issue 15 item 4): two nodes, a leaderless table whose
// rows both hold (N = 2). Each node reports its own shard replicas' forests: the leaves of every
// write it received, in windows of anti_entropy.merkle_tree_window_hours (here 3.6 s, no grace),
// which the node seals on its own clock (src/node/merkle-sealer.ts).

let cluster: Cluster
const SHARDS = 4

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 2,
    shards: SHARDS,
    extraConfig: () => ({
      node: { durability: 'none' },
      anti_entropy: { merkle_tree_window_hours: 0.001, sealing_grace_period_minutes: 0 }
    })
  })
  for (const id of cluster.ids) {
    await cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).every(m => m[3] === 'normal'), { what: `node ${id} to see everyone normal`, timeoutMs: 20_000 })
  }
}, 120_000)
afterAll(async () => { await cluster?.close() })

type Row = unknown[]
async function rows (id: number, sql: string): Promise<Row[]> {
  const r = await cluster.sql(id, sql)
  if (r.status !== 200) throw new Error(`node ${id}: ${sql}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.rows as Row[]
}
const total = (rs: Row[], col: number): number => rs.reduce((n, r) => n + Number(r[col]), 0)

describe('SHOW MERKLE FOREST SIZE', () => {
  it('shows per shard the windows, sealed windows, leaves and bytes of this node\'s forests', async () => {
    const r = await cluster.sql(1, "CREATE TABLE mf (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 2, read_quorum = 1)")
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    const before = await cluster.sql(1, 'SHOW MERKLE FOREST SIZE')
    expect(before.body.columns).toEqual([
      'shard_id', 'windows', 'sealed_windows', 'active_leaves', 'bytes_in_memory', 'bytes_on_disk', 'reseals', 'rebuilds'
    ])
    expect(before.body.rows.map((x: Row) => x[0])).toEqual([0, 1, 2, 3])

    const values = Array.from({ length: 20 }, (_, i) => `(${i}, 'v${i}')`).join(', ')
    expect((await cluster.sql(2, `INSERT INTO mf VALUES ${values}`)).status).toBe(200)
    // Every row went to both replicas (W = N = 2): each node's forests hold 20 leaves, active
    // until their window is sealed, then in sealed trees.
    for (const id of cluster.ids) {
      const shown = await rows(id, 'SHOW MERKLE FOREST SIZE')
      expect(total(shown, 1), `node ${id}`).toBeGreaterThan(0)
      expect(total(shown, 5), `node ${id}`).toBeGreaterThan(0)
    }
    // The windows are 3.6 s long with no grace: each node seals them soon after on its own clock.
    for (const id of cluster.ids) {
      const sealed = await cluster.waitFor(async () => {
        const shown = await rows(id, 'SHOW MERKLE FOREST SIZE')
        return total(shown, 3) === 0 && total(shown, 2) > 0 ? shown : undefined
      }, { what: `node ${id} to seal its windows`, timeoutMs: 30_000 })
      expect(total(sealed, 2)).toBe(total(sealed, 1))
      expect(total(sealed, 7)).toBe(0)
    }
  })
})
