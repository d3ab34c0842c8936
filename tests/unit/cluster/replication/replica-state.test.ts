import { describe, expect, it } from 'vitest'
import { lagWarnings } from '../../../../src/cluster/replication/lag-warning'
import { replicaStates, type GroupView } from '../../../../src/cluster/replication/replica-state'
import { ids } from './group'

// SHOW SHARD MAP's per-replica state and replication.log's lag warnings: pure decisions over what
// a node's Mode 1 group knows (issue 14 item 7).

const primary = (progress: GroupView['progress'], commitLsn = 10n): GroupView => ({ self: ids(1)[0]!, role: 'primary', bootstrapping: false, commitLsn, progress })

describe('replicaStates', () => {
  it('on the primary: every replica — bootstrapping (snapshot), catching up (behind the commit, probing, or a learner), in sync', () => {
    const g = primary([
      { node: ids(2)[0]!, match: 10n, state: 'replicate', voter: true },
      { node: ids(3)[0]!, match: 0n, state: 'snapshot', voter: true },
      { node: ids(4)[0]!, match: 7n, state: 'replicate', voter: true },
      { node: ids(5)[0]!, match: 10n, state: 'replicate', voter: false },
      { node: ids(6)[0]!, match: 10n, state: 'probe', voter: true }
    ])
    expect(replicaStates(ids(1, 2, 3, 4, 5, 6), g).map(r => r.state)).toEqual(['primary', 'in sync', 'bootstrapping', 'catching up', 'catching up', 'catching up'])
  })

  it('elsewhere: this node\'s own state, the others unknown', () => {
    const base = { self: ids(2)[0]!, bootstrapping: false, commitLsn: 5n, progress: [] }
    expect(replicaStates(ids(1, 2), { ...base, role: 'replica' }).map(r => r.state)).toEqual(['unknown', 'replica'])
    expect(replicaStates(ids(1, 2), { ...base, role: 'learner' }).map(r => r.state)).toEqual(['unknown', 'catching up'])
    expect(replicaStates(ids(1, 2), { ...base, role: 'starting', bootstrapping: true }).map(r => r.state)).toEqual(['unknown', 'bootstrapping'])
    expect(replicaStates(ids(1, 2), { ...base, role: 'starting' }).map(r => r.state)).toEqual(['unknown', 'starting'])
  })
})

describe('lagWarnings', () => {
  it('warns once when a replica crosses the threshold, reports it back under, and stays quiet in between', () => {
    const [a, b] = ids(2, 3) as [ReturnType<typeof ids>[0], ReturnType<typeof ids>[0]]
    let r = lagWarnings([{ replica: a, lagMs: 1500, lagLsns: 9n }, { replica: b, lagMs: 10, lagLsns: 1n }], new Set(), 1000)
    expect(r.warn.map(w => w.replica)).toEqual([a])
    expect(r.recovered).toEqual([])
    r = lagWarnings([{ replica: a, lagMs: 2500, lagLsns: 19n }, { replica: b, lagMs: 10, lagLsns: 1n }], r.over, 1000)
    expect(r.warn).toEqual([])
    r = lagWarnings([{ replica: a, lagMs: 0, lagLsns: 0n }], r.over, 1000)
    expect(r.recovered.map(w => w.replica)).toEqual([a])
    expect(r.over.size).toBe(0)
    // At the threshold is not over it.
    expect(lagWarnings([{ replica: a, lagMs: 1000, lagLsns: 1n }], new Set(), 1000).warn).toEqual([])
  })
})
