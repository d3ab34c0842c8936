import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { ManualClock } from '../../../src/core/clock'
import type { RowWrite } from '../../../src/storage/engine'
import { makeXid } from '../../../src/storage/xid'
import { nextHlc, row, testWorkerOptions, text, vid } from './worker-fixtures'
import { asNodeId, asShardId, shardIds } from '../../../src/core/ids'

// Real worker threads, real rings, real LevelDB: requests routed by shard, transactions, and a
// worker killed with requests in flight (they fail at once with SB_WORKER_DIED; it restarts).

let workers: ShardWorkers | undefined
/** Restart accounting (one restart per test at most: the window never matters). */
const restartClock = new ManualClock()
afterEach(async () => { await workers?.stop(); workers = undefined })

async function startWorkers (fatal: string[] = []): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-workers-')), { clock: restartClock }), pino({ level: 'silent' }), (reason) => fatal.push(reason))
  await w.start([[asShardId(0), asShardId(2)], [asShardId(1), asShardId(3)]])
  workers = w
  return w
}

const insert = (pk: string, value: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: row(value), versionId: vid() })

describe('ShardWorkers', () => {
  it('routes requests to the worker owning each shard and keeps node-wide unique xids', async () => {
    const w = await startWorkers()
    expect(w.shardsOpen()).toBe(4)
    expect(await w.request('PING', { shard: asShardId(3) })).toEqual({ worker: 1, shards: [1, 3] })
    const xids = new Set<bigint>()
    for (const shard of shardIds(4)) {
      const r = await w.request('AUTOCOMMIT', { shard, writes: [insert(`k${shard}`, `v${shard}`)], commitHlc: nextHlc() })
      expect(r.lsn).not.toBeNull()
      xids.add(r.xid)
      expect(r.xid >> 48n).toBe(3n) // node id in the high bits
    }
    expect(xids.size).toBe(4)
    // Each engine publishes its last logged LSN to the main thread (the Mode 1 read hold reads it).
    for (const shard of shardIds(4)) expect(w.loggedLsn(shard)).toBe((await w.request('STATS', { shard })).lastLsn)
    const before = w.loggedLsn(asShardId(2))
    const r = await w.request('AUTOCOMMIT', { shard: asShardId(2), writes: [insert('k2b', 'v')], commitHlc: nextHlc() })
    expect(w.loggedLsn(asShardId(2))).toBe(r.lsn)
    expect(r.lsn).toBeGreaterThan(before)
    expect(text((await w.request('GET', { shard: asShardId(2), tableId: 1, pk: ['k2'] })).row)).toBe('v2')
    expect((await w.request('GET', { shard: asShardId(2), tableId: 1, pk: ['k0'] })).row).toBeNull()
  })

  it('runs a transaction: own writes visible, invisible to others until commit', async () => {
    const w = await startWorkers()
    const { xid } = await w.request('BEGIN', { shard: asShardId(1), isolation: 'snapshot', startHlc: nextHlc() })
    await w.request('WRITE', { shard: asShardId(1), xid, writes: [insert('a', 'A'), insert('b', 'B')] })
    expect(text((await w.request('GET', { shard: asShardId(1), tableId: 1, pk: ['a'], xid })).row)).toBe('A')
    expect((await w.request('GET', { shard: asShardId(1), tableId: 1, pk: ['a'] })).row).toBeNull()
    await w.request('COMMIT', { shard: asShardId(1), xid, commitHlc: nextHlc() })
    const scan = await w.request('SCAN', { shard: asShardId(1), tableId: 1, options: {} })
    expect(scan.rows.map(r => [r.pk[0], text(r.row)])).toEqual([['a', 'A'], ['b', 'B']])
    await expect(w.request('COMMIT', { shard: asShardId(1), xid, commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    const log = await w.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 0n, limit: 10 })
    expect(log.entries).toHaveLength(1)
  })

  it('reports engine errors with their codes and keeps serving', async () => {
    const w = await startWorkers()
    await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [insert('dup', '1')], commitHlc: nextHlc() })
    await expect(w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [insert('dup', '2')], commitHlc: nextHlc() }))
      .rejects.toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })
    await expect(w.request('PING', { shard: asShardId(9) })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    expect(text((await w.request('GET', { shard: asShardId(0), tableId: 1, pk: ['dup'] })).row)).toBe('1')
  })

  it('fails every in-flight request of a dead worker at its exit, then restarts it', async () => {
    const fatal: string[] = []
    const w = await startWorkers(fatal)
    await w.request('AUTOCOMMIT', { shard: asShardId(1), writes: [insert('before', 'x')], commitHlc: nextHlc() })
    let settled = 0
    const inflight = Array.from({ length: 2000 }, (_, i) =>
      w.request('AUTOCOMMIT', { shard: asShardId(i % 2 === 0 ? 1 : 3), writes: [insert(`p${i}`, 'y')], commitHlc: nextHlc() })
        .then(() => 'ok', (e: unknown) => isScratchBirdError(e) ? e.code : String(e))
        .finally(() => { settled++ }))
    await w.killWorker(1) // resolves at the worker's exit event, after ShardWorkers' own exit handler
    // Every caller has its answer before any timer or I/O callback runs: failed by the exit
    // event itself, not by a timeout.
    await new Promise(resolve => setImmediate(resolve))
    expect(settled).toBe(2000)
    const outcomes = await Promise.all(inflight)
    expect(new Set(outcomes.filter(o => o !== 'ok'))).toEqual(new Set(['SB_WORKER_DIED']))
    expect(outcomes.filter(o => o === 'SB_WORKER_DIED').length).toBeGreaterThan(0)
    // the worker comes back on the same shards, with what was committed before
    await expect.poll(async () => (await w.request('PING', { shard: asShardId(1) }).catch(() => null))?.worker, { timeout: 10_000 }).toBe(1)
    expect(text((await w.request('GET', { shard: asShardId(1), tableId: 1, pk: ['before'] })).row)).toBe('x')
    expect(w.restartsTotal).toBe(1)
    expect(fatal).toEqual([])
  })

  it('REPLICA_APPLY applies versions last-writer-wins; REPLICA_READ returns versions and tombstones', async () => {
    const w = await startWorkers()
    const v = (n: number): Uint8Array => { const b = new Uint8Array(16); new DataView(b.buffer).setUint32(4, n); b[6] = 0x80; return b }
    const rw = (pk: string, value: string | null, n: number) => ({ tableId: 5, pk: [pk], versionId: v(n), row: value === null ? null : row(value) })
    const xid = makeXid(asNodeId(9), 1n)
    const a = await w.request('REPLICA_APPLY', { shard: asShardId(2), writes: [rw('a', 'A1', 10), rw('b', 'B1', 10)], commitHlc: nextHlc(), xid })
    expect([a.xid, a.applied, a.lsn]).toEqual([xid, ['newer', 'newer'], 1n])
    // the retry of the same delivery acknowledges without logging
    const again = await w.request('REPLICA_APPLY', { shard: asShardId(2), writes: [rw('a', 'A1', 10), rw('b', 'B1', 10)], commitHlc: nextHlc(), xid })
    expect([again.applied, again.lsn]).toEqual([['same', 'same'], null])
    const b = await w.request('REPLICA_APPLY', { shard: asShardId(2), writes: [rw('a', 'A0', 5), rw('b', null, 20), rw('c', 'C', 1)], commitHlc: nextHlc() })
    expect([b.applied, b.lsn]).toEqual([['older', 'newer', 'newer'], 2n])
    expect((await w.request('REPLICA_APPLY', { shard: asShardId(2), writes: [], commitHlc: nextHlc() })).applied).toEqual([])
    const read = await w.request('REPLICA_READ', { shard: asShardId(2), tableId: 5, pks: [['a'], ['b'], ['c'], ['nope']] })
    expect(read.versions.map(x => x === null ? null : [[...x.versionId], text(x.row)])).toEqual([[[...v(10)], 'A1'], [[...v(20)], null], [[...v(1)], 'C'], null])
    expect(text((await w.request('GET', { shard: asShardId(2), tableId: 5, pk: ['a'] })).row)).toBe('A1')
    expect((await w.request('GET', { shard: asShardId(2), tableId: 5, pk: ['b'] })).row).toBeNull()
    // a local transaction holding the row: a coded, retryable error, and the worker keeps serving
    const t = await w.request('BEGIN', { shard: asShardId(2), isolation: 'snapshot', startHlc: nextHlc() })
    await w.request('WRITE', { shard: asShardId(2), xid: t.xid, writes: [{ op: 'put', tableId: 5, pk: ['c'], row: row('local'), versionId: vid() }] })
    await expect(w.request('REPLICA_APPLY', { shard: asShardId(2), writes: [rw('c', 'C2', 30)], commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT' })
    await w.request('ROLLBACK', { shard: asShardId(2), xid: t.xid })
    expect((await w.request('REPLICA_APPLY', { shard: asShardId(2), writes: [rw('c', 'C2', 30)], commitHlc: nextHlc() })).applied).toEqual(['newer'])
    await expect(w.request('REPLICA_READ', { shard: asShardId(2), tableId: 5, pks: 'x' as never })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
  })
})
