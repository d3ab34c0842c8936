import { describe, expect, it } from 'vitest'
import { codeOf, useReplicatedCluster, type Row } from '../helpers/mode1'
import { shardOf } from '../../src/core/partition'
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

/** Codes a Mode 1 statement may meet while a shard's primary changes (all retryable, nothing done). */
const HANDOVER_CODES = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT', 'SB_COMMIT_OUTCOME_UNKNOWN']

interface Refusal { table: string, op: 'write' | 'read', via: number, code: string, at: number, reason?: string }

/** SB_QUORUM_NOT_ACHIEVED's reason (timeout, not_enough_alive, replicas_failed); absent for other codes. */
const reasonOf = (body: any): { reason?: string } => typeof body?.error?.reason === 'string' ? { reason: body.error.reason as string } : {}

class Load {
  readonly acked: string[] = []
  readonly refusals: Refusal[] = []
  /** Per restart (index), the longest time one write took to be acknowledged, retries included. */
  readonly pauses: number[] = []
  private stopped = false
  private seq = 0
  restart = -1
  reads = 0
  constructor (readonly table: string, readonly up: () => number[]) {}

  private via (): number {
    const up = this.up()
    return up[this.seq % up.length]!
  }

  async writer (): Promise<void> {
    while (!this.stopped) {
      const k = `${this.table}-${String(this.seq++).padStart(5, '0')}`
      const t0 = performance.now()
      // Retried until acknowledged, through a node that is up; a retry of a write whose earlier
      // attempt landed meets the duplicate key (the earlier attempt is the acknowledged one).
      for (;;) {
        const via = this.via()
        let code: string
        try {
          const r = await t.cluster.sql(via, `INSERT INTO ${this.table} (k, v) VALUES ($1, $2)`, [k, via], { timeoutMs: 20_000 })
          if (r.status === 200) break
          code = codeOf(r.body)
          if (code === 'SB_UNIQUE_VIOLATION') break
          this.refusals.push({ table: this.table, op: 'write', via, code, at: Date.now(), ...reasonOf(r.body) })
        } catch (e) {
          this.refusals.push({ table: this.table, op: 'write', via, code: `transport: ${(e as Error).message}`, at: Date.now() })
        }
        if (this.stopped) return
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      this.acked.push(k)
      const ms = performance.now() - t0
      if (this.restart >= 0) this.pauses[this.restart] = Math.max(this.pauses[this.restart] ?? 0, ms)
    }
  }

  async reader (): Promise<void> {
    while (!this.stopped) {
      const k = this.acked[Math.floor(Math.random() * this.acked.length)]
      if (k === undefined) { await new Promise(resolve => setTimeout(resolve, 20)); continue }
      const via = this.via()
      try {
        const r = await t.cluster.sql(via, `SELECT k FROM ${this.table} WHERE k = $1`, [k], { timeoutMs: 20_000 })
        if (r.status === 200) {
          // An acknowledged row is visible to every later read (Mode 1: the primary; R + W > N).
          expect((r.body.rows as Row[]).map(x => x[0]), `${k} through node ${via}`).toEqual([k])
          this.reads++
        } else {
          this.refusals.push({ table: this.table, op: 'read', via, code: codeOf(r.body), at: Date.now(), ...reasonOf(r.body) })
        }
      } catch (e) {
        if ((e as Error).name === 'AssertionError') throw e
        this.refusals.push({ table: this.table, op: 'read', via, code: `transport: ${(e as Error).message}`, at: Date.now() })
      }
    }
  }

  stop (): void { this.stopped = true }
}

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

/** Waits until every node sees every member normal and every Mode 1 shard has a primary with both replicas caught up. */
async function caughtUp (what: string): Promise<void> {
  await t.cluster.waitAllNormal(t.cluster.ids, 60_000)
  await t.caughtUpPrimaries(2, what, 60_000)
}

async function tableId (name: string): Promise<number> {
  const rows = await t.cluster.rows(1, 'SELECT table_id FROM sys_tables WHERE table_name = $1', [name])
  return Number(rows[0]![0])
}

describe('rolling restart of three nodes under load (issue 20 item 4)', () => {
  it('loses no acknowledged write, refuses nothing a quorum could serve, and hands primaries over', async () => {
    // DDL waits for the new groups' first elections: a long client timeout on this loaded machine.
    for (const ddl of ['CREATE TABLE m (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_factor = 3)',
      "CREATE TABLE q (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 3, write_quorum = 2, read_quorum = 2)"]) {
      const r = await t.cluster.sql(1, ddl, undefined, { timeoutMs: 120_000 })
      expect(r.status, `${ddl}: ${JSON.stringify(r.body)}`).toBe(200)
    }
    await caughtUp('every shard to have a primary and two caught-up replicas')

    let restarting = 0
    const up = (): number[] => t.cluster.ids.filter(id => id !== restarting)
    const loads = [new Load('m', up), new Load('q', up)]
    const running = loads.flatMap(l => [l.writer(), l.reader()])
    await t.cluster.waitFor(() => loads.every(l => l.acked.length >= 5), { what: 'both writers to get going', timeoutMs: 180_000 })

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
      await caughtUp(`node ${id} back and caught up`)
      mark(`node ${id} caught up`)
      restarting = 0
      // Writes went on while it was away (both tables).
      await t.cluster.waitFor(() => loads.every((l, i) => l.acked.length > before[i]! + 5), { what: `writes after node ${id}'s restart`, timeoutMs: 180_000 })
      mark(`restart of node ${id} (primary of ${primaries} shard(s) before): longest write ${loads.map(l => `${l.table} ${Math.round(l.pauses[id - 1] ?? 0)} ms`).join(', ')}`)
    }
    for (const l of loads) l.stop()
    await Promise.all(running)

    const refusals = loads.flatMap(l => l.refusals)
    process.stdout.write(`acknowledged: ${loads.map(l => `${l.table} ${l.acked.length} writes, ${l.reads} reads`).join('; ')}; refusals: ${JSON.stringify(refusals.map(r => ({ ...r, at: `+${((r.at - t0) / 1000).toFixed(1)} s` })))}\n`)
    process.stdout.write(`clients of the stopping node saw: ${JSON.stringify(probes.map(p => ({ node: p.node, seen: [...new Set(p.seen)] })))}\n`)
    // The leaderless table: W = R = 2 of 3 with one node down at a time is always servable — no
    // refusal for want of live replicas. Replicas that were up but answered after read/write_timeout_ms
    // (reason timeout: seen once at a load average of 25 on this 2-core machine) are printed above, not failed.
    expect(refusals.filter(r => r.table === 'q' && r.reason !== 'timeout')).toEqual([])
    // The Mode 1 table: only the retryable codes of a primary hand-over.
    expect(refusals.filter(r => r.table === 'm' && !HANDOVER_CODES.includes(r.code))).toEqual([])
    // Mode 1 writes paused, but boundedly. The stopping primary hands its shards over (replication.log
    // lines printed per restart), which on an idle machine takes about a round trip; at a load
    // average of 20–25 on 2 cores a hand-over often outlasts its budget (2 × election timeout,
    // within shutdown_timeout_ms / 4) and an election follows, and the pauses measured were
    // 6–17 s: this bound only catches a stall, the figures are printed.
    for (const [i, ms] of loads[0]!.pauses.entries()) expect(ms, `longest Mode 1 write during node ${i + 1}'s restart`).toBeLessThan(60_000)
    // Never a hang at the stopping node: rows, a coded error, or a refused connection.
    for (const p of probes) expect(p.seen.filter(s => s === 'HANG' || s.startsWith('code missing')), `node ${p.node}`).toEqual([])

    // Every acknowledged write, on every node's own copy.
    const ids = { m: await tableId('m'), q: await tableId('q') }
    await t.sameLsn('every Mode 1 replica to hold its shard\'s whole log')
    for (const l of loads) {
      const byShard = new Map<number, string[]>()
      for (const k of l.acked) {
        const s = shardOf([{ type: 'text', value: k }], SHARDS)
        byShard.set(s, [...byShard.get(s) ?? [], k])
      }
      for (const [s, keys] of byShard) {
        for (const id of t.cluster.ids) {
          // Leaderless: a copy that missed writes while its node was down gets them by hint or repair.
          await t.cluster.waitFor(async () => {
            const { versions } = await t.op(id, 'AE_READ', { shard: asShardId(s), tableId: ids[l.table as 'm' | 'q'], pks: keys.map(k => [k]) })
            const missing = keys.filter((_, i) => versions[i]?.row == null)
            return missing.length === 0 ? true : null
          }, { what: `every acknowledged ${l.table} row of shard ${s} on node ${id}`, timeoutMs: 90_000, intervalMs: 1000 })
        }
      }
    }
  }, 900_000)
})
