import { describe, expect, it } from 'vitest'
import { groupAction, keptWhileVoter, shardReplicasHere } from '../../../../src/cluster/membership/moves'
import { asNodeId } from '../../../../src/core/ids'
import { ELECTION_MS, Group, HEARTBEAT_MS, durable, ids } from './group'

// An old replica of a moved shard keeps its group until its log holds its removal (moves.ts
// keptWhileVoter): retired as soon as every new replica was a voter, it was contacted again by the
// primary's next append and started its group again — reloading its log — at every move, on
// every old replica (bench rebalance).

function group (): Group {
  const g = new Group({ preference: ids(1, 2, 3), syncReplicas: 0, electionTimeoutMs: ELECTION_MS, heartbeatMs: HEARTBEAT_MS, leaseMs: 240, maxRetainedBytes: 1 << 20 })
  for (const id of [1, 2, 3]) g.add(asNodeId(id), durable(ids(1, 2, 3)))
  return g
}

/** Nodes 1–3, node 1 elected and heard by the others. */
function ledByNode1 (): Group {
  const g = group()
  g.elect(1)
  g.advance(HEARTBEAT_MS)
  g.flush()
  return g
}

const now = (g: Group, id: number): number => g.clocks.get(asNodeId(id))!.monotonic()

describe('keptWhileVoter: an old voter keeps its group until its removal reaches it', () => {
  it('node 3 (target {1, 2} once node 4 replaced it) is kept while it follows the primary and counts itself, then retires', () => {
    const g = ledByNode1()
    const m3 = g.m(3)
    expect(m3.followsPrimary(now(g, 3))).toBe(true)
    // The list over its log's voters {1, 2, 3} with the target {1, 2} all voters: without the
    // rule it retires at once, while the primary still counts it.
    const list = shardReplicasHere(asNodeId(3), 2, ids(1, 2), ids(1, 2), m3.voters, false, false, m3.committedVoters)
    expect(groupAction(asNodeId(3), list, true)).toBe('retire')
    const kept = keptWhileVoter(asNodeId(3), list, m3.voters, m3.followsPrimary(now(g, 3)))
    expect(kept).toEqual(ids(1, 2, 3))
    expect(groupAction(asNodeId(3), kept, true)).toBe('update')
    // The primary removes it: once node 3's log holds the removal, the rule no longer keeps it.
    g.step(1, { type: 'preference', nodes: ids(1, 2) })
    expect(g.step(1, { type: 'tick' }).events).toContainEqual({ type: 'membership', change: 'remove', node: 3, lsn: 2n })
    g.flush()
    expect(m3.voters).toEqual(ids(1, 2))
    expect(keptWhileVoter(asNodeId(3), list, m3.voters, m3.followsPrimary(now(g, 3)))).toEqual(ids(1, 2))
  })

  it('a primary that stopped sending is no longer followed after an election timeout: the list decides again', () => {
    const g = ledByNode1()
    const m3 = g.m(3)
    g.clocks.get(asNodeId(3))!.advance(3 * ELECTION_MS)
    expect(m3.followsPrimary(now(g, 3))).toBe(false)
    expect(keptWhileVoter(asNodeId(3), ids(1, 2), m3.voters, m3.followsPrimary(now(g, 3)))).toEqual(ids(1, 2))
  })

  it('never keeps a primary (it hands over), a node the list holds, or a group no copy is wanted of', () => {
    const g = group()
    g.elect(1)
    expect(g.m(1).followsPrimary(now(g, 1))).toBe(false)
    expect(keptWhileVoter(asNodeId(1), ids(2, 3), ids(1, 2, 3), false)).toEqual(ids(2, 3))
    expect(keptWhileVoter(asNodeId(3), ids(1, 3), ids(1, 2, 3), true)).toEqual(ids(1, 3))
    expect(keptWhileVoter(asNodeId(3), [], ids(1, 2, 3), true)).toEqual([])
    expect(keptWhileVoter(asNodeId(3), ids(1, 2), ids(1, 2), true)).toEqual(ids(1, 2))
  })
})
