import { describe, expect, it } from 'vitest'
import { codeOf, useReplicatedCluster } from '../helpers/mode1'
import { caughtUp, everyAckedOnEveryNode, expectServed, startLoads } from '../helpers/rolling-load'
import { asShardId } from '../../src/core/ids'

// Issue 20 item 4 on real processes: the seeds' rolling restart (restart node 1, wait, node 2,
// wait, node 3 — each with a graceful SIGTERM, as `systemctl restart` does) under load. Three
// nodes; a primary_replica table with N = 3 (`m`) and a leaderless_quorum table with N = 3,
// W = 2, R = 2 (`q`). For each table a writer and a reader run through the nodes that are up —
// as a load balancer would route them — while each node in turn is stopped, started again, and
// waited for until it is back and caught up (SHOW CLUSTER MEMBERS all normal, every Mode 1
// replica at its primary's LSN) before the next.
//
// What a user relies on, asserted:
// - every acknowledged write is there afterwards, on every node (its own copy, not only through it);
// - no statement a quorum could serve is refused: the leaderless table (W = R = 2 of 3, one node
//   down) is never refused for want of live replicas; a Mode 1 statement may only meet the coded,
//   retryable codes of a primary hand-over (HANDOVER_CODES); the stopping primary hands its shards
//   over before it goes (leadership transfer) and the longest write pause per restart is printed
//   (asserted only against a stall: see the bound below);
// - a client connected to the node being restarted gets a clean answer — rows, a coded error,
//   or a refused connection once it is down — never a hang.

const SHARDS = 4
// Longer than the other cluster tests' 1 s: at a load average of 20 a 1 s timeout lets elections
// start on their own (a starved heartbeat), and this test measures what a restart costs.
const ELECTION_TIMEOUT_MS = 2000
// Generous starts: three nodes start from source on a shared, loaded 2-core machine.
const t = useReplicatedCluster({ nodes: 3, shards: SHARDS, replication: { election_timeout_ms: ELECTION_TIMEOUT_MS, heartbeat_ms: 200 }, startTimeoutMs: 180_000 })

/** What a client of the node being stopped sees, statement by statement, until it is down. */
async function probeStopping (id: number, down: () => boolean): Promise<string[]> {
  const seen: string[] = []
  while (!down()) {
    try {
      const r = await t.cluster.sql(id, 'SELECT count(*) FROM q', [], { timeoutMs: 10_000 })
      seen.push(r.status === 200 ? 'ok' : `code ${codeOf(r.body) || `missing (HTTP ${r.status})`}`)
    } catch (e) {
      const err = e as Error & { cause?: { code?: string } }
      // A refused or reset connection is the clean "down" a load balancer acts on; a timeout is a hang.
      seen.push(err.name === 'TimeoutError' ? 'HANG' : `connection ${err.cause?.code ?? err.message}`)
    }
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  return seen
}

describe('rolling restart of three nodes under load (issue 20 item 4)', () => {
  it('loses no acknowledged write, refuses nothing a quorum could serve, and hands primaries over', async () => {
    let restarting = 0
    const { loads, running } = await startLoads(t, () => restarting)

    const probes: Array<{ node: number, seen: string[] }> = []
    const t0 = Date.now()
    const mark = (what: string): void => { process.stdout.write(`+${((Date.now() - t0) / 1000).toFixed(1)} s ${what}\n`) }
    for (const id of t.cluster.ids) {
      const primaries = (await Promise.all(Array.from({ length: SHARDS }, async (_, s) => t.primaryOf(asShardId(s))))).filter(p => p === id).length
      for (const l of loads) l.restart = id - 1
      mark(`stopping node ${id} (primary of ${primaries} shard(s))`)
      const before = loads.map(l => l.acked.length)
      restarting = id
      let down = false
      const probe = probeStopping(id, () => down)
      await t.cluster.stop(id)
      down = true
      mark(`node ${id} stopped; ${t.lines(id, /hands shard|primary role\(s\) over|hand-over/).map(l => /"msg":"([^"]*)"/.exec(l)?.[1] ?? l).slice(-SHARDS - 1).join(' | ')}`)
      probes.push({ node: id, seen: await probe })
      await t.cluster.start(id)
      mark(`node ${id} started`)
      await caughtUp(t, `node ${id} back and caught up`)
      mark(`node ${id} caught up`)
      restarting = 0
      // Writes went on while it was away (both tables).
      await t.cluster.waitFor(() => loads.every((l, i) => l.acked.length > before[i]! + 5), { what: `writes after node ${id}'s restart`, timeoutMs: 180_000 })
      mark(`restart of node ${id} (primary of ${primaries} shard(s) before): longest write ${loads.map(l => `${l.table} ${Math.round(l.pauses[id - 1] ?? 0)} ms`).join(', ')}`)
    }
    for (const l of loads) l.stop()
    await Promise.all(running)

    expectServed(loads, t0)
    process.stdout.write(`clients of the stopping node saw: ${JSON.stringify(probes.map(p => ({ node: p.node, seen: [...new Set(p.seen)] })))}\n`)
    // Mode 1 writes paused, but boundedly. The stopping primary hands its shards over (replication.log
    // lines printed per restart), which on an idle machine takes about a round trip; at a load
    // average of 20–25 on 2 cores a hand-over often outlasts its budget (2 × election timeout,
    // within shutdown_timeout_ms / 4) and an election follows, and the pauses measured were
    // 6–17 s: this bound only catches a stall, the figures are printed.
    for (const [i, ms] of loads[0]!.pauses.entries()) expect(ms, `longest Mode 1 write during node ${i + 1}'s restart`).toBeLessThan(60_000)
    // Never a hang at the stopping node: rows, a coded error, or a refused connection.
    for (const p of probes) expect(p.seen.filter(s => s === 'HANG' || s.startsWith('code missing')), `node ${p.node}`).toEqual([])

    // Every acknowledged write, on every node's own copy.
    await t.sameLsn('every Mode 1 replica to hold its shard\'s whole log')
    await everyAckedOnEveryNode(t, loads)
  }, 900_000)
})
