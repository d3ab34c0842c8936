import { afterEach, describe, expect, it } from 'vitest'
import { SHARD_OPS, codecOf } from '../../../src/shard/protocol/ops'
import { encodeAutocommit } from '../../../src/shard/protocol/codec'
import type { RowWrite } from '../../../src/storage/engine'
import { nextHlc, row, text, vid } from '../node/worker-fixtures'
import { startHost, type HostClient } from './host-fixtures'
import { asShardId } from '../../../src/core/ids'

// The shard host without a worker thread: requests go in as op code + payload bytes exactly as the
// worker's ring hands them over, replies come back encoded (or later, through the ReplyPort, for
// the group-committed write paths). Bad requests are coded errors and change nothing.

let h: HostClient | undefined
afterEach(async () => { await h?.host.close(); h = undefined })

const insert = (pk: string, value: string, tableId = 1): RowWrite => ({ op: 'insert', tableId, pk: [pk], row: row(value), versionId: vid() })

describe('ShardHost', () => {
  it('serves the shards it was given, each on its own engine, and refuses others', async () => {
    h = await startHost([asShardId(0), asShardId(2)])
    expect(await h.request('PING', { shard: asShardId(2) })).toEqual({ worker: 0, shards: [0, 2] })
    const a = await h.request('AUTOCOMMIT', { shard: asShardId(0), writes: [insert('k', 'zero')], commitHlc: nextHlc() })
    expect(a.affected).toEqual([true])
    expect(a.lsn).toBe(1n)
    expect(a.xid >> 48n).toBe(3n) // the engine's node id
    expect(text((await h.request('GET', { shard: asShardId(0), tableId: 1, pk: ['k'] })).row)).toBe('zero')
    expect((await h.request('GET', { shard: asShardId(2), tableId: 1, pk: ['k'] })).row).toBeNull()
    await expect(h.request('GET', { shard: asShardId(1), tableId: 1, pk: ['k'] })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT', details: { shard: 1 } })
    await expect(h.request('AUTOCOMMIT', { shard: asShardId(5), writes: [insert('k', 'x')], commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    expect(h.owed).toBe(0)
  })

  it('answers the write paths through the reply port, errors included, once each', async () => {
    h = await startHost([asShardId(0)])
    const writes = Array.from({ length: 20 }, (_, i) => h!.request('AUTOCOMMIT', { shard: asShardId(0), writes: [insert(`k${i}`, `v${i}`)], commitHlc: nextHlc() }))
    const dup = h.request('AUTOCOMMIT', { shard: asShardId(0), writes: [insert('k3', 'again')], commitHlc: nextHlc() })
    expect(h.owed).toBe(21) // all in the engine's group commit, none answered yet
    expect((await Promise.all(writes)).map(r => r.affected)).toEqual(Array.from({ length: 20 }, () => [true]))
    await expect(dup).rejects.toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })
    expect(h.owed).toBe(0)
    const applied = await h.request('REPLICA_APPLY', { shard: asShardId(0), writes: [{ tableId: 2, pk: ['r'], versionId: vid(), row: row('R') }], commitHlc: nextHlc() })
    expect(applied.applied).toEqual(['newer'])
    expect(text((await h.request('GET', { shard: asShardId(0), tableId: 2, pk: ['r'] })).row)).toBe('R')
    expect(text((await h.request('GET', { shard: asShardId(0), tableId: 1, pk: ['k3'] })).row)).toBe('v3')
  })

  it('runs transactions: own writes visible inside, invisible outside until commit; then the xid is gone', async () => {
    h = await startHost([asShardId(1)])
    const { xid } = await h.request('BEGIN', { shard: asShardId(1), isolation: 'snapshot', startHlc: nextHlc() })
    expect(await h.request('WRITE', { shard: asShardId(1), xid, writes: [insert('a', 'A'), insert('b', 'B')] })).toEqual({ affected: [true, true] })
    expect((await h.request('STATS', { shard: asShardId(1) })).openTxns).toBe(1)
    expect(text((await h.request('GET', { shard: asShardId(1), tableId: 1, pk: ['a'], xid })).row)).toBe('A')
    expect((await h.request('GET', { shard: asShardId(1), tableId: 1, pk: ['a'] })).row).toBeNull()
    await h.request('COMMIT', { shard: asShardId(1), xid, commitHlc: nextHlc() })
    expect((await h.request('STATS', { shard: asShardId(1) })).openTxns).toBe(0)
    const scan = await h.request('SCAN', { shard: asShardId(1), tableId: 1, options: {} })
    expect(scan.rows.map(r => [r.pk[0], text(r.row)])).toEqual([['a', 'A'], ['b', 'B']])
    await expect(h.request('COMMIT', { shard: asShardId(1), xid, commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    await expect(h.request('GET', { shard: asShardId(1), tableId: 1, pk: ['a'], xid })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    expect((await h.request('READ_COMMIT_LOG', { shard: asShardId(1), fromLsn: 0n, limit: 10 })).entries).toHaveLength(1)
  })

  it('prepares into limbo and decides it by xid (2PC participant)', async () => {
    h = await startHost([asShardId(0)])
    const t1 = await h.request('BEGIN', { shard: asShardId(0), isolation: 'snapshot', startHlc: nextHlc() })
    const t2 = await h.request('BEGIN', { shard: asShardId(0), isolation: 'snapshot', startHlc: nextHlc() })
    await h.request('WRITE', { shard: asShardId(0), xid: t1.xid, writes: [insert('c', 'commit me')] })
    await h.request('WRITE', { shard: asShardId(0), xid: t2.xid, writes: [insert('d', 'abort me')] })
    await h.request('PREPARE', { shard: asShardId(0), xid: t1.xid })
    await h.request('PREPARE', { shard: asShardId(0), xid: t2.xid })
    expect((await h.request('LIST_LIMBO', { shard: asShardId(0) })).limbo.map(l => l.xid).sort()).toEqual([t1.xid, t2.xid].sort())
    expect((await h.request('STATS', { shard: asShardId(0) })).openTxns).toBe(0) // limbo is not the lease's business
    await h.request('COMMIT_PREPARED', { shard: asShardId(0), xid: t1.xid, commitHlc: nextHlc() })
    await h.request('ABORT_PREPARED', { shard: asShardId(0), xid: t2.xid })
    expect((await h.request('LIST_LIMBO', { shard: asShardId(0) })).limbo).toEqual([])
    expect(text((await h.request('GET', { shard: asShardId(0), tableId: 1, pk: ['c'] })).row)).toBe('commit me')
    expect((await h.request('GET', { shard: asShardId(0), tableId: 1, pk: ['d'] })).row).toBeNull()
  })

  it('refuses unknown ops and undecodable payloads with SB_MALFORMED_REQUEST, and keeps serving', async () => {
    h = await startHost([asShardId(0)])
    await h.request('AUTOCOMMIT', { shard: asShardId(0), writes: [insert('k', 'v')], commitHlc: nextHlc() })
    const before = await h.request('STATS', { shard: asShardId(0) })
    await expect(h.requestRaw(999, new Uint8Array(0))).rejects.toMatchObject({ code: 'SB_MALFORMED_REQUEST' })
    await expect(h.requestRaw(SHARD_OPS.GET.code, new Uint8Array([0xff, 0x0f, 0x42]))).rejects.toMatchObject({ code: 'SB_MALFORMED_REQUEST' })
    const torn = encodeAutocommit({ shard: asShardId(0), writes: [insert('x', 'torn')], commitHlc: nextHlc() })
    await expect(h.requestRaw(SHARD_OPS.AUTOCOMMIT.code, torn.subarray(0, torn.length - 3))).rejects.toMatchObject({ code: 'SB_MALFORMED_REQUEST' })
    // a payload of the wrong shape for its op cannot even be encoded (typed binary codecs): a coded error, nothing sent
    expect(() => codecOf('REPLICA_READ').encodeRequest({ shard: asShardId(0), tableId: 1, pks: 'x' as never })).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(await h.request('STATS', { shard: asShardId(0) })).toEqual(before)
    expect((await h.request('GET', { shard: asShardId(0), tableId: 1, pk: ['x'] })).row).toBeNull()
    expect(h.owed).toBe(0)
  })

  it('closes its engines', async () => {
    const c = await startHost([asShardId(0), asShardId(1)])
    await c.host.close()
    await expect(c.request('PING', { shard: asShardId(0) })).resolves.toEqual({ worker: 0, shards: [] })
    await expect(c.request('GET', { shard: asShardId(0), tableId: 1, pk: ['k'] })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
  })
})
