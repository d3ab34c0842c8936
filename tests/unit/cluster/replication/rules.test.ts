import { describe, expect, it } from 'vitest'
import { ReplLog } from '../../../../src/cluster/replication/log'
import { ackableLsn, isContact, leaseUntil, logAtLeastAsComplete, majority, majorityMatch, preVoteFromDisk, requiredReplicas, startsOnContact } from '../../../../src/cluster/replication/rules'
import { asNodeId, type NodeId } from '../../../../src/core/ids'
import { data, ids } from './group'

// The pure rules (rules.ts) and the in-memory retained log (log.ts) of Mode 1 replication.

describe('replication rules', () => {
  it('log completeness compares (last generation, last LSN)', () => {
    expect(logAtLeastAsComplete(3, 1n, 2, 9n)).toBe(true)
    expect(logAtLeastAsComplete(2, 9n, 3, 1n)).toBe(false)
    expect(logAtLeastAsComplete(2, 5n, 2, 5n)).toBe(true)
    expect(logAtLeastAsComplete(2, 4n, 2, 5n)).toBe(false)
  })

  it('majority match is what a majority of voters holds', () => {
    const match = new Map<NodeId, bigint>([[asNodeId(1), 9n], [asNodeId(2), 7n], [asNodeId(3), 3n], [asNodeId(4), 1n], [asNodeId(5), 0n]])
    expect(majority(5)).toBe(3)
    expect(majorityMatch(ids(1, 2, 3, 4, 5), v => match.get(v)!)).toBe(3n)
    expect(majorityMatch(ids(1, 2, 3), v => match.get(v)!)).toBe(7n)
    expect(majorityMatch(ids(1, 2, 3, 4), v => match.get(v)!)).toBe(3n)
  })

  it('required replicas per sync_replicas; learners never count', () => {
    expect(requiredReplicas('majority', 1)).toBe(0)
    expect(requiredReplicas('majority', 3)).toBe(1)
    expect(requiredReplicas('majority', 4)).toBe(2)
    expect(requiredReplicas('majority', 5)).toBe(2)
    expect(requiredReplicas(0, 5)).toBe(0)
    expect(requiredReplicas(2, 5)).toBe(2)
    expect(requiredReplicas(9, 3)).toBe(2)
    expect(ackableLsn(10n, [8n, 4n], 0)).toBe(10n)
    expect(ackableLsn(10n, [8n, 4n], 1)).toBe(8n)
    expect(ackableLsn(10n, [8n, 4n], 2)).toBe(4n)
    expect(ackableLsn(6n, [8n, 7n], 1)).toBe(6n) // never beyond the primary's own durable log
  })

  it('the lease runs from the newest send a majority acknowledged', () => {
    expect(leaseUntil(1000, [900, 500], 3, 240)).toBe(900 + 240) // the primary itself (now) and the replica that echoed 900
    expect(leaseUntil(1000, [900, 500, -Infinity, 950], 5, 240)).toBe(900 + 240)
    expect(leaseUntil(1000, [-Infinity, -Infinity], 3, 240)).toBe(-Infinity)
  })
})

describe('a pre-vote answered from disk (no group of the shard on this node)', () => {
  const self = asNodeId(3)
  const preVote = (lastGeneration: number, lastLsn: bigint, preVote = true): Parameters<typeof preVoteFromDisk>[1] => ({ type: 'vote', generation: 5, from: asNodeId(2), lastLsn, lastGeneration, preVote })
  it('grants when it holds no log or the candidate\'s is at least as complete; refuses one behind, in its own generation', () => {
    expect(preVoteFromDisk(self, preVote(1, 3n), { generation: 0, lastGeneration: 0, lastLsn: 0n })).toEqual({ type: 'vote-reply', generation: 5, from: self, granted: true, preVote: true })
    expect(preVoteFromDisk(self, preVote(2, 10n), { generation: 2, lastGeneration: 2, lastLsn: 10n })?.granted).toBe(true)
    expect(preVoteFromDisk(self, preVote(3, 1n), { generation: 2, lastGeneration: 2, lastLsn: 10n })?.granted).toBe(true)
    expect(preVoteFromDisk(self, preVote(2, 9n), { generation: 4, lastGeneration: 2, lastLsn: 10n })).toEqual({ type: 'vote-reply', generation: 4, from: self, granted: false, preVote: true })
    expect(preVoteFromDisk(self, preVote(1, 50n), { generation: 2, lastGeneration: 2, lastLsn: 10n })?.granted).toBe(false)
  })
  it('answers nothing else: real votes, appends, its own messages', () => {
    expect(preVoteFromDisk(self, preVote(9, 99n, false), { generation: 0, lastGeneration: 0, lastLsn: 0n })).toBeNull()
    expect(preVoteFromDisk(self, { ...preVote(9, 99n), from: self }, { generation: 0, lastGeneration: 0, lastLsn: 0n })).toBeNull()
    expect(preVoteFromDisk(self, { type: 'append', generation: 5, from: asNodeId(2), prevLsn: 0n, prevGeneration: 0, entries: [], leaderCommit: 0n, stamp: 0 }, { generation: 0, lastGeneration: 0, lastLsn: 0n })).toBeNull()
  })
})

describe('a group started on contact (no group of the shard on this node; issue 20, membership sim seed 302)', () => {
  const self = asNodeId(3)
  const vote = (generation: number, preVote: boolean): Parameters<typeof startsOnContact>[1] => ({ type: 'vote', generation, from: asNodeId(2), lastLsn: 9n, lastGeneration: 2, preVote })
  const append = (generation: number): Parameters<typeof startsOnContact>[1] => ({ type: 'append', generation, from: asNodeId(2), prevLsn: 9n, prevGeneration: 2, entries: [], leaderCommit: 9n, stamp: 0 })
  const disk = { generation: 2, lastGeneration: 2, lastLsn: 9n }
  it('a real vote request or an append of a generation not behind the disk starts it while the disk holds the log', () => {
    // The node promoted by a config entry it never received: its disk lists the old voters only,
    // the candidate's log lists it, and the group's majority needs it.
    expect(startsOnContact(self, vote(3, false), disk)).toBe(true)
    expect(startsOnContact(self, append(2), disk)).toBe(true)
    // A snapshot installed, nothing logged after it: its base is the log.
    expect(startsOnContact(self, append(2), { generation: 1, lastGeneration: 0, lastLsn: 14n })).toBe(true)
  })
  it('not a pre-vote (answered from the disk), a stale generation, its own message, or a node that never held the log', () => {
    expect(startsOnContact(self, vote(3, true), disk)).toBe(false)
    expect(startsOnContact(self, vote(1, false), disk)).toBe(false)
    expect(startsOnContact(self, append(1), disk)).toBe(false)
    expect(startsOnContact(self, { ...append(2), from: self }, disk)).toBe(false)
    // A node that retired its group knowing its removal: the primary's last heartbeats to it do
    // not start it again (bench rebalance: it came back with voters naming it and campaigned for
    // good); a real vote request still does.
    expect(startsOnContact(self, append(2), disk, [], true)).toBe(false)
    expect(startsOnContact(self, vote(3, false), disk, [], true)).toBe(true)
    expect(startsOnContact(self, append(2), { generation: 0, lastGeneration: 0, lastLsn: 0n })).toBe(false)
    expect(startsOnContact(self, { type: 'vote-reply', generation: 3, from: asNodeId(2), granted: true, preVote: false }, disk)).toBe(false)
  })
  it('a pre-vote starts it only while the recorded voters list this node (a copy let go before a primary removed it: seed 488)', () => {
    expect(startsOnContact(self, vote(3, true), disk, ids(1, 2, 3, 4))).toBe(true)
    expect(startsOnContact(self, vote(3, true), disk, ids(1, 2, 4))).toBe(false)
    expect(startsOnContact(self, vote(1, true), disk, ids(1, 2, 3, 4))).toBe(false)
    expect(startsOnContact(self, vote(3, true), { generation: 0, lastGeneration: 0, lastLsn: 0n }, ids(1, 2, 3, 4))).toBe(false)
  })
  it('contact: real vote requests and appends only', () => {
    expect(isContact(vote(3, false))).toBe(true)
    expect(isContact(append(3))).toBe(true)
    expect(isContact(vote(3, true))).toBe(false)
  })
})

describe('retained log', () => {
  it('tracks generations, voters through config entries, truncation and compaction', () => {
    const log = new ReplLog({ lsn: 0n, generation: 0, voters: ids(1, 2, 3) }, [data(1, 1), data(2, 1)])
    log.append({ lsn: 3n, generation: 2, kind: 'config', voters: ids(1, 2, 3, 4) })
    log.append(data(4, 2))
    expect(log.voters).toEqual([1, 2, 3, 4])
    expect(log.votersAt(2n)).toEqual([1, 2, 3])
    expect(log.agreeingAtOrBelow(4n, 1)).toBe(2n)
    expect(log.lastConfigAfter(2n)).toBe(3n)
    expect(log.truncateAfter(2n)).toBe(2)
    expect(log.voters).toEqual([1, 2, 3]) // the truncated config entry no longer counts
    log.append({ lsn: 3n, generation: 3, kind: 'config', voters: ids(1, 2) })
    log.compactThrough(3n)
    expect(log.base).toEqual({ lsn: 3n, generation: 3, voters: [1, 2] })
    expect(log.generationAt(3n)).toBe(3)
    expect(log.entry(3n)).toBeUndefined()
    expect(log.slice(1n, 9n, 10)).toEqual([])
    expect(() => { log.append(data(9, 3)) }).toThrow(/append of lsn 9/)
  })

  it('computes the compaction that brings the log under its size bound', () => {
    const log = new ReplLog({ lsn: 0n, generation: 0, voters: [] }, [1, 2, 3, 4].map(i => data(i, 1, 'x'.repeat(68))))
    expect(log.bytes).toBe(400)
    expect(log.sizeCut(1000, 4n)).toBeNull()
    expect(log.sizeCut(250, 4n)).toBe(2n)
    expect(log.sizeCut(0, 3n)).toBe(3n) // never beyond the limit (the applied LSN)
    // Appends are bounded by count and bytes, but always carry one entry.
    expect(log.slice(1n, 4n, 3).map(e => e.lsn)).toEqual([1n, 2n, 3n])
    expect(log.slice(2n, 4n, 10, 250).map(e => e.lsn)).toEqual([2n, 3n])
    expect(log.slice(2n, 4n, 10, 1).map(e => e.lsn)).toEqual([2n])
  })
})
