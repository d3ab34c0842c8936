import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll } from 'vitest'
import { startCluster, type Cluster } from './cluster-harness'

// The shard-split tests' 3-node cluster (tests/cluster/shard-split*.test.ts): started with fast
// elections and durability none, closed after the file (SB_DEBUG_DUMP=1 keeps each node's log in
// /tmp/<name>-<id>.log), and the statement helpers every split test uses — a statement retried
// through the codes a split, an election or a catch-up answer with, an INSERT that may have landed
// before a retry, a whole table read in key order, and a node's recorded layout.

export const SPLIT_RETRY = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT',
  'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE', 'SB_SHARD_SPLITTING', 'SB_WORKER_DIED', 'SB_MEMBERSHIP_REFUSED', 'SB_MEMBERSHIP_NO_MAJORITY']
export const codeOf = (body: any): string => String(body?.code ?? body?.error?.code ?? '')

export interface SplitCluster {
  readonly c: Cluster
  /** The statement's body once it succeeds; `{ refused, message }` for a code `ok` accepts; retried through SPLIT_RETRY. */
  sqlOk: (id: number, sql: string, params?: unknown[], ok?: (code: string) => boolean) => Promise<any>
  insert: (id: number, table: string, k: string, v: string) => Promise<void>
  readAll: (id: number, table: string) => Promise<string[]>
  layoutOf: (id: number) => any
}

/** Registers the cluster's close (and dump) with afterAll; call start() inside the test. */
export function splitCluster (name: string): { start: (shards: number) => Promise<SplitCluster> } {
  let cluster: Cluster | undefined
  afterAll(async () => {
    if (process.env.SB_DEBUG_DUMP !== undefined && cluster !== undefined) for (const id of [1, 2, 3]) writeFileSync(`/tmp/${name}-${id}.log`, cluster.node(id).stdout())
    await cluster?.close()
  })
  const start = async (shards: number): Promise<SplitCluster> => {
    cluster = await startCluster({
      nodes: 3,
      shards,
      startTimeoutMs: 150_000,
      extraConfig: () => ({ node: { durability: 'none' }, replication: { election_timeout_ms: 1000, heartbeat_ms: 100 } })
    })
    const c = cluster
    await c.waitAllNormal([1, 2, 3], 120_000)
    const sqlOk = async (id: number, sql: string, params: unknown[] = [], ok: (code: string) => boolean = () => false): Promise<any> =>
      await c.waitFor(async () => {
        const r = await c.sql(id, sql, params)
        if (r.status === 200) return r.body
        const code = codeOf(r.body)
        if (ok(code)) return { refused: code, message: String(r.body?.message ?? r.body?.error?.message ?? '') }
        if (SPLIT_RETRY.includes(code)) return null
        throw new Error(`node ${id} ${sql}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }, { what: `node ${id}: ${sql}`, timeoutMs: 180_000 })
    return {
      c,
      sqlOk,
      insert: async (id, table, k, v) => { await sqlOk(id, `INSERT INTO ${table} (k, v) VALUES ($1, $2)`, [k, v], code => code === 'SB_UNIQUE_VIOLATION') },
      readAll: async (id, table) => ((await sqlOk(id, `SELECT k, v FROM ${table} ORDER BY k`)).rows as unknown[][]).map(r => `${String(r[0])}=${String(r[1])}`),
      layoutOf: (id) => JSON.parse(readFileSync(join(c.node(id).dataDir, 'cluster.json'), 'utf8'))
    }
  }
  return { start }
}
