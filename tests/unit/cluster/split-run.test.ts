import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { gossipPingCodec } from '../../../src/cluster/gossip/codec'
import { parseGossipMessage, type GossipPing, type MemberRecord } from '../../../src/cluster/gossip/types'
import { parseLayout, type ClusterLayout } from '../../../src/cluster/layout'
import { compareLayouts } from '../../../src/cluster/membership/epochs'
import { DecreeProposer } from '../../../src/cluster/membership/epoch-decree'
import { caughtUpFloor, parentsMaySwitch, parseCaughtUpRecord, switchMayBegin, withCaughtUp, splitCancelLayout, splitDoneLayout, splitIntentLayout, splitStatement, splitSwitched, type SplitReports } from '../../../src/cluster/split-run'
import type { SplitParentPhase, SplitParentReport } from '../../../src/cluster/split-progress'
import { asNodeId, asShardId, type NodeId, type ShardId } from '../../../src/core/ids'
import { rpcPayloads } from '../../../src/net/rpc/payloads'

// The RUN of a shard split, its pure rules (cluster/split-run.ts) and how its intent and reports
// travel: the layout's `split` field (gossip v5, MEMBERSHIP_DECREE v3) and the members' reports.

const [N1, N2, N3] = [1, 2, 3].map(asNodeId) as [NodeId, NodeId, NodeId]
const BASE: ClusterLayout = { cluster: 'c', shards: 2, epoch: 4, members: [N1, N2, N3] }
const report = (parent: number, phase: SplitParentPhase): SplitParentReport => ({ parent: asShardId(parent), phase, lagEntries: phase === 'copying' ? 5 : 0, rowsCopied: 10 })

describe('the layouts of a split', () => {
  it('intent at epoch + 1 with the same count, then the doubled count or a cancel at epoch + 1 without it', () => {
    const intent = splitIntentLayout(BASE)
    expect(intent).toEqual({ ...BASE, epoch: 5, split: { to: 4 } })
    expect(splitDoneLayout(intent)).toEqual({ ...BASE, epoch: 6, shards: 4, placementShards: 2 })
    expect(splitCancelLayout(intent)).toEqual({ ...BASE, epoch: 6 })
    expect(() => splitIntentLayout(intent)).toThrow()
    expect(() => splitDoneLayout(BASE)).toThrow()
  })

  it('parseLayout takes a split to twice the shards only', () => {
    expect(parseLayout({ ...BASE, split: { to: 4 } })?.split).toEqual({ to: 4 })
    // cluster.json's form (JSON) reads back the same.
    expect(parseLayout(JSON.parse(JSON.stringify(splitIntentLayout(BASE))))).toEqual(splitIntentLayout(BASE))
    expect(parseLayout({ ...BASE, split: { to: 3 } })).toBeNull()
    expect(parseLayout({ ...BASE, split: { to: '4' } })).toBeNull()
    expect(parseLayout({ ...BASE, split: null })).toBeNull()
    expect(parseLayout({ ...BASE, shards: 4096, split: { to: 8192 } })).toBeNull()
  })

  it('two layouts of one epoch differing only in the split are not one decree\'s value (conflict; a proposer\'s own)', () => {
    const intent = splitIntentLayout(BASE)
    const other = { ...BASE, epoch: 5 }
    expect(compareLayouts(intent, other, N1, N2).kind).toBe('conflict')
    expect(compareLayouts(intent, { ...intent }, N1, N2).kind).toBe('same')
    // A proposer that wanted the intent but found the cancel (same members) accepted: not its own.
    const p = new DecreeProposer(BASE, intent, { round: 2, node: N1 })
    p.start()
    const accepted = { ballot: { round: 1, node: N2 }, layout: other }
    p.onReply(N1, { kind: 'promise', epoch: 5, ballot: p.ballot, accepted })
    p.onReply(N2, { kind: 'promise', epoch: 5, ballot: p.ballot, accepted: null })
    p.onReply(N1, { kind: 'accepted', epoch: 5, ballot: p.ballot })
    const out = p.onReply(N2, { kind: 'accepted', epoch: 5, ballot: p.ballot })
    expect(out.outcome).toEqual({ kind: 'chosen', layout: other, own: false })
  })
})

describe('the decisions on the holders\' reports', () => {
  const intent = splitIntentLayout(BASE)
  const holders = (p: ShardId): NodeId[] => p === 0 ? [N1, N2] : [N3]

  it('the split is switched once every holder of every parent reports switched; a missing report holds it', () => {
    const reports = (r: Record<number, SplitParentReport[]>): SplitReports => new Map(Object.entries(r).map(([k, v]) => [asNodeId(Number(k)), v]))
    expect(splitSwitched(intent, holders, reports({ 1: [report(0, 'switched')], 2: [report(0, 'switched')], 3: [report(1, 'switched')] }))).toBe(true)
    expect(splitSwitched(intent, holders, reports({ 1: [report(0, 'switched')], 2: [report(0, 'caught_up')], 3: [report(1, 'switched')] }))).toBe(false)
    expect(splitSwitched(intent, holders, reports({ 1: [report(0, 'switched')], 3: [report(1, 'switched')] }))).toBe(false)
    // A report on another parent does not count for this one.
    expect(splitSwitched(intent, holders, reports({ 1: [report(0, 'switched')], 2: [report(1, 'switched')], 3: [report(1, 'switched')] }))).toBe(false)
    expect(splitSwitched(BASE, holders, reports({ 1: [report(0, 'switched')], 2: [report(0, 'switched')], 3: [report(1, 'switched')] }))).toBe(false)
    expect(parentsMaySwitch(intent, holders, reports({ 1: [report(0, 'caught_up')], 2: [report(0, 'switched')], 3: [report(1, 'copying')] }))).toEqual([0])
    expect(parentsMaySwitch(intent, holders, reports({ 1: [report(0, 'caught_up')], 2: [report(0, 'copying')] }))).toEqual([])
  })

  it('switched means every holder reports switched, whatever the reports (property)', () => {
    const phase = fc.constantFrom<SplitParentPhase | null>(null, 'copying', 'caught_up', 'switched')
    fc.assert(fc.property(fc.array(fc.tuple(phase, phase), { minLength: 3, maxLength: 3 }), per => {
      // per[node][parent]: node i holds parent 0 when i < 2, parent 1 when i = 2 (holders above)
      const reports = new Map(per.map((ps, i) => [asNodeId(i + 1), ps.flatMap((ph, p) => ph === null ? [] : [report(p, ph)])]))
      const expected = per[0]![0] === 'switched' && per[1]![0] === 'switched' && per[2]![1] === 'switched'
      expect(splitSwitched(intent, holders, reports)).toBe(expected)
    }))
  })

  it('ALTER CLUSTER SET shards: starts, is a no-op, cancels, or refuses', () => {
    expect(splitStatement(BASE, 4, [])).toEqual({ kind: 'start', layout: intent })
    expect(splitStatement(BASE, 2, []).kind).toBe('nothing')
    expect(() => splitStatement(BASE, 3, [])).toThrow(expect.objectContaining({ code: 'SB_SHARD_SPLIT_INVALID' }))
    expect(splitStatement(intent, 4, []).kind).toBe('nothing')
    expect(splitStatement(intent, 2, [])).toEqual({ kind: 'cancel', layout: splitCancelLayout(intent) })
    expect(() => splitStatement(intent, 2, [asShardId(1)])).toThrow(expect.objectContaining({ code: 'SB_SHARD_SPLIT_CANCEL_REFUSED', details: expect.objectContaining({ parents: [1] }) }))
    expect(() => splitStatement(intent, 8, [])).toThrow(expect.objectContaining({ code: 'SB_SHARD_SPLIT_INVALID' }))
  })
})

describe('the split on the wire', () => {
  const rec = (nodeId: NodeId, split?: SplitParentReport[]): MemberRecord => ({
    nodeId, address: `h${nodeId}:1`, datacenter: 'dc1', incarnation: 0, heartbeat: 3, state: 'normal', bootId: 'b', claimedOver: '', catalogVersion: 1, oldestActiveHlc: '', shardReplicas: 2, ...(split !== undefined ? { split } : {})
  })
  const ping = (members: MemberRecord[], layout: ClusterLayout): GossipPing => ({ type: 'ping', from: N2, hlc: '', members, sentAt: 1, layout })

  it('gossip carries the intent and the reports in v5, and anything else in the version it did before', () => {
    const m = ping([rec(N2, [report(0, 'caught_up'), report(3, 'copying')]), rec(N1)], splitIntentLayout(BASE))
    const bytes = gossipPingCodec.encode(m)
    expect(bytes[0]).toBe(5)
    expect(gossipPingCodec.decode(bytes)).toEqual(m)
    expect(gossipPingCodec.encode(ping([rec(N2, [report(1, 'switched')])], BASE))[0]).toBe(5)
    expect(gossipPingCodec.encode(ping([rec(N2)], BASE))[0]).toBe(2)
    expect(parseGossipMessage(m)).toEqual(m)
    // Reports out of order, twice the same parent, or an unknown phase: malformed.
    const code = (split: unknown): string => { try { gossipPingCodec.decode(gossipPingCodec.encode(ping([rec(N2, split as SplitParentReport[])], BASE))); return 'ok' } catch (e) { return (e as { code: string }).code } }
    expect(code([report(3, 'copying'), report(1, 'copying')])).toBe('SB_RPC_MALFORMED')
    expect(code([report(1, 'copying'), report(1, 'copying')])).toBe('SB_RPC_MALFORMED')
    expect(parseGossipMessage({ ...m, members: [{ ...rec(N2), split: [{ ...report(0, 'copying'), phase: 'done' }] }] })).toBeNull()
  })

  it('MEMBERSHIP_DECREE carries a layout with the intent in v3, any other in v1', () => {
    const codec = rpcPayloads('MEMBERSHIP_DECREE')
    const intent = splitIntentLayout(BASE)
    const req = { kind: 'accept' as const, epoch: 5, ballot: { round: 1, node: N1 }, layout: intent }
    expect(codec.request.encode(req)[0]).toBe(3)
    expect(codec.request.decode(codec.request.encode(req))).toEqual(req)
    expect(codec.request.encode({ ...req, layout: { ...BASE, epoch: 5 } })[0]).toBe(1)
    const reply = { kind: 'promise' as const, epoch: 5, ballot: { round: 2, node: N2 }, accepted: { ballot: { round: 1, node: N1 }, layout: intent } }
    expect(codec.reply.encode(reply)[0]).toBe(3)
    expect(codec.reply.decode(codec.reply.encode(reply))).toEqual(reply)
  })
})

describe('a switch\'s start and the caught-up record', () => {
  const intent: ClusterLayout = { ...BASE, epoch: 5, split: { to: 4 } }
  it('a primary begins its switch only with every holder caught up and its group\'s voters the holders', () => {
    const reports: SplitReports = new Map([[N1, [report(0, 'caught_up')]], [N2, [report(0, 'caught_up')]]])
    expect(switchMayBegin([N1, N2], reports, asShardId(0), true)).toBe(true)
    expect(switchMayBegin([N1, N2], reports, asShardId(0), false)).toBe(false)
    expect(switchMayBegin([N1, N2, N3], reports, asShardId(0), true)).toBe(false)
  })

  it('keeps the parents of this split only, adds and drops one, and reads back only a well-formed record', () => {
    const rec = withCaughtUp(null, intent, asShardId(1), true)
    expect(rec).toEqual({ epoch: 5, shards: 2, to: 4, parents: [1] })
    expect([...caughtUpFloor(withCaughtUp(rec, intent, asShardId(0), true), intent)].sort()).toEqual([0, 1])
    expect([...caughtUpFloor(withCaughtUp(rec, intent, asShardId(1), false), intent)]).toEqual([])
    // Another split (a cancelled one's epoch), or no split at all: nothing.
    expect([...caughtUpFloor(rec, { ...intent, epoch: 7 })]).toEqual([])
    expect([...caughtUpFloor(rec, BASE)]).toEqual([])
    expect([...caughtUpFloor(withCaughtUp({ ...rec, epoch: 3 }, intent, asShardId(0), true), intent)]).toEqual([0])
    expect(parseCaughtUpRecord(JSON.parse(JSON.stringify(rec)))).toEqual(rec)
    for (const bad of [null, 3, { ...rec, to: 3 }, { ...rec, parents: [2] }, { ...rec, parents: ['0'] }, { ...rec, epoch: -1 }]) expect(parseCaughtUpRecord(bad)).toBeNull()
  })
})
