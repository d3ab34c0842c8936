import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startCluster, type Cluster } from '../helpers/cluster-harness'
import { fillDisk, mountSmallDisk, smallDiskUnavailable, type SmallDisk } from '../helpers/small-disk'

// Issue 21 (chaos seed 7002's 63 s recovery): a leaderless coordinator whose data directory is
// full acknowledges a write its two peers took (W = 2 of 3) while its own replica refused it with
// SB_DISK_FULL — and the hint for that replica goes to the same full disk. Dropped, the row waited
// for anti-entropy, which leaves keys younger than its in-flight tolerance (60 s) alone. Held in
// memory and stored once space is back, the hint is delivered: anti-entropy is off here, so the
// rows reach node 1's own replica only that way (a scan on node 1 reads its own replica).
//
// Real processes, a real tmpfs for node 1's data directory (root only; skipped elsewhere).
// node.max_clock_offset_ms 5000: the HLC lease a node persists ahead is twice that (hlc-persist.ts),
// so a coordinator on a full disk keeps issuing versions for a few seconds — long enough for
// writes to be acknowledged by its peers while its own disk refuses them, as under the chaos load.

const unavailable = smallDiskUnavailable()
let cluster: Cluster | undefined
let disk: SmallDisk | undefined
afterAll(async () => {
  await cluster?.close()
  disk?.unmount()
})

describe.skipIf(unavailable !== null)('a leaderless coordinator whose disk is full' + (unavailable !== null ? ` (skipped: ${unavailable})` : ''), () => {
  it('gets the rows it acknowledged from its peers into its own replica once space is back (hints held in memory, not dropped)', async () => {
    disk = mountSmallDisk(256 * 1024 * 1024)
    const c = cluster = await startCluster({
      nodes: 3,
      startTimeoutMs: 180_000,
      extraConfig: (id) => ({
        node: { durability: 'none', max_clock_offset_ms: 5000, ...(id === 1 ? { data_dir: join(disk!.dir, 'data') } : {}) },
        anti_entropy: { enabled: false }
      })
    })
    await c.waitAllNormal(c.ids, 60_000)
    const created = await c.sql(1, "CREATE TABLE s (k INT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2)")
    expect(created.status, JSON.stringify(created.body)).toBe(200)
    const filler = join(disk.dir, 'filler')
    fillDisk(filler)
    // Rows of a few KiB, so each needs new pages of the full tmpfs in node 1's LevelDB log.
    const acked: number[] = []
    const refused = new Map<string, number>()
    for (let k = 1; k <= 300 && acked.length < 10; k++) {
      const w = await c.sql(1, 'INSERT INTO s VALUES ($1, $2)', [k, 'x'.repeat(6000)])
      if (w.status === 200) acked.push(k)
      else refused.set(String(w.body?.error?.code), (refused.get(String(w.body?.error?.code)) ?? 0) + 1)
    }
    // A full disk refuses with its code only (once the HLC lease ends, node 1 cannot coordinate).
    expect([...refused.keys()].filter(code => code !== 'SB_DISK_FULL')).toEqual([])
    expect(acked.length, 'writes acknowledged by node 1\'s peers while its disk was full').toBeGreaterThan(0)
    const ownReplica = async (): Promise<Set<number>> => {
      const q = await c.sql(1, 'SELECT k FROM s')
      return q.status === 200 ? new Set((q.body.rows as unknown[][]).map(r => Number(r[0]))) : new Set()
    }
    const before = await ownReplica()
    expect(acked.filter(k => !before.has(k)).length, 'rows node 1\'s own replica refused').toBeGreaterThan(0)
    rmSync(filler)
    // Held hints are stored again within seconds, then delivered by node 1's hint timer
    // (replication.hint_delivery_interval_ms); nothing else can bring them here.
    await c.waitFor(async () => {
      const have = await ownReplica()
      return acked.every(k => have.has(k)) ? true : null
    }, { timeoutMs: 90_000, intervalMs: 1000, what: `node 1's own replica to hold the ${acked.length} rows it acknowledged on a full disk` })
    // The other replicas hold them too, and every node reads them all.
    for (const id of c.ids) {
      const q = await c.sql(id, 'SELECT count(*) FROM s')
      expect(q.status).toBe(200)
      expect(Number((q.body.rows as unknown[][])[0]![0])).toBeGreaterThanOrEqual(acked.length)
    }
  }, 600_000)
})
