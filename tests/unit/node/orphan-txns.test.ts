import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { asNodeId, asShardId, type Xid } from '../../../src/core/ids'
import { LiveTxns } from '../../../src/exec/live-txns'
import { conflictHolder, OrphanResolver, orphanVerdict, SUSPECT_AFTER_MS } from '../../../src/node/orphan-txns'
import type { RowWrite } from '../../../src/storage/engine'
import { nextHlc, row, text, vid } from './worker-fixtures'
import { HostClient, startHost } from '../shard/host-fixtures'

// Abandoned transactions (node/orphan-txns.ts) against a real shard host: a transaction left open
// on a shard (its coordinator forgot it, died or lost its ROLLBACK) blocks writers of its rows
// until the resolver rolls it back — at once when this node is its coordinator and no longer runs
// it or when its node is down, after SUSPECT_AFTER_MS and a "no" from a live coordinator otherwise;
// a transaction its coordinator still runs is never touched. The host's engines hand out xids of
// node 3 (host-fixtures.ts).

const S = asShardId(0)
let h: HostClient | undefined
afterEach(async () => { await h?.host.close(); h = undefined })

const update = (pk: string, value: string): RowWrite => ({ op: 'update', tableId: 1, pk: [pk], row: row(value), versionId: vid() })
const insert = (pk: string, value: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: row(value), versionId: vid() })

interface Setup { c: HostClient, r: OrphanResolver, live: LiveTxns, clock: ManualClock, asked: Xid[], orphan: Xid }

/** The orphan is begun by `coordinator` (default node 3); the resolver runs on node `selfId`. */
async function setup (opts: { selfId: number, alive: boolean, peerSays?: boolean, coordinator?: number | null }): Promise<Setup> {
  const c = h = await startHost([S], 600_000)
  await c.request('AUTOCOMMIT', { shard: S, writes: [insert('k', 'v0')], commitHlc: nextHlc() })
  const coordinator = opts.coordinator === undefined ? 3 : opts.coordinator
  const { xid } = await c.request('BEGIN', { shard: S, isolation: 'read_committed', startHlc: nextHlc(), ...(coordinator === null ? {} : { coordinator: asNodeId(coordinator) }) })
  await c.request('WRITE', { shard: S, xid, writes: [update('k', 'orphan')] })
  const live = new LiveTxns(asNodeId(opts.selfId))
  const clock = new ManualClock()
  const asked: Xid[] = []
  const r = new OrphanResolver(c, {
    selfId: asNodeId(opts.selfId),
    live,
    isAlive: () => opts.alive,
    askPeer: async (_id, x) => { asked.push(x); return opts.peerSays ?? true },
    clock,
    log: pino({ level: 'silent' })
  })
  return { c, r, live, clock, asked, orphan: xid }
}

/** A writer's attempt at row k through the resolver: 'ok' or the error code. */
async function write (s: Setup, value: string): Promise<string> {
  const { xid } = await s.r.request('BEGIN', { shard: S, isolation: 'read_committed', startHlc: nextHlc() })
  try {
    await s.r.request('WRITE', { shard: S, xid, writes: [update('k', value)] })
    await s.r.request('COMMIT', { shard: S, xid, commitHlc: nextHlc() })
    return 'ok'
  } catch (e) {
    await s.r.request('ROLLBACK', { shard: S, xid }).catch(() => {})
    return (e as { code?: string }).code ?? String(e)
  }
}

const value = async (c: HostClient): Promise<string | null> => text((await c.request('GET', { shard: S, tableId: 1, pk: ['k'] })).row)

describe('abandoned transactions', () => {
  it('this node coordinates the holder and no longer runs it: rolled back at the first conflict, the retry succeeds', async () => {
    const s = await setup({ selfId: 3, alive: true })
    expect(await write(s, 'a')).toBe('SB_UPDATE_CONFLICT')
    expect(await write(s, 'b')).toBe('ok')
    expect(await value(s.c)).toBe('b')
    expect(s.asked).toEqual([])
  })

  it('never touches a holder its coordinator still runs', async () => {
    const s = await setup({ selfId: 3, alive: true })
    s.live.add(s.orphan)
    for (let i = 0; i < 3; i++) {
      expect(await write(s, `w${i}`)).toBe('SB_UPDATE_CONFLICT')
      s.clock.advance(SUSPECT_AFTER_MS)
    }
    // Its coordinator commits it later: nothing was lost.
    await s.c.request('COMMIT', { shard: S, xid: s.orphan, commitHlc: nextHlc() })
    expect(await value(s.c)).toBe('orphan')
  })

  it('a holder of a live peer is asked about only after blocking writers for a while; a "no" rolls it back', async () => {
    const s = await setup({ selfId: 1, alive: true, peerSays: false, coordinator: 2 })
    expect(await write(s, 'a')).toBe('SB_UPDATE_CONFLICT')
    expect(s.asked).toEqual([])
    s.clock.advance(SUSPECT_AFTER_MS)
    expect(await write(s, 'b')).toBe('SB_UPDATE_CONFLICT') // asked now, rolled back; this attempt had already failed
    expect(s.asked).toEqual([s.orphan])
    expect(await write(s, 'c')).toBe('ok')
    await expect(s.c.request('COMMIT', { shard: S, xid: s.orphan, commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
  })

  it('a live peer that still runs the holder keeps it', async () => {
    const s = await setup({ selfId: 1, alive: true, peerSays: true, coordinator: 2 })
    expect(await write(s, 'a')).toBe('SB_UPDATE_CONFLICT')
    s.clock.advance(SUSPECT_AFTER_MS)
    expect(await write(s, 'b')).toBe('SB_UPDATE_CONFLICT')
    expect(await write(s, 'c')).toBe('SB_UPDATE_CONFLICT')
    expect(s.asked.length).toBeGreaterThan(0)
  })

  it('the holder\'s node is down: rolled back at once', async () => {
    const s = await setup({ selfId: 1, alive: false, coordinator: 2 })
    expect(await write(s, 'a')).toBe('SB_UPDATE_CONFLICT')
    expect(await write(s, 'b')).toBe('ok')
    expect(s.asked).toEqual([])
  })

  it('a holder begun without naming its coordinator is left to the lease', async () => {
    const s = await setup({ selfId: 3, alive: false, coordinator: null })
    for (let i = 0; i < 3; i++) {
      expect(await write(s, `w${i}`)).toBe('SB_UPDATE_CONFLICT')
      s.clock.advance(SUSPECT_AFTER_MS)
    }
    expect(s.asked).toEqual([])
  })

  it('the conflict names the holder\'s coordinator (the xid names the node that allocated it)', async () => {
    const s = await setup({ selfId: 1, alive: true, coordinator: 2 })
    const { xid } = await s.c.request('BEGIN', { shard: S, isolation: 'read_committed', startHlc: nextHlc() })
    await expect(s.c.request('WRITE', { shard: S, xid, writes: [update('k', 'x')] })).rejects.toMatchObject({
      code: 'SB_UPDATE_CONFLICT', details: { concurrentXid: String(s.orphan), concurrentState: 'active', concurrentCoordinator: 2 }
    })
    await expect(s.c.request('AUTOCOMMIT', { shard: S, writes: [update('k', 'y')], commitHlc: nextHlc() })).rejects.toMatchObject({
      code: 'SB_UPDATE_CONFLICT', details: { concurrentCoordinator: 2 }
    })
  })
})

describe('orphanVerdict and conflictHolder', () => {
  it('decides by coordinator, listing, liveness and how long the holder has blocked', () => {
    const self = asNodeId(2)
    const n2 = asNodeId(2)
    const n5 = asNodeId(5)
    expect(orphanVerdict({ coordinator: n2, self, listedHere: true, coordinatorAlive: true, blockedMs: 1e9 })).toBe('wait')
    expect(orphanVerdict({ coordinator: n2, self, listedHere: false, coordinatorAlive: true, blockedMs: 0 })).toBe('roll-back')
    expect(orphanVerdict({ coordinator: n5, self, listedHere: false, coordinatorAlive: false, blockedMs: 0 })).toBe('roll-back')
    expect(orphanVerdict({ coordinator: n5, self, listedHere: false, coordinatorAlive: true, blockedMs: SUSPECT_AFTER_MS - 1 })).toBe('wait')
    expect(orphanVerdict({ coordinator: n5, self, listedHere: false, coordinatorAlive: true, blockedMs: SUSPECT_AFTER_MS })).toBe('ask')
  })

  it('reads the holder only from an active holder of an update conflict', async () => {
    const { ScratchBirdError } = await import('../../../src/core/errors')
    const conflict = (d: Record<string, unknown>): unknown => new ScratchBirdError('SB_UPDATE_CONFLICT', 'x', d)
    expect(conflictHolder(conflict({ concurrentXid: '844424930131969', concurrentState: 'active', concurrentCoordinator: 4 }))).toEqual({ xid: 844424930131969n, coordinator: 4 })
    expect(conflictHolder(conflict({ concurrentXid: '844424930131969', concurrentState: 'active' }))).toBeNull()
    expect(conflictHolder(conflict({ concurrentXid: '844424930131969', concurrentState: 'active', concurrentCoordinator: 0 }))).toBeNull()
    expect(conflictHolder(conflict({ concurrentXid: '844424930131969', concurrentState: 'limbo', concurrentCoordinator: 4 }))).toBeNull()
    expect(conflictHolder(conflict({ concurrentXid: '844424930131969', concurrentState: 'committed after snapshot start', concurrentCoordinator: 4 }))).toBeNull()
    expect(conflictHolder(conflict({ concurrentXid: 'x1', concurrentState: 'active', concurrentCoordinator: 4 }))).toBeNull()
    expect(conflictHolder(conflict({ concurrentXid: '99999999999999999999', concurrentState: 'active', concurrentCoordinator: 4 }))).toBeNull()
    expect(conflictHolder(new ScratchBirdError('SB_TXN_NOT_ACTIVE', 'x', { concurrentXid: '5', concurrentState: 'active' }))).toBeNull()
  })
})
