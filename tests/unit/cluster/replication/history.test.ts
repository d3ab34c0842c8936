import { describe, expect, it } from 'vitest'
import type { ReplicationConfig } from '../../../../src/cluster/replication/types'
import { asNodeId } from '../../../../src/core/ids'
import { data, durable, ELECTION_MS, Group, HEARTBEAT_MS, ids, LEASE_MS } from './group'

// Issue 14 item 4: a shard that holds commit-log history from before its group (generation 0:
// leaderless writes, N = 1 commits only its first preference node held) on several replicas.
// The group's first primary is that owner; the others' generation-0 entries are never taken as
// agreeing with its own, so they get its snapshot; a bootstrapping replica (refusing at LSN 0)
// gets the snapshot of whichever primary there is.

const config: Omit<ReplicationConfig, 'self'> = {
  preference: ids(1, 2, 3),
  syncReplicas: 'majority',
  electionTimeoutMs: ELECTION_MS,
  heartbeatMs: HEARTBEAT_MS,
  leaseMs: LEASE_MS,
  maxRetainedBytes: 1_000_000
}

const history = (n: number, tag: string): ReturnType<typeof data>[] => Array.from({ length: n }, (_, i) => data(i + 1, 0, `${tag}${i + 1}`))

function withHistory (): Group {
  const g = new Group(config)
  g.add(asNodeId(1), durable(ids(1, 2, 3), history(5, 'owner')))
  g.add(asNodeId(2), durable(ids(1, 2, 3), history(8, 'leaderless')))
  g.add(asNodeId(3), durable(ids(1, 2, 3)))
  return g
}

describe('history from before the group', () => {
  it('only the first preference node campaigns while the logs hold nothing of a group; the others vote for it whatever their log length', () => {
    const g = withHistory()
    // Nodes 2 and 3 time out first: neither campaigns.
    g.advance(3 * ELECTION_MS, [2, 3])
    expect(g.readys.flatMap(r => r.ready.events).filter(e => e.type === 'campaign')).toEqual([])
    expect(g.m(2).role).toBe('replica')
    // The owner does, and wins with node 2's vote though node 2's log is longer.
    g.elect(1, [1, 2])
    expect(g.m(1).role).toBe('primary')
  })

  it('the primary sends a snapshot to every replica that would need its generation-0 entries or holds its own, never an append continuing them', () => {
    const g = withHistory()
    const before = g.readys.length
    g.elect(1)
    g.advance(HEARTBEAT_MS, [1])
    g.flush()
    const sent = g.readys.slice(before).filter(r => r.node === 1).flatMap(r => r.ready.snapshots.map(s => s.to))
    expect(new Set(sent)).toEqual(new Set(ids(2, 3)))
    // No replica took any of the primary's entries by append: node 2 kept its own log, untouched.
    expect(g.readys.filter(r => r.node !== 1).flatMap(r => r.ready.entries)).toEqual([])
    expect(g.readys.filter(r => r.node !== 1).map(r => r.ready.truncateAfter).filter(t => t !== null)).toEqual([])
  })

  it('a replica refuses an append that continues one of its generation-0 entries, with a hint at LSN 0', () => {
    const g = withHistory()
    const r = g.step(2, { type: 'message', msg: { type: 'append', generation: 1, from: asNodeId(1), prevLsn: 5n, prevGeneration: 0, entries: [data(6, 1)], leaderCommit: 0n, stamp: 0 } })
    const reply = r.messages[0]!.msg
    expect(reply).toMatchObject({ type: 'append-reply', ok: false, hintLsn: 0n })
    expect(r.entries).toEqual([])
  })

  it('a primary whose append after LSN 0 is refused (the replica is installing another snapshot) sends its own snapshot', () => {
    const g = new Group(config)
    for (const id of [1, 2, 3]) g.add(asNodeId(id), durable(ids(1, 2, 3)))
    g.elect(1, [1, 2])
    g.flush([1, 2])
    const before = g.readys.length
    // Node 3 answers every append with a refusal at LSN 0 (its shell does while it bootstraps).
    for (let i = 0; i < 3; i++) {
      g.advance(HEARTBEAT_MS, [1])
      const q = g.queue
      g.queue = []
      for (const o of q) {
        if (o.to !== 3 || o.msg.type !== 'append') continue
        g.step(1, { type: 'message', msg: { type: 'append-reply', generation: 1, from: asNodeId(3), ok: false, matchLsn: 0n, hintLsn: 0n, hintGeneration: 0, stamp: o.msg.stamp } })
      }
    }
    expect(g.readys.slice(before).flatMap(r => r.ready.snapshots.map(s => s.to))).toContain(3)
  })
})
