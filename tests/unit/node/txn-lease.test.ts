import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ShardWorkers } from '../../../src/node/shard-workers'
import type { RowWrite } from '../../../src/storage/engine'
import { nextHlc, row, text, vid } from './worker-fixtures'

// The participant-side transaction lease (storage.txn_idle_timeout_ms), on real shard workers: an
// active transaction nobody names for the timeout is rolled back by its worker (its coordinator is
// presumed dead); one in regular use survives; a prepared one belongs to 2PC and is never expired.

const TIMEOUT_MS = 1000

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

const insert = (pk: string, value: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: row(value), versionId: vid() })
const update = (pk: string, value: string): RowWrite => ({ op: 'update', tableId: 1, pk: [pk], row: row(value), versionId: vid() })

async function startWorkers (logLines: { level: number, msg: string, shard?: number, xid?: string }[] = []): Promise<ShardWorkers> {
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { logLines.push(JSON.parse(chunk.toString())); done() } })
  const w = new ShardWorkers({
    dataDir: mkdtempSync(join(tmpdir(), 'sb-lease-')),
    nodeId: 3,
    durability: 'none',
    ringBytes: 1 << 16,
    maxMessageBytes: 1 << 14,
    lsm: { writeBufferSize: 1 << 20, cacheSize: 1 << 20, maxOpenFiles: 100 },
    now: () => performance.now(),
    txnIdleTimeoutMs: TIMEOUT_MS
  }, pino({ level: 'debug' }, sink), () => {})
  await w.start([[0], [1]])
  workers = w
  return w
}

describe('shard transaction lease (storage.txn_idle_timeout_ms)', () => {
  it('rolls back an active transaction idle past the timeout: its rows are writable again, its xid is gone', async () => {
    const lines: { level: number, msg: string, shard?: number, xid?: string }[] = []
    const w = await startWorkers(lines)
    await w.request('AUTOCOMMIT', { shard: 1, writes: [insert('k', 'v0')], commitHlc: nextHlc() })
    const { xid } = await w.request('BEGIN', { shard: 1, isolation: 'read_committed', startHlc: nextHlc() })
    await w.request('WRITE', { shard: 1, xid, writes: [update('k', 'orphan')] })
    expect((await w.request('STATS', { shard: 1 })).openTxns).toBe(1)
    // While it is open, its uncommitted version blocks other writers of the row.
    const early = await w.request('BEGIN', { shard: 1, isolation: 'read_committed', startHlc: nextHlc() })
    await expect(w.request('WRITE', { shard: 1, xid: early.xid, writes: [update('k', 'early')] })).rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT' })
    await w.request('ROLLBACK', { shard: 1, xid: early.xid })

    // The coordinator "dies": nothing names xid any more.
    await expect.poll(async () => (await w.request('STATS', { shard: 1 })).openTxns, { timeout: 5 * TIMEOUT_MS, interval: 100 }).toBe(0)

    const other = await w.request('BEGIN', { shard: 1, isolation: 'read_committed', startHlc: nextHlc() })
    expect(await w.request('WRITE', { shard: 1, xid: other.xid, writes: [update('k', 'v1')] })).toEqual({ affected: [true] })
    await w.request('COMMIT', { shard: 1, xid: other.xid, commitHlc: nextHlc() })
    expect(text((await w.request('GET', { shard: 1, tableId: 1, pk: ['k'] })).row)).toBe('v1')
    await expect(w.request('COMMIT', { shard: 1, xid, commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    await expect(w.request('WRITE', { shard: 1, xid, writes: [update('k', 'late')] })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })

    // One WARNING line, in the main thread's log.
    await expect.poll(() => lines.filter(l => l.msg.includes('idle for')).length).toBe(1)
    const line = lines.find(l => l.msg.includes('idle for'))!
    expect(line.level).toBe(40) // pino's warn
    expect(line.msg).toMatch(new RegExp(`^transaction ${xid} on shard 1 idle for \\d+ ms: rolled back$`))
    expect(line).toMatchObject({ shard: 1, xid: String(xid) })
  })

  it('keeps a transaction that is used regularly within the timeout', async () => {
    const w = await startWorkers()
    const { xid } = await w.request('BEGIN', { shard: 0, isolation: 'snapshot', startHlc: nextHlc() })
    await w.request('WRITE', { shard: 0, xid, writes: [insert('a', 'A')] })
    const until = performance.now() + 2.5 * TIMEOUT_MS
    while (performance.now() < until) {
      await sleep(TIMEOUT_MS / 4)
      expect(text((await w.request('GET', { shard: 0, tableId: 1, pk: ['a'], xid })).row)).toBe('A')
    }
    await w.request('COMMIT', { shard: 0, xid, commitHlc: nextHlc() })
    expect(text((await w.request('GET', { shard: 0, tableId: 1, pk: ['a'] })).row)).toBe('A')
  })

  it('never expires a prepared transaction: it stays in limbo for 2PC recovery', async () => {
    const w = await startWorkers()
    const { xid } = await w.request('BEGIN', { shard: 0, isolation: 'snapshot', startHlc: nextHlc() })
    await w.request('WRITE', { shard: 0, xid, writes: [insert('p', 'P')] })
    await w.request('PREPARE', { shard: 0, xid })
    await sleep(2.5 * TIMEOUT_MS)
    expect((await w.request('LIST_LIMBO', { shard: 0 })).limbo.map(l => l.xid)).toEqual([xid])
    await w.request('COMMIT_PREPARED', { shard: 0, xid, commitHlc: nextHlc() })
    expect(text((await w.request('GET', { shard: 0, tableId: 1, pk: ['p'] })).row)).toBe('P')
  })
})
