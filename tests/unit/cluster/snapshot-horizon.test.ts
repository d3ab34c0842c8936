import { describe, expect, it } from 'vitest'
import { GossipMachine, isAlive } from '../../../src/cluster/gossip/machine'
import { gossipPingCodec } from '../../../src/cluster/gossip/codec'
import { SeededRng } from '../../../src/core/rng'
import { formatOldestSnapshot, oldestOf, parseOldestSnapshot, peerSnapshotFloor, sweepHorizon, type AnnouncingMember } from '../../../src/cluster/snapshot-horizon'

const member = (nodeId: NodeId, oldestActiveHlc: string, over: Partial<AnnouncingMember> = {}): AnnouncingMember =>
  ({ nodeId, isSelf: false, alive: true, oldestActiveHlc, ...over })
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

  it('the cluster floor is the oldest start of the live peers, skipping ourselves, dead members and malformed announcements', () => {
    const floor = peerSnapshotFloor([
      member(asNodeId(1), '10', { isSelf: true }),
      member(asNodeId(2), '500'),
      member(asNodeId(3), '300'),
      member(asNodeId(4), '100', { alive: false }),
      member(asNodeId(5), 'none'),
      member(asNodeId(6), ''),
      member(asNodeId(7), 'garbage')
    ])
    expect(floor).toEqual({ floor: h(300n), malformed: [7] })
    expect(peerSnapshotFloor([member(asNodeId(2), 'none')])).toEqual({ floor: undefined, malformed: [] })
  })

  it('the horizon is now, lowered to every floor', () => {
    expect(sweepHorizon(h(1000n))).toBe(h(1000n))
    expect(sweepHorizon(h(1000n), undefined, h(400n), h(700n))).toBe(h(400n))
    expect(sweepHorizon(h(1000n), h(2000n))).toBe(h(1000n))
    expect(oldestOf(undefined, h(5n), h(3n))).toBe(h(3n))
    expect(oldestOf(undefined)).toBeUndefined()
  })
})

describe('the announcement travels in gossip', () => {
  it('a peer learns our oldest snapshot from one ping (through the wire codec) and counts it while we are alive', () => {
    const cfg = { intervalMs: 1000, fanout: 3, heartbeatTimeoutMs: 10_000 }
    const a = new GossipMachine({ nodeId: asNodeId(1), address: 'a:1', datacenter: 'dc1', bootId: 'ba' }, [{ nodeId: asNodeId(2), address: 'b:1' }], cfg, new SeededRng(1))
    const b = new GossipMachine({ nodeId: asNodeId(2), address: 'b:1', datacenter: 'dc1', bootId: 'bb' }, [{ nodeId: asNodeId(1), address: 'a:1' }], cfg, new SeededRng(2))
    const floorAtB = (now: number): bigint | undefined => peerSnapshotFloor(b.members(now).map(m => ({ nodeId: m.nodeId, isSelf: m.isSelf, alive: isAlive(m.state), oldestActiveHlc: m.oldestActiveHlc }))).floor
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
    // Silent past the heartbeat timeout, A is down at B and no longer holds the horizon back.
    a.setLocal({ oldestActiveHlc: formatOldestSnapshot(h(5n)) })
    deliver(2000)
    expect(floorAtB(2000)).toBe(h(5n))
    for (let t = 3000; t <= 40_000; t += 1000) b.tick(t)
    expect(floorAtB(40_000)).toBeUndefined()
  })
})
