import { describe, expect, it } from 'vitest'
import {
  CLOCK_SKEW_WARN_EVERY_MS, GossipMachine, LEAVE_ANNOUNCE_TICKS, supersedes,
  type GossipConfig, type GossipSeed
} from '../../../src/cluster/gossip/machine'
import {
  GOSSIP_MAX_MEMBERS_PER_MESSAGE, parseGossipMessage,
  type GossipAck, type GossipEvent, type GossipMessage, type GossipOutput, type GossipPing, type MemberRecord
} from '../../../src/cluster/gossip/types'
import { ManualClock } from '../../../src/core/clock'
import { SeededRng } from '../../../src/core/rng'
import { asNodeId, type NodeId } from '../../../src/core/ids'

const CFG: GossipConfig = { intervalMs: 1000, fanout: 3, heartbeatTimeoutMs: 10_000 }

function addr (id: number): string { return `node${id}:7400` }

function machine (nodeId: NodeId, seeds: GossipSeed[] = [], bootId = `boot${nodeId}`, cfg = CFG): GossipMachine {
  return new GossipMachine({ nodeId, address: addr(nodeId), datacenter: 'dc1', bootId }, seeds, cfg, new SeededRng(nodeId))
}

function rec (nodeId: NodeId, over: Partial<MemberRecord> = {}): MemberRecord {
  return {
    nodeId,
    address: addr(nodeId),
    datacenter: 'dc1',
    incarnation: 0,
    heartbeat: 1,
    state: 'normal',
    bootId: `boot${nodeId}`,
    claimedOver: '',
    catalogVersion: 0,
    oldestActiveHlc: '',
    shardReplicas: 0,
    ...over
  }
}

function ping (from: NodeId, members: MemberRecord[], sentAt = 0): GossipPing {
  return { type: 'ping', from, hlc: '', members, sentAt }
}

function ack (from: NodeId, members: MemberRecord[], echoSentAt: number, answeredAt: number): GossipAck {
  return { type: 'ack', from, hlc: '', members, echoSentAt, answeredAt }
}

function sends (outs: GossipOutput[]): Array<{ to: { nodeId?: NodeId, address: string }, msg: GossipMessage }> {
  return outs.flatMap(o => o.type === 'send' ? [o] : [])
}

function events (outs: GossipOutput[]): GossipEvent[] {
  return outs.flatMap(o => o.type === 'send' ? [] : [o])
}

function stateOf (m: GossipMachine, nodeId: NodeId, now = 0): MemberRecord['state'] | undefined {
  return m.members(now).find(v => v.nodeId === nodeId)?.state
}

/** A node that knows `peers` (normal, heartbeat 1) at time `now`. */
function knowing (nodeId: NodeId, peers: NodeId[], now = 0): GossipMachine {
  const m = machine(nodeId)
  m.receive(addr(peers[0]!), ping(peers[0]!, peers.map(p => rec(p))), now)
  return m
}

describe('supersedes (merge order)', () => {
  it('higher incarnation wins whatever the heartbeat', () => {
    expect(supersedes(rec(asNodeId(2), { incarnation: 2, heartbeat: 1 }), rec(asNodeId(2), { incarnation: 1, heartbeat: 99 }))).toBe(true)
    expect(supersedes(rec(asNodeId(2), { incarnation: 1, heartbeat: 99 }), rec(asNodeId(2), { incarnation: 2, heartbeat: 1 }))).toBe(false)
  })

  it('same incarnation: higher heartbeat wins, even over a worse verdict', () => {
    expect(supersedes(rec(asNodeId(2), { heartbeat: 6 }), rec(asNodeId(2), { heartbeat: 5, state: 'down' }))).toBe(true)
    expect(supersedes(rec(asNodeId(2), { heartbeat: 5, state: 'down' }), rec(asNodeId(2), { heartbeat: 6 }))).toBe(false)
  })

  it('same incarnation and heartbeat: the worse state wins; identical records do not replace', () => {
    expect(supersedes(rec(asNodeId(2), { state: 'suspect' }), rec(asNodeId(2)))).toBe(true)
    expect(supersedes(rec(asNodeId(2), { state: 'down' }), rec(asNodeId(2), { state: 'suspect' }))).toBe(true)
    expect(supersedes(rec(asNodeId(2)), rec(asNodeId(2), { state: 'suspect' }))).toBe(false)
    expect(supersedes(rec(asNodeId(2)), rec(asNodeId(2)))).toBe(false)
  })

  it("'left' is sticky for its incarnation, and only a higher incarnation replaces it", () => {
    expect(supersedes(rec(asNodeId(2), { state: 'left', heartbeat: 3 }), rec(asNodeId(2), { heartbeat: 50 }))).toBe(true)
    expect(supersedes(rec(asNodeId(2), { heartbeat: 50 }), rec(asNodeId(2), { state: 'left', heartbeat: 3 }))).toBe(false)
    expect(supersedes(rec(asNodeId(2), { incarnation: 1 }), rec(asNodeId(2), { state: 'left', heartbeat: 3 }))).toBe(true)
  })
})

describe('joining', () => {
  it('a node without other seeds is normal at its first tick', () => {
    const m = machine(asNodeId(1), [{ nodeId: asNodeId(1), address: addr(1) }])
    expect(m.state).toBe('joining')
    expect(events(m.tick(0))).toEqual([{ type: 'member-state', nodeId: 1, address: addr(1), from: 'joining', to: 'normal' }])
  })

  it('a node with seeds pings them and is normal after its first exchange', () => {
    const m = machine(asNodeId(2), [{ nodeId: asNodeId(1), address: addr(1) }, { nodeId: asNodeId(2), address: addr(2) }])
    const out = m.tick(100)
    expect(m.state).toBe('joining')
    expect(sends(out).map(s => s.to)).toEqual([{ nodeId: 1, address: addr(1) }])
    const p = sends(out)[0]!.msg as GossipPing
    expect(p).toMatchObject({ type: 'ping', from: 2, sentAt: 100, hlc: '' })
    expect(p.members[0]).toMatchObject({ nodeId: 2, state: 'joining', bootId: 'boot2' })

    const evs = events(m.receive(addr(1), ack(asNodeId(1), [rec(asNodeId(1))], 100, 5000), 110))
    expect(evs).toContainEqual({ type: 'member-state', nodeId: 1, address: addr(1), from: null, to: 'normal' })
    expect(evs).toContainEqual({ type: 'member-state', nodeId: 2, address: addr(2), from: 'joining', to: 'normal' })
    expect(m.state).toBe('normal')
  })
})

describe('ping and ack', () => {
  it('a ping is answered by an ack echoing sentAt, with our wall clock and our digest first', () => {
    const m = machine(asNodeId(1))
    m.tick(0)
    const out = sends(m.receive('ignored:1', ping(asNodeId(2), [rec(asNodeId(2), { address: 'node2.example:7400' })], 777), 50, 1_700_000_000_000))
    expect(out).toHaveLength(1)
    expect(out[0]!.to).toEqual({ nodeId: 2, address: 'node2.example:7400' }) // the sender's announced address
    const a = out[0]!.msg as GossipAck
    expect(a).toMatchObject({ type: 'ack', from: 1, echoSentAt: 777, answeredAt: 1_700_000_000_000, hlc: '' })
    expect(a.members.map(r => r.nodeId)).toEqual([1, 2])
  })

  it('the hlc field is left to the shell: written empty, never read', () => {
    const m = machine(asNodeId(1))
    m.tick(0)
    const msg = { ...ping(asNodeId(2), [rec(asNodeId(2))]), hlc: '0194a3b2-0000-8000-8000-000000000000' }
    expect(sends(m.receive(addr(2), msg, 1))[0]!.msg.hlc).toBe('')
  })

  it('messages survive a JSON round trip and parseGossipMessage', () => {
    const m = knowing(asNodeId(1), [asNodeId(2), asNodeId(3)])
    for (const s of sends(m.tick(10))) expect(parseGossipMessage(JSON.parse(JSON.stringify(s.msg)))).toEqual(s.msg)
  })

  it('a digest is capped at GOSSIP_MAX_MEMBERS_PER_MESSAGE, ourselves first', () => {
    const ids = Array.from({ length: 100 }, (_, i) => asNodeId(i + 2))
    const m = machine(asNodeId(1))
    for (let i = 0; i < ids.length; i += 50) m.receive(addr(ids[i]!), ping(ids[i]!, ids.slice(i, i + 50).map(id => rec(id))), 0)
    expect(m.members(0)).toHaveLength(101)
    const msg = sends(m.tick(1))[0]!.msg
    expect(msg.members).toHaveLength(GOSSIP_MAX_MEMBERS_PER_MESSAGE)
    expect(msg.members[0]!.nodeId).toBe(1)
  })

  it('pings at most `fanout` live peers (plus one probe of a down member now and then)', () => {
    const m = knowing(asNodeId(1), [asNodeId(2), asNodeId(3), asNodeId(4), asNodeId(5), asNodeId(6)])
    for (let t = 1; t <= 20; t++) {
      const targets = sends(m.tick(t)).map(s => s.to.nodeId)
      expect(targets).toHaveLength(3)
      expect(new Set(targets).size).toBe(3)
    }
  })
})

describe('merging digests', () => {
  it('adopts fresher records and ignores stale ones', () => {
    const m = knowing(asNodeId(1), [asNodeId(2)])
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(2), { heartbeat: 5, catalogVersion: 0, shardReplicas: 4 })]), 10)
    expect(m.members(10).find(v => v.nodeId === 2)).toMatchObject({ heartbeat: 5, shardReplicas: 4 })
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(2), { heartbeat: 4, shardReplicas: 9 })]), 20)
    expect(m.members(20).find(v => v.nodeId === 2)).toMatchObject({ heartbeat: 5, shardReplicas: 4 })
  })

  it("another observer's verdict spreads at the same heartbeat; a fresher heartbeat clears it", () => {
    const m = knowing(asNodeId(1), [asNodeId(2), asNodeId(3)])
    expect(events(m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(2), { state: 'suspect' })]), 10)))
      .toContainEqual({ type: 'member-state', nodeId: 2, address: addr(2), from: 'normal', to: 'suspect' })
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(2), { state: 'down' })]), 20)
    expect(stateOf(m, asNodeId(2))).toBe('down')
    expect(events(m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { heartbeat: 2 })]), 30)))
      .toContainEqual({ type: 'member-state', nodeId: 2, address: addr(2), from: 'down', to: 'normal' })
  })

  it('reports a catalog version above ours once, again after we caught up', () => {
    const m = knowing(asNodeId(1), [asNodeId(2)])
    const behind = (outs: GossipOutput[]): GossipEvent[] => events(outs).filter(e => e.type === 'catalog-behind')
    expect(behind(m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { heartbeat: 2, catalogVersion: 5 })]), 1))).toEqual([{ type: 'catalog-behind', nodeId: 2, version: 5 }])
    expect(behind(m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3), { catalogVersion: 5 })]), 2))).toEqual([])
    m.setLocal({ catalogVersion: 5 })
    expect(m.members(2)[0]!.catalogVersion).toBe(5)
    expect(behind(m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { heartbeat: 3, catalogVersion: 6 })]), 3))).toEqual([{ type: 'catalog-behind', nodeId: 2, version: 6 }])
  })

  it('setLocal is announced with a new heartbeat', () => {
    const m = machine(asNodeId(1))
    m.tick(0)
    const before = m.members(0)[0]!.heartbeat
    m.setLocal({ oldestActiveHlc: '0194a3b2-0000-8000-8000-000000000001', shardReplicas: 3 })
    expect(m.members(0)[0]).toMatchObject({ heartbeat: before + 1, oldestActiveHlc: '0194a3b2-0000-8000-8000-000000000001', shardReplicas: 3 })
  })
})

describe('failure detection', () => {
  it('silent for heartbeatTimeoutMs/2 → suspect, for heartbeatTimeoutMs → down (at the next tick)', () => {
    const clock = new ManualClock()
    const m = knowing(asNodeId(1), [asNodeId(2)], clock.monotonic())
    const trail: string[] = []
    for (let i = 0; i < 12; i++) {
      clock.advance(1000)
      for (const e of events(m.tick(clock.monotonic()))) if (e.type === 'member-state' && e.nodeId === 2) trail.push(`${clock.monotonic()}:${e.to}`)
    }
    expect(trail).toEqual(['5000:suspect', '10000:down'])
    expect(m.members(clock.monotonic()).find(v => v.nodeId === 2)!.heartbeatAgeMs).toBe(12_000)
  })

  it('a growing heartbeat keeps a member normal; the age counts from the last growth', () => {
    const clock = new ManualClock()
    const m = knowing(asNodeId(1), [asNodeId(2)], clock.monotonic())
    for (let hb = 2; hb < 30; hb++) {
      clock.advance(1000)
      if (hb % 4 === 0) m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { heartbeat: hb })]), clock.monotonic())
      expect(events(m.tick(clock.monotonic()))).toEqual([])
    }
    // Last growth: heartbeat 28 at 27 s; now 28 s.
    expect(m.members(clock.monotonic()).find(v => v.nodeId === 2)!.heartbeatAgeMs).toBe(1000)
  })

  it('its own stall (SIGSTOP, GC pause) is not held against its peers: silence counts in running time only', () => {
    const clock = new ManualClock()
    const m = knowing(asNodeId(1), [asNodeId(2)], clock.monotonic())
    clock.advance(1000)
    expect(events(m.tick(clock.monotonic()))).toEqual([])
    // Stopped for 30 s (three heartbeat timeouts): the first tick after is 29 s late.
    clock.advance(30_000)
    const after = events(m.tick(clock.monotonic()))
    expect(after).toEqual([{ type: 'paused', stalledMs: 29_000 }])
    expect(m.members(clock.monotonic()).find(v => v.nodeId === 2)!.state).toBe('normal')
    // The peer answers right after: nothing was ever convicted.
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { heartbeat: 2 })]), clock.monotonic())
    expect(m.members(clock.monotonic()).find(v => v.nodeId === 2)!.state).toBe('normal')
    // A peer that really is silent is still convicted, after the timeout of running time.
    const trail: string[] = []
    for (let i = 0; i < 12; i++) {
      clock.advance(1000)
      for (const e of events(m.tick(clock.monotonic()))) if (e.type === 'member-state' && e.nodeId === 2) trail.push(e.to)
    }
    expect(trail).toEqual(['suspect', 'down'])
    // Late by up to max(interval, half the suspicion delay) — 2.5 s here — is jitter, not a stall.
    const j = knowing(asNodeId(1), [asNodeId(2)], clock.monotonic())
    clock.advance(1000); j.tick(clock.monotonic())
    clock.advance(1000 + 2500)
    expect(events(j.tick(clock.monotonic())).filter(e => e.type === 'paused')).toEqual([])
    clock.advance(1000 + 2501)
    expect(events(j.tick(clock.monotonic())).filter(e => e.type === 'paused')).toEqual([{ type: 'paused', stalledMs: 2501 }])
  })

  it('suspectAfterMs can be set; it must stay below the timeout', () => {
    const m = machine(asNodeId(1), [], 'b', { ...CFG, suspectAfterMs: 2000 })
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2))]), 0)
    expect(events(m.tick(2000))).toContainEqual({ type: 'member-state', nodeId: 2, address: addr(2), from: 'normal', to: 'suspect' })
    expect(() => machine(asNodeId(1), [], 'b', { ...CFG, suspectAfterMs: 10_000 })).toThrow(/suspectAfterMs/)
    expect(() => machine(asNodeId(1), [], 'b', { ...CFG, heartbeatTimeoutMs: 1000 })).toThrow(/timeout/)
  })

  it('down and left members are not pinged; down ones are probed when live peers are few', () => {
    const m = knowing(asNodeId(1), [asNodeId(2), asNodeId(3)])
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3), { state: 'left', heartbeat: 9 })]), 0)
    m.tick(10_000) // 2 goes down
    expect(stateOf(m, asNodeId(2))).toBe('down')
    const targets = sends(m.tick(11_000)).map(s => s.to.nodeId)
    expect(targets).toEqual([2]) // no live peer: the free slot probes the down one; never the left one
  })
})

describe('SWIM refutation', () => {
  it('hearing itself suspected or down at its incarnation, a node bumps it and stays normal', () => {
    const m = machine(asNodeId(1))
    m.tick(0)
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2)), rec(asNodeId(1), { state: 'suspect', heartbeat: 1, bootId: 'boot1' })]), 1)
    expect(m.incarnation).toBe(1)
    expect(m.state).toBe('normal')
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(1), { state: 'down', incarnation: 1, bootId: 'boot1' })]), 2)
    expect(m.incarnation).toBe(2)
    const self = sends(m.tick(3))[0]!.msg.members[0]!
    expect(self).toMatchObject({ nodeId: 1, state: 'normal', incarnation: 2 })
    // The refuting record beats the suspicion everywhere.
    expect(supersedes(self, rec(asNodeId(1), { state: 'down', incarnation: 1, heartbeat: 99 }))).toBe(true)
  })

  it('a stale verdict (older incarnation) is ignored', () => {
    const m = machine(asNodeId(1))
    m.tick(0)
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(1), { state: 'suspect', bootId: 'boot1' })]), 1)
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(1), { state: 'down', incarnation: 0, bootId: 'boot1' })]), 2)
    expect(m.incarnation).toBe(1)
  })
})

describe('clock offset', () => {
  it('estimates peer clock minus ours from the round trip and warns above 100 ms, once a minute', () => {
    const m = knowing(asNodeId(1), [asNodeId(2)])
    // Sent at 1000 (our clock); peer 300 ms ahead answered after 20 ms; back after 20 more.
    const out = m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2))], 1000, 1000 + 20 + 300), 1040)
    expect(events(out)).toEqual([{ type: 'clock-skew', nodeId: 2, offsetMs: 300, rttMs: 40 }])
    expect(m.members(1040).find(v => v.nodeId === 2)).toMatchObject({ clockOffsetMs: 300, rttMs: 40 })
    expect(events(m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2))], 2000, 2320), 2040))).toEqual([])
    const later = 1040 + CLOCK_SKEW_WARN_EVERY_MS
    expect(events(m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2))], later - 40, later - 20 + 300), later))).toHaveLength(1)
  })

  it('keeps the sample with the smallest round trip (least asymmetry error)', () => {
    const m = knowing(asNodeId(1), [asNodeId(2)])
    m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2))], 0, 10 - 50), 20) // rtt 20, offset -50: no warning
    // rtt 400 with a 390/10 split looks like +190 ms: not trusted over the 20 ms sample.
    expect(events(m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2))], 1000, 1390 - 50), 1400))).toEqual([])
    expect(m.members(1400).find(v => v.nodeId === 2)).toMatchObject({ clockOffsetMs: -50, rttMs: 20 })
  })

  it('uses the wall clock for the offset and the monotonic clock for the round trip', () => {
    const m = knowing(asNodeId(1), [asNodeId(2)])
    // Monotonic: sent at 500, back at 540 (rtt 40). Wall now 1_000_000; peer wall 999_900 at the midpoint.
    m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2))], 500, 999_980 - 100), 540, 1_000_000)
    expect(m.members(540).find(v => v.nodeId === 2)!.clockOffsetMs).toBe(-100)
  })

  it('ignores negative or very long round trips', () => {
    const m = knowing(asNodeId(1), [asNodeId(2)])
    m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2))], 100, 0), 50)
    m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2))], 0, 0), 60_000)
    expect(m.members(0).find(v => v.nodeId === 2)!.clockOffsetMs).toBeNull()
  })
})

describe('node id ownership', () => {
  it('a second process with a live node id is refused at its first exchange; the owner keeps the id', () => {
    const owner = knowing(asNodeId(1), [asNodeId(2)])
    owner.tick(0)
    expect(owner.state).toBe('normal')
    const dup = new GossipMachine({ nodeId: asNodeId(1), address: 'other:7400', datacenter: 'dc1', bootId: 'dupBoot' }, [{ address: addr(1) }], CFG, new SeededRng(9))
    const p = sends(dup.tick(0))[0]!
    expect(p.to.address).toBe(addr(1))
    const answer = owner.receive('other:7400', p.msg, 1)
    expect(owner.incarnation).toBe(1)
    const a = sends(answer)[0]!.msg
    expect(a.members[0]).toMatchObject({ bootId: 'boot1', incarnation: 1, claimedOver: 'dupBoot' })
    expect(events(dup.receive(addr(1), a, 2))).toEqual([{ type: 'id-conflict', nodeId: 1, address: addr(1), bootId: 'boot1' }])
    expect(dup.isHalted).toBe(true)
    expect(dup.tick(3)).toEqual([])
    expect(dup.receive(addr(1), a, 4)).toEqual([])
  })

  it("a joiner that claimed the id over a live owner gets 'id-contested' from the owner, then 'id-conflict'", () => {
    const owner = knowing(asNodeId(1), [asNodeId(2)])
    owner.tick(0)
    const claim = rec(asNodeId(1), { address: 'other:7400', bootId: 'dupBoot', incarnation: 1, claimedOver: 'boot1', state: 'joining' })
    const out = owner.receive(addr(2), ping(asNodeId(2), [claim]), 5)
    expect(events(out)).toEqual([{ type: 'id-contested', nodeId: 1, address: 'other:7400', bootId: 'dupBoot' }])
    expect(owner.incarnation).toBe(2)
  })

  it('the owner answers a claim built from a stale record of it (lower incarnation) without waiting for a higher one', () => {
    const owner = knowing(asNodeId(1), [asNodeId(2)])
    owner.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(1), { state: 'down', bootId: 'boot1' })]), 1) // refute: incarnation 1
    owner.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(1), { state: 'down', incarnation: 1, bootId: 'boot1' })]), 2) // incarnation 2
    const staleClaim = rec(asNodeId(1), { address: 'other:7400', bootId: 'dupBoot', incarnation: 1, claimedOver: 'boot1', state: 'joining' })
    const a = sends(owner.receive('other:7400', ping(asNodeId(1), [staleClaim]), 3))[0]!.msg
    expect(owner.incarnation).toBe(2)
    expect(a.members[0]).toMatchObject({ bootId: 'boot1', claimedOver: 'dupBoot' })
    const hb = a.members[0]!.heartbeat
    owner.receive('other:7400', ping(asNodeId(1), [staleClaim]), 4) // already answered: no new heartbeat
    expect(owner.members(4)[0]!.heartbeat).toBe(hb)
  })

  it('a restart over a down record takes the id at once', () => {
    const m = new GossipMachine({ nodeId: asNodeId(1), address: addr(1), datacenter: 'dc1', bootId: 'newBoot' }, [{ address: addr(2) }], CFG, new SeededRng(3))
    m.tick(0)
    const old = rec(asNodeId(1), { bootId: 'oldBoot', incarnation: 4, heartbeat: 500, state: 'down' })
    const evs = events(m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2)), old], 0, 0), 10))
    expect(evs).toContainEqual({ type: 'member-state', nodeId: 1, address: addr(1), from: 'joining', to: 'normal' })
    expect(m.members(10)[0]).toMatchObject({ incarnation: 5, claimedOver: 'oldBoot', state: 'normal' })
    expect(supersedes(m.members(10)[0]!, old)).toBe(true)
  })

  it('a quick restart (old record still alive) waits heartbeatTimeoutMs, probing the old owner', () => {
    const m = new GossipMachine({ nodeId: asNodeId(1), address: 'node1-new:7400', datacenter: 'dc1', bootId: 'newBoot' }, [{ address: addr(2) }], CFG, new SeededRng(3))
    m.tick(0)
    m.receive(addr(2), ack(asNodeId(2), [rec(asNodeId(2)), rec(asNodeId(1), { bootId: 'oldBoot', incarnation: 2 })], 0, 0), 10)
    expect(m.state).toBe('joining')
    expect(m.incarnation).toBe(3)
    expect(sends(m.tick(1000)).map(s => s.to.address)).toContain(addr(1)) // ask the old address directly
    // Stale gossip of the dead process (lower incarnation) changes nothing; nobody claims back.
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { heartbeat: 2 }), rec(asNodeId(1), { bootId: 'oldBoot', incarnation: 2, heartbeat: 9 })]), 5000)
    expect(m.tick(9000).some(o => o.type === 'member-state')).toBe(false)
    expect(events(m.tick(10_010))).toContainEqual({ type: 'member-state', nodeId: 1, address: 'node1-new:7400', from: 'joining', to: 'normal' })
  })

  it('observers see a new bootId as a restart', () => {
    const m = knowing(asNodeId(1), [asNodeId(2)])
    m.tick(10_000) // 2 is down
    const evs = events(m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { bootId: 'boot2b', incarnation: 1, heartbeat: 1, state: 'joining' })]), 10_500))
    expect(evs).toEqual([
      { type: 'member-restarted', nodeId: 2, address: addr(2), bootId: 'boot2b' },
      { type: 'member-state', nodeId: 2, address: addr(2), from: 'down', to: 'joining' }
    ])
    expect(m.members(10_500).find(v => v.nodeId === 2)!.heartbeatAgeMs).toBe(0)
  })
})

describe('leave', () => {
  it("announces 'leaving', then 'left', then tells the shell it may stop", () => {
    const m = machine(asNodeId(1))
    m.tick(0)
    expect(events(m.leave())).toEqual([{ type: 'member-state', nodeId: 1, address: addr(1), from: 'normal', to: 'leaving' }])
    expect(m.leave()).toEqual([])
    const trail: string[] = []
    for (let t = 1; t <= 2 * LEAVE_ANNOUNCE_TICKS + 2; t++) {
      for (const e of events(m.tick(t * 1000))) trail.push(e.type === 'member-state' ? `${t}:${e.to}` : `${t}:${e.type}`)
    }
    expect(trail).toEqual([`${LEAVE_ANNOUNCE_TICKS}:left`, `${2 * LEAVE_ANNOUNCE_TICKS}:left`])
    expect(m.state).toBe('left')
  })

  it("observers keep 'left' (no failure detection) even against a later heartbeat of that incarnation", () => {
    const m = knowing(asNodeId(1), [asNodeId(2)])
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { state: 'left', heartbeat: 3 })]), 1)
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(2), { heartbeat: 40 })]), 2)
    expect(stateOf(m, asNodeId(2))).toBe('left')
    expect(events(m.tick(60_000))).toEqual([])
  })

  it('a leaving node does not refute its own left record', () => {
    const m = machine(asNodeId(1))
    m.tick(0)
    m.leave()
    for (let t = 1; t <= LEAVE_ANNOUNCE_TICKS; t++) m.tick(t)
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(1), { state: 'left', bootId: 'boot1', heartbeat: 2 })]), 10)
    expect(m.incarnation).toBe(0)
  })
})

describe('parseGossipMessage', () => {
  const good = ping(asNodeId(2), [rec(asNodeId(2))], 5)

  it('accepts a well-formed message and drops unknown fields', () => {
    expect(parseGossipMessage(JSON.parse(JSON.stringify({ ...good, extra: 1 })))).toEqual(good)
    const a = ack(asNodeId(2), [rec(asNodeId(2))], 1, 2)
    expect(parseGossipMessage(JSON.parse(JSON.stringify(a)))).toEqual(a)
  })

  it('rejects what a peer must not send', () => {
    const bad: unknown[] = [
      null, 'ping', { ...good, type: 'pong' }, { ...good, from: 0 }, { ...good, from: 65536 }, { ...good, sentAt: 'x' },
      { ...good, hlc: 5 }, { ...good, members: [rec(asNodeId(2), { state: 'zombie' as 'normal' })] },
      { ...good, members: [rec(asNodeId(2), { heartbeat: -1 })] }, { ...good, members: [rec(asNodeId(2), { incarnation: 1.5 })] },
      { ...good, members: [rec(asNodeId(2), { address: '' })] }, { ...good, members: [rec(asNodeId(2), { bootId: 'x'.repeat(300) })] },
      { ...good, members: Array.from({ length: GOSSIP_MAX_MEMBERS_PER_MESSAGE + 1 }, (_, i) => rec(asNodeId(i + 1))) },
      { type: 'ack', from: 2, hlc: '', members: [], echoSentAt: 1 }
    ]
    for (const b of bad) expect(parseGossipMessage(b), JSON.stringify(b)).toBeNull()
  })
})
