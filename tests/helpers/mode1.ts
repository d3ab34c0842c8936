import { afterAll, beforeAll, expect } from 'vitest'
import { startCluster, TEST_CLUSTER_SECRET, type Cluster, type ClusterOptions } from './cluster-harness'
import { RpcClient } from '../../src/net/rpc/client'
import { createMetrics } from '../../src/ops/metrics'
import { codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../../src/shard/protocol/ops'
import { asNodeId, asShardId, type ShardId } from '../../src/core/ids'
import { initHashing } from '../../src/core/hash'
import type { VersionedRow } from '../../src/storage/engine'
import type { TupleValue } from '../../src/storage/keys'

// What the real-process cluster tests share (replicated shards — Mode 1 groups, anti-entropy — and
// any three-process test that starts one cluster per file): a cluster
// started once per file with short election timings, a cluster-RPC client to reach a node's shard
// workers directly, the shard of a key from EXPLAIN, the primary of a shard from the
// replication.log lines, and statements retried while a shard has no primary (an election runs;
// the outcome of a retried write may be an earlier attempt that landed — see `write`'s okCodes).

export type Row = unknown[]

/** Codes of a statement that failed only because the shard's primary was changing or unreachable. */
export const ELECTION_CODES: readonly string[] = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT']

/** The error code of an HTTP SQL reply body ('' when none). */
export const codeOf = (body: any): string => String(body?.error?.code ?? body?.code ?? '')

/** Short elections and heartbeats, no fsync: the Mode 1 timings every such test file starts with. */
export const MODE1_TIMINGS = { election_timeout_ms: 1000, heartbeat_ms: 100 }

export interface ReplicatedClusterOptions extends Pick<ClusterOptions, 'gossip' | 'startTimeoutMs' | 'program'> {
  nodes: number
  /** storage.shards (the harness's default when absent). */
  shards?: number
  /** Merged over MODE1_TIMINGS into the `replication` section. */
  replication?: Record<string, unknown>
  /** Further config sections, per node (node.durability is 'none' unless given). */
  extra?: (nodeId: number) => Record<string, any>
  /** Run in the beforeAll before the nodes start (e.g. building the bundles `program` names). */
  prepare?: () => Promise<void>
}

export interface ReplicatedCluster {
  /** The running cluster (set by the file's beforeAll). */
  readonly cluster: Cluster
  readonly rpc: RpcClient
  /** A shard op on node `node`'s own worker, over the cluster RPC (primary-only ops are refused by a replica's node). */
  op: <K extends ShardOpName>(node: number, name: K, req: ShardRequests[K]) => Promise<ShardReplies[K]>
  /** The last LSN of node `node`'s copy of `shard`. */
  lastLsn: (node: number, shard: ShardId) => Promise<bigint>
  /** Waits until every node's copy of every shard ends at the same LSN (`what` names the wait in a timeout). */
  sameLsn: (what: string, timeoutMs?: number) => Promise<void>
  /** The node that became `shard`'s primary at the highest generation (replication.log lines); 0: none yet. */
  primaryOf: (shard: ShardId) => number
  /** The shard a pinned read of `table` by `column` = `key` goes to (EXPLAIN through node 1). */
  shardOf: (table: string, column: string, key: unknown) => Promise<ShardId>
  /**
   * An autocommit statement through `id`, retried while its code is in `retry` (default
   * ELECTION_CODES): resolves once acknowledged, or once it fails with a code of `okCodes`
   * (e.g. SB_UNIQUE_VIOLATION: an earlier attempt of the same INSERT landed after all).
   */
  write: (id: number, sql: string, params?: unknown[], opts?: { retry?: readonly string[], okCodes?: readonly string[], timeoutMs?: number }) => Promise<void>
  /** A statement through `id` that must succeed now (HTTP 200), else the test fails with its body. */
  ok: (id: number, sql: string, params?: unknown[]) => Promise<void>
  /** The lines of node `id`'s output that match `re`. */
  lines: (id: number, re: RegExp) => string[]
  /**
   * Node `node`'s own latest version of `key` of table `tableId` on `shard` (AE_READ: a repair
   * round's read, served by its worker whatever its role; REPLICA_READ: a quorum coordinator's),
   * undefined when it holds none.
   */
  ownCopy: (node: number, shard: ShardId, tableId: number, key: TupleValue, op?: 'AE_READ' | 'REPLICA_READ') => Promise<VersionedRow | undefined>
  /** The rows of a query through `id`, retried while its code is in `retry` (default ELECTION_CODES). */
  read: (id: number, sql: string, params?: unknown[], opts?: { retry?: readonly string[], timeoutMs?: number }) => Promise<Row[]>
  /**
   * Waits until every shard has a node reporting itself its primary with `replicas` other replicas
   * caught up (SHOW REPLICATION LAG on every node, lag 0); per shard, that node.
   */
  caughtUpPrimaries: (replicas: number, what: string, timeoutMs?: number) => Promise<Map<number, number>>
}

/**
 * Registers the file's beforeAll (start `nodes` processes, wait until every node sees every other
 * normal) and afterAll (close the RPC client and the cluster), and returns what the tests use.
 */
export function useReplicatedCluster (o: ReplicatedClusterOptions): ReplicatedCluster {
  let cluster: Cluster | undefined
  const rpc = new RpcClient({ cluster: 'sb-test', nodeId: asNodeId(1), secret: TEST_CLUSTER_SECRET, metrics: createMetrics() })
  beforeAll(async () => {
    await initHashing() // shard and placement computations in the test process
    await o.prepare?.()
    cluster = await startCluster({
      nodes: o.nodes,
      ...(o.shards === undefined ? {} : { shards: o.shards }),
      ...(o.gossip === undefined ? {} : { gossip: o.gossip }),
      ...(o.startTimeoutMs === undefined ? {} : { startTimeoutMs: o.startTimeoutMs }),
      ...(o.program === undefined ? {} : { program: o.program }),
      extraConfig: (id) => {
        const extra = o.extra?.(id) ?? {}
        return { ...extra, node: { durability: 'none', ...extra.node }, replication: { ...MODE1_TIMINGS, ...o.replication, ...extra.replication } }
      }
    })
    await cluster.waitAllNormal()
  }, Math.max(120_000, 2 * (o.startTimeoutMs ?? 0)))
  afterAll(async () => {
    await rpc.close()
    await cluster?.close()
  })
  const c = (): Cluster => {
    if (cluster === undefined) throw new Error('the cluster is not started (useReplicatedCluster registers a beforeAll)')
    return cluster
  }

  const op = async <K extends ShardOpName>(node: number, name: K, req: ShardRequests[K]): Promise<ShardReplies[K]> => {
    const codec = codecOf(name)
    const reply = await rpc.call(c().node(node).listen, 'SHARD_QUERY', { op: name, shard: req.shard, catalogVersion: 0, payload: codec.encodeRequest(req) })
    return codec.decodeReply(reply.payload)
  }

  return {
    get cluster () { return c() },
    rpc,
    op,
    lastLsn: async (node, shard) => (await op(node, 'STATS', { shard })).lastLsn,
    sameLsn: async (what, timeoutMs = 60_000) => {
      await c().waitFor(async () => {
        for (let s = 0; s < c().shards; s++) {
          const lsns = await Promise.all(c().ids.map(async id => await op(id, 'STATS', { shard: asShardId(s) }).then(r => r.lastLsn, () => -1n)))
          if (lsns.includes(-1n) || new Set(lsns.map(String)).size !== 1) return null
        }
        return true
      }, { what, timeoutMs })
    },
    primaryOf: (shard) => {
      let best = 0
      let gen = -1
      const re = new RegExp(`Replication: Node (\\d+) is primary of shard 0*${shard} \\(generation (\\d+)`)
      for (const id of c().ids) {
        for (const line of c().node(id).stdout().split('\n')) {
          const m = re.exec(line)
          if (m !== null && Number(m[2]) > gen) { gen = Number(m[2]); best = Number(m[1]) }
        }
      }
      return best
    },
    shardOf: async (table, column, key) => {
      const plan = (await c().rows(1, `EXPLAIN SELECT * FROM ${table} WHERE ${column} = $1`, [key])).map(r => String(r[0])).join('\n')
      const m = /shard (\d+) \(partition key pinned\)/.exec(plan)
      if (m === null) throw new Error(`no pinned shard in the plan of ${table}.${column} = ${String(key)}:\n${plan}`)
      return asShardId(Number(m[1]))
    },
    write: async (id, sql, params, opts = {}) => {
      const retry = opts.retry ?? ELECTION_CODES
      await c().waitFor(async () => {
        const r = await c().sql(id, sql, params)
        if (r.status === 200) return true
        const code = codeOf(r.body)
        if (opts.okCodes?.includes(code) === true) return true
        if (retry.includes(code)) return null
        throw new Error(`node ${id}: ${sql} ${JSON.stringify(params ?? [])}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }, { what: `node ${id}: ${sql}`, timeoutMs: opts.timeoutMs ?? 30_000 })
    },
    ok: async (id, sql, params) => {
      const r = await c().sql(id, sql, params)
      expect(r.status, `node ${id}: ${sql}: ${JSON.stringify(r.body)}`).toBe(200)
    },
    lines: (id, re) => c().node(id).stdout().split('\n').filter(l => re.test(l)),
    ownCopy: async (node, shard, tableId, key, name = 'AE_READ') => (await op(node, name, { shard, tableId, pks: [[key]] })).versions[0] ?? undefined,
    read: async (id, sql, params, opts = {}) => {
      const retry = opts.retry ?? ELECTION_CODES
      return await c().waitFor(async () => {
        const r = await c().sql(id, sql, params)
        if (r.status === 200) return r.body.rows as Row[]
        if (retry.includes(codeOf(r.body))) return null
        throw new Error(`node ${id}: ${sql}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }, { what: `node ${id}: ${sql}`, timeoutMs: opts.timeoutMs ?? 30_000 })
    },
    caughtUpPrimaries: async (replicas, what, timeoutMs = 30_000) => await c().waitFor(async () => {
      const out = new Map<number, number>()
      let seen = 0
      for (const id of c().ids) {
        const r = await c().sql(id, 'SHOW REPLICATION LAG')
        if (r.status !== 200) return null
        for (const row of r.body.rows as Row[]) {
          if (Number(row[4]) !== 0) return null
          out.set(Number(row[0]), id)
          seen++
        }
      }
      return out.size === c().shards && seen === c().shards * replicas ? out : null
    }, { what, timeoutMs, intervalMs: 250 })
  }
}
