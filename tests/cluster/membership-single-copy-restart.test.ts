import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Cluster } from '../helpers/cluster-harness'
import { kvTable, startThreeOfFour } from '../helpers/kv-table'

// Issue 20 on real processes, single-copy tables (replication_factor 1, the default): the old and
// the new owner of a moving shard are SIGKILLed mid-move and restarted. Nodes 1–3 hold a table
// with rows and a writer runs; node 4 joins, and each shard placement now gives it moves through a
// group {old owner, node 4} (cluster/membership/moves.ts singleCopyReplicas). As soon as one old
// owner starts bootstrapping node 4 it is killed and started again; then, as soon as it handed
// that shard over to node 4, node 4 is killed and started again. The join must still end (node 4
// normal, every node at epoch 3), SHOW SHARD MAP must show one owner per shard, node 4 among them,
// and every acknowledged row must be read through every node.

const SHARDS = 8
let cluster: Cluster

beforeAll(async () => { cluster = await startThreeOfFour(SHARDS) }, 180_000)
afterAll(async () => {
  // SB_DEBUG_DUMP=1: keep each node's log in /tmp/mscr-<id>.log.
  if (process.env.SB_DEBUG_DUMP !== undefined) for (const id of [1, 2, 3, 4]) writeFileSync(`/tmp/mscr-${id}.log`, cluster.node(id).stdout() + cluster.node(id).stderr())
  await cluster?.close()
})

const RETRY = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT', 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE']
// Long retries: a shard whose owner is down takes no write until it is back.
const { insert, readAll } = kvTable(() => cluster, RETRY, 240_000)
const key = (i: number): string => `k${String(i).padStart(4, '0')}`
const out = (id: number): string => cluster.node(id).stdout()
const epochOf = (id: number): number => JSON.parse(readFileSync(join(cluster.node(id).dataDir, 'cluster.json'), 'utf8')).epoch
const BOOTSTRAP_TO_4 = /bootstrap of shard (\d+) on node 4 starts/g

/** [node, shard] of every "bootstrap … on node 4 starts" line in the old nodes' output. */
function bootstrapsTo4 (): Array<[number, number]> {
  return [1, 2, 3].flatMap(id => [...out(id).matchAll(BOOTSTRAP_TO_4)].map(m => [id, Number(m[1])] as [number, number]))
}

describe('single-copy moves survive a restart of the old and of the new owner mid-move', () => {
  it('3 → 4 nodes, writer running: an old owner and then node 4 SIGKILLed mid-move and restarted; the join ends, every acknowledged row kept', async () => {
    const c = await cluster.sql(1, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    const acked: string[] = []
    let i = 0
    const pad = 'p'.repeat(200)
    for (; i < 80; i++) { await insert(1 + (i % 3), key(i), `v${i}${pad}`); acked.push(`${key(i)}=v${i}${pad}`) }
    const writing = { on: true, error: null as unknown }
    const writer = (async () => {
      try {
        for (; writing.on; i++) { await insert(1 + (i % 3), key(i), `w${i}`); acked.push(`${key(i)}=w${i}`) }
      } catch (e) { writing.error = e }
    })()
    try {
      await cluster.start(4)
      // The old owner of the first shard moving to node 4, killed as its bootstrap starts.
      const [oldOwner, shard] = await cluster.waitFor(() => bootstrapsTo4()[0] ?? null, { what: 'a bootstrap of a shard on node 4 to start', timeoutMs: 180_000, intervalMs: 100 })
      await cluster.kill(oldOwner)
      await cluster.start(oldOwner)
      // Node 4, the new owner, killed as soon as that shard was handed over to it: it leads the
      // group, and the move is not over before it removed the old owner as a voter.
      const leads = new RegExp(`Node 4 is primary of shard 0*${shard} `)
      await cluster.waitFor(() => leads.test(out(4)) ? true : null, { what: `node 4 to lead shard ${shard} (handed over by node ${oldOwner})`, timeoutMs: 180_000, intervalMs: 100 })
      await cluster.kill(4)
      await cluster.start(4)

      // The join ends: every node at epoch 3 (node 4 normal), whichever node decided it.
      for (const id of [1, 2, 3, 4]) {
        await cluster.waitFor(() => epochOf(id) >= 3 ? true : null, { what: `node ${id} to record the end of node 4's join (epoch 3; shard ${shard} moved off node ${oldOwner} first)`, timeoutMs: 300_000, intervalMs: 1000 })
      }
      await cluster.waitAllNormal([1, 2, 3, 4], 120_000)
      const more = i + 20
      await cluster.waitFor(() => i >= more ? true : null, { what: 'the writer to go on after the join', timeoutMs: 240_000 })
    } finally {
      writing.on = false
      await writer
    }
    expect(writing.error).toBeNull()
    const map = (await cluster.rows(2, 'SHOW SHARD MAP')).map(r => String(r[3]).split(',').map(Number))
    expect(map.every(o => o.length === 1), JSON.stringify(map)).toBe(true)
    expect(map.some(o => o[0] === 4), JSON.stringify(map)).toBe(true)
    for (const id of [1, 2, 3, 4]) expect(await readAll(id), `through node ${id}`).toEqual(acked.slice().sort())
  }, 900_000)
})
