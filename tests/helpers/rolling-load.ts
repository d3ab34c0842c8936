import { expect } from 'vitest'
import { shardOf } from '../../src/core/partition'
import { asShardId } from '../../src/core/ids'
import type { Cluster } from './cluster-harness'
import { codeOf, type ReplicatedCluster, type Row } from './mode1'

// The load of the rolling restart and rolling upgrade tests (issue 20 item 4): a writer and a
// reader of one table (k TEXT PRIMARY KEY, v INTEGER) through the nodes that are up — as a load
// balancer would route them — recording every acknowledged key and every refusal, and the check
// that every acknowledged key is on every node's own copy afterwards.

/** Codes a Mode 1 statement may meet while a shard's primary changes (all retryable, nothing done). */
export const HANDOVER_CODES = ['SB_NOT_PRIMARY', 'SB_SHARD_UNAVAILABLE', 'SB_NODE_UNREACHABLE', 'SB_RPC_TIMEOUT', 'SB_COMMIT_OUTCOME_UNKNOWN']

export interface Refusal { table: string, op: 'write' | 'read', via: number, code: string, at: number, reason?: string }

/** SB_QUORUM_NOT_ACHIEVED's reason (timeout, not_enough_alive, replicas_failed); absent for other codes. */
const reasonOf = (body: any): { reason?: string } => typeof body?.error?.reason === 'string' ? { reason: body.error.reason as string } : {}

export class Load {
  readonly acked: string[] = []
  readonly refusals: Refusal[] = []
  /** Per restart (index), the longest time one write took to be acknowledged, retries included. */
  readonly pauses: number[] = []
  private stopped = false
  private seq = 0
  restart = -1
  reads = 0
  constructor (readonly cluster: () => Cluster, readonly table: string, readonly up: () => number[]) {}

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
          const r = await this.cluster().sql(via, `INSERT INTO ${this.table} (k, v) VALUES ($1, $2)`, [k, via], { timeoutMs: 20_000 })
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
        const r = await this.cluster().sql(via, `SELECT k FROM ${this.table} WHERE k = $1`, [k], { timeoutMs: 20_000 })
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

async function tableId (t: ReplicatedCluster, name: string): Promise<number> {
  const rows = await t.cluster.rows(1, 'SELECT table_id FROM sys_tables WHERE table_name = $1', [name])
  return Number(rows[0]![0])
}

/** Waits until every key `loads` acknowledged is on every node's own copy (AE_READ: its worker, whatever its role). */
export async function everyAckedOnEveryNode (t: ReplicatedCluster, loads: readonly Load[]): Promise<void> {
  for (const l of loads) {
    const id = await tableId(t, l.table)
    const byShard = new Map<number, string[]>()
    for (const k of l.acked) {
      const s = shardOf([{ type: 'text', value: k }], t.cluster.shards)
      byShard.set(s, [...byShard.get(s) ?? [], k])
    }
    for (const [s, keys] of byShard) {
      for (const node of t.cluster.ids) {
        // Leaderless: a copy that missed writes while its node was down gets them by hint or repair.
        await t.cluster.waitFor(async () => {
          const { versions } = await t.op(node, 'AE_READ', { shard: asShardId(s), tableId: id, pks: keys.map(k => [k]) })
          const missing = keys.filter((_, i) => versions[i]?.row == null)
          return missing.length === 0 ? true : null
        }, { what: `every acknowledged ${l.table} row of shard ${s} on node ${node}`, timeoutMs: 90_000, intervalMs: 1000 })
      }
    }
  }
}
