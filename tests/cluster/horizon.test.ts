import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, waitFor, type Cluster } from '../helpers/cluster-harness'

// Issue 14 item 6 (the seeds' computeGlobalOIT, DESIGN §6 "Visibility and garbage collection"):
// every node gossips the start of its oldest open snapshot; each node's sweep horizon is the
// minimum over the members, and a member that is down keeps holding it back with what it said
// last (it may only be cut off, with a snapshot that will read our shards when it returns).
// Three real processes; SHOW TRANSACTIONS HORIZON on node 1 is the operator's view of it.

let cluster: Cluster

beforeAll(async () => {
  cluster = await startCluster({ nodes: 3, extraConfig: () => ({ node: { durability: 'none' } }) })
  const r = await cluster.sql(1, 'CREATE TABLE h (k INT PRIMARY KEY, v INT)')
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  expect((await cluster.sql(1, 'INSERT INTO h VALUES (1, 10), (2, 20)')).status).toBe(200)
}, 120_000)

afterAll(async () => { await cluster?.close() })

type Row = [number | null, string, string | null, string | null, string]

async function horizonAt (id: number): Promise<Row[]> {
  const r = await cluster.sql(id, 'SHOW TRANSACTIONS HORIZON')
  expect(r.status, JSON.stringify(r.body)).toBe(200)
  return (r.body.results?.[0] ?? r.body).rows as Row[]
}

describe('the cluster transaction horizon', () => {
  it('a snapshot open on node 2 holds node 1\'s horizon; it still does once node 2 is down, until removed', async () => {
    const opened = await cluster.http(2, 'POST', '/v1/sessions')
    expect(opened.status).toBe(200)
    const begin = await cluster.sql(2, 'BEGIN ISOLATION LEVEL SNAPSHOT; SELECT v FROM h WHERE k = 1', undefined, { session: opened.body.id })
    expect(begin.status, JSON.stringify(begin.body)).toBe(200)

    // Node 2's announcement reaches node 1 by gossip.
    const held = await waitFor(async () => {
      const rows = await horizonAt(1)
      const two = rows.find(r => r[0] === 2)
      return two?.[4] === 'holds the horizon' ? rows : undefined
    }, { timeoutMs: 30_000 })
    const start = held.find(r => r[0] === 2)![2]!
    const clusterRow = held.find(r => r[0] === null)!
    expect(clusterRow[1]).toBe('cluster')
    expect(BigInt(clusterRow[2]!)).toBeLessThanOrEqual(BigInt(start))
    expect(held.find(r => r[0] === 1)![1]).toBe('normal (this node)')

    await cluster.kill(2)
    const down = await waitFor(async () => {
      const rows = await horizonAt(1)
      return rows.find(r => r[0] === 2)?.[1] === 'down' ? rows : undefined
    }, { timeoutMs: 30_000 })
    expect(down.find(r => r[0] === 2)).toEqual([2, 'down', start, expect.any(String), 'holds the horizon'])
    expect(BigInt(down.find(r => r[0] === null)![2]!)).toBeLessThanOrEqual(BigInt(start))
    // Node 3 sees the same.
    const at3 = await waitFor(async () => {
      const rows = await horizonAt(3)
      return rows.find(r => r[0] === 2)?.[1] === 'down' ? rows : undefined
    }, { timeoutMs: 30_000 })
    expect(at3.find(r => r[0] === 2)![4]).toBe('holds the horizon')
  }, 120_000)
})
