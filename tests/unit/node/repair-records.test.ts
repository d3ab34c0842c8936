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
    expect(loadRepairRecords(d, 16)).toEqual({ records: new Map(), problem: null })
    const r = records([[0, [[2, 1_000], [3, 2_000]]], [7, [[2, 5]]]])
    saveRepairRecords(d, r)
    expect(loadRepairRecords(d, 16)).toEqual({ records: r, problem: null })
  })

  it('a damaged file or out-of-range entries are dropped, never trusted', () => {
    const d = dir()
    writeFileSync(join(d, REPAIR_RECORDS_FILE), '{not json')
    expect(loadRepairRecords(d, 16).problem).toMatch(/not JSON/)
    writeFileSync(join(d, REPAIR_RECORDS_FILE), JSON.stringify({ format: 9, shards: {} }))
    expect(loadRepairRecords(d, 16).problem).toMatch(/not a format 1/)
    writeFileSync(join(d, REPAIR_RECORDS_FILE), JSON.stringify({ format: 1, shards: { 0: { 2: 100, 0: 5, 70000: 5, 3: -1, 4: 'x' }, 99: { 2: 1 }, x: { 2: 1 } } }))
    expect(loadRepairRecords(d, 16)).toEqual({ records: records([[0, [[2, 100]]]]), problem: null })
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
      records: { initial, save: () => {} }
    })
    const shard: ShardId = asShardId(0)
    const now = clock.now()
    expect(shell(new Map()).purgeCutoff(shard, now, 1_000)).toBeNull()
    expect(shell(records([[0, [[2, now - 5_000]]]])).purgeCutoff(shard, now, 1_000)).toBeNull()
    expect(shell(records([[0, [[2, now - 5_000], [3, now - 3_000]]]])).purgeCutoff(shard, now, 1_000)).toBe(now - 5_000)
  })
})
