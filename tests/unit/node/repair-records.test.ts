import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { Hlc } from '../../../src/core/hlc'
import { asNodeId, asShardId, type NodeId, type ShardId } from '../../../src/core/ids'
import { SeededRng } from '../../../src/core/rng'
import { AntiEntropyShell } from '../../../src/node/anti-entropy'
import { loadRepairRecords, REPAIR_RECORDS_FILE, saveRepairRecords, type RepairRecords } from '../../../src/node/repair-records'

// <data_dir>/anti-entropy.json: the verified-through times of completed repair rounds survive a
// restart, so leaderless tombstones do not wait for a round with every peer again; a damaged file
// only forgets (delays purges), it never invents a verification.

const dir = (): string => mkdtempSync(join(tmpdir(), 'sb-repair-records-'))
const records = (entries: Array<[number, Array<[number, number]>]>): RepairRecords =>
  new Map(entries.map(([s, ps]) => [asShardId(s), new Map(ps.map(([p, v]) => [asNodeId(p), v]))]))

describe('repair records', () => {
  it('round-trip through the data directory; none yet is an empty record', () => {
    const d = dir()
    expect(loadRepairRecords(d, 16)).toEqual({ records: new Map(), problem: null, sinceMs: null })
    const r = records([[0, [[2, 1_000], [3, 2_000]]], [7, [[2, 5]]]])
    saveRepairRecords(d, r, 123)
    expect(loadRepairRecords(d, 16)).toEqual({ records: r, problem: null, sinceMs: 123 })
  })

  it('a damaged file or out-of-range entries are dropped, never trusted', () => {
    const d = dir()
    writeFileSync(join(d, REPAIR_RECORDS_FILE), '{not json')
    expect(loadRepairRecords(d, 16).problem).toMatch(/not JSON/)
    writeFileSync(join(d, REPAIR_RECORDS_FILE), JSON.stringify({ format: 9, shards: {} }))
    expect(loadRepairRecords(d, 16).problem).toMatch(/not a format 1/)
    writeFileSync(join(d, REPAIR_RECORDS_FILE), JSON.stringify({ format: 1, shards: { 0: { 2: 100, 0: 5, 70000: 5, 3: -1, 4: 'x' }, 99: { 2: 1 }, x: { 2: 1 } } }))
    // no sinceMs (a file of the previous build): 0, so an unrepaired shard counts as stale, never as fresh
    expect(loadRepairRecords(d, 16)).toEqual({ records: records([[0, [[2, 100]]]]), problem: null, sinceMs: 0 })
    writeFileSync(join(d, REPAIR_RECORDS_FILE), '{not json')
    expect(loadRepairRecords(d, 16).sinceMs).toBe(0)
  })

  it('restored into the anti-entropy shell, they set the tombstone purge cutoff after a restart', () => {
    const clock = new ManualClock()
    const shell = (initial: RepairRecords): AntiEntropyShell => new AntiEntropyShell({
      intervalMs: 60_000,
      local: { request: async () => { throw new Error('no shard request expected') } },
      cluster: { heldShards: () => [{ shard: asShardId(0), peers: [asNodeId(2), asNodeId(3)] as NodeId[] }], isAlive: () => true, forward: async () => { throw new Error('no peer call expected') } },
      hlc: new Hlc({ nodeId: asNodeId(1), clock, rng: new SeededRng(1) }),
      clock,
      rng: new SeededRng(2),
      log: pino({ level: 'silent' }),
      records: { initial, save: () => {} },
      graceMs: () => 1_000,
      currentSinceMs: clock.now()
    })
    const shard: ShardId = asShardId(0)
    const now = clock.now()
    expect(shell(new Map()).purgeCutoff(shard, now, 1_000)).toBeNull()
    expect(shell(records([[0, [[2, now - 5_000]]]])).purgeCutoff(shard, now, 1_000)).toBeNull()
    expect(shell(records([[0, [[2, now - 5_000], [3, now - 3_000]]]])).purgeCutoff(shard, now, 1_000)).toBe(now - 5_000)
  })
})

describe('a stale replica (no round within the grace) stops serving and repairs at once', () => {
  const GRACE = 10_000
  function setup (initial: RepairRecords, sinceMs: number): { shell: AntiEntropyShell, asked: string[], lines: string[], serving: boolean[], clock: ManualClock } {
    const clock = new ManualClock()
    const asked: string[] = []
    const lines: string[] = []
    const serving: boolean[] = []
    const log = pino({ level: 'info' }, { write: (s: string) => { lines.push((JSON.parse(s) as { msg: string }).msg) } })
    const shell = new AntiEntropyShell({
      intervalMs: 3_600_000, // no round would be due for an hour on its own
      // the round's first request is recorded; the round then fails (no worker here), which is enough
      local: { request: async (op: unknown) => { asked.push(String(op)); throw new Error('no worker in this test') } },
      cluster: { heldShards: () => [{ shard: asShardId(0), peers: [asNodeId(2), asNodeId(3)] as NodeId[] }], isAlive: () => true, forward: async (_to: NodeId, op: unknown) => { asked.push(String(op)); throw new Error('no peer in this test') } },
      hlc: new Hlc({ nodeId: asNodeId(1), clock, rng: new SeededRng(1) }),
      clock,
      rng: new SeededRng(2),
      log,
      records: { initial, save: () => {} },
      graceMs: () => GRACE,
      currentSinceMs: sinceMs,
      onServing: (_s: ShardId, on: boolean) => serving.push(on)
    })
    return { shell, asked, lines, serving, clock }
  }

  it('records older than the grace: stale at start, says so (log, status, metric hook), and a round starts at once', async () => {
    const clock = new ManualClock()
    const old = clock.now() - 3 * GRACE
    const t = setup(records([[0, [[2, old], [3, old]]]]), old)
    t.shell.start()
    t.shell.stop()
    expect(t.shell.isStale(asShardId(0))).toBe(true)
    expect(t.serving).toEqual([false])
    expect(t.lines.some(l => l.includes('Shard 000 is stale'))).toBe(true)
    expect(t.shell.statusRows().every(r => !r.serving)).toBe(true)
    await Promise.resolve()
    expect(t.asked[0]).toBe('MERKLE_ROOTS') // the forced round began, not an hour later
  })

  it('a restart after a short stop (records within the grace) serves at once; a shard never held is not stale', () => {
    const clock = new ManualClock()
    const recent = clock.now() - GRACE / 2
    const t = setup(records([[0, [[2, recent]]]]), clock.now() - 100 * GRACE)
    t.shell.start()
    t.shell.stop()
    expect(t.shell.isStale(asShardId(0))).toBe(false)
    expect(t.shell.isStale(asShardId(5))).toBe(false)
    expect(t.serving).toEqual([])
  })
})
