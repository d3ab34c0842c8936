import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { ManualClock } from '../../../src/core/clock'
import type { RowWrite } from '../../../src/storage/engine'
import { passthrough } from '../../../src/exec/local-vm'
import { serialize } from '../../../src/sblr/program'
import { decodeRows, encodeRows } from '../../../src/shard/protocol/value-rows'
import { nextHlc, row, testWorkerOptions, text, vid } from './worker-fixtures'
import { asNodeId, asShardId } from '../../../src/core/ids'
import { encodeRow } from '../../../src/types/row-codec'
import type { SqlType } from '../../../src/types/sql-types'

// Real worker threads, rings and LevelDB: a transaction's first request on a shard carries its
// BEGIN (QUERY, JOIN_QUERY and WRITE; shard/protocol/messages.ts TxnBegin) — the worker begins
// the transaction, runs the request inside it and names the xid in the reply; a first request
// that fails leaves nothing open and nothing written, and its error is the request's own.

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

async function startWorkers (): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-begin-')), { clock: new ManualClock() }), pino({ level: 'silent' }), () => {})
  await w.start([[asShardId(0)], [asShardId(1)]])
  workers = w
  return w
}

const insert = (pk: string, value: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: row(value), versionId: vid() })
const TEXT: SqlType[] = [{ kind: 'text' }]
/** A row a program can read: one TEXT column, in the row codec. */
const textRow = (pk: string, value: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: encodeRow(TEXT, [value]), versionId: vid() })
const begin = (): { isolation: 'snapshot', startHlc: ReturnType<typeof nextHlc>, coordinator: ReturnType<typeof asNodeId> } =>
  ({ isolation: 'snapshot', startHlc: nextHlc(), coordinator: asNodeId(3) })
// Every row of table 1 (rows of textRow) as it is stored.
const scanAll = { tableId: 1, options: {}, program: serialize(passthrough([{ name: 'v', type: TEXT[0]! }])), params: encodeRows([[]]) }
const values = (rows: Uint8Array): unknown[] => decodeRows(rows).map(r => r[0])
const openTxns = async (w: ShardWorkers, shard: number): Promise<number> => (await w.request('STATS', { shard: asShardId(shard) })).openTxns

describe('a transaction\'s BEGIN carried by its first request on a shard', () => {
  it('WRITE begins the transaction, names its xid, and the transaction goes on with that xid', async () => {
    const w = await startWorkers()
    const s = asShardId(0)
    const first = await w.request('WRITE', { shard: s, writes: [insert('a', 'A')], begin: begin() })
    expect(first.affected).toEqual([true])
    const xid = first.xid!
    expect(typeof xid).toBe('bigint')
    expect(await openTxns(w, 0)).toBe(1)
    // its own write is visible inside it, nobody else's read sees it yet
    expect(text((await w.request('GET', { shard: s, tableId: 1, pk: ['a'], xid })).row)).toBe('A')
    expect((await w.request('GET', { shard: s, tableId: 1, pk: ['a'] })).row).toBeNull()
    // the other shard joins with the same xid, carried by its first request too
    const other = await w.request('WRITE', { shard: asShardId(1), writes: [insert('b', 'B')], begin: { ...begin(), xid } })
    expect(other.xid).toBe(xid)
    await w.request('WRITE', { shard: s, xid, writes: [insert('c', 'C')] })
    await w.request('COMMIT', { shard: s, xid, commitHlc: nextHlc() })
    await w.request('ROLLBACK', { shard: asShardId(1), xid })
    expect(text((await w.request('GET', { shard: s, tableId: 1, pk: ['c'] })).row)).toBe('C')
    expect((await w.request('GET', { shard: asShardId(1), tableId: 1, pk: ['b'] })).row).toBeNull()
    expect(await openTxns(w, 0)).toBe(0)
  })

  it('QUERY begins a snapshot transaction that reads at its start and sees its own writes', async () => {
    const w = await startWorkers()
    const s = asShardId(1)
    await w.request('AUTOCOMMIT', { shard: s, writes: [textRow('x', 'X')], commitHlc: nextHlc() })
    const first = await w.request('QUERY', { shard: s, ...scanAll, begin: begin() })
    expect(values(first.rows)).toEqual(['X'])
    const xid = first.xid!
    // a commit after the snapshot is not seen; the transaction's own write is
    await w.request('AUTOCOMMIT', { shard: s, writes: [textRow('y', 'Y')], commitHlc: nextHlc() })
    await w.request('WRITE', { shard: s, xid, writes: [textRow('z', 'Z')] })
    const again = await w.request('QUERY', { shard: s, ...scanAll, xid })
    expect(again.xid).toBeUndefined()
    expect(values(again.rows)).toEqual(['X', 'Z'])
    await w.request('COMMIT', { shard: s, xid, commitHlc: nextHlc() })
    expect(await openTxns(w, 1)).toBe(0)
  })

  it('a first request that fails answers its own error and leaves no transaction open and nothing written', async () => {
    const w = await startWorkers()
    const s = asShardId(0)
    await w.request('AUTOCOMMIT', { shard: s, writes: [insert('dup', '1')], commitHlc: nextHlc() })
    await expect(w.request('WRITE', { shard: s, writes: [insert('new', 'N'), insert('dup', '2')], begin: begin() }))
      .rejects.toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })
    expect(await openTxns(w, 0)).toBe(0)
    expect((await w.request('GET', { shard: s, tableId: 1, pk: ['new'] })).row).toBeNull()
    // a program the worker refuses: the same for a QUERY that carries the BEGIN
    await expect(w.request('QUERY', { shard: s, ...scanAll, program: Uint8Array.of(0xff), begin: begin() }))
      .rejects.toMatchObject({ code: 'SB_SBLR_INVALID' })
    expect(await openTxns(w, 0)).toBe(0)
    // and the shard serves the next transaction as usual
    const next = await w.request('WRITE', { shard: s, writes: [insert('new', 'N')], begin: begin() })
    await w.request('COMMIT', { shard: s, xid: next.xid!, commitHlc: nextHlc() })
    expect(text((await w.request('GET', { shard: s, tableId: 1, pk: ['new'] })).row)).toBe('N')
  })

  it('refuses a BEGIN naming an xid already open on the shard, changing nothing', async () => {
    const w = await startWorkers()
    const s = asShardId(0)
    const { xid } = await w.request('BEGIN', { shard: s, ...begin() })
    await expect(w.request('WRITE', { shard: s, writes: [insert('q', 'Q')], begin: { ...begin(), xid } }))
      .rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    // the transaction that was open stays open and untouched
    expect(await openTxns(w, 0)).toBe(1)
    expect((await w.request('GET', { shard: s, tableId: 1, pk: ['q'], xid })).row).toBeNull()
    await w.request('ROLLBACK', { shard: s, xid })
  })
})
