import { describe, expect, it } from 'vitest'
import { gossipAckOrNoneCodec, gossipMessageCodec, gossipPingCodec } from '../../../src/cluster/gossip/codec'
import { GossipMachine, LAYOUT_REFUSAL_REPORT_EVERY_MS, type GossipConfig } from '../../../src/cluster/gossip/machine'
import { parseGossipMessage, type GossipMessage, type GossipOutput, type GossipPing, type MemberRecord } from '../../../src/cluster/gossip/types'
import type { ClusterLayout } from '../../../src/cluster/layout'
import { SeededRng } from '../../../src/core/rng'
import { asNodeId, asShardId, type NodeId } from '../../../src/core/ids'

// Issue 13 item 2: gossip carries the cluster layout; a peer announcing another shard count,
// cluster name or membership epoch is refused — its records are not merged, it is not routed to,
// and the refusal names both values.

const CFG: GossipConfig = { intervalMs: 1000, fanout: 3, heartbeatTimeoutMs: 10_000 }
const LAYOUT: ClusterLayout = { cluster: 'prod', shards: 16, epoch: 1, members: [asNodeId(1), asNodeId(2), asNodeId(3)] }
const addr = (id: number): string => `node${id}:7400`

/** layout null: a machine built without one (the simulations). */
function machine (nodeId: NodeId, layout: ClusterLayout | null = LAYOUT): GossipMachine {
  const seeds = [1, 2, 3].map(id => ({ nodeId: asNodeId(id), address: addr(id) }))
  return new GossipMachine({ nodeId, address: addr(nodeId), datacenter: 'dc1', bootId: `boot${nodeId}`, ...(layout === null ? {} : { layout }) }, seeds, CFG, new SeededRng(nodeId))
}

function rec (nodeId: NodeId, over: Partial<MemberRecord> = {}): MemberRecord {
  return { nodeId, address: addr(nodeId), datacenter: 'dc1', incarnation: 0, heartbeat: 1, state: 'normal', bootId: `boot${nodeId}`, claimedOver: '', catalogVersion: 0, oldestActiveHlc: '', shardReplicas: 0, ...over }
}

function ping (from: NodeId, members: MemberRecord[], layout?: ClusterLayout): GossipPing {
  return { type: 'ping', from, hlc: '', members, sentAt: 5, ...(layout === undefined ? {} : { layout }) }
}

const sends = (outs: GossipOutput[]): GossipMessage[] => outs.flatMap(o => o.type === 'send' ? [o.msg] : [])
const events = (outs: GossipOutput[]): GossipOutput[] => outs.filter(o => o.type !== 'send')
const ids = (m: GossipMachine): NodeId[] => m.members(0).map(v => v.nodeId)

describe('gossip and the cluster layout', () => {
  it('announces its layout in every ping and ack', () => {
    const m = machine(asNodeId(1))
    const out = sends(m.tick(0))
    expect(out.length).toBeGreaterThan(0)
    for (const msg of out) expect(msg.layout).toEqual(LAYOUT)
    const [reply] = sends(m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2))], LAYOUT), 10))
    expect(reply).toMatchObject({ type: 'ack', layout: LAYOUT })
  })

  it('merges a peer with the same layout', () => {
    const m = machine(asNodeId(1))
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2)), rec(asNodeId(3))], LAYOUT), 10)
    expect(ids(m)).toEqual([1, 2, 3])
    expect(m.state).toBe('normal')
  })

  it('takes a peer announcing a split (twice the shards at a later epoch) as a newer layout of this cluster, not a conflict', () => {
    const m = machine(asNodeId(1))
    const split = { ...LAYOUT, shards: 32, epoch: 2 }
    const out = m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2))], split), 10)
    expect(events(out).filter(e => e.type.startsWith('layout'))).toEqual([{ type: 'layout-newer', nodeId: 2, layout: split }])
    expect(m.refusedPeers()).toEqual([])
  })

  it('pingTo: one exchange with a named peer outside the rounds hands each side the other\'s layout (a coordinator refused for its shard count)', () => {
    const behind = machine(asNodeId(1))
    const ahead = machine(asNodeId(2), { ...LAYOUT, shards: 32, epoch: 3, splitFrom: [16], placementShards: 16 })
    // Not known yet: nothing to send.
    expect(behind.pingTo(asNodeId(2), 0)).toEqual([])
    behind.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3)), rec(asNodeId(2))], LAYOUT), 0)
    expect(behind.pingTo(asNodeId(1), 0)).toEqual([])
    const out = behind.pingTo(asNodeId(2), 5)
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ type: 'send', to: { nodeId: 2, address: addr(2) }, msg: { type: 'ping', layout: LAYOUT } })
    // The peer ahead sees an older layout (no event) and answers with its own; the one behind takes it as newer.
    const atPeer = ahead.receive(addr(1), (out[0] as { msg: GossipMessage }).msg, 6)
    expect(events(atPeer).filter(e => e.type.startsWith('layout'))).toEqual([])
    const ack = sends(atPeer).find(m => m.type === 'ack')!
    expect(events(behind.receive(addr(2), ack, 7)).filter(e => e.type.startsWith('layout'))).toMatchObject([{ type: 'layout-newer', nodeId: 2, layout: { shards: 32, epoch: 3 } }])
  })

  it('refuses a peer with another shard count: nothing merged, still joining, an event naming both values, an ack with our record only', () => {
    const m = machine(asNodeId(1))
    const out = m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3)), rec(asNodeId(2))], { ...LAYOUT, shards: 8 }), 10)
    expect(events(out)).toEqual([{ type: 'layout-refused', nodeId: 3, address: addr(3), reason: 'storage.shards 16 here, 8 there' }])
    expect(ids(m)).toEqual([1])
    expect(m.state).toBe('joining')
    const [reply] = sends(out)
    expect(reply).toMatchObject({ type: 'ack', layout: LAYOUT, echoSentAt: 5 })
    expect(reply!.members.map(r => r.nodeId)).toEqual([1])
    expect(m.refusedPeers()).toEqual([{ nodeId: 3, bootId: 'boot3', address: addr(3), reason: 'storage.shards 16 here, 8 there' }])
  })

  it('refuses another cluster name, or other members at the same epoch', () => {
    const m = machine(asNodeId(1))
    const byName = events(m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2))], { ...LAYOUT, cluster: 'other' }), 10))
    expect(byName).toEqual([expect.objectContaining({ type: 'layout-refused', nodeId: 2, reason: 'cluster name "prod" here, "other" there' })])
    // Same epoch, other members (two deciders in a partition, membership/epochs.ts): never merged.
    const byEpoch = events(m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3))], { ...LAYOUT, members: [asNodeId(1), asNodeId(2), asNodeId(3), asNodeId(5)] }), 10))
    expect(byEpoch).toEqual([expect.objectContaining({ type: 'layout-refused', nodeId: 3, reason: 'membership epoch 1 with members {1, 2, 3} here, membership epoch 1 with members {1, 2, 3, 5} there' })])
    expect(ids(m)).toEqual([1])
  })

  it("drops a refused process's records passed on by a peer that did not refuse it, and forgets a peer it knew", () => {
    const m = machine(asNodeId(1))
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2)), rec(asNodeId(3))], LAYOUT), 10) // node 3's record arrives second hand first
    expect(ids(m)).toEqual([1, 2, 3])
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3), { heartbeat: 2 })], { ...LAYOUT, shards: 8 }), 20)
    expect(ids(m)).toEqual([1, 2])
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { heartbeat: 3 }), rec(asNodeId(3), { heartbeat: 9 })], LAYOUT), 30)
    expect(ids(m)).toEqual([1, 2])
  })

  it('reports the same refusal once, then again after LAYOUT_REFUSAL_REPORT_EVERY_MS', () => {
    const m = machine(asNodeId(1))
    const bad = ping(asNodeId(3), [rec(asNodeId(3))], { ...LAYOUT, shards: 8 })
    expect(events(m.receive(addr(3), bad, 0))).toHaveLength(1)
    expect(events(m.receive(addr(3), bad, 1000))).toHaveLength(0)
    expect(events(m.receive(addr(3), bad, LAYOUT_REFUSAL_REPORT_EVERY_MS))).toHaveLength(1)
  })

  it('accepts the peer again once it announces the same layout (restarted with the right configuration)', () => {
    const m = machine(asNodeId(1))
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3))], { ...LAYOUT, shards: 8 }), 0)
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3), { bootId: 'boot3b' })], LAYOUT), 10)
    expect(m.refusedPeers()).toEqual([])
    expect(ids(m)).toEqual([1, 3])
  })

  it('the refused node refuses the ack too, so both sides log the conflict', () => {
    const a = machine(asNodeId(1))
    const b = machine(asNodeId(3), { ...LAYOUT, shards: 8 })
    const [p] = sends(b.tick(0)).filter(x => x.type === 'ping')
    const reply = sends(a.receive(addr(3), p!, 0))[0]!
    expect(events(b.receive(addr(1), reply, 1))).toEqual([{ type: 'layout-refused', nodeId: 1, address: addr(1), reason: 'storage.shards 8 here, 16 there' }])
    expect(b.state).toBe('joining')
  })

  it('checks nothing for a peer without a layout (gossip codec v1) or a machine without one', () => {
    const m = machine(asNodeId(1))
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2))]), 0)
    expect(ids(m)).toEqual([1, 2])
    const bare = machine(asNodeId(1), null)
    bare.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2))], { ...LAYOUT, shards: 8 }), 0)
    expect(ids(bare)).toEqual([1, 2])
    expect(sends(bare.tick(0)).every(x => x.layout === undefined)).toBe(true)
  })
})

describe('the layout on the wire', () => {
  it('round-trips, in the lowest codec version that carries the message, and is absent when not set', () => {
    const withLayout = ping(asNodeId(2), [rec(asNodeId(2))], LAYOUT)
    expect(gossipPingCodec.decode(gossipPingCodec.encode(withLayout))).toEqual(withLayout)
    expect(gossipMessageCodec.decode(gossipMessageCodec.encode(ping(asNodeId(2), [rec(asNodeId(2))])))).toEqual(ping(asNodeId(2), [rec(asNodeId(2))]))
    // A layout without leaving or left members needs v2 (a node of the release before drains reads it), none v1.
    expect(gossipPingCodec.encode(withLayout)[0]).toBe(2)
    expect(gossipPingCodec.encode(ping(asNodeId(2), [rec(asNodeId(2))]))[0]).toBe(1)
    expect(gossipAckOrNoneCodec.encode(null)[0]).toBe(1)
  })

  it('carries the leaving and left members (v3), and decodes a v2 layout without them', () => {
    const members = [1, 2, 3, 4, 5].map(asNodeId)
    const draining = { ...LAYOUT, epoch: 4, members, leaving: [asNodeId(4)], left: [asNodeId(2), asNodeId(5)] }
    const m = ping(asNodeId(2), [rec(asNodeId(2))], draining)
    expect(gossipPingCodec.encode(m)[0]).toBe(3)
    expect(gossipPingCodec.decode(gossipPingCodec.encode(m))).toEqual(m)
    // The same layout without them is written in v2; its v3 form (two empty id lists, one count byte each) reads the same.
    const v2 = gossipPingCodec.encode(ping(asNodeId(2), [rec(asNodeId(2))], LAYOUT))
    expect(v2[0]).toBe(2)
    const v3 = Uint8Array.of(3, ...v2.subarray(1), 0, 0)
    expect(gossipPingCodec.decode(v3)).toEqual(ping(asNodeId(2), [rec(asNodeId(2))], LAYOUT))
    expect(gossipPingCodec.decode(v2)).toEqual(ping(asNodeId(2), [rec(asNodeId(2))], LAYOUT))
    // leaving/left must be ascending members, and disjoint
    const code = (l: object): string => { try { gossipPingCodec.decode(gossipPingCodec.encode(ping(asNodeId(2), [], { ...draining, ...l }))); return 'ok' } catch (e) { return (e as { code: string }).code } }
    expect(code({ leaving: [asNodeId(9)] })).toBe('SB_RPC_MALFORMED')
    expect(code({ left: [asNodeId(5), asNodeId(2)] })).toBe('SB_RPC_MALFORMED')
    expect(code({ leaving: [asNodeId(2)], left: [asNodeId(2)] })).toBe('SB_RPC_MALFORMED')
  })

  it('carries removing members and a placement count (v6), and refuses them out of bounds', () => {
    const members = [1, 2, 3, 4].map(asNodeId)
    const removing = { ...LAYOUT, epoch: 5, members, leaving: [asNodeId(4)], removing: [asNodeId(4)] }
    const m = ping(asNodeId(2), [rec(asNodeId(2))], removing)
    expect(gossipPingCodec.encode(m)[0]).toBe(6)
    expect(gossipPingCodec.decode(gossipPingCodec.encode(m))).toEqual(m)
    const split = ping(asNodeId(2), [rec(asNodeId(2))], { ...LAYOUT, shards: 32, epoch: 3, placementShards: 8 })
    expect(gossipPingCodec.encode(split)[0]).toBe(6)
    expect(gossipPingCodec.decode(gossipPingCodec.encode(split))).toEqual(split)
    const code = (l: object): string => { try { gossipPingCodec.decode(gossipPingCodec.encode(ping(asNodeId(2), [], { ...removing, ...l }))); return 'ok' } catch (e) { return (e as { code: string }).code } }
    // removing ⊂ leaving; a placement count divides the shards by a power of two
    expect(code({ removing: [asNodeId(3)] })).toBe('SB_RPC_MALFORMED')
    expect(code({ shards: 32, placementShards: 12 })).toBe('SB_RPC_MALFORMED')
    expect(code({ shards: 32, placementShards: 64 })).toBe('SB_RPC_MALFORMED')
    expect(code({ shards: 32, placementShards: 32 })).toBe('ok')
  })

  it('carries a member\'s groups changing voters (v7, only when one reports some); a v6 message still decodes, and the machine announces them', () => {
    const changing = ping(asNodeId(2), [rec(asNodeId(2), { votersChanging: [asShardId(1), asShardId(5)] })], LAYOUT)
    expect(gossipPingCodec.encode(changing)[0]).toBe(7)
    expect(gossipPingCodec.decode(gossipPingCodec.encode(changing))).toEqual(changing)
    // Nothing changing: the previous version, which a node of the previous release reads.
    const none = ping(asNodeId(2), [rec(asNodeId(2))], { ...LAYOUT, placementShards: 8 })
    const v6 = gossipPingCodec.encode(none)
    expect(v6[0]).toBe(6)
    expect(gossipPingCodec.decode(v6)).toEqual(none)
    // Out of bounds: not ascending.
    const bad = gossipPingCodec.encode(changing)
    const code = (): string => { try { gossipPingCodec.decode(gossipPingCodec.encode(ping(asNodeId(2), [rec(asNodeId(2), { votersChanging: [asShardId(5), asShardId(1)] })]))); return 'ok' } catch (e) { return (e as { code: string }).code } }
    expect(code()).toBe('SB_RPC_MALFORMED')
    expect(bad[0]).toBe(7)
    const m = machine(asNodeId(1))
    m.setLocal({ votersChanging: [asShardId(3)] })
    expect(m.members(0).find(v => v.isSelf)!.votersChanging).toEqual([3])
    const b = machine(asNodeId(2))
    b.receive(addr(1), sends(m.tick(10))[0]!, 10)
    expect(b.members(10).find(v => v.nodeId === 1)?.votersChanging).toEqual([3])
    m.setLocal({ votersChanging: [] })
    expect(m.members(0).find(v => v.isSelf)!.votersChanging).toBeUndefined()
  })

  it('writes a message without a layout in v1 (a release before layouts reads it); its v3 form reads the same', () => {
    const v1 = gossipPingCodec.encode(ping(asNodeId(2), [rec(asNodeId(2))]))
    expect(v1[0]).toBe(1)
    expect(gossipPingCodec.decode(v1)).toEqual(ping(asNodeId(2), [rec(asNodeId(2))]))
    // v3 = the same bytes and an absent layout's presence byte
    const v3 = Uint8Array.of(3, ...v1.subarray(1), 0)
    expect(gossipPingCodec.decode(v3)).toEqual(ping(asNodeId(2), [rec(asNodeId(2))]))
  })

  it('refuses an out-of-bounds layout as SB_RPC_MALFORMED', () => {
    const code = (m: GossipPing): string => { try { gossipPingCodec.decode(gossipPingCodec.encode(m)); return 'ok' } catch (e) { return (e as { code: string }).code } }
    expect(code(ping(asNodeId(2), [], { ...LAYOUT, members: [asNodeId(3), asNodeId(1)] }))).toBe('SB_RPC_MALFORMED')
    expect(code(ping(asNodeId(2), [], { ...LAYOUT, shards: 0 }))).toBe('SB_RPC_MALFORMED')
    expect(code(ping(asNodeId(2), [], { ...LAYOUT, epoch: 0 }))).toBe('SB_RPC_MALFORMED')
    expect(code(ping(asNodeId(2), [], { ...LAYOUT, cluster: '' }))).toBe('SB_RPC_MALFORMED')
  })

  it('parseGossipMessage copies a valid layout and refuses an invalid one', () => {
    expect(parseGossipMessage(JSON.parse(JSON.stringify(ping(asNodeId(2), [rec(asNodeId(2))], LAYOUT))))).toEqual(ping(asNodeId(2), [rec(asNodeId(2))], LAYOUT))
    expect(parseGossipMessage(JSON.parse(JSON.stringify(ping(asNodeId(2), [rec(asNodeId(2))], { ...LAYOUT, members: [] }))))).toBeNull()
  })
})

describe('the membership epoch each peer announces (leaderless fills wait for it: node/leaderless-moves.ts)', () => {
  it('is the epoch of the last accepted message the peer sent itself; relayed records and refused senders do not set it', () => {
    const m = machine(asNodeId(1), { ...LAYOUT, epoch: 2 })
    expect(m.peerEpoch(asNodeId(2))).toBeUndefined()
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2)), rec(asNodeId(3))], LAYOUT), 10)
    expect(m.peerEpoch(asNodeId(2))).toBe(1)
    expect(m.peerEpoch(asNodeId(3))).toBeUndefined()
    m.receive(addr(2), ping(asNodeId(2), [rec(asNodeId(2), { heartbeat: 2 })], { ...LAYOUT, epoch: 2 }), 20)
    expect(m.peerEpoch(asNodeId(2))).toBe(2)
    m.receive(addr(3), ping(asNodeId(3), [rec(asNodeId(3))], { ...LAYOUT, epoch: 2, shards: 8 }), 30)
    expect(m.peerEpoch(asNodeId(3))).toBeUndefined()
  })
})
