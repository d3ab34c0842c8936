import { describe, expect, it } from 'vitest'
import { GossipMachine } from '../../../src/cluster/gossip/machine'
import { gossipPingCodec } from '../../../src/cluster/gossip/codec'
import { SeededRng } from '../../../src/core/rng'
import { formatOldestSnapshot, laggedNow, oldestOf, parseOldestSnapshot, peerSnapshotFloor, sweepHorizon, transactionsHorizon, type AnnouncingMember } from '../../../src/cluster/snapshot-horizon'
import { hlcTs } from '../../../src/storage/types'

const member = (nodeId: NodeId, oldestActiveHlc: string, over: Partial<AnnouncingMember> = {}): AnnouncingMember =>
  ({ nodeId, isSelf: false, state: 'normal', oldestActiveHlc, ...over })
import { asHlcTs, asNodeId, type NodeId } from '../../../src/core/ids'

const h = asHlcTs

describe('the gossiped oldest snapshot (DESIGN §6)', () => {
  it('round-trips the announcement; none and the empty text of older releases hold nothing back; junk is malformed', () => {
    expect(formatOldestSnapshot(undefined)).toBe('none')
    expect(formatOldestSnapshot(h(7238556057600028n))).toBe('7238556057600028')
    expect(parseOldestSnapshot('7238556057600028')).toBe(h(7238556057600028n))
    expect(parseOldestSnapshot('none')).toBeUndefined()
    expect(parseOldestSnapshot('')).toBeUndefined()
    for (const bad of ['-1', '12a', ' 5', '1e9', '18446744073709551616', '0x10']) expect(parseOldestSnapshot(bad)).toBeNull()
    expect(parseOldestSnapshot('18446744073709551615')).toBe((1n << 64n) - 1n)
  })

  it('the cluster floor is the oldest start of the peers, skipping ourselves, members that left and malformed announcements; a down node still holds it', () => {
    const floor = peerSnapshotFloor([
      member(asNodeId(1), '10', { isSelf: true }),
      member(asNodeId(2), '500'),
      member(asNodeId(3), '300', { state: 'suspect' }),
      member(asNodeId(4), '100', { state: 'left' }),
      member(asNodeId(5), 'none'),
      member(asNodeId(6), ''),
      member(asNodeId(7), 'garbage')
    ])
    expect(floor).toEqual({ floor: h(300n), malformed: [7] })
    // Down but not removed: it may only be cut off, with a snapshot that will read our shards on return.
    expect(peerSnapshotFloor([member(asNodeId(2), '500'), member(asNodeId(4), '100', { state: 'down' })]).floor).toBe(h(100n))
    expect(peerSnapshotFloor([member(asNodeId(2), 'none')])).toEqual({ floor: undefined, malformed: [] })
  })

  it('the horizon is now, lowered to every floor', () => {
    expect(sweepHorizon(h(1000n))).toBe(h(1000n))
    expect(sweepHorizon(h(1000n), undefined, h(400n), h(700n))).toBe(h(400n))
    expect(sweepHorizon(h(1000n), h(2000n))).toBe(h(1000n))
    expect(oldestOf(undefined, h(5n), h(3n))).toBe(h(3n))
    expect(oldestOf(undefined)).toBeUndefined()
    expect(laggedNow(hlcTs(10_000, 7), 3000)).toBe(hlcTs(7000, 7))
    expect(laggedNow(hlcTs(10, 1), 3000)).toBe(h(0n))
  })

  it('SHOW TRANSACTIONS HORIZON: each member\'s part and the horizon (computeGlobalOIT) — own registry over own gossip, down holds, left and malformed do not', () => {
    const now = hlcTs(100_000)
    const view = transactionsHorizon([
      member(asNodeId(1), '5', { isSelf: true }), // stale self gossip: the registry (below) wins
      member(asNodeId(2), String(hlcTs(90_000))),
      member(asNodeId(3), String(hlcTs(80_000)), { state: 'down' }),
      member(asNodeId(4), String(hlcTs(1_000)), { state: 'left' }),
      member(asNodeId(5), 'x1')
    ], hlcTs(95_000), now, 5000)
    expect(view.members.map(m => [m.nodeId, m.holds, m.oldestSnapshot])).toEqual([
      [1, true, hlcTs(95_000)], [2, true, hlcTs(90_000)], [3, true, hlcTs(80_000)], [4, false, hlcTs(1_000)], [5, false, null]
    ])
    expect(view.horizon).toBe(hlcTs(80_000))
    // Nothing open anywhere: now minus the announce lag.
    expect(transactionsHorizon([member(asNodeId(1), 'none', { isSelf: true })], undefined, now, 5000).horizon).toBe(hlcTs(95_000))
  })
})

describe('the announcement travels in gossip', () => {
  it('a peer learns our oldest snapshot from one ping (through the wire codec) and counts it while we are alive', () => {
    const cfg = { intervalMs: 1000, fanout: 3, heartbeatTimeoutMs: 10_000 }
    const a = new GossipMachine({ nodeId: asNodeId(1), address: 'a:1', datacenter: 'dc1', bootId: 'ba' }, [{ nodeId: asNodeId(2), address: 'b:1' }], cfg, new SeededRng(1))
    const b = new GossipMachine({ nodeId: asNodeId(2), address: 'b:1', datacenter: 'dc1', bootId: 'bb' }, [{ nodeId: asNodeId(1), address: 'a:1' }], cfg, new SeededRng(2))
    const floorAtB = (now: number): bigint | undefined => peerSnapshotFloor(b.members(now).map(m => ({ nodeId: m.nodeId, isSelf: m.isSelf, state: m.state, oldestActiveHlc: m.oldestActiveHlc }))).floor
    const deliver = (now: number): void => {
      for (const o of a.tick(now)) {
        if (o.type !== 'send' || o.msg.type !== 'ping') continue
        b.receive('a:1', gossipPingCodec.decode(gossipPingCodec.encode(o.msg)), now)
      }
    }
    a.setLocal({ oldestActiveHlc: formatOldestSnapshot(h(7238556057600028n)) })
    deliver(0)
    expect(floorAtB(0)).toBe(h(7238556057600028n))
    a.setLocal({ oldestActiveHlc: formatOldestSnapshot(undefined) })
    deliver(1000)
    expect(floorAtB(1000)).toBeUndefined()
    // Silent past the heartbeat timeout, A is down at B — and still holds the horizon back with
    // what it said last, until it is removed (it may be cut off, not dead).
    a.setLocal({ oldestActiveHlc: formatOldestSnapshot(h(5n)) })
    deliver(2000)
    expect(floorAtB(2000)).toBe(h(5n))
    for (let t = 3000; t <= 40_000; t += 1000) b.tick(t)
    expect(b.members(40_000).find(m => m.nodeId === asNodeId(1))?.state).toBe('down')
    expect(floorAtB(40_000)).toBe(h(5n))
  })
})
