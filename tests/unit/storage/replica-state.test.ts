import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { asNodeId } from '../../../src/core/ids'
import { encodeCommitGroup, decodeCommitValue } from '../../../src/storage/commit-log'
import { ShardEngine } from '../../../src/storage/engine'
import { MemoryKv, MemoryStore } from '../../../src/storage/kv-memory'
import { decodeHardState, encodeHardState, REPL_STATE_KEY } from '../../../src/storage/repl-state'
import { asHlcTs, asXid } from '../../../src/core/ids'
import { ins, logOf, replicas, SHARD, type Replica } from './replica-fixtures'

// The replication hard state (src/storage/repl-state.ts): durable under p/state, fsynced, guarded
// (generation never back, one vote per generation, commit LSN never back), and the generation
// local commits are logged at.

let open: Replica[] = []
afterEach(async () => { for (const r of open) await r.destroy(); open = [] })

describe('replication hard state', () => {
  it('starts empty, survives a restart, and stamps local commits with its generation', async () => {
    open = await replicas(1)
    const p = open[0]!
    expect(await p.engine.replState()).toEqual({ generation: 0n, votedFor: null, commitLsn: 0n, role: 'none', config: null, lastLsn: 0n, lastGeneration: 0n, firstAvailableLsn: 1n, bootstrap: null })
    await p.auto(ins('a', '1'))
    await p.engine.setReplState({ generation: 7n, votedFor: asNodeId(3), commitLsn: 1n, role: 'primary' })
    await p.auto(ins('b', '2'))
    await p.engine.commitMany([{ writes: [ins('c', '3')], commitHlc: asHlcTs(1n << 60n) }, { writes: [ins('d', '4')], commitHlc: asHlcTs((1n << 60n) + 1n) }])
    for (let round = 0; round < 2; round++) {
      const e = round === 0 ? p.engine : await p.restart()
      expect(await e.replState()).toMatchObject({ generation: 7n, votedFor: asNodeId(3), commitLsn: 1n, role: 'primary', lastLsn: 4n, lastGeneration: 7n })
      expect((await logOf(e)).map(x => (x as { generation: bigint }).generation)).toEqual([0n, 7n, 7n, 7n])
    }
    // Still generation 7 after the restart.
    await p.auto(ins('e', '5'))
    expect((await logOf(p.engine)).map(x => (x as { generation: bigint }).generation)).toEqual([0n, 7n, 7n, 7n, 7n])
  })

  it('a log truncated to empty by retention still reports the generation of its last entry', async () => {
    open = await replicas(1)
    const p = open[0]!
    await p.engine.setReplState({ generation: 3n, votedFor: null, commitLsn: 0n, role: 'primary' })
    for (let i = 0; i < 3; i++) await p.auto(ins(`k${i}`, 'v'))
    const report = await p.engine.sweep(asHlcTs(1n << 62n), { commitLog: [{ name: 'test', fromLsn: 100n }] })
    expect(report.logEntriesTruncated).toBe(3)
    for (let round = 0; round < 2; round++) {
      const e = round === 0 ? p.engine : await p.restart()
      expect(await e.replState()).toMatchObject({ lastLsn: 3n, lastGeneration: 3n, firstAvailableLsn: 4n })
      expect(await logOf(e)).toEqual([])
    }
  })

  it('refuses a generation going back, a second vote in a generation, a commit LSN going back and the bootstrapping role', async () => {
    open = await replicas(1)
    const e = open[0]!.engine
    await e.setReplState({ generation: 5n, votedFor: asNodeId(2), commitLsn: 10n, role: 'replica' })
    await expect(e.setReplState({ generation: 4n, votedFor: null, commitLsn: 10n, role: 'replica' })).rejects.toMatchObject({ code: 'SB_REPL_STATE_REFUSED', details: { generation: '5', asked_generation: '4' } })
    await expect(e.setReplState({ generation: 5n, votedFor: asNodeId(3), commitLsn: 10n, role: 'replica' })).rejects.toMatchObject({ code: 'SB_REPL_STATE_REFUSED', details: { voted_for: 2, asked_voted_for: 3 } })
    await expect(e.setReplState({ generation: 5n, votedFor: null, commitLsn: 10n, role: 'replica' })).rejects.toMatchObject({ code: 'SB_REPL_STATE_REFUSED' })
    await expect(e.setReplState({ generation: 6n, votedFor: null, commitLsn: 9n, role: 'replica' })).rejects.toMatchObject({ code: 'SB_REPL_STATE_REFUSED', details: { commit_lsn: '10' } })
    await expect(e.setReplState({ generation: 6n, votedFor: null, commitLsn: 10n, role: 'bootstrapping' })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    await expect(e.setReplState({ generation: 6n, votedFor: 0 as never, commitLsn: 10n, role: 'replica' })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    await expect(e.setReplState({ generation: -1n, votedFor: null, commitLsn: 10n, role: 'replica' })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    await expect(e.setReplState({ generation: 6n, votedFor: null, commitLsn: 10n, role: 'leader' as never })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    expect(await e.replState()).toMatchObject({ generation: 5n, votedFor: 2, commitLsn: 10n, role: 'replica' })
    // The same vote again, a new generation with a new vote: fine.
    await e.setReplState({ generation: 5n, votedFor: asNodeId(2), commitLsn: 11n, role: 'candidate' })
    await e.setReplState({ generation: 6n, votedFor: asNodeId(1), commitLsn: 11n, role: 'primary' })
    expect(await e.replState()).toMatchObject({ generation: 6n, votedFor: asNodeId(1), commitLsn: 11n, role: 'primary' })
  })

  it('is written fsynced whatever the shard durability, and a corrupt record is a coded error', async () => {
    const store = new MemoryStore()
    const kv = MemoryKv.open(store)
    const syncs: boolean[] = []
    const spy = { ...kv, get: kv.get.bind(kv), getMany: kv.getMany.bind(kv), iterate: kv.iterate.bind(kv), snapshot: kv.snapshot.bind(kv), close: kv.close.bind(kv), batch: async (ops: Parameters<typeof kv.batch>[0], o: Parameters<typeof kv.batch>[1]) => { syncs.push(o.sync); await kv.batch(ops, o) } }
    const e = await ShardEngine.open(spy, { shardId: SHARD, nodeId: asNodeId(1), durability: 'none', clock: new ManualClock() })
    syncs.length = 0
    await e.setReplState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'replica' })
    expect(syncs).toEqual([true])
    expect(decodeHardState(store.get(REPL_STATE_KEY)!)).toEqual({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'replica', config: null })
    await e.close()
    store.put(REPL_STATE_KEY, encodeHardState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'replica' }).slice(0, 12))
    await expect(ShardEngine.open(MemoryKv.open(store), { shardId: SHARD, nodeId: asNodeId(1), clock: new ManualClock() })).rejects.toMatchObject({ code: 'SB_STORAGE_CORRUPT' })
  })

  it('keeps the voters in effect at the committed LSN: recorded, kept by a change that does not name them, read from the previous format as none', async () => {
    open = await replicas(1)
    const p = open[0]!
    const voters = [asNodeId(1), asNodeId(4), asNodeId(2)]
    await p.engine.setReplState({ generation: 2n, votedFor: null, commitLsn: 9n, role: 'replica', config: { lsn: 7n, voters } })
    await p.engine.setReplState({ generation: 3n, votedFor: asNodeId(4), commitLsn: 9n, role: 'candidate' })
    for (let round = 0; round < 2; round++) {
      const e = round === 0 ? p.engine : await p.restart()
      expect(await e.replState()).toMatchObject({ generation: 3n, commitLsn: 9n, config: { lsn: 7n, voters } })
    }
    await p.engine.setReplState({ generation: 3n, votedFor: asNodeId(4), commitLsn: 12n, role: 'replica', config: null })
    expect((await p.engine.replState()).config).toBeNull()
    // Refused, and nothing changed: voters set above the committed LSN, repeated, none, or not node ids.
    for (const config of [{ lsn: 13n, voters }, { lsn: 5n, voters: [asNodeId(1), asNodeId(1)] }, { lsn: 5n, voters: [] }, { lsn: 5n, voters: [0 as never] }]) {
      await expect(p.engine.setReplState({ generation: 3n, votedFor: asNodeId(4), commitLsn: 12n, role: 'replica', config })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    }
    expect(await p.engine.replState()).toMatchObject({ commitLsn: 12n, config: null })
    // A record written before voters were kept (format 1, 20 bytes) reads as none; a damaged config is SB_STORAGE_CORRUPT.
    const v1 = encodeHardState({ generation: 5n, votedFor: asNodeId(2), commitLsn: 8n, role: 'replica', config: null }).slice(0, 20)
    v1[0] = 1
    expect(decodeHardState(v1)).toEqual({ generation: 5n, votedFor: asNodeId(2), commitLsn: 8n, role: 'replica', config: null })
    const v2 = encodeHardState({ generation: 5n, votedFor: null, commitLsn: 8n, role: 'replica', config: { lsn: 8n, voters } })
    expect(decodeHardState(v2).config).toEqual({ lsn: 8n, voters })
    for (const bad of [v2.slice(0, v2.length - 1), Uint8Array.from(v2, (x, i) => i === 29 ? 0 : x), Uint8Array.from(v2, (x, i) => i === 20 ? 2 : x)]) {
      expect(() => decodeHardState(bad)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }) as Error)
    }
  })

  it('log values: generation 0 keeps formats 1 and 2 byte for byte; others read back with their generation', () => {
    const c = (x: bigint): { xid: ReturnType<typeof asXid>, commitHlc: ReturnType<typeof asHlcTs>, mutations: [] } => ({ xid: asXid(x), commitHlc: asHlcTs(x * 10n), mutations: [] })
    expect(encodeCommitGroup([c(1n)])[0]).toBe(1)
    expect(encodeCommitGroup([c(1n), c(2n)])[0]).toBe(2)
    expect(encodeCommitGroup([c(1n)], undefined, 0n)).toEqual(encodeCommitGroup([c(1n)]))
    expect(decodeCommitValue(4n, encodeCommitGroup([c(1n), c(2n)])).map(e => [e.lsn, e.generation, e.xid])).toEqual([[4n, 0n, 1n], [5n, 0n, 2n]])
    const g1 = encodeCommitGroup([c(1n)], undefined, 9n)
    const g2 = encodeCommitGroup([c(1n), c(2n), c(3n)], undefined, 1n << 63n)
    expect([g1[0], g2[0]]).toEqual([3, 4])
    expect(decodeCommitValue(4n, g1).map(e => [e.lsn, e.generation, e.xid, e.commitHlc])).toEqual([[4n, 9n, 1n, 10n]])
    expect(decodeCommitValue(4n, g2, 5n).map(e => [e.lsn, e.generation, e.xid])).toEqual([[5n, 1n << 63n, 2n], [6n, 1n << 63n, 3n]])
    for (const cut of [1, 8, 12, 20]) expect(() => decodeCommitValue(4n, g2.slice(0, cut))).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }) as Error)
  })
})
