import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'
import { ROW_SPACE } from '../../src/storage/keys'
import { decodeLeafKey, leafKeyOfRowKey } from '../../src/storage/merkle/leaf-key'
import { decodeVersion, encodeVersionOf } from '../../src/storage/versions'

// Issue 15 item 6 on real processes: a primary_replica table (N = 3) on three nodes. A replica's
// stored copy of one row is damaged behind its back (its LevelDB edited while the node is
// stopped: silent corruption, which the replicated log cannot see — it applied the right entry).
// After its restart, a verification round from the shard's primary (REPAIR TABLE forces one)
// compares the rows both store at a snapshot and reports the damaged row; the primary's value
// never changes. Repair from the primary (MODE1_REPAIR) is not built yet.

let cluster: Cluster
const SHARDS = 2

beforeAll(async () => {
  cluster = await startCluster({
    nodes: 3,
    shards: SHARDS,
    // Rounds only when REPAIR TABLE asks (and once when a node becomes primary).
    extraConfig: () => ({ node: { durability: 'none' }, replication: { election_timeout_ms: 1000, heartbeat_ms: 100 }, anti_entropy: { interval_ms: 3_600_000 } })
  })
  await cluster.waitAllNormal()
}, 120_000)
afterAll(async () => {
  await cluster?.close()
})

type Row = unknown[]

/** Per shard, the node that reports itself its primary with every other replica caught up (SHOW REPLICATION LAG). */
async function caughtUpPrimaries (): Promise<Map<number, number>> {
  return await cluster.waitFor(async () => {
    const out = new Map<number, number>()
    let replicas = 0
    for (const id of cluster.ids) {
      const r = await cluster.sql(id, 'SHOW REPLICATION LAG')
      if (r.status !== 200) return null
      for (const row of r.body.rows as Row[]) {
        if (Number(row[4]) !== 0) return null
        out.set(Number(row[0]), id)
        replicas++
      }
    }
    return out.size === SHARDS && replicas === SHARDS * 2 ? out : null
  }, { what: 'every shard to have a primary with both replicas caught up', timeoutMs: 30_000, intervalMs: 250 })
}

function antiEntropyLines (id: number): string[] {
  return cluster.node(id).stdout().split('\n').filter(l => l.includes('Anti-entropy:') && l.includes('primary'))
}

async function valueOf (k: string): Promise<string> {
  return await cluster.waitFor(async () => {
    const r = await cluster.sql(1, 'SELECT v FROM r WHERE k = $1', [k])
    return r.status === 200 ? String((r.body.rows as Row[])[0]?.[0]) : null
  }, { what: `a read of ${k}`, timeoutMs: 20_000 })
}

/** Rewrites the stored image of the latest version of one row of `shard` in node `id`'s LevelDB (the node is stopped). Returns its key. */
async function damageOneRow (id: number, shard: number): Promise<string> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(join(cluster.node(id).dataDir, 'shards', String(shard)), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    for await (const [key, value] of db.iterator({ gte: ROW_SPACE.gte, lt: ROW_SPACE.lt })) {
      const { pk } = decodeLeafKey(leafKeyOfRowKey(key))
      if (typeof pk[0] !== 'string' || !pk[0].startsWith('k')) continue
      const v = decodeVersion(value)
      if (v.tombstone || v.row.length === 0) continue
      const row = v.row.slice()
      row[row.length - 1] = row[row.length - 1]! ^ 0x01
      await db.put(key, encodeVersionOf(v.xid, v.versionId, v.tombstone, v.commitHlc, v.prev, row), { sync: true })
      return pk[0]
    }
    throw new Error(`no row of table r in shard ${shard} on node ${id}`)
  } finally {
    await db.close()
  }
}

describe('Mode 1 verification: the primary finds a replica\'s damaged row', () => {
  it('a clean round finds nothing; after a row is damaged on a replica, a forced round reports it; the primary\'s value stays', async () => {
    const c = await cluster.sql(1, 'CREATE TABLE r (k TEXT PRIMARY KEY, v TEXT) WITH (replication_factor = 3)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    for (let i = 0; i < 20; i++) {
      await cluster.waitFor(async () => {
        const r = await cluster.sql(1 + (i % 3), 'INSERT INTO r (k, v) VALUES ($1, $2)', [`k${String(i).padStart(2, '0')}`, `v${i}`])
        if (r.status === 200) return true
        if (String(r.body?.code ?? r.body?.error?.code) === 'SB_UNIQUE_VIOLATION') return true
        return null
      }, { what: `insert k${i}`, timeoutMs: 20_000 })
    }
    const primaries = await caughtUpPrimaries()
    const shard = 0
    const primary = primaries.get(shard)!
    const victim = cluster.ids.find(id => id !== primary)!

    // A clean round first: the replicas hold the primary's rows, nothing diverges.
    const cleanBefore = antiEntropyLines(primary).filter(l => l.includes(`Round with Node ${victim} completed (Shard 000, primary/replica)`)).length
    expect((await cluster.sql(primary, 'REPAIR TABLE r')).status).toBe(200)
    await cluster.waitFor(async () => antiEntropyLines(primary).filter(l => l.includes(`Round with Node ${victim} completed (Shard 000, primary/replica)`)).length > cleanBefore || null,
      { what: `a clean round of shard 0 from node ${primary} with node ${victim}`, timeoutMs: 30_000, intervalMs: 250 })
    expect(antiEntropyLines(primary).filter(l => l.includes('diverged from the primary'))).toEqual([])

    await cluster.stop(victim)
    const damaged = await damageOneRow(victim, shard)
    const before = await valueOf(damaged)
    await cluster.start(victim)
    await cluster.waitAllNormal()
    const after = await caughtUpPrimaries()
    expect(after.get(shard), 'the shard kept its primary').toBe(primary)

    const wanted = `Anti-entropy: Node ${victim} diverged from the primary (Shard 000): 1 rows differ`
    await cluster.waitFor(async () => {
      if (antiEntropyLines(primary).some(l => l.includes(wanted))) return true
      await cluster.sql(primary, 'REPAIR TABLE r')
      return null
    }, { what: `node ${primary} to report node ${victim}'s damaged row ${damaged}`, timeoutMs: 60_000, intervalMs: 1_000 })

    const status = await cluster.rows(primary, 'SHOW ANTI_ENTROPY STATUS')
    const row = status.find(r => Number(r[0]) === shard && Number(r[1]) === victim)
    expect(row, JSON.stringify(status)).toBeDefined()
    expect(row![3]).toBe('completed')
    expect(Number(row![6])).toBe(1)
    expect(String(row![4])).toContain('1 rows diverged')
    // The primary's copy is the truth and was never touched.
    expect(await valueOf(damaged)).toBe(before)
  }, 240_000)
})
