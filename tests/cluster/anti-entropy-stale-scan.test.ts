import { afterAll, describe, expect, it } from 'vitest'
import { type ShardId } from '../../src/core/ids'
import { codecOf } from '../../src/shard/protocol/ops'
import { encodeRows } from '../../src/shard/protocol/value-rows'
import type { VersionedRow } from '../../src/storage/engine'
import { useReplicatedCluster } from '../helpers/mode1'

// Issue 15: a replica back from an outage longer than the tombstone grace is stale — it missed
// deletes that only anti-entropy carries — and no read of the shard may come from it until a
// round with every other replica completed: not a quorum read (tests/cluster/anti-entropy-purge)
// and not a scan either. Node 3 misses a delete (hints expire in < 1 s), stays down past the grace
// (≈ 26 s) and returns while node 2 is paused (SIGSTOP), so it cannot complete a round with every
// replica and stays stale; its own copy still holds the deleted row (the delete is younger than
// the rounds' in-flight tolerance, so its round with node 1 leaves it alone). A full scan on node 3
// is then served by node 1 (never the deleted row); a peer's scan request to node 3 is refused with
// SB_REPLICA_STALE; with node 1 paused too, the scan fails with SB_REPLICA_STALE. (Serving again
// once repaired with every replica: tests/cluster/anti-entropy-purge.test.ts.)

const GRACE_DAYS = 0.0003
const GRACE_MS = GRACE_DAYS * 86_400_000

const t = useReplicatedCluster({
  nodes: 3,
  shards: 2,
  gossip: { interval_ms: 200, heartbeat_timeout_ms: 2000 },
  replication: { write_timeout_ms: 5000, read_timeout_ms: 5000, hint_expiration_days: 0.00001, tombstone_gc_grace_days: GRACE_DAYS },
  extra: () => ({ anti_entropy: { enabled: true, interval_ms: 1000 } })
})
// Paused nodes resumed before the cluster closes (after-hooks run in reverse order of registration).
afterAll(() => { try { for (const id of t.cluster.ids) t.cluster.node(id).proc?.kill('SIGCONT') } catch {} })
const { ok, lines } = t
const rows = async (id: number, sql: string, params?: unknown[]): Promise<unknown[][]> => await t.cluster.rows(id, sql, params)
const shardOf = async (key: string): Promise<ShardId> => await t.shardOf('sc', 'k', key)
let tableId = 0
/** Node `node`'s own copy of `key` (AE_READ: a repair round's read, which a stale replica answers). */
const replica = async (node: number, key: string): Promise<VersionedRow | undefined> => await t.ownCopy(node, await shardOf(key), tableId, key)
async function sawDown (from: number, ids: number[]): Promise<void> {
  await t.cluster.waitFor(async () => {
    const members = await rows(from, 'SHOW CLUSTER MEMBERS')
    return ids.every(id => members.find(m => m[0] === id)?.[3] === 'down') ? true : undefined
  }, { what: `node ${from} to mark nodes ${ids.join(', ')} down`, timeoutMs: 20_000, intervalMs: 100 })
}

describe('a stale replica serves no scan', () => {
  it('scans of a shard whose local replica is stale go to a serving replica, a peer\'s scan is refused, and with none serving the scan fails', async () => {
    await ok(1, "CREATE TABLE sc (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 1)")
    tableId = Number((await rows(1, "SELECT table_id FROM sys_tables WHERE table_name = 'sc'"))[0]![0])
    await ok(1, "INSERT INTO sc VALUES ('gone', 1), ('kept', 2)")
    await t.cluster.waitFor(async () => (await Promise.all(t.cluster.ids.map(n => replica(n, 'gone')))).every(v => v?.row != null) ? true : undefined,
      { what: 'every replica to hold the row', timeoutMs: 15_000, intervalMs: 100 })
    const shard = await shardOf('gone')
    const label = String(shard).padStart(3, '0')

    await t.cluster.kill(3)
    const downAt = Date.now()
    await sawDown(1, [3])
    await sawDown(2, [3])
    await ok(1, "DELETE FROM sc WHERE k = 'gone'").catch((e: unknown) => {
      for (const n of [1, 2]) console.log(`node ${n}:\n` + lines(n, /WARN|ERROR|stale|refused|"level":(40|50)/).slice(-30).join('\n'))
      throw e
    })
    await t.cluster.waitFor(() => Date.now() - downAt > GRACE_MS + 2_000 ? true : undefined, { what: 'the grace to pass', timeoutMs: GRACE_MS + 20_000, intervalMs: 500 })

    // Node 2 paused: node 3 cannot complete a round with every replica, so it stays stale.
    t.cluster.node(2).proc!.kill('SIGSTOP')
    await t.cluster.restart(3)
    await t.cluster.waitFor(() => lines(3, new RegExp(`Anti-entropy: Shard ${label} is stale`)).length > 0 ? true : undefined, { what: 'node 3 to report the shard stale', timeoutMs: 30_000, intervalMs: 200 })
    // Its own copy still holds the deleted row: a scan served from it would return it.
    expect((await replica(3, 'gone'))?.row).not.toBeNull()
    // Node 3 must know node 2 is down before it can pick node 1 (until then a scan sent to the
    // paused node 2 waits for its RPC timeout, which under load outlasts the client's).
    await sawDown(3, [2])

    expect(await rows(3, 'SELECT k, v FROM sc ORDER BY k').catch(async (e: unknown) => {
      for (const n of [1, 3]) console.log(`node ${n}:\n` + lines(n, /nti-entropy|stale/).slice(-30).join('\n'))
      console.log(JSON.stringify(await rows(1, 'SHOW ANTI_ENTROPY STATUS')), JSON.stringify(await rows(3, 'SHOW CLUSTER MEMBERS')))
      throw e
    })).toEqual([['kept', 2]])
    expect(lines(3, new RegExp(`Shard ${label} repaired with every replica`))).toEqual([])

    // A peer's scan request to node 3 is refused (t.cluster.ts onShardQuery), not answered with its rows.
    const query = codecOf('QUERY')
    const payload = query.encodeRequest({ shard, tableId, options: {}, program: new Uint8Array(0), params: encodeRows([]) })
    await expect(t.rpc.call(t.cluster.node(3).listen, 'SHARD_QUERY', { op: 'QUERY', shard, catalogVersion: 0, payload })).rejects.toMatchObject({ code: 'SB_REPLICA_STALE' })

    // No serving replica left for node 3: the scan fails with SB_REPLICA_STALE.
    t.cluster.node(1).proc!.kill('SIGSTOP')
    await sawDown(3, [1, 2])
    const refused = await t.cluster.sql(3, 'SELECT k FROM sc')
    expect(refused.status, JSON.stringify(refused.body)).not.toBe(200)
    expect(JSON.stringify(refused.body)).toContain('SB_REPLICA_STALE')
  }, 300_000)
})
