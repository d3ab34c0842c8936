import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'

// read_from = 'replica' (issue 14 item 2) on three real processes: a primary_replica table with
// replication_factor 3 on one shard. A session on a node holding a replica that SETs read_from =
// 'replica' reads there, at its applied LSN, without the primary's lease — proven by SIGSTOPping
// the primary: the replica read still answers with every row acknowledged before the barrier
// (every replica caught up), while a primary read from the same node gets no answer. EXPLAIN
// names the replica and its LSN. The election timeout is long so no new primary is elected while
// the primary is stopped (a primary read would then succeed at the new one).

let cluster: Cluster
let stopped: number | null = null

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    shards: 1,
    extraConfig: () => ({ node: { durability: 'none' }, replication: { election_timeout_ms: 30_000, heartbeat_ms: 100 } })
  })
  await cluster.waitAllNormal()
}, 120_000)
afterAll(async () => {
  if (stopped !== null) cluster?.node(stopped).proc?.kill('SIGCONT')
  await cluster?.close()
})

type Row = unknown[]

/** The shard's primary as node `id` sees it (SHOW SHARD MAP's primary_node), once one is elected. */
async function primaryOf (id: number): Promise<number> {
  return await cluster.waitFor(async () => {
    const rows = await cluster.rows(id, 'SHOW SHARD MAP')
    const p = rows[0]?.[2]
    return typeof p === 'number' || typeof p === 'string' ? Number(p) : null
  }, { what: `node ${id} to know the shard's primary`, timeoutMs: 60_000 })
}

describe('read_from = replica, N = 3, on three processes', () => {
  it('a replica serves the read at its applied LSN with the primary stopped; EXPLAIN names it; a primary read does not answer', async () => {
    const c = await cluster.sql(1, 'CREATE TABLE rr (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    const primary = await primaryOf(1)
    const acked: string[] = []
    for (let i = 0; i < 12; i++) {
      const k = `k${String(i).padStart(2, '0')}`
      await cluster.waitFor(async () => {
        const r = await cluster.sql(1 + (i % 3), 'INSERT INTO rr (k, v) VALUES ($1, $2)', [k, `v${i}`])
        if (r.status === 200) return true
        if (['SB_NOT_PRIMARY', 'SB_COMMIT_OUTCOME_UNKNOWN'].includes(String(r.body?.error?.code))) return null
        throw new Error(`insert ${k}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }, { what: `insert ${k}`, timeoutMs: 20_000 })
      acked.push(`${k}=v${i}`)
    }
    // The barrier: the primary reports both other replicas holding its whole log.
    await cluster.waitFor(async () => {
      const lag = await cluster.rows(primary, 'SHOW REPLICATION LAG')
      return lag.length === 2 && lag.every(r => Number(r[4]) === 0) ? true : null
    }, { what: 'both replicas to hold the primary\'s log', timeoutMs: 30_000 })

    const replica = cluster.ids.find(id => id !== primary)!
    const session = (await cluster.http(replica, 'POST', '/v1/sessions')).body.id as string
    const inSession = async (sql: string, timeoutMs?: number): Promise<Row[]> => {
      const r = await cluster.sql(replica, sql, undefined, { session, timeoutMs })
      expect(r.status, `${sql}: ${JSON.stringify(r.body)}`).toBe(200)
      return r.body.rows as Row[]
    }
    await inSession("SET read_from = 'replica'")
    expect(await inSession('SHOW read_from')).toEqual([['replica']])
    const plan = (await inSession('EXPLAIN SELECT k, v FROM rr')).map(r => String(r[0]))
    const line = plan.find(l => l.includes(`replica on node ${replica} (this node) at applied LSN`))
    expect(line, plan.join('\n')).toBeDefined()
    expect(BigInt(/applied LSN (\d+)/.exec(line!)![1]!)).toBeGreaterThan(0n)

    // The primary stops answering anything.
    cluster.node(primary).proc!.kill('SIGSTOP')
    stopped = primary
    const rows = await inSession('SELECT k, v FROM rr ORDER BY k', 10_000)
    expect(rows.map(r => `${String(r[0])}=${String(r[1])}`)).toEqual(acked)
    // The same read without read_from = replica (a request without a session: the defaults) goes to the stopped primary.
    const primaryRead = await cluster.sql(replica, 'SELECT k, v FROM rr ORDER BY k', undefined, { timeoutMs: 3000 }).then(r => r.status, () => 'no answer')
    expect(primaryRead).not.toBe(200)
    // Writes still go to the primary, read_from or not.
    const write = await cluster.sql(replica, "INSERT INTO rr (k, v) VALUES ('late', 'x')", undefined, { session, timeoutMs: 3000 }).then(r => r.status, () => 'no answer')
    expect(write).not.toBe(200)

    cluster.node(primary).proc!.kill('SIGCONT')
    stopped = null
  }, 180_000)
})
