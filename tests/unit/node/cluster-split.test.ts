import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { ClusterLayout } from '../../../src/cluster/layout'
import type { SplitParentReport } from '../../../src/cluster/split-progress'
import { asNodeId, asShardId, type NodeId, type ShardId } from '../../../src/core/ids'
import { ClusterSplit } from '../../../src/node/cluster-split'
import type { DecreeResult } from '../../../src/node/membership-decree'

// The decider's side of a split's run (node/cluster-split.ts): what it asks the membership decree
// to decide, and when. The decree itself is node/membership-decree.ts's (tested there); here
// `decide` records the layouts it is asked for and answers what the test says.

const [N1, N2] = [1, 2].map(asNodeId) as [NodeId, NodeId]
const BASE: ClusterLayout = { cluster: 'c', shards: 2, epoch: 4, members: [N1, N2] }
const r = (parent: number, phase: SplitParentReport['phase']): SplitParentReport => ({ parent: asShardId(parent), phase, lagEntries: 3, rowsCopied: 40 })

function setup (layout: ClusterLayout, answer: (l: ClusterLayout) => DecreeResult = l => ({ kind: 'chosen', layout: l, own: true })) {
  const state = { layout, decider: true, proposing: false, reports: new Map<NodeId, SplitParentReport[]>(), asked: [] as ClusterLayout[] }
  const split = new ClusterSplit({
    layout: () => state.layout,
    isDecider: () => state.decider,
    proposing: () => state.proposing,
    decide: async (next) => { state.asked.push(next); const result = answer(next); if (result.kind === 'chosen') state.layout = result.layout; return { result, adopted: result.kind === 'chosen' } },
    votersText: () => '1, 2',
    holdersOf: (p: ShardId) => p === 0 ? [N1, N2] : [N2],
    reports: () => state.reports,
    log: pino({ level: 'silent' })
  })
  return { split, state }
}

describe('the decider of a split', () => {
  it('decides the intent, then nothing more while a holder has not switched, then the doubled count once', async () => {
    const { split, state } = setup(BASE)
    await split.op(4)
    expect(state.asked).toEqual([{ ...BASE, epoch: 5, split: { to: 4 } }])
    expect((await split.op(4)).warnings[0]).toMatch(/under way already/)
    state.reports.set(N1, [r(0, 'switched')])
    state.reports.set(N2, [r(0, 'switched'), r(1, 'caught_up')])
    split.finish()
    expect(state.asked).toHaveLength(1)
    expect(split.progressText(asShardId(1))).toBe('splitting into shards 1 and 3 of 4: node 2 caught_up (40 rows, lag 3)')
    state.reports.set(N2, [r(0, 'switched'), r(1, 'switched')])
    state.decider = false
    split.finish()
    state.decider = true
    state.proposing = true
    split.finish()
    expect(state.asked).toHaveLength(1)
    state.proposing = false
    split.finish()
    await Promise.resolve()
    expect(state.asked.at(-1)).toEqual({ ...BASE, epoch: 6, shards: 4, placementShards: 2 })
    expect(split.progressText(asShardId(0))).toBeNull()
  })

  it('cancels while no parent may have switched, refuses after, and reports a decree without a majority', async () => {
    const intent: ClusterLayout = { ...BASE, epoch: 5, split: { to: 4 } }
    const a = setup(intent)
    a.state.reports.set(N2, [r(1, 'caught_up')])
    await expect(a.split.op(2)).rejects.toMatchObject({ code: 'SB_SHARD_SPLIT_CANCEL_REFUSED', details: { parents: [1] } })
    expect(a.state.asked).toEqual([])
    a.state.reports.set(N2, [r(1, 'copying')])
    await a.split.op(2)
    expect(a.state.asked).toEqual([{ ...BASE, epoch: 6 }])
    const b = setup(BASE, () => ({ kind: 'undecided', missing: [N2], maybe: false }))
    await expect(b.split.op(4)).rejects.toMatchObject({ code: 'SB_MEMBERSHIP_NO_MAJORITY', details: { missing: [N2] } })
    const c = setup(BASE, l => ({ kind: 'chosen', layout: { ...l, split: undefined } as ClusterLayout, own: false }))
    await expect(c.split.op(4)).rejects.toMatchObject({ code: 'SB_MEMBERSHIP_REFUSED' })
  })
})
