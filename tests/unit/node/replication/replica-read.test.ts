import { describe, expect, it } from 'vitest'
import { asNodeId, asShardId } from '../../../../src/core/ids'
import { replicaReadRefusal, type ReplicaReadFacts } from '../../../../src/node/replication/replica-read'

// read_from = replica (issue 14 item 2): which member of a shard's Mode 1 group answers a replica
// read. One holding the log does, lease or not; one still catching up refuses with SB_NOT_PRIMARY
// naming the primary, so the router asks the primary instead.

const base: ReplicaReadFacts = { shard: asShardId(3), role: 'replica', bootstrapping: false, primary: asNodeId(1), generation: 4 }

describe('replicaReadRefusal', () => {
  it('a voter (primary, replica, or campaigning) serves at what it holds', () => {
    for (const role of ['primary', 'replica', 'candidate'] as const) expect(replicaReadRefusal({ ...base, role })).toBe(null)
  })

  it('a learner, a replica installing a snapshot, or a group still loading refuses, naming the primary', () => {
    for (const f of [{ ...base, role: 'learner' as const }, { ...base, bootstrapping: true }, { ...base, role: 'starting' as const }, { ...base, role: 'primary' as const, bootstrapping: true }]) {
      const e = replicaReadRefusal(f)
      expect(e).toMatchObject({ code: 'SB_NOT_PRIMARY', details: { shard: 3, primary: 1, generation: 4, replica_read: 'refused' } })
    }
    expect(replicaReadRefusal({ ...base, role: 'learner', primary: 0 })!.message).toMatch(/knows no primary/)
    expect(replicaReadRefusal({ ...base, bootstrapping: true })!.message).toMatch(/installing a snapshot/)
  })
})
