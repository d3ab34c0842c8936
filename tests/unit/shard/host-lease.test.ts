import { afterEach, describe, expect, it } from 'vitest'
import type { RowWrite } from '../../../src/storage/engine'
import { nextHlc, row, text, vid } from '../node/worker-fixtures'
import { ManualClock } from '../../../src/core/clock'
import { HostClient, memoryEngines, startHost } from './host-fixtures'
import { asShardId, type ShardId } from '../../../src/core/ids'

// The participant-side transaction lease (storage.txn_idle_timeout_ms), on the shard host with a
// manual clock: an active transaction nobody names for longer than the timeout is rolled back and
// forgotten at the next expiry check (its coordinator is presumed dead); one in regular use
// survives; one with a request running is never expired; a prepared one belongs to 2PC.

const TIMEOUT_MS = 1000

let h: HostClient | undefined
afterEach(async () => { await h?.host.close(); h = undefined })

const insert = (pk: string, value: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: row(value), versionId: vid() })
const update = (pk: string, value: string): RowWrite => ({ op: 'update', tableId: 1, pk: [pk], row: row(value), versionId: vid() })
const openTxns = async (c: HostClient, shard: ShardId): Promise<number> => (await c.request('STATS', { shard })).openTxns

describe('shard host transaction lease', () => {
  it('rolls back an active transaction idle past the timeout: its rows are writable again, its xid is gone', async () => {
    const c = h = await startHost([asShardId(0), asShardId(1)], TIMEOUT_MS)
    await c.request('AUTOCOMMIT', { shard: asShardId(1), writes: [insert('k', 'v0')], commitHlc: nextHlc() })
    const { xid } = await c.request('BEGIN', { shard: asShardId(1), isolation: 'read_committed', startHlc: nextHlc() })
    await c.request('WRITE', { shard: asShardId(1), xid, writes: [update('k', 'orphan')] })
    // While it is open, its uncommitted version blocks other writers of the row.
    const early = await c.request('BEGIN', { shard: asShardId(1), isolation: 'read_committed', startHlc: nextHlc() })
    await expect(c.request('WRITE', { shard: asShardId(1), xid: early.xid, writes: [update('k', 'early')] })).rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT' })
    await c.request('ROLLBACK', { shard: asShardId(1), xid: early.xid })

    // The coordinator "dies": nothing names xid any more. Exactly the timeout is not yet too long.
    c.clock.advance(TIMEOUT_MS)
    await c.host.expireIdleTxns()
    expect(await openTxns(c, asShardId(1))).toBe(1)
    expect(c.logs).toEqual([])
    c.clock.advance(1)
    const expired = c.host.expireIdleTxns()
    expect(await openTxns(c, asShardId(1))).toBe(0) // forgotten at once, before the rollback has ended
    await expect(c.request('WRITE', { shard: asShardId(1), xid, writes: [update('k', 'late')] })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    await expired

    const other = await c.request('BEGIN', { shard: asShardId(1), isolation: 'read_committed', startHlc: nextHlc() })
    expect(await c.request('WRITE', { shard: asShardId(1), xid: other.xid, writes: [update('k', 'v1')] })).toEqual({ affected: [true] })
    await c.request('COMMIT', { shard: asShardId(1), xid: other.xid, commitHlc: nextHlc() })
    expect(text((await c.request('GET', { shard: asShardId(1), tableId: 1, pk: ['k'] })).row)).toBe('v1')
    await expect(c.request('COMMIT', { shard: asShardId(1), xid, commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })

    // One WARNING, naming the transaction, its shard and how long it was idle.
    expect(c.logs).toEqual([{
      level: 'warn',
      message: `transaction ${xid} on shard 1 idle for ${TIMEOUT_MS + 1} ms: rolled back`,
      details: { shard: 1, xid: String(xid), idleMs: TIMEOUT_MS + 1 }
    }])
    await c.host.expireIdleTxns() // nothing left to expire
    expect(c.logs).toHaveLength(1)
  })

  it('keeps a transaction that is used regularly within the timeout', async () => {
    const c = h = await startHost([asShardId(0)], TIMEOUT_MS)
    const { xid } = await c.request('BEGIN', { shard: asShardId(0), isolation: 'snapshot', startHlc: nextHlc() })
    await c.request('WRITE', { shard: asShardId(0), xid, writes: [insert('a', 'A')] })
    for (let elapsed = 0; elapsed < 2.5 * TIMEOUT_MS; elapsed += TIMEOUT_MS / 4) {
      c.clock.advance(TIMEOUT_MS / 4)
      await c.host.expireIdleTxns()
      expect(text((await c.request('GET', { shard: asShardId(0), tableId: 1, pk: ['a'], xid })).row)).toBe('A')
    }
    await c.request('COMMIT', { shard: asShardId(0), xid, commitHlc: nextHlc() })
    expect(text((await c.request('GET', { shard: asShardId(0), tableId: 1, pk: ['a'] })).row)).toBe('A')
    expect(c.logs).toEqual([])
  })

  it('never expires a transaction while a request naming it runs; idleness counts from its end', async () => {
    const c = h = await startHost([asShardId(0)], TIMEOUT_MS)
    const { xid } = await c.request('BEGIN', { shard: asShardId(0), isolation: 'snapshot', startHlc: nextHlc() })
    // A long request: the lease is taken when it arrives, and the clock moves on while it runs.
    const running = c.request('WRITE', { shard: asShardId(0), xid, writes: [insert('w', 'W')] })
    c.clock.advance(5 * TIMEOUT_MS)
    await c.host.expireIdleTxns()
    expect(await running).toEqual({ affected: [true] })
    expect(await openTxns(c, asShardId(0))).toBe(1)
    // It ended "now": a full timeout must pass again.
    c.clock.advance(TIMEOUT_MS)
    await c.host.expireIdleTxns()
    expect(await openTxns(c, asShardId(0))).toBe(1)
    c.clock.advance(1)
    await c.host.expireIdleTxns()
    expect(await openTxns(c, asShardId(0))).toBe(0)
    expect(c.logs.map(l => l.message)).toEqual([`transaction ${xid} on shard 0 idle for ${TIMEOUT_MS + 1} ms: rolled back`])
  })

  it('never expires a prepared transaction: it stays in limbo for 2PC recovery', async () => {
    const c = h = await startHost([asShardId(0)], TIMEOUT_MS)
    const { xid } = await c.request('BEGIN', { shard: asShardId(0), isolation: 'snapshot', startHlc: nextHlc() })
    await c.request('WRITE', { shard: asShardId(0), xid, writes: [insert('p', 'P')] })
    await c.request('PREPARE', { shard: asShardId(0), xid })
    c.clock.advance(10 * TIMEOUT_MS)
    await c.host.expireIdleTxns()
    expect((await c.request('LIST_LIMBO', { shard: asShardId(0) })).limbo.map(l => l.xid)).toEqual([xid])
    await c.request('COMMIT_PREPARED', { shard: asShardId(0), xid, commitHlc: nextHlc() })
    expect(text((await c.request('GET', { shard: asShardId(0), tableId: 1, pk: ['p'] })).row)).toBe('P')
    expect(c.logs).toEqual([])
  })

  it('expires on every shard of the host, each transaction on its own', async () => {
    const c = h = await startHost([asShardId(0), asShardId(1)], TIMEOUT_MS)
    const a = await c.request('BEGIN', { shard: asShardId(0), isolation: 'snapshot', startHlc: nextHlc() })
    c.clock.advance(TIMEOUT_MS / 2)
    const b = await c.request('BEGIN', { shard: asShardId(1), isolation: 'snapshot', startHlc: nextHlc() })
    c.clock.advance(TIMEOUT_MS / 2 + 1)
    await c.host.expireIdleTxns()
    expect([await openTxns(c, asShardId(0)), await openTxns(c, asShardId(1))]).toEqual([0, 1])
    c.clock.advance(TIMEOUT_MS / 2)
    await c.host.expireIdleTxns()
    expect([await openTxns(c, asShardId(0)), await openTxns(c, asShardId(1))]).toEqual([0, 0])
    expect(c.logs.map(l => l.details)).toEqual([
      { shard: 0, xid: String(a.xid), idleMs: TIMEOUT_MS + 1 },
      { shard: 1, xid: String(b.xid), idleMs: TIMEOUT_MS + 1 }
    ])
  })

  it('checks a quarter of the timeout apart, at least every millisecond and at most every 10 s', async () => {
    for (const [timeout, every] of [[1000, 250], [2, 1], [3_600_000, 10_000]]) {
      const c = await startHost([asShardId(0)], timeout)
      expect(c.host.expiryIntervalMs).toBe(every)
      await c.host.close()
    }
  })
})

describe('shard host transaction lease, failures', () => {
  it('logs a rollback that fails as an error, and still forgets the transaction', async () => {
    const clock = new ManualClock()
    const engines = await memoryEngines([asShardId(0)], clock)
    const c = h = new HostClient(engines, TIMEOUT_MS, clock)
    const { xid } = await c.request('BEGIN', { shard: asShardId(0), isolation: 'snapshot', startHlc: nextHlc() })
    await c.request('WRITE', { shard: asShardId(0), xid, writes: [insert('f', 'F')] })
    await engines.get(asShardId(0))!.close() // the store is gone under the transaction: its rollback cannot be written
    clock.advance(TIMEOUT_MS + 1)
    await expect(c.host.expireIdleTxns()).resolves.toBeUndefined()
    expect(c.logs).toHaveLength(1)
    expect(c.logs[0]).toMatchObject({ level: 'error', details: { shard: 0, xid: String(xid), idleMs: TIMEOUT_MS + 1 } })
    expect(c.logs[0]!.message).toMatch(new RegExp(`^transaction ${xid} on shard 0 idle for ${TIMEOUT_MS + 1} ms: rollback failed: `))
    await expect(c.request('COMMIT', { shard: asShardId(0), xid, commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
  })
})

describe('shard host on a Mode 1 step-down', () => {
  it('rolls back the transactions open on a shard that stops being primary: its rows are writable when it is elected again', async () => {
    const c = h = await startHost([asShardId(0)], 60_000)
    const S = asShardId(0)
    await c.request('REPL_STATE_SET', { shard: S, state: { generation: 1n, votedFor: null, commitLsn: 0n, role: 'primary', config: null } })
    await c.request('AUTOCOMMIT', { shard: S, writes: [insert('k', 'v0')], commitHlc: nextHlc() })
    const { xid } = await c.request('BEGIN', { shard: S, isolation: 'read_committed', startHlc: nextHlc() })
    await c.request('WRITE', { shard: S, xid, writes: [update('k', 'orphan')] })
    // Another replica is elected: the coordinator's ROLLBACK would go there, so this shard ends it.
    await c.request('REPL_STATE_SET', { shard: S, state: { generation: 2n, votedFor: null, commitLsn: 0n, role: 'replica', config: null } })
    expect(await openTxns(c, S)).toBe(0)
    expect(c.logs).toEqual([{
      level: 'warn',
      message: `transaction ${xid} on shard 0 rolled back: the shard is no longer primary here (now replica, generation 2)`,
      details: { shard: 0, xid: String(xid) }
    }])
    await expect(c.request('COMMIT', { shard: S, xid, commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    // Elected again later: the row is not held by the transaction that was open before.
    await c.request('REPL_STATE_SET', { shard: S, state: { generation: 3n, votedFor: null, commitLsn: 0n, role: 'primary', config: null } })
    const next = await c.request('BEGIN', { shard: S, isolation: 'read_committed', startHlc: nextHlc() })
    expect(await c.request('WRITE', { shard: S, xid: next.xid, writes: [update('k', 'v1')] })).toEqual({ affected: [true] })
    await c.request('COMMIT', { shard: S, xid: next.xid, commitHlc: nextHlc() })
    expect(text((await c.request('GET', { shard: S, tableId: 1, pk: ['k'] })).row)).toBe('v1')
  })

  it('keeps the transactions open while the shard stays primary (a new commit LSN, the same role)', async () => {
    const c = h = await startHost([asShardId(0)], 60_000)
    const S = asShardId(0)
    await c.request('REPL_STATE_SET', { shard: S, state: { generation: 1n, votedFor: null, commitLsn: 0n, role: 'primary', config: null } })
    const { xid } = await c.request('BEGIN', { shard: S, isolation: 'read_committed', startHlc: nextHlc() })
    await c.request('WRITE', { shard: S, xid, writes: [insert('k', 'v')] })
    await c.request('REPL_STATE_SET', { shard: S, state: { generation: 1n, votedFor: null, commitLsn: 1n, role: 'primary', config: null } })
    expect(await openTxns(c, S)).toBe(1)
    expect(c.logs).toEqual([])
  })
})
