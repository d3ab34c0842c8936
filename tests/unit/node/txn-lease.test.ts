import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { TXN_IDLE_TIMEOUT_MS_DEFAULT } from '../../../src/core/config/schema'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { nextHlc, testWorkerOptions } from './worker-fixtures'
import { asShardId, type ShardId } from '../../../src/core/ids'

// The participant-side transaction lease as wired on real shard workers: storage.txn_idle_timeout_ms
// reaches the worker's shard host, its expiry timer runs there, and the rollback's WARNING lands in
// the main thread's log. What the lease decides (idle vs. in use, prepared, in-flight requests) is
// tested on the host with a manual clock (tests/unit/shard/host-lease.test.ts); here the test waits
// for the log line (an event), not for time to pass.

/** Far below the default, so an expiry can only come from the configured value. */
const TIMEOUT_MS = 100

let workers: ShardWorkers | undefined
afterEach(async () => { await workers?.stop(); workers = undefined })

interface Line { level: number, msg: string, shard?: ShardId, xid?: string, idleMs?: number, worker?: number }

describe('shard transaction lease, wired through the worker', () => {
  it('rolls back an idle transaction after the configured timeout and reports it in the main thread log', async () => {
    expect(TXN_IDLE_TIMEOUT_MS_DEFAULT).toBeGreaterThan(100 * TIMEOUT_MS)
    let onLine: (l: Line) => void = () => {}
    const rolledBack = new Promise<Line>(resolve => { onLine = l => { if (l.msg.includes('idle for')) resolve(l) } })
    const sink = new Writable({ write (chunk: Buffer, _enc, done) { onLine(JSON.parse(chunk.toString()) as Line); done() } })
    const w = workers = new ShardWorkers(testWorkerOptions(mkdtempSync(join(tmpdir(), 'sb-lease-')), { txnIdleTimeoutMs: TIMEOUT_MS }), pino({ level: 'debug' }, sink), () => {})
    await w.start([[asShardId(0)], [asShardId(1)]])
    const { xid } = await w.request('BEGIN', { shard: asShardId(1), isolation: 'read_committed', startHlc: nextHlc() })

    // Nothing names xid any more (no request in between, so a slow machine cannot make this flaky):
    // its worker rolls it back.
    const line = await rolledBack
    expect(line.level).toBe(40) // pino's warn
    expect(line).toMatchObject({ worker: 1, shard: 1, xid: String(xid) })
    expect(line.msg).toBe(`transaction ${xid} on shard 1 idle for ${line.idleMs} ms: rolled back`)
    expect(line.idleMs).toBeGreaterThan(TIMEOUT_MS) // as measured by the worker's own clock
    expect((await w.request('STATS', { shard: asShardId(1) })).openTxns).toBe(0)
    await expect(w.request('COMMIT', { shard: asShardId(1), xid, commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
  })
})
