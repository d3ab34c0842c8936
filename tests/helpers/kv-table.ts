import { startCluster, type Cluster } from './cluster-harness'

// The membership join tests' cluster (startThreeOfFour) and table t (k TEXT PRIMARY KEY, v TEXT) as a client sees it while nodes join
// and leave: an INSERT retried while its code says the shard was moving or electing (an attempt
// that landed after all answers SB_UNIQUE_VIOLATION on the retry: acknowledged), and every row read
// through one node as "k=v" lines in key order.

type Row = unknown[]
const codeOf = (body: any): string => String(body?.code ?? body?.error?.code ?? '')

export interface KvTable {
  insert: (id: number, k: string, v: string) => Promise<void>
  readAll: (id: number) => Promise<string[]>
}

export function kvTable (cluster: () => Cluster, retry: readonly string[], timeoutMs: number): KvTable {
  return {
    async insert (id, k, v) {
      await cluster().waitFor(async () => {
        const r = await cluster().sql(id, 'INSERT INTO t (k, v) VALUES ($1, $2)', [k, v])
        if (r.status === 200) return true
        const code = codeOf(r.body)
        if (code === 'SB_UNIQUE_VIOLATION') return true // an earlier attempt landed after all
        if (retry.includes(code)) return null
        throw new Error(`insert ${k}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }, { what: `insert ${k} through node ${id}`, timeoutMs })
    },
    async readAll (id) {
      const got = await cluster().waitFor(async () => {
        const r = await cluster().sql(id, 'SELECT k, v FROM t ORDER BY k')
        if (r.status === 200) return r.body.rows as Row[]
        if (retry.includes(codeOf(r.body))) return null
        throw new Error(`node ${id}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }, { what: `node ${id} to read table t`, timeoutMs })
      return got.map(r => `${String(r[0])}=${String(r[1])}`)
    }
  }
}

/**
 * A cluster of four configured nodes of which nodes 1–3 run, their cluster.nodes not listing
 * node 4 (it joins when the test starts it, as the seeds' "Add node" does): short elections, no
 * fsync. The membership join tests start here.
 */
export async function startThreeOfFour (shards: number): Promise<Cluster> {
  const cluster = await startCluster({
    nodes: 4,
    shards,
    start: false,
    extraConfig: () => ({ node: { durability: 'none' }, replication: { election_timeout_ms: 1000, heartbeat_ms: 100, log_retention_bytes: 4096 } })
  })
  for (const id of [1, 2, 3]) cluster.leaveOut(id, 4)
  await Promise.all([1, 2, 3].map(async id => await cluster.start(id)))
  await cluster.waitAllNormal([1, 2, 3])
  return cluster
}
