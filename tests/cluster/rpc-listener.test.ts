import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'

// node.rpc_listen (issue 18 item 3): two nodes whose cluster RPC has a listener of its own. The
// cluster forms and serves through the RPC listeners (cluster.nodes and the proxies lead there);
// the client listener refuses the RPC path and the RPC listener refuses the client API's.

let cluster: Cluster
beforeAll(async () => {
  cluster = await startCluster({ nodes: 2, separateRpc: true, extraConfig: () => ({ node: { durability: 'none' } }) })
}, 120_000)
afterAll(async () => { await cluster?.close() })

async function post (address: string, path: string, body: unknown): Promise<{ status: number, body: any }> {
  const r = await fetch(`http://${address}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
  return { status: r.status, body: await r.json() }
}

describe('a separate cluster RPC listener', () => {
  it('forms the cluster and runs statements across nodes over the RPC listeners', async () => {
    const n1 = cluster.node(1)
    expect(n1.rpcListen).not.toBeNull()
    expect(n1.rpcListen).not.toBe(n1.listen)
    await cluster.waitFor(async () => {
      const r = await cluster.sql(1, 'SHOW CLUSTER MEMBERS')
      return r.status === 200 && (r.body.rows as unknown[][]).length === 2 && (r.body.rows as unknown[][]).every(m => m[3] === 'normal')
    }, { what: 'two normal members', timeoutMs: 30_000 })
    expect((await cluster.sql(1, 'CREATE TABLE sep (k INTEGER PRIMARY KEY, v INTEGER)')).status).toBe(200)
    // Sixteen keys land on shards of both nodes: node 2 forwards half of them to node 1.
    const values = Array.from({ length: 16 }, (_, i) => `(${i}, ${i * 10})`).join(', ')
    expect((await cluster.sql(2, `INSERT INTO sep VALUES ${values}`)).status).toBe(200)
    const read = await cluster.sql(1, 'SELECT count(*) FROM sep')
    expect(read.body.rows).toEqual([['16']])

    // The operator's view of it: members by state, RPC round trips per peer, RPC connections.
    const text = await (await fetch(cluster.node(2).metricsUrl())).text()
    const value = (re: RegExp): number => text.split('\n').filter(l => re.test(l)).reduce((n, l) => n + Number(l.split(' ').pop()), 0)
    expect(value(/^scratchbird_cluster_members\{state="normal"\}/)).toBe(2)
    expect(value(/^scratchbird_rpc_duration_seconds_count\{peer="127\.0\.0\.1:\d+"\}/)).toBeGreaterThan(0)
    expect(value(/^scratchbird_connections\{listener="rpc"\}/)).toBeGreaterThan(0)
  })

  it('refuses the RPC on the client listener and the client API on the RPC listener (404 SB_NOT_FOUND)', async () => {
    const n1 = cluster.node(1)
    const rpcOnClient = await post(n1.listen, '/v1/rpc', {})
    expect(rpcOnClient.status).toBe(404)
    expect(rpcOnClient.body.error).toMatchObject({ code: 'SB_NOT_FOUND', message: expect.stringMatching(/node\.rpc_listen/) })
    const sqlOnRpc = await post(n1.rpcListen!, '/v1/sql', { sql: 'SELECT 1' })
    expect(sqlOnRpc.status).toBe(404)
    expect(sqlOnRpc.body.error).toMatchObject({ code: 'SB_NOT_FOUND', message: expect.stringMatching(/node\.listen/) })
    const health = await fetch(`http://${n1.rpcListen!}/v1/health`)
    expect(health.status).toBe(404)
    // The RPC listener does serve the RPC: without the cluster secret it is refused as such.
    const unauth = await post(n1.rpcListen!, '/v1/rpc', {})
    expect(unauth.status).toBe(401)
    expect(unauth.body.error.code).toBe('SB_RPC_UNAUTHENTICATED')
  })
})
