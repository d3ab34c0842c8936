import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { asNodeId, asShardId, type ShardId } from '../../../src/core/ids'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { SHARD_OPS, type ShardReplies } from '../../../src/shard/protocol/ops'
import type { RowWrite } from '../../../src/storage/engine'
import { encodeTuple } from '../../../src/storage/keys'
import { makeXid, xidCounter, xidNodeId } from '../../../src/storage/xid'
import { nextHlc, row, testWorkerOptions, text, vid } from '../node/worker-fixtures'

// The Mode 1 replication ops through real shard workers, real rings and real LevelDB: two "nodes"
// (a ShardWorkers each, own data directory and node id) holding shard 0; the test plays the
// replication shell, moving entries and snapshot chunks from one to the other as bytes through
// the rings. Coded errors cross the rings intact.

const S0 = asShardId(0)
const S1 = asShardId(1)
let started: ShardWorkers[] = []
afterEach(async () => { for (const w of started) await w.stop(); started = [] })

async function node (nodeId: number): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-repl-worker-')), { nodeId: asNodeId(nodeId), clock: new ManualClock() }), pino({ level: 'silent' }), () => {})
  await w.start([[S0, S1]])
  started.push(w)
  return w
}

const insert = (pk: string, value: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: row(value), versionId: vid() })
const update = (pk: string, value: string): RowWrite => ({ op: 'update', tableId: 1, pk: [pk], row: row(value), versionId: vid() })

async function scan (w: ShardWorkers, shard: ShardId = S0): Promise<string[]> {
  return (await w.request('SCAN', { shard, tableId: 1, options: {} })).rows.map(r => `${String(r.pk[0])}=${text(r.row)}`)
}

async function log (w: ShardWorkers): Promise<unknown[]> {
  const { entries } = await w.request('REPL_LOG_READ', { shard: S0, fromLsn: 1n, limit: 1000, maxBytes: 1 << 20 })
  return entries.map(e => ({ ...e, mutations: e.mutations.map(m => ({ ...m, pkBytes: [...m.pkBytes], versionId: [...m.versionId], row: m.row === null ? null : text(m.row) })) }))
}

describe('Mode 1 replication ops through shard workers', () => {
  it('ships the log to a replica, refuses a gap, truncates, and bootstraps a third replica from a snapshot while writes go on', async () => {
    const p = await node(3)
    const r = await node(4)
    await p.request('REPL_STATE_SET', { shard: S0, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'primary' } })
    for (let i = 0; i < 6; i++) await p.request('AUTOCOMMIT', { shard: S0, writes: [insert(`k${i}`, `v${i}`)], commitHlc: nextHlc() })
    await p.request('AUTOCOMMIT', { shard: S0, writes: [update('k1', 'v1b')], commitHlc: nextHlc() })
    // Ship in two pieces; the second piece's bytes go through the ring as the RPC would bring them.
    const { entries } = await p.request('REPL_LOG_READ', { shard: S0, fromLsn: 1n, limit: 1000, maxBytes: 1 << 20 })
    expect(entries.map(e => [e.lsn, e.generation])).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n].map(l => [l, 2n]))
    expect(await r.request('REPL_APPLY', { shard: S0, entries: entries.slice(0, 3) })).toEqual({ applied: 3, skipped: 0, lastLsn: 3n })
    await expect(r.request('REPL_APPLY', { shard: S0, entries: entries.slice(4) })).rejects.toMatchObject({ code: 'SB_REPL_LOG_GAP', details: { expected_lsn: '4', first_lsn: '5' } })
    expect(await r.request('REPL_APPLY', { shard: S0, entries })).toEqual({ applied: 4, skipped: 3, lastLsn: 7n })
    expect(await scan(r)).toEqual(await scan(p))
    expect(await log(r)).toEqual(await log(p))
    expect(await r.request('REPL_STATE_GET', { shard: S0 })).toMatchObject({ role: 'none', lastLsn: 7n, lastGeneration: 2n })
    // A malformed payload is a coded error and the worker keeps serving.
    await expect(r.requestRaw('REPL_APPLY', S0, Uint8Array.of(0, 0, 0, 0, 5, 1))).rejects.toMatchObject({ code: 'SB_MALFORMED_REQUEST' })
    // This node's own xids from an earlier life: applied, and never handed out again on any shard.
    const mine = makeXid(asNodeId(4), 900_000n)
    await r.request('REPL_APPLY', { shard: S0, entries: [{ lsn: 8n, generation: 2n, xid: mine, commitHlc: nextHlc(), mutations: [{ tableId: 1, pkBytes: encodeTuple(['old']), versionId: vid(), row: row('o') }] }] })
    const next = await r.request('AUTOCOMMIT', { shard: S1, writes: [insert('x', 'y')], commitHlc: nextHlc() })
    expect(xidNodeId(next.xid)).toBe(4)
    expect(xidCounter(next.xid)).toBeGreaterThan(900_000n)
    // Truncation of what the primary does not have.
    expect(await r.request('REPL_TRUNCATE', { shard: S0, afterLsn: 7n, committedLsn: 7n })).toMatchObject({ entriesRemoved: 1, lastLsn: 7n })
    await expect(r.request('REPL_TRUNCATE', { shard: S0, afterLsn: 6n, committedLsn: 7n })).rejects.toMatchObject({ code: 'SB_REPL_TRUNCATE_REFUSED' })
    expect(await scan(r)).toEqual(await scan(p))

    // A third replica bootstraps from a snapshot of the primary in small chunks, writes going on.
    const q = await node(5)
    let after: Uint8Array | null = null
    let id = 0n
    let n = 0
    let snapLsn = 0n
    for (;;) {
      const c: ShardReplies['REPL_SNAPSHOT_READ'] = await p.request('REPL_SNAPSHOT_READ', { shard: S0, snapshotId: id, after, maxKeys: 100, maxBytes: 80 })
      snapLsn = c.lsn
      const inst: ShardReplies['REPL_SNAPSHOT_INSTALL'] = await q.request('REPL_SNAPSHOT_INSTALL', { shard: S0, snapshotId: c.snapshotId, lsn: c.lsn, generation: c.generation, hlcHighWater: c.hlcHighWater, after, entries: c.entries, done: c.done })
      if (!c.done) await expect(q.request('GET', { shard: S0, tableId: 1, pk: ['k0'] })).rejects.toMatchObject({ code: 'SB_REPL_BOOTSTRAPPING' })
      await p.request('AUTOCOMMIT', { shard: S0, writes: [insert(`during${n++}`, 'w')], commitHlc: nextHlc() })
      id = c.snapshotId
      after = inst.lastKey
      if (c.done) { expect(inst.complete).toBe(true); break }
    }
    expect(n).toBeGreaterThan(3)
    expect(snapLsn).toBe(7n)
    const rest = await p.request('REPL_LOG_READ', { shard: S0, fromLsn: snapLsn + 1n, limit: 1000, maxBytes: 1 << 20 })
    expect(await q.request('REPL_APPLY', { shard: S0, entries: rest.entries })).toEqual({ applied: n, skipped: 0, lastLsn: 7n + BigInt(n) })
    expect(await scan(q)).toEqual(await scan(p))
    expect(await q.request('REPL_STATE_GET', { shard: S0 })).toMatchObject({ role: 'replica', lastLsn: 7n + BigInt(n), lastGeneration: 2n, firstAvailableLsn: 8n, bootstrap: null })
    expect(SHARD_OPS.REPL_APPLY.code).toBe(40)
  })
})
