import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { ManualClock } from '../../../src/core/clock'
import type { RowWrite } from '../../../src/storage/engine'
import { nextHlc, row, testWorkerOptions, text, vid } from './worker-fixtures'
import { asShardId, MAX_SHARDS, type ShardId } from '../../../src/core/ids'

// SHARD_OPEN (a split's new shards, cluster/shard-split.ts): real worker threads and LevelDB; a
// shard opened while the node runs serves requests, keeps its rows across a worker restart and a
// node restart, and two opens of one shard are one.

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

async function startWorkers (dataDir: string, assignment: number[][]): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(dataDir, { clock: new ManualClock() }), pino({ level: 'silent' }), () => {})
  await w.start(assignment.map(ss => ss.map(s => asShardId(s))))
  workers = w
  return w
}

const insert = (pk: string, value: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: row(value), versionId: vid() })

describe('ShardWorkers.openShard', () => {
  it('opens a shard at run time on the least loaded worker; it serves rows, hints and its LSN', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-open-'))
    const w = await startWorkers(dir, [[0, 2, 4], [1, 3]])
    const s5 = asShardId(5)
    expect(w.serves(s5)).toBe(false)
    await expect(w.request('PING', { shard: s5 })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    // Two concurrent opens: one opens it, the other waits for that open.
    const both = await Promise.all([w.openShard(s5), w.openShard(s5)])
    expect(both.sort()).toEqual([false, true])
    expect(await w.openShard(s5)).toBe(false)
    expect(w.serves(s5)).toBe(true)
    expect(w.shardsOpen()).toBe(6)
    expect(await w.request('PING', { shard: s5 })).toEqual({ worker: 1, shards: [1, 3, 5] })
    const r = await w.request('AUTOCOMMIT', { shard: s5, writes: [insert('k', 'v5')], commitHlc: nextHlc() })
    expect(r.lsn).toBe(1n)
    expect(w.loggedLsn(s5)).toBe(1n)
    expect(text((await w.request('GET', { shard: s5, tableId: 1, pk: ['k'] })).row)).toBe('v5')
    expect((await w.request('HINT_STATS', { shard: s5 })).stats).toEqual([])
    // xids stay node-wide unique across the new engine and the old ones
    const old = await w.request('AUTOCOMMIT', { shard: asShardId(1), writes: [insert('k', 'v1')], commitHlc: nextHlc() })
    expect(old.xid).not.toBe(r.xid)
  })

  it('opens on the worker asked for; refuses shard ids that cannot exist and workers that do not', async () => {
    const w = await startWorkers(mkdtempSync(join(tmpdir(), 'sb-open-')), [[0], [1]])
    expect(await w.openShard(asShardId(3), 0)).toBe(true)
    expect((await w.request('PING', { shard: asShardId(3) })).worker).toBe(0)
    await expect(w.openShard(MAX_SHARDS as ShardId)).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    await expect(w.openShard(asShardId(2), 7)).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    expect(w.serves(asShardId(2))).toBe(false)
  })

  it('a worker restart opens the shard again with its rows; so does the next start of the node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-open-'))
    const w = await startWorkers(dir, [[0], [1]])
    await w.openShard(asShardId(2))
    await w.request('AUTOCOMMIT', { shard: asShardId(2), writes: [insert('a', 'A')], commitHlc: nextHlc() })
    await w.killWorker(0)
    await expect.poll(async () => (await w.request('PING', { shard: asShardId(2) }).catch(() => null))?.shards, { timeout: 20_000 }).toEqual([0, 2])
    expect(text((await w.request('GET', { shard: asShardId(2), tableId: 1, pk: ['a'] })).row)).toBe('A')
    await w.stop()
    const again = await startWorkers(dir, [[0, 2], [1]])
    expect(text((await again.request('GET', { shard: asShardId(2), tableId: 1, pk: ['a'] })).row)).toBe('A')
    expect(await again.openShard(asShardId(2))).toBe(false)
  })
})
