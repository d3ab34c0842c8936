import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeUuidV8 } from '../../src/core/hlc'
import { RpcClient } from '../../src/net/rpc/client'
import { createMetrics } from '../../src/ops/metrics'
import { codecOf } from '../../src/shard/protocol/ops'
import type { CommitLogEntry } from '../../src/storage/commit-log'
import type { VersionedRow } from '../../src/storage/engine'
import { encodeRow } from '../../src/types/row-codec'
import { T } from '../../src/types/sql-types'
import { startCluster, TEST_CLUSTER_SECRET, type Cluster } from '../helpers/cluster-harness'
import { HLC_ZERO } from '../../src/storage/types'
import { asNodeId, asShardId, type ShardId } from '../../src/core/ids'

// Issue 6 on real processes: leaderless_quorum tables (N=3) on three nodes. Quorum writes with a
// node SIGKILLed (W=2 succeeds and leaves a hint, W=3 fails with SB_QUORUM_NOT_ACHIEVED), R=2
// reads of the latest version, hint delivery to the restarted node, read repair of a stale
// replica, HLC bound on replica writes, the seed's Mode 3 example, and multi-statement
// transactions (writes buffered until COMMIT, then one quorum batch per shard under one XID).
//
// What a node's own replica holds is read with REPLICA_READ through the cluster RPC (SHARD_QUERY,
// the same request a quorum coordinator sends), so the checks see one replica, not a quorum.

let cluster: Cluster
const rpc = new RpcClient({ cluster: 'sb-test', nodeId: asNodeId(1), secret: TEST_CLUSTER_SECRET, metrics: createMetrics() })

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    extraConfig: () => ({ node: { durability: 'none' }, replication: { write_timeout_ms: 2000, read_timeout_ms: 2000 } })
  })
  for (const id of cluster.ids) {
    await cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).every(m => m[3] === 'normal'), { what: `node ${id} to see everyone normal`, timeoutMs: 20_000 })
  }
}, 120_000)
afterAll(async () => {
  await rpc.close()
  await cluster?.close()
})

type Row = unknown[]
async function rows (id: number, sql: string, params?: unknown[]): Promise<Row[]> {
  const r = await cluster.sql(id, sql, params)
  if (r.status !== 200) throw new Error(`node ${id}: ${sql}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.rows as Row[]
}
async function ok (id: number, sql: string, params?: unknown[]): Promise<void> {
  const r = await cluster.sql(id, sql, params)
  expect(r.status, `node ${id}: ${sql}: ${JSON.stringify(r.body)}`).toBe(200)
}
/**
 * A catalog version at or above every layout change so far (the newest table version): a write this
 * test places by hand must carry one, as a node's would — the replicas refuse writes placed by a
 * catalog older than the last layout change (Catalog.layoutFloor, issue 13).
 */
async function catalogVersion (): Promise<number> {
  return Number((await rows(1, 'SELECT max(catalog_version) FROM sys_tables'))[0]![0])
}
async function metric (id: number, name: string): Promise<number> {
  const text = await (await fetch(cluster.node(id).metricsUrl())).text()
  return text.split('\n').filter(l => l.startsWith(name)).reduce((n, l) => n + Number(l.split(' ').pop()), 0)
}
async function tableId (name: string): Promise<number> {
  return Number((await rows(1, 'SELECT table_id FROM sys_tables WHERE table_name = $1', [name]))[0]![0])
}
async function shardOf (table: string, key: string): Promise<ShardId> {
  const plan = (await rows(1, `EXPLAIN SELECT * FROM ${table} WHERE k = $1`, [key])).map(r => String(r[0])).join('\n')
  return asShardId(Number(/shard (\d+) \(partition key pinned\)/.exec(plan)![1]))
}
/** Node `node`'s own replica of key `key` (a TEXT primary key `k`). */
async function replicaVersion (node: number, table: string, key: string): Promise<VersionedRow | null> {
  const shard = await shardOf(table, key)
  const codec = codecOf('REPLICA_READ')
  const payload = codec.encodeRequest({ shard, tableId: await tableId(table), pks: [[key]] })
  const reply = await rpc.call(cluster.node(node).listen, 'SHARD_QUERY', { op: 'REPLICA_READ', shard, catalogVersion: 0, payload })
  return codec.decodeReply(reply.payload).versions[0] ?? null
}
/** Node `node`'s commit log of `shard` (the replica's record of what it committed, with XIDs). */
async function commitLog (node: number, shard: ShardId): Promise<CommitLogEntry[]> {
  const codec = codecOf('READ_COMMIT_LOG')
  const payload = codec.encodeRequest({ shard, fromLsn: 0n, limit: 10_000 })
  const reply = await rpc.call(cluster.node(node).listen, 'SHARD_QUERY', { op: 'READ_COMMIT_LOG', shard, catalogVersion: 0, payload })
  return codec.decodeReply(reply.payload).entries
}
const hex = (v: VersionedRow | null): string | null => v === null ? null : Buffer.from(v.versionId).toString('hex')
async function hintsFor (node: number, target: number): Promise<number> {
  const r = await rows(node, 'SELECT hints FROM sys_hints WHERE target_node = $1', [target])
  return r.length === 0 ? 0 : Number(r[0]![0])
}

describe('leaderless_quorum tables on three nodes (N=3)', () => {
  it("runs the seed's Mode 3 example: ALTER TABLE … SET, insert with gen_uuidv8_hlc(), the row on every node", async () => {
    await ok(1, 'CREATE TABLE sensor_data (sensor_id UUID PRIMARY KEY, value DOUBLE PRECISION)')
    for (const line of [
      "ALTER TABLE sensor_data SET replication_mode = 'leaderless_quorum'",
      'ALTER TABLE sensor_data SET replication_factor = 3',
      'ALTER TABLE sensor_data SET write_quorum = 2',
      'ALTER TABLE sensor_data SET read_quorum = 2',
      "ALTER TABLE sensor_data SET uuid_type = 'v8_hlc'"
    ]) await ok(2, line)
    expect(await rows(3, "SELECT table_name, replication_mode, write_quorum, read_quorum, uuid_type FROM sys_tables WHERE table_name = 'sensor_data'"))
      .toEqual([['sensor_data', 'leaderless_quorum', 2, 2, 'v8_hlc']])
    await ok(1, 'INSERT INTO sensor_data (sensor_id, value) VALUES (gen_uuidv8_hlc(), 42.5)')
    const id = (await rows(2, 'SELECT sensor_id FROM sensor_data'))[0]![0]
    for (const n of cluster.ids) expect(await rows(n, 'SELECT value FROM sensor_data WHERE sensor_id = $1', [id])).toEqual([[42.5]])
  })

  it('creates N=3 tables (a primary_replica N=3 table runs Mode 1: tests/cluster/replication.test.ts; not here, where it would replicate every shard)', async () => {
    await ok(1, "CREATE TABLE q2 (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2)")
    await ok(2, "CREATE TABLE q3 (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 3, read_quorum = 1)")
    const r = await cluster.sql(3, 'CREATE TABLE pr4 (k TEXT PRIMARY KEY) WITH (replication_factor = 4)')
    expect(r.status).toBe(400)
    expect(r.body.error).toMatchObject({ option: 'replication_factor' })
    // Every replica holds an acknowledged write (the third shortly after the W=2 answer).
    await ok(3, "INSERT INTO q2 VALUES ('a', 1)")
    await cluster.waitFor(async () => (await Promise.all(cluster.ids.map(n => replicaVersion(n, 'q2', 'a')))).every(v => v !== null && v.row !== null), { what: 'all three replicas to hold q2/a', timeoutMs: 15_000 })
    const versions = await Promise.all(cluster.ids.map(n => replicaVersion(n, 'q2', 'a')))
    expect(new Set(versions.map(hex)).size).toBe(1)
    // INSERT is an upsert (last write wins); UPDATE and DELETE go through the quorum as well.
    await ok(1, "INSERT INTO q2 VALUES ('a', 2)")
    expect(await rows(2, "SELECT v FROM q2 WHERE k = 'a'")).toEqual([[2]])
    await ok(2, "UPDATE q2 SET v = v + 10 WHERE k = 'a'")
    expect(await rows(3, "SELECT v FROM q2 WHERE k = 'a'")).toEqual([[12]])
    await ok(3, "INSERT INTO q2 VALUES ('gone', 1)")
    const del = await cluster.sql(1, "DELETE FROM q2 WHERE k = 'gone'")
    expect(del.body.rowCount).toBe(1)
    expect(await rows(2, "SELECT v FROM q2 WHERE k = 'gone'")).toEqual([])
    expect(await rows(1, 'SELECT count(*) FROM q2')).toEqual([['1']])
    const plan = (await rows(2, "EXPLAIN SELECT v FROM q2 WHERE k = 'a'")).map(r => String(r[0]))
    expect(plan).toContain('Leaderless quorum (N=3, W=2, R=2): quorum read: R=2 of 3 replicas, newest version wins, stale replicas repaired in the background')
    expect(plan.some(l => /^ {2}shard \d+ replicas: nodes [123], [123], [123]$/.test(l))).toBe(true)
    // A multi-statement request's transaction ships its quorum writes at COMMIT.
    const txn = await cluster.sql(1, "BEGIN; INSERT INTO q2 VALUES ('t', 1); UPDATE q2 SET v = v + 1 WHERE k = 't'; COMMIT")
    expect(txn.status, JSON.stringify(txn.body)).toBe(200)
    expect(await rows(3, "SELECT v FROM q2 WHERE k = 't'")).toEqual([[2]])
  })

  it('a session transaction buffers its writes (seen by itself only) and ships them at COMMIT to every replica under one XID; ROLLBACK leaves nothing', async () => {
    // Two keys on two different shards.
    const keys: string[] = []
    const shards: ShardId[] = []
    for (let i = 0; keys.length < 2; i++) {
      const s = await shardOf('q2', `tx${i}`)
      if (!shards.includes(s)) { keys.push(`tx${i}`); shards.push(s) }
    }
    const [a, b] = keys as [string, string]
    const session = (await cluster.http(1, 'POST', '/v1/sessions')).body.id as string
    const inTxn = async (sql: string, params?: unknown[]): Promise<{ rowCount?: number, rows?: Row[] }> => {
      const r = await cluster.sql(1, sql, params, { session })
      expect(r.status, `${sql}: ${JSON.stringify(r.body)}`).toBe(200)
      return r.body
    }
    await inTxn('BEGIN')
    expect((await inTxn('INSERT INTO q2 VALUES ($1, 1), ($2, 2)', [a, b])).rowCount).toBe(2)
    expect((await inTxn('UPDATE q2 SET v = v + 10 WHERE k = $1', [a])).rowCount).toBe(1)
    // The transaction sees its own writes: point reads, and scans (overlaid on the replica's rows).
    expect((await inTxn('SELECT v FROM q2 WHERE k = $1', [a])).rows).toEqual([[11]])
    expect((await inTxn("SELECT k, v FROM q2 WHERE k LIKE 'tx%' ORDER BY k")).rows).toEqual([[a, 11], [b, 2]].sort((x, y) => String(x[0]).localeCompare(String(y[0]))))
    expect((await inTxn("UPDATE q2 SET v = v * 2 WHERE k LIKE 'tx%'")).rowCount).toBe(2)
    expect((await inTxn('SELECT v FROM q2 WHERE k = $1', [b])).rows).toEqual([[4]])
    // Nobody else sees anything before COMMIT: no replica holds the keys, quorum reads find nothing.
    for (const n of cluster.ids) {
      expect(await rows(n, 'SELECT v FROM q2 WHERE k = $1', [a])).toEqual([])
      expect(await replicaVersion(n, 'q2', b)).toBeNull()
    }
    await inTxn('COMMIT')
    // Every replica (the third shortly after the W=2 answer) holds the rows, committed under the
    // transaction's one XID on both shards — one version per key: the buffer kept the last image.
    // (Checked before any read, whose read repair could reach the third replica first.)
    const q2 = await tableId('q2')
    const xids = await cluster.waitFor(async () => {
      const seen: bigint[] = []
      for (const n of cluster.ids) {
        for (const [i, shard] of shards.entries()) {
          const entries = (await commitLog(n, shard)).filter(e => e.mutations.some(m => m.tableId === q2 && m.pk[0] === keys[i]))
          if (entries.length !== 1) return undefined
          seen.push(entries[0]!.xid)
        }
      }
      return seen
    }, { what: 'every replica to log the committed transaction', timeoutMs: 15_000 })
    expect(xids).toHaveLength(6)
    expect(new Set(xids).size).toBe(1)
    for (const n of cluster.ids) {
      expect(await rows(n, 'SELECT v FROM q2 WHERE k = $1', [a])).toEqual([[22]])
      expect(await rows(n, 'SELECT v FROM q2 WHERE k = $1', [b])).toEqual([[4]])
    }

    // ROLLBACK discards the buffer: nothing reaches any replica.
    await inTxn('BEGIN')
    await inTxn("INSERT INTO q2 VALUES ('tx-rolled-back', 1)")
    await inTxn('DELETE FROM q2 WHERE k = $1', [a])
    expect((await inTxn('SELECT v FROM q2 WHERE k = $1', [a])).rows).toEqual([])
    // A join would read the replicas without the buffered writes: refused, not answered wrongly.
    const join = await cluster.sql(1, 'SELECT x.v FROM q2 x JOIN q2 y ON x.k = y.k WHERE x.k = $1', [a], { session })
    expect(join.body.error).toMatchObject({ code: 'SB_FEATURE_NOT_SUPPORTED', table: 'q2' })
    await inTxn('ROLLBACK')
    for (const n of cluster.ids) {
      expect(await rows(n, "SELECT v FROM q2 WHERE k = 'tx-rolled-back'")).toEqual([])
      expect(await replicaVersion(n, 'q2', 'tx-rolled-back')).toBeNull()
      expect(await rows(n, 'SELECT v FROM q2 WHERE k = $1', [a])).toEqual([[22]])
    }
    // A transaction writes leaderless tables or other tables, not both.
    await ok(2, 'CREATE TABLE plain_t (k TEXT PRIMARY KEY)')
    const mixed = await cluster.sql(2, "BEGIN; INSERT INTO q2 VALUES ('tx-mixed', 1); INSERT INTO plain_t VALUES ('x'); COMMIT")
    expect(mixed.body.error).toMatchObject({ code: 'SB_FEATURE_NOT_SUPPORTED' })
    expect(await rows(1, "SELECT v FROM q2 WHERE k = 'tx-mixed'")).toEqual([])
  })

  it('repairs a stale replica on read: the newest version reaches every replica', async () => {
    await ok(1, "INSERT INTO q2 VALUES ('rr', 1)")
    await cluster.waitFor(async () => (await Promise.all(cluster.ids.map(n => replicaVersion(n, 'q2', 'rr')))).every(v => v !== null), { what: 'q2/rr everywhere', timeoutMs: 15_000 })
    // A newer version only node 2 has (as if the others had missed that write).
    const shard = await shardOf('q2', 'rr')
    const versionId = encodeUuidV8({ ts: Date.now(), counter: 0, nodeId: 2, random: randomBytes(4).readUInt32BE(0) })
    const codec = codecOf('REPLICA_APPLY')
    const payload = codec.encodeRequest({ shard, commitHlc: HLC_ZERO, writes: [{ tableId: await tableId('q2'), pk: ['rr'], versionId, row: encodeRow([T.text, T.integer], ['rr', 99n]) }] })
    await rpc.call(cluster.node(2).listen, 'SHARD_QUERY', { op: 'REPLICA_APPLY', shard, catalogVersion: await catalogVersion(), payload })
    expect(hex(await replicaVersion(1, 'q2', 'rr'))).not.toBe(Buffer.from(versionId).toString('hex'))
    const before = await metric(1, 'scratchbird_read_repairs_total')
    // R=2 read: whichever two answer first, node 2's later answer still raises the winner and the
    // stale replicas are repaired in the background.
    await rows(1, "SELECT v FROM q2 WHERE k = 'rr'")
    await cluster.waitFor(async () => (await Promise.all(cluster.ids.map(n => replicaVersion(n, 'q2', 'rr')))).every(v => hex(v) === Buffer.from(versionId).toString('hex')), { what: 'read repair of nodes 1 and 3', timeoutMs: 15_000 })
    expect(await metric(1, 'scratchbird_read_repairs_total')).toBeGreaterThanOrEqual(before + 2)
    expect(await rows(3, "SELECT v FROM q2 WHERE k = 'rr'")).toEqual([[99]])
  })

  it('refuses a replica write whose version is further ahead than max_clock_offset_ms, and counts it', async () => {
    const shard = await shardOf('q2', 'future')
    const versionId = encodeUuidV8({ ts: Date.now() + 60_000, counter: 0, nodeId: 2, random: 1 })
    const codec = codecOf('REPLICA_APPLY')
    const payload = codec.encodeRequest({ shard, commitHlc: HLC_ZERO, writes: [{ tableId: await tableId('q2'), pk: ['future'], versionId, row: encodeRow([T.text, T.integer], ['future', 1n]) }] })
    const before = await metric(3, 'scratchbird_hlc_remote_rejections_total')
    await expect(rpc.call(cluster.node(3).listen, 'SHARD_QUERY', { op: 'REPLICA_APPLY', shard, catalogVersion: await catalogVersion(), payload })).rejects.toMatchObject({ code: 'SB_CLOCK_OFFSET_EXCEEDED' })
    expect(await metric(3, 'scratchbird_hlc_remote_rejections_total')).toBe(before + 1)
    expect(await replicaVersion(3, 'q2', 'future')).toBeNull()
  })

  it('two coordinators writing the same row concurrently converge on the higher-HLC version on every replica', async () => {
    const [a, b] = await Promise.all([cluster.sql(1, "INSERT INTO q2 VALUES ('both', 1)"), cluster.sql(2, "INSERT INTO q2 VALUES ('both', 2)")])
    expect([a.status, b.status]).toEqual([200, 200])
    const versions = await cluster.waitFor(async () => {
      const v = await Promise.all(cluster.ids.map(n => replicaVersion(n, 'q2', 'both')))
      return v.every(x => x !== null && hex(x) === hex(v[0]!)) ? v : undefined
    }, { what: 'the replicas of q2/both to agree', timeoutMs: 15_000 })
    // The winner is the version with the higher UUIDv8-HLC: its node id says which coordinator wrote it.
    const winner = versions[0]!
    const node = ((winner.versionId[8]! & 0x3f) << 10) | (winner.versionId[9]! << 2) | (winner.versionId[10]! >>> 6)
    expect(await rows(3, "SELECT v FROM q2 WHERE k = 'both'")).toEqual([[node]])
  })

  it('accepts raising N of a populated leaderless table: its new replicas count once filled (issue 14 item 4; tests/cluster/leaderless-raise.test.ts)', async () => {
    await ok(1, "CREATE TABLE qn (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 1, read_quorum = 1)")
    await ok(2, "INSERT INTO qn VALUES ('lonely', 1)")
    const r = await cluster.sql(1, 'ALTER TABLE qn SET replication_factor = 3')
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(await rows(3, "SELECT replication_factor FROM sys_tables WHERE table_name = 'qn'")).toEqual([[3]])
    // Every shard's third replica filled and counted: the bootstrap column of SHOW SHARD MAP empties.
    await cluster.waitFor(async () => (await rows(1, 'SHOW SHARD MAP')).every(m => m[7] === null) ? true : null, { what: 'the bootstrap of qn to end', timeoutMs: 30_000, intervalMs: 200 })
    const shard = await shardOf('qn', 'lonely')
    const third = Number(String((await rows(1, 'SHOW SHARD MAP')).find(m => Number(m[0]) === shard)![1]).split(',')[2])
    expect((await replicaVersion(third, 'qn', 'lonely'))?.row).not.toBeNull()
  })

  it('a layout change fences every replica on every node, then refuses writes placed by a catalog older than it (issue 13 items 3/4)', async () => {
    await ok(1, "CREATE TABLE qf (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 1, read_quorum = 1)")
    const before = Number((await rows(2, "SELECT catalog_version FROM sys_tables WHERE table_name = 'qf'"))[0]![0])
    // Asked on node 2: node 2 fences its own replicas and its peers' through TABLE_FENCE.
    await ok(2, 'ALTER TABLE qf SET replication_factor = 3')
    // Every node lifts its fence once it holds the change: writes from any coordinator go through.
    for (const id of cluster.ids) {
      await cluster.waitFor(async () => (await cluster.sql(id, `INSERT INTO qf VALUES ('from-${id}', ${id})`)).status === 200,
        { what: `an INSERT on node ${id} after the fences lifted`, timeoutMs: 10_000, intervalMs: 100 })
    }
    // W=1: a replica may apply a write just after its acknowledgement; the scan reads one replica per shard.
    await cluster.waitFor(async () => (await rows(3, 'SELECT count(*) FROM qf'))[0]![0] === '3' ? true : null, { what: 'the three rows on every scanned replica', timeoutMs: 10_000, intervalMs: 100 })
    // A peer still placing rows by the catalog before the change is refused, and nothing is written.
    const shard = await shardOf('qf', 'stale')
    const versionId = encodeUuidV8({ ts: Date.now(), counter: 0, nodeId: 1, random: randomBytes(4).readUInt32BE(0) })
    const payload = codecOf('REPLICA_APPLY').encodeRequest({ shard, commitHlc: HLC_ZERO, writes: [{ tableId: await tableId('qf'), pk: ['stale'], versionId, row: encodeRow([T.text, T.integer], ['stale', 1n]) }] })
    await expect(rpc.call(cluster.node(3).listen, 'SHARD_QUERY', { op: 'REPLICA_APPLY', shard, catalogVersion: before, payload }))
      .rejects.toMatchObject({ code: 'SB_CATALOG_STALE' })
    expect(await replicaVersion(3, 'qf', 'stale')).toBeNull()
  })

  it('anti-entropy: replicas that missed a write and a delete converge through repair rounds, with no hint, and the delete stays (issue 15)', async () => {
    await ok(1, "CREATE TABLE qa (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 1, read_quorum = 1)")
    const table = await tableId('qa')
    const cv = Number((await rows(1, "SELECT catalog_version FROM sys_tables WHERE table_name = 'qa'"))[0]![0])
    // Versions older than the rounds' in-flight tolerance (60 s), written straight to chosen replicas
    // as if the others had missed them and their hints were lost.
    const at = (agoMs: number, node: number): Uint8Array => encodeUuidV8({ ts: Date.now() - agoMs, counter: 0, nodeId: node, random: randomBytes(4).readUInt32BE(0) })
    const put = async (node: number, key: string, versionId: Uint8Array, v: bigint | null): Promise<void> => {
      const shard = await shardOf('qa', key)
      const payload = codecOf('REPLICA_APPLY').encodeRequest({ shard, commitHlc: HLC_ZERO, writes: [{ tableId: table, pk: [key], versionId, row: v === null ? null : encodeRow([T.text, T.integer], [key, v]) }] })
      await rpc.call(cluster.node(node).listen, 'SHARD_QUERY', { op: 'REPLICA_APPLY', shard, catalogVersion: cv, payload })
    }
    const missed = at(300_000, 1)
    await put(1, 'missed', missed, 1n)
    const inserted = at(300_000, 2)
    for (const n of cluster.ids) await put(n, 'deleted', inserted, 2n)
    const tombstone = at(180_000, 2)
    await put(2, 'deleted', tombstone, null)
    expect(await replicaVersion(2, 'qa', 'missed')).toBeNull()
    expect((await replicaVersion(3, 'qa', 'deleted'))!.row).not.toBeNull()
    // A round now on every node for every shard of the table (REPAIR TABLE), twice at most.
    const converged = async (): Promise<boolean> => {
      const m = await Promise.all(cluster.ids.map(n => replicaVersion(n, 'qa', 'missed')))
      const d = await Promise.all(cluster.ids.map(n => replicaVersion(n, 'qa', 'deleted')))
      return m.every(v => v !== null && hex(v) === Buffer.from(missed).toString('hex')) &&
        d.every(v => v !== null && v.row === null && hex(v) === Buffer.from(tombstone).toString('hex'))
    }
    for (let round = 0; round < 2 && !await converged(); round++) {
      for (const n of cluster.ids) await ok(n, 'REPAIR TABLE qa')
      await cluster.waitFor(async () => await converged() ? true : undefined, { what: 'the replicas of qa to converge', timeoutMs: 60_000, intervalMs: 250 }).catch(() => {})
    }
    if (!await converged()) {
      for (const n of cluster.ids) console.log(n, cluster.node(n).stdout().split('\n').filter(l => /nti-entropy/.test(l)).slice(-15).join('\n'))
      console.log(JSON.stringify(await rows(1, 'SHOW ANTI_ENTROPY STATUS')))
    }
    expect(await converged()).toBe(true)
    for (const n of cluster.ids) expect(await rows(n, "SELECT k, v FROM qa WHERE k IN ('missed', 'deleted') ORDER BY k")).toEqual([['missed', 1]])
    // The seeds' log lines, and the operator's view of the rounds.
    expect(cluster.ids.some(n => /Anti-entropy: Window \d+ diverged \(Shard \d{3}\), repair initiated/.test(cluster.node(n).stdout()))).toBe(true)
    expect(cluster.ids.some(n => /Anti-entropy: Repaired [1-9]\d* rows \(Shard \d{3}, Window \d+\)/.test(cluster.node(n).stdout()))).toBe(true)
    const status = await rows(1, 'SHOW ANTI_ENTROPY STATUS')
    expect(status.length).toBeGreaterThan(0)
    expect(status.some(r => r[3] === 'completed')).toBe(true)
    expect(await hintsFor(1, 2) + await hintsFor(1, 3) + await hintsFor(2, 1) + await hintsFor(3, 1)).toBe(0)
  }, 300_000)

  it('with node 3 SIGKILLed: W=2 writes succeed and leave hints, W=3 fails with SB_QUORUM_NOT_ACHIEVED, R=2 reads the latest; hints survive a coordinator restart', async () => {
    await cluster.kill(3)
    for (const id of [1, 2]) {
      await cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).find(m => m[0] === 3)?.[3] === 'down', { what: `node ${id} to mark node 3 down`, timeoutMs: 10_000, intervalMs: 100 })
    }
    await ok(1, "INSERT INTO q2 VALUES ('k1', 1)")
    await ok(2, "UPDATE q2 SET v = 2 WHERE k = 'k1'")
    expect(await hintsFor(1, 3)).toBeGreaterThanOrEqual(1)
    expect(await hintsFor(2, 3)).toBeGreaterThanOrEqual(1)
    expect(await rows(1, "SELECT v FROM q2 WHERE k = 'k1'")).toEqual([[2]])

    const failuresBefore = await metric(1, 'scratchbird_quorum_write_failures_total')
    const w3 = await cluster.sql(1, "INSERT INTO q3 VALUES ('x', 1)")
    expect(w3.status).toBe(503)
    expect(w3.body.error).toMatchObject({ code: 'SB_QUORUM_NOT_ACHIEVED', available_replicas: 2, required_replicas: 3 })
    expect(w3.body.error.message).toMatch(/Write requires W=3 nodes, only 2 available/)
    expect(await metric(1, 'scratchbird_quorum_write_failures_total')).toBe(failuresBefore + 1)
    // Label values as the seed prints them (issue 13 item 9): shard_id="001", target_node="node3".
    const scraped = await (await fetch(cluster.node(1).metricsUrl())).text()
    expect(scraped).toMatch(/^scratchbird_quorum_write_failures_total\{shard_id="\d{3}"\} 1$/m)
    expect(scraped).toMatch(/^scratchbird_hint_log_size_bytes\{target_node="node3"\} [1-9]\d*$/m)
    await cluster.waitFor(() => /Quorum write failed: Shard \d{3}, W=3, ACKs=0 \(Node 3 offline\)/.test(cluster.node(1).stdout()), { what: 'the quorum failure log line', timeoutMs: 15_000 })

    const forced = await cluster.sql(1, 'DELIVER HINTS TO NODE 3')
    expect(forced.status).toBe(503)
    expect(forced.body.error).toMatchObject({ code: 'SB_NODE_UNREACHABLE' })

    // Hints live in the shard workers' stores (DESIGN §2, §4 h/…): the main thread opens no
    // LevelDB of its own, so there is no <data_dir>/hints.
    expect(existsSync(join(cluster.node(1).dataDir, 'hints'))).toBe(false)

    // Hints are durable: the coordinator keeps them across its own restart, and reports their size.
    const kept = await hintsFor(1, 3)
    const bytes = await metric(1, 'scratchbird_hint_log_size_bytes{target_node="node3"}')
    expect(bytes).toBeGreaterThan(0)
    await cluster.restart(1)
    expect(await hintsFor(1, 3)).toBe(kept)
    expect(await metric(1, 'scratchbird_hint_log_size_bytes{target_node="node3"}')).toBe(bytes)
  })

  it('with node 3 still down: a W=3 transaction fails at COMMIT with SB_QUORUM_NOT_ACHIEVED', async () => {
    // Node 1 was just restarted: node 2 must see it back before "2 available" is the right count.
    await cluster.waitFor(async () => (await rows(2, 'SHOW CLUSTER MEMBERS')).find(m => m[0] === 1)?.[3] === 'normal', { what: 'node 2 to see node 1 back', timeoutMs: 15_000, intervalMs: 100 })
    const session = (await cluster.http(2, 'POST', '/v1/sessions')).body.id as string
    for (const sql of ['BEGIN', "INSERT INTO q3 VALUES ('tx-w3', 1)"]) expect((await cluster.sql(2, sql, [], { session })).status).toBe(200)
    const commit = await cluster.sql(2, 'COMMIT', [], { session })
    expect(commit.status).toBe(503)
    expect(commit.body.error).toMatchObject({ code: 'SB_QUORUM_NOT_ACHIEVED', available_replicas: 2, required_replicas: 3 })
    // The transaction is over: the session runs in autocommit again.
    expect((await cluster.sql(2, "SELECT v FROM q2 WHERE k = 'k1'", [], { session })).body.rows).toEqual([[2]])
  })

  it('with node 3 still down: the operator lowers W of the W=3 table to 2 (live nodes bound N, not W) and its writes work again', async () => {
    await ok(1, 'ALTER TABLE q3 SET write_quorum = 2')
    expect(await rows(2, "SELECT replication_factor, write_quorum FROM sys_tables WHERE table_name = 'q3'")).toEqual([[3, 2]])
    await ok(2, "INSERT INTO q3 VALUES ('after-alter', 1)")
    expect(await rows(1, "SELECT v FROM q3 WHERE k = 'after-alter'")).toEqual([[1]])
  })

  it('delivers the hints to the restarted node, which then holds the latest version itself', async () => {
    const latest = hex(await replicaVersion(1, 'q2', 'k1'))
    expect(await replicaVersion(2, 'q2', 'k1').then(hex)).toBe(latest)
    await cluster.restart(3)
    for (const id of [1, 2]) {
      await cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).every(m => m[3] === 'normal'), { what: `node ${id} to see node 3 back`, timeoutMs: 15_000 })
    }
    const r = await rows(1, 'DELIVER HINTS TO NODE 3')
    expect(r[0]![0]).toBe(3)
    await cluster.waitFor(async () => hex(await replicaVersion(3, 'q2', 'k1')) === latest, { what: 'node 3 to hold the hinted version', timeoutMs: 10_000, intervalMs: 100 })
    await cluster.waitFor(async () => await hintsFor(1, 3) === 0 && await hintsFor(2, 3) === 0, { what: 'the hint logs to drain', timeoutMs: 10_000 })
    expect(await metric(1, 'scratchbird_hints_delivered_total')).toBeGreaterThanOrEqual(1)
    expect(await rows(3, "SELECT v FROM q2 WHERE k = 'k1'")).toEqual([[2]])
  })

  it('with node 3 cut off by the network: the two-node side accepts W=2 writes, node 3 refuses them, and all converge after healing', async () => {
    cluster.isolate(3)
    for (const [viewer, seen] of [[1, 3], [2, 3], [3, 1], [3, 2]] as const) {
      await cluster.waitFor(async () => (await rows(viewer, 'SHOW CLUSTER MEMBERS')).find(m => m[0] === seen)?.[3] === 'down', { what: `node ${viewer} to mark node ${seen} down`, timeoutMs: 10_000 })
    }
    await ok(1, "INSERT INTO q2 VALUES ('split', 1)")
    const refused = await cluster.sql(3, "INSERT INTO q2 VALUES ('split', 3)")
    expect(refused.status).toBe(503)
    expect(refused.body.error).toMatchObject({ code: 'SB_QUORUM_NOT_ACHIEVED', available_replicas: 1, required_replicas: 2 })
    cluster.heal(3)
    for (const id of cluster.ids) {
      await cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).every(m => m[3] === 'normal'), { what: `node ${id} to see everyone normal after healing`, timeoutMs: 15_000 })
    }
    expect((await rows(1, 'DELIVER HINTS TO NODE 3'))[0]![0]).toBe(3)
    await cluster.waitFor(async () => {
      const v = await Promise.all(cluster.ids.map(n => replicaVersion(n, 'q2', 'split')))
      return v.every(x => x !== null && hex(x) === hex(v[0]!))
    }, { what: 'the replicas of q2/split to converge', timeoutMs: 10_000 })
    expect(await rows(3, "SELECT v FROM q2 WHERE k = 'split'")).toEqual([[1]])
  })
})
