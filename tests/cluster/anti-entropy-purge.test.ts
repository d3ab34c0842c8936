import { describe, expect, it } from 'vitest'
import { useReplicatedCluster } from '../helpers/mode1'
import type { ShardId } from '../../src/core/ids'
import type { VersionedRow } from '../../src/storage/engine'

// Issue 15 items 3 and 4 on three real processes, with the grace made short by config
// (tombstone_gc_grace_days 0.00015 ≈ 13 s; hints expire in < 1 s, so only anti-entropy carries the
// delete): a row deleted while node 3 is down; node 3 stays down longer than the grace, so the two
// others must NOT purge the tombstone (node 3 is unverified) and node 3 comes back stale — it says
// so, serves nothing of the shard and repairs itself at once, then serves again; rounds complete,
// the sweep purges the tombstone on every replica, and the row never comes back (R=1 reads from
// every node, and another round after the purge).
//
// A replica's own copy is read with AE_READ through the cluster RPC (a repair round's read, which
// a stale replica answers too); REPLICA_READ is what a quorum coordinator sends.

const GRACE_DAYS = 0.00015
const GRACE_MS = GRACE_DAYS * 86_400_000

const t = useReplicatedCluster({
  nodes: 3,
  shards: 4,
  replication: { write_timeout_ms: 2000, read_timeout_ms: 2000, hint_expiration_days: 0.00001, tombstone_gc_grace_days: GRACE_DAYS },
  extra: () => ({ storage: { sweep_schedule: '* * * * * *' }, anti_entropy: { enabled: true, interval_ms: 1000 } })
})
const { ok, lines } = t
const rows = async (id: number, sql: string, params?: unknown[]): Promise<unknown[][]> => await t.cluster.rows(id, sql, params)
const shardOf = async (key: string): Promise<ShardId> => await t.shardOf('ae', 'k', key)
let tableId = 0
/** Node `node`'s own replica of `key`: undefined when it holds no version at all (purged or never had it). */
const replica = async (node: number, key: string, op: 'AE_READ' | 'REPLICA_READ' = 'AE_READ'): Promise<VersionedRow | undefined> => await t.ownCopy(node, await shardOf(key), tableId, key, op)

describe('anti-entropy on three nodes with a short tombstone grace', () => {
  it('a delete missed by a node down longer than the grace: not purged meanwhile, the node returns stale and repairs itself, then the tombstone is purged everywhere and the row never comes back', async () => {
    await ok(1, "CREATE TABLE ae (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 1)")
    tableId = Number((await rows(1, "SELECT table_id FROM sys_tables WHERE table_name = 'ae'"))[0]![0])
    await ok(1, "INSERT INTO ae VALUES ('gone', 1), ('kept', 2)")
    await t.cluster.waitFor(async () => (await Promise.all(t.cluster.ids.map(n => replica(n, 'gone')))).every(v => v?.row != null) ? true : undefined,
      { what: 'every replica to hold the row', timeoutMs: 15_000, intervalMs: 100 })
    const shard = await shardOf('gone')

    await t.cluster.kill(3)
    const downAt = Date.now()
    for (const id of [1, 2]) {
      await t.cluster.waitFor(async () => (await rows(id, 'SHOW CLUSTER MEMBERS')).find(m => m[0] === 3)?.[3] === 'down', { what: `node ${id} to mark node 3 down`, timeoutMs: 15_000, intervalMs: 100 })
    }
    // (Retried: on a loaded machine node 2's acknowledgement may miss write_timeout_ms; a DELETE is idempotent.)
    await t.write(1, "DELETE FROM ae WHERE k = 'gone'", [], { retry: ['SB_QUORUM_NOT_ACHIEVED'] })
    for (const n of [1, 2]) expect((await replica(n, 'gone'))!.row).toBeNull() // the tombstone

    // Past the grace with node 3 away: nodes 1 and 2 keep repairing each other (so they stay
    // serving) but cannot verify node 3, so their sweeps (every second) keep the tombstone.
    await t.cluster.waitFor(() => Date.now() - downAt > GRACE_MS + 3_000 ? true : undefined, { what: 'the grace to pass', timeoutMs: GRACE_MS + 20_000, intervalMs: 500 })
    for (const n of [1, 2]) {
      const tomb = await replica(n, 'gone')
      expect(tomb, `node ${n} purged the tombstone while node 3 was unverified`).toBeDefined()
      expect(tomb!.row).toBeNull()
      const serving = (await rows(n, 'SHOW ANTI_ENTROPY STATUS')).filter(r => Number(r[0]) === shard).map(r => r[9])
      expect(serving.every(s => s === true)).toBe(true)
    }
    expect(lines(1, /Shard \d{3} is stale/).length + lines(2, /Shard \d{3} is stale/).length).toBe(0)

    // Node 3 returns after more than the grace: stale, it says so, and repairs itself at once.
    await t.cluster.restart(3)
    const label = String(shard).padStart(3, '0')
    await t.cluster.waitFor(() => lines(3, new RegExp(`Anti-entropy: Shard ${label} is stale`)).length > 0 ? true : undefined, { what: 'node 3 to report the shard stale', timeoutMs: 30_000, intervalMs: 200 })
    await t.cluster.waitFor(() => lines(3, new RegExp(`Anti-entropy: Shard ${label} repaired with every replica; serving it again`)).length > 0 ? true : undefined,
      { what: 'node 3 to repair itself and serve again', timeoutMs: 180_000, intervalMs: 250 }).catch(async (e: unknown) => {
      console.log(lines(3, /nti-entropy/).slice(-40).join('\n'))
      console.log(JSON.stringify(await rows(3, 'SHOW ANTI_ENTROPY STATUS')))
      throw e
    })
    const scraped = await (await fetch(t.cluster.node(3).metricsUrl())).text()
    expect(scraped).toMatch(new RegExp(`^scratchbird_anti_entropy_replica_serving\\{shard_id="${label}"\\} 1$`, 'm'))

    // Rounds with every replica verify the tombstone (it is older than the rounds' in-flight
    // tolerance after a minute); then each node's sweep purges it.
    await t.cluster.waitFor(async () => (await Promise.all(t.cluster.ids.map(n => replica(n, 'gone')))).every(v => v === undefined) ? true : undefined,
      { what: 'every replica to purge the tombstone', timeoutMs: 180_000, intervalMs: 1000 })

    // The row never comes back: R=1 reads on every node, after another round with everyone.
    const repairAt = new Date().toISOString()
    for (const n of t.cluster.ids) await ok(n, 'REPAIR TABLE ae')
    for (const n of t.cluster.ids) {
      await t.cluster.waitFor(async () => {
        const status = (await rows(n, 'SHOW ANTI_ENTROPY STATUS')).filter(r => Number(r[0]) === shard)
        return status.some(r => r[3] === 'completed' && String(r[2]) >= repairAt) ? true : undefined
      }, { what: `a round after the purge on node ${n}`, timeoutMs: 60_000, intervalMs: 250 })
    }
    for (const n of t.cluster.ids) {
      expect(await replica(n, 'gone')).toBeUndefined()
      expect(await rows(n, "SELECT k FROM ae WHERE k = 'gone'")).toEqual([])
      expect(await rows(n, "SELECT k, v FROM ae WHERE k = 'kept'")).toEqual([['kept', 2]])
    }
  }, 600_000)
})
