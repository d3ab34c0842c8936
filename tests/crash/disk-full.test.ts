import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { recoveryMargin } from '../../src/storage/kv-level'
import { ROOT, sourceCommand, startNode, type RunningNode } from '../helpers/node-process'
import { mountSmallDisk, smallDiskUnavailable, type SmallDisk } from '../helpers/small-disk'

// Issue 21's disk-full fault on a real node: its data directory (shards, commit log, HLC mark,
// logs) on a small tmpfs. Clients write until the disk is full: every refusal is the coded
// SB_DISK_FULL (HTTP 507), the node stays up and keeps answering reads. Space comes back: writes
// go on. Then SIGKILL and a restart: every acknowledged row is there, no refused one is.

const unavailable = smallDiskUnavailable()
const WRITERS = 6
const PAD = 'x'.repeat(1500)
const DISK = 24 * 1024 * 1024
/** etc/scratchbird.yaml's lsm.write_buffer_size is the default; the margin follows it. */
const WRITE_BUFFER = 4 * 1024 * 1024

type Json = Record<string, any>
const running: RunningNode[] = []
let disk: SmallDisk | undefined
afterEach(() => {
  for (const n of running.splice(0)) n.proc.kill('SIGKILL')
  disk?.unmount()
  disk = undefined
})

async function start (dataDir: string): Promise<RunningNode> {
  const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  const n = await startNode(cmd, args, { timeoutMs: 60_000 })
  running.push(n)
  return n
}

async function post (n: RunningNode, sql: string, params?: unknown[]): Promise<{ status: number, body: Json }> {
  const res = await fetch(n.url('/v1/sql'), { method: 'POST', body: JSON.stringify(params === undefined ? { sql } : { sql, params }) })
  return { status: res.status, body: await res.json() as Json }
}

describe.skipIf(unavailable !== null)('a node whose disk fills up' + (unavailable !== null ? ` (skipped: ${unavailable})` : ''), () => {
  it('refuses writes with SB_DISK_FULL, stays up, resumes when space returns, and loses no acknowledged row after a SIGKILL', async () => {
    disk = mountSmallDisk(DISK)
    const dataDir = join(disk.dir, 'data')
    let node = await start(dataDir)
    expect((await post(node, 'CREATE TABLE filler (id INT PRIMARY KEY, w INT, pad VARCHAR(2000))')).status).toBe(200)
    const acked = new Set<number>()
    const refused = new Set<number>()
    const otherErrors: string[] = []
    let next = 1
    const writer = async (w: number, stop: () => boolean): Promise<void> => {
      while (!stop()) {
        const id = next++
        const r = await post(node, 'INSERT INTO filler VALUES ($1, $2, $3)', [id, w, PAD])
        if (r.status === 200) acked.add(id)
        else if (r.body.error?.code === 'SB_DISK_FULL' && r.status === 507) refused.add(id)
        else otherErrors.push(`${r.status} ${JSON.stringify(r.body.error)}`)
      }
    }
    // Fill: until 30 refusals (or a cap, so a node that never refuses fails the checks below).
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w, () => refused.size >= 30 || next > 40_000 || otherErrors.length > 20)))
    expect(otherErrors).toEqual([])
    expect(refused.size).toBeGreaterThanOrEqual(30)
    // Still up, reads answer.
    expect((await fetch(node.url('/v1/health'))).status).toBe(200)
    const during = await post(node, 'SELECT count(*) FROM filler')
    expect(during.status).toBe(200)

    disk.resize(DISK + recoveryMargin({ writeBufferSize: WRITE_BUFFER }) * 2 + 16 * 1024 * 1024)
    const before = acked.size
    const refusedBefore = refused.size
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w, () => acked.size >= before + 300 || otherErrors.length > 0)))
    expect(otherErrors).toEqual([])
    expect(refused.size).toBe(refusedBefore)

    node.proc.kill('SIGKILL')
    await node.exited
    running.splice(0)
    node = await start(dataDir)
    const rows = await post(node, 'SELECT id FROM filler')
    expect(rows.status).toBe(200)
    const present = new Set((rows.body.rows as unknown[][]).map(r => Number(r[0])))
    const lost = [...acked].filter(id => !present.has(id))
    const ghost = [...refused].filter(id => present.has(id))
    expect({ lost: lost.slice(0, 20), lostCount: lost.length }).toEqual({ lost: [], lostCount: 0 })
    expect(ghost).toEqual([])
  }, 300_000)
})
