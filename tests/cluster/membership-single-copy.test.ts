import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Cluster } from '../helpers/cluster-harness'
import { kvTable, startThreeOfFour } from '../helpers/kv-table'

// Issue 20 items 1–2 on real processes with the default replication factor 1 (every table keeps a
// single copy of each shard, primary_replica): 3 nodes, a table with rows and a writer running;
// node 4 is started with a cluster.nodes listing itself and the members, admitted (joining), and
// the shards placement now gives it move there — each by a replication group run just for the
// move (old owner primary, node 4 bootstrapped by snapshot + log and promoted, the primary role
// handed over, the old voter removed: cluster/membership/moves.ts singleCopyReplicas) — after
// which node 4 is normal and SHOW SHARD MAP shows it owning shards. Then DRAIN NODE 2 moves node
// 2's shards the same way and node 2 ends `left` holding nothing; it is stopped, and node 4 is
// restarted. Every acknowledged row is read through every running node after each step.

const SHARDS = 8
let cluster: Cluster

beforeAll(async () => { cluster = await startThreeOfFour(SHARDS) }, 180_000)
afterAll(async () => {
  // SB_DEBUG_DUMP=1: keep each node's log in /tmp/msc-<id>.log (the cluster's directory is removed).
  if (process.env.SB_DEBUG_DUMP !== undefined) for (const id of [1, 2, 3, 4]) writeFileSync(`/tmp/msc-${id}.log`, cluster.node(id).stdout() + cluster.node(id).stderr())
  await cluster?.close()
})

const RETRY = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_COMMIT_OUTCOME_UNKNOWN', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT', 'SB_REPL_BOOTSTRAPPING', 'SB_CATALOG_STALE']

const { insert, readAll } = kvTable(() => cluster, RETRY, 60_000)

const key = (i: number): string => `k${String(i).padStart(4, '0')}`
const out = (id: number): string => cluster.node(id).stdout()

/** Node `id`'s row of node `node` in SHOW CLUSTER MEMBERS: [state, shard_replicas]. */
async function member (id: number, node: number): Promise<[string, number]> {
  const row = (await cluster.rows(id, 'SHOW CLUSTER MEMBERS')).find(r => Number(r[0]) === node)
  return [String(row?.[3]), Number(row?.[6])]
}

/** Node `id`'s SHOW SHARD MAP: per shard, its replicas (one node each once nothing moves). */
async function owners (id: number): Promise<number[][]> {
  return (await cluster.rows(id, 'SHOW SHARD MAP')).map(r => String(r[3]).split(',').map(Number))
}

describe('single-copy tables (replication_factor 1) move in joins and drains', () => {
  it('3 → 4 nodes, then DRAIN NODE 2, writer running: shards move to node 4 and off node 2, every acknowledged row kept', async () => {
    const c = await cluster.sql(1, 'CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)')
    expect(c.status, JSON.stringify(c.body)).toBe(200)
    const acked: string[] = []
    let i = 0
    const pad = 'p'.repeat(100)
    for (; i < 60; i++) { await insert(1 + (i % 3), key(i), `v${i}${pad}`); acked.push(`${key(i)}=v${i}${pad}`) }
    const before = await owners(1)
    const writing = { on: true }
    const through = [1, 2, 3]
    const writer = (async () => {
      for (; writing.on; i++) { await insert(through[i % through.length]!, key(i), `w${i}`); acked.push(`${key(i)}=w${i}`) }
    })()

    // Join: admitted joining at epoch 2, normal at epoch 3 once every shard placed on it moved.
    await cluster.start(4)
    await cluster.waitFor(async () => /node 4 at \S+ admitted by this node \(joining: the single copies/.test(out(1)) ? true : null,
      { what: 'node 1 to admit node 4 (joining)', timeoutMs: 120_000 })
    await cluster.waitFor(async () => /node\(s\) 4 joined/.test(out(1)) ? true : null, { what: 'node 4 to finish joining', timeoutMs: 180_000 })
    for (const id of [1, 2, 3, 4]) {
      await cluster.waitFor(async () => JSON.parse(readFileSync(join(cluster.node(id).dataDir, 'cluster.json'), 'utf8')).epoch >= 3 ? true : null,
        { what: `node ${id} to record membership epoch 3`, timeoutMs: 60_000 })
    }
    await cluster.waitAllNormal([1, 2, 3, 4], 60_000)
    // SHOW SHARD MAP (through a node that never listed node 4): one owner per shard, node 4 among them.
    const joined = await owners(2)
    expect(joined.every(o => o.length === 1), JSON.stringify(joined)).toBe(true)
    const moved = joined.map((o, s) => o[0] === 4 ? s : -1).filter(s => s >= 0)
    expect(moved.length, JSON.stringify({ before, joined })).toBeGreaterThan(0)
    for (const s of moved) expect(before[s], `shard ${s} moved from its old owner`).not.toEqual([4])
    // Moved by the bootstrap of a group run for the move, not by a placement switch.
    expect(out(1) + out(2) + out(3)).toMatch(/bootstrap of shard \d+ on node 4 done/)
    expect((await member(3, 4))[0]).toBe('normal')
    // Each old owner let its copy go: no group of a moved shard runs there any more (SHOW SHARD
    // MAP's replica_states is a group's; a group its new owner's messages restarted retires too).
    for (const s of moved) {
      await cluster.waitFor(async () => (await cluster.rows(before[s]![0]!, 'SHOW SHARD MAP'))[s]![6] === null ? true : null,
        { what: `node ${before[s]![0]!} to let its copy of shard ${s} go`, timeoutMs: 60_000 })
    }

    through.push(4)
    let more = i + 20
    await cluster.waitFor(async () => i >= more ? true : null, { what: 'the writer to go on after the join', timeoutMs: 120_000 })
    writing.on = false
    await writer
    for (const id of [1, 2, 3, 4]) expect(await readAll(id), `through node ${id} after the join`).toEqual(acked.slice().sort())

    // Drain node 2 with the writer running (through the other nodes).
    const heldBy2 = joined.filter(o => o[0] === 2).length
    expect(heldBy2, JSON.stringify(joined)).toBeGreaterThan(0)
    writing.on = true
    through.splice(0, through.length, 1, 3, 4)
    const writer2 = (async () => {
      for (; writing.on; i++) { await insert(through[i % through.length]!, key(i), `x${i}`); acked.push(`${key(i)}=x${i}`) }
    })()
    const d = await cluster.sql(3, 'DRAIN NODE 2')
    expect(d.status, JSON.stringify(d.body)).toBe(200)
    await cluster.waitFor(async () => (await member(3, 2))[0] === 'left' ? true : null, { what: 'node 2 to end left', timeoutMs: 180_000 })
    expect(out(1)).toMatch(/drain of node 2 finished/)
    expect(await member(1, 2)).toEqual(['left', 0])
    const drained = await owners(1)
    expect(drained.every(o => o.length === 1 && o[0] !== 2), JSON.stringify(drained)).toBe(true)
    await cluster.waitFor(async () => (await cluster.rows(2, 'SHOW SHARD MAP')).every(r => r[6] === null) ? true : null,
      { what: 'node 2 to run no replication group any more', timeoutMs: 60_000 })
    more = i + 20
    await cluster.waitFor(async () => i >= more ? true : null, { what: 'the writer to go on after the drain', timeoutMs: 120_000 })
    // The writer runs on: every row acknowledged before a read is in it (through node 2, left, too).
    for (const id of [1, 2, 3, 4]) {
      const ackedNow = acked.slice()
      const got = new Set(await readAll(id))
      expect(ackedNow.filter(r => !got.has(r)), `through node ${id} after the drain`).toEqual([])
    }

    // Stopping the drained node changes nothing for clients.
    await cluster.stop(2)
    more = i + 10
    await cluster.waitFor(async () => i >= more ? true : null, { what: 'the writer to go on with node 2 stopped', timeoutMs: 120_000 })
    writing.on = false
    await writer2
    for (const id of [1, 3, 4]) expect(await readAll(id), `through node ${id} with node 2 stopped`).toEqual(acked.slice().sort())

    // Node 4 restarts: the shards it received (their log and state came by snapshot, then from its
    // own group) are served by the single-copy path, reads and writes.
    await cluster.stop(4)
    await cluster.start(4)
    for (const id of [1, 3, 4]) {
      await cluster.waitFor(async () => (await cluster.rows(id, 'SHOW CLUSTER MEMBERS')).every(r => r[3] === (Number(r[0]) === 2 ? 'left' : 'normal')) ? true : null,
        { what: `node ${id} to see nodes 1, 3, 4 normal and node 2 left`, timeoutMs: 60_000 })
    }
    for (let j = 0; j < 10; j++, i++) { await insert(4, key(i), `y${i}`); acked.push(`${key(i)}=y${i}`) }
    for (const id of [1, 3, 4]) expect(await readAll(id), `through node ${id} after node 4 restarted`).toEqual(acked.slice().sort())
  }, 900_000)
})
