import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'

// Issue 13 item 7 on real processes: the datacenters of cluster.nodes are a placement input.
// Nodes 1 and 2 in "east", node 3 alone in "west": every shard's first two replicas must span
// both datacenters, so node 3 is first or second on every shard's list. Plain rendezvous
// hashing would put it last on about a third of the 16 shards.

let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, datacenter: (id) => id === 3 ? 'west' : 'east', extraConfig: () => ({ node: { durability: 'none' } }) })
}, 120_000)
afterAll(async () => { await cluster?.close() })

describe('datacenter-aware placement in a cluster', () => {
  it('spreads the first replicas of every shard over both datacenters, the same on every node', async () => {
    const maps = []
    for (const id of cluster.ids) {
      const r = await cluster.sql(id, 'SHOW SHARD MAP')
      expect(r.status).toBe(200)
      maps.push(r.body.rows as unknown[][])
    }
    for (const m of maps) expect(m).toEqual(maps[0])
    expect(maps[0]).toHaveLength(16)
    for (const [shard, pref] of maps[0]!) {
      const list = String(pref).split(',').map(Number)
      expect(list.slice(0, 2), `shard ${String(shard)}: ${String(pref)}`).toContain(3)
    }
    const members = (await cluster.sql(1, 'SHOW CLUSTER MEMBERS')).body.rows as unknown[][]
    expect(members.map(m => [m[0], m[2]])).toEqual([[1, 'east'], [2, 'east'], [3, 'west']])
  })
})
