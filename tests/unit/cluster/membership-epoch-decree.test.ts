import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { asNodeId, type NodeId } from '../../../src/core/ids'
import { configuredLayout, type ClusterLayout } from '../../../src/cluster/layout'
import { admitLayout } from '../../../src/cluster/membership/epochs'
import { answerDecree, DecreeProposer, majorityOf, type Ballot, type DecreeRecord, type DecreeReply, type DecreeRequest } from '../../../src/cluster/membership/epoch-decree'

// The one-decision-per-epoch rules (cluster/membership/epoch-decree.ts): unit cases, and a model
// of several proposers deciding epoch e + 1 over a network that loses, reorders and duplicates
// messages while acceptors crash (their record survives: it is on disk) and proposers crash and
// retry with higher rounds. At most one layout may ever be chosen.

const ids = (...n: number[]): NodeId[] => n.map(asNodeId)
const base = configuredLayout('c', 4, ids(1, 2, 3))
const b = (round: number, node: number): Ballot => ({ round, node: asNodeId(node) })

/** Runs a proposer against in-memory acceptors delivering everything at once (no faults). */
function runAll (p: DecreeProposer, records: Map<NodeId, DecreeRecord | null>, runs = 1): ReturnType<DecreeProposer['onReply']>['outcome'] {
  let queue = p.start().send
  while (queue.length > 0) {
    const next: typeof queue = []
    for (const { to, req } of queue) {
      const { next: rec, reply } = answerDecree(records.get(to) ?? null, runs, req)
      if (rec !== null) records.set(to, rec)
      const r = p.onReply(to, reply)
      next.push(...r.send)
      if (r.outcome !== null) return r.outcome
    }
    queue = next
  }
  return null
}

describe('epoch decree: acceptor rules', () => {
  it('promises, then refuses a lower ballot and accepts an equal one', () => {
    const p = answerDecree(null, 1, { kind: 'prepare', epoch: 2, ballot: b(2, 1) })
    expect(p.reply).toEqual({ kind: 'promise', epoch: 2, ballot: b(2, 1), accepted: null })
    expect(p.next).toEqual({ epoch: 2, promised: b(2, 1), accepted: null })
    const low = answerDecree(p.next, 1, { kind: 'prepare', epoch: 2, ballot: b(1, 3) })
    expect(low.reply).toEqual({ kind: 'rejected', epoch: 2, ballot: b(1, 3), promised: b(2, 1) })
    expect(low.next).toBeNull()
    const lay = admitLayout(base, asNodeId(4))
    const acc = answerDecree(p.next, 1, { kind: 'accept', epoch: 2, ballot: b(2, 1), layout: lay })
    expect(acc.reply.kind).toBe('accepted')
    expect(acc.next?.accepted).toEqual({ ballot: b(2, 1), layout: lay })
    // A later prepare learns the accepted value.
    const later = answerDecree(acc.next, 1, { kind: 'prepare', epoch: 2, ballot: b(3, 2) })
    expect(later.reply).toEqual({ kind: 'promise', epoch: 2, ballot: b(3, 2), accepted: { ballot: b(2, 1), layout: lay } })
  })

  it('answers behind for an epoch it runs already or below the decree it recorded', () => {
    expect(answerDecree(null, 2, { kind: 'prepare', epoch: 2, ballot: b(1, 1) }).reply.kind).toBe('behind')
    const rec: DecreeRecord = { epoch: 4, promised: b(1, 1), accepted: null }
    const r = answerDecree(rec, 2, { kind: 'prepare', epoch: 3, ballot: b(9, 3) })
    expect(r.reply).toEqual({ kind: 'behind', epoch: 3, ballot: b(9, 3), runs: 4 })
    expect(r.next).toBeNull()
    // A record of an earlier decree is forgotten once a later decree is asked about.
    const fresh = answerDecree({ epoch: 2, promised: b(9, 9), accepted: null }, 2, { kind: 'prepare', epoch: 3, ballot: b(1, 1) })
    expect(fresh.reply.kind).toBe('promise')
  })
})

describe('epoch decree: proposer', () => {
  it('a later decider re-proposes the value a majority accepted, not its own', () => {
    const records = new Map<NodeId, DecreeRecord | null>()
    const first = admitLayout(base, asNodeId(4))
    const p1 = new DecreeProposer(base, first, b(1, 1))
    // p1's accept reaches nodes 1 and 2 only, then p1 crashes: first is chosen, nobody adopted it.
    for (const { to, req } of p1.start().send) { const a = answerDecree(records.get(to) ?? null, 1, req); if (a.next) records.set(to, a.next); p1.onReply(to, a.reply) }
    for (const { to, req } of p1.requests(ids(1, 2))) { const a = answerDecree(records.get(to) ?? null, 1, req); if (a.next) records.set(to, a.next) }
    // Node 2, seeing node 1 dead, wants REMOVE 1 at the same epoch.
    const mine: ClusterLayout = { ...base, epoch: 2, members: ids(2, 3) }
    const p2 = new DecreeProposer(base, mine, b(2, 2))
    expect(runAll(p2, records)).toEqual({ kind: 'chosen', layout: first, own: false })
  })

  it('a single-member cluster decides alone (majority of one)', () => {
    const solo = configuredLayout('c', 4, ids(7))
    const p = new DecreeProposer(solo, admitLayout(solo, asNodeId(8)), b(1, 7))
    expect(majorityOf(1)).toBe(1)
    expect(runAll(p, new Map())?.kind).toBe('chosen')
  })

  it('the voters are the members of layout e that are not left; a joiner is none of them', () => {
    const p = new DecreeProposer(base, admitLayout(base, asNodeId(9)), b(1, 1))
    expect(p.voters).toEqual(ids(1, 2, 3))
    expect(p.start().send.map(s => s.to)).toEqual(ids(1, 2, 3))
  })

  it('an outbid proposer says so; one behind says which epoch runs', () => {
    const records = new Map<NodeId, DecreeRecord | null>([[asNodeId(1), { epoch: 2, promised: b(5, 3), accepted: null }]])
    const p = new DecreeProposer(base, admitLayout(base, asNodeId(4)), b(1, 2))
    const { send } = p.start()
    const a = answerDecree(records.get(send[0]!.to) ?? null, 1, send[0]!.req)
    expect(p.onReply(send[0]!.to, a.reply).outcome).toEqual({ kind: 'outbid', promised: b(5, 3) })
    const q = new DecreeProposer(base, admitLayout(base, asNodeId(4)), b(1, 2))
    q.start()
    expect(q.onReply(asNodeId(3), answerDecree(null, 2, { kind: 'prepare', epoch: 2, ballot: b(1, 2) }).reply).outcome).toEqual({ kind: 'behind', runs: 2 })
  })
})

// ---- the model --------------------------------------------------------------------------------

interface Msg { from: NodeId, to: NodeId, req?: DecreeRequest, reply?: DecreeReply }

type Action =
  | { a: 'deliver', i: number }
  | { a: 'drop', i: number }
  | { a: 'dup', i: number }
  | { a: 'crashProposer', p: number }
  | { a: 'retry', p: number }
  | { a: 'resend', p: number }

/** An index without fast-check's bias to small numbers: small ones would deliver mostly the oldest messages. */
const idx = fc.noBias(fc.nat({ max: 0x7fffffff }))

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 30, arbitrary: fc.record({ a: fc.constant('deliver' as const), i: idx }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('drop' as const), i: idx }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('dup' as const), i: idx }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('crashProposer' as const), p: idx }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('retry' as const), p: idx }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant('resend' as const), p: idx }) }
)

/**
 * Proposers 1..k (voters too) each want their own layout for epoch 2. Returns every layout any
 * majority accepted at one ballot (chosen), and every layout a proposer was told is chosen.
 */
function model (voterCount: number, proposerCount: number, actions: Action[]): { chosen: Set<string>, decided: Set<string> } {
  const voters = Array.from({ length: voterCount }, (_, i) => asNodeId(i + 1))
  const current = configuredLayout('c', 4, voters)
  const wants = voters.slice(0, proposerCount).map((id, i) => admitLayout(current, asNodeId(20 + i)))
  const records = new Map<NodeId, DecreeRecord | null>()
  const accepts = new Map<string, Set<NodeId>>() // `${round}.${node}` → acceptors
  const acceptedValue = new Map<string, string>()
  const chosen = new Set<string>()
  const decided = new Set<string>()
  const rounds = voters.map(() => 0)
  const proposers: Array<DecreeProposer | null> = voters.slice(0, proposerCount).map(() => null)
  let net: Msg[] = []
  const key = (l: ClusterLayout): string => l.members.join(',')
  const begin = (i: number): void => {
    rounds[i] = rounds[i]! + 1
    const p = new DecreeProposer(current, wants[i]!, b(rounds[i]!, voters[i]!))
    proposers[i] = p
    for (const s of p.start().send) net.push({ from: voters[i]!, to: s.to, req: s.req })
  }
  for (let i = 0; i < proposerCount; i++) begin(i)
  for (const act of actions) {
    if (act.a === 'crashProposer' || act.a === 'retry' || act.a === 'resend') {
      const i = act.p % proposerCount
      if (act.a === 'crashProposer') proposers[i] = null
      else if (act.a === 'retry') begin(i)
      else { const p = proposers[i]; if (p) for (const s of p.requests(p.pending())) net.push({ from: voters[i]!, to: s.to, req: s.req }) }
      continue
    }
    if (net.length === 0) continue
    const i = act.i % net.length
    const m = net[i]!
    if (act.a === 'dup') { net.push(m); continue }
    net = [...net.slice(0, i), ...net.slice(i + 1)]
    if (act.a === 'drop') continue
    if (m.req !== undefined) {
      const { next, reply } = answerDecree(records.get(m.to) ?? null, 1, m.req)
      if (next !== null) records.set(m.to, next)
      if (m.req.kind === 'accept' && reply.kind === 'accepted') {
        const k = `${m.req.ballot.round}.${m.req.ballot.node}`
        const set = accepts.get(k) ?? new Set()
        set.add(m.to)
        accepts.set(k, set)
        acceptedValue.set(k, key(m.req.layout))
        if (set.size >= majorityOf(voterCount)) chosen.add(key(m.req.layout))
      }
      net.push({ from: m.to, to: m.from, reply })
    } else if (m.reply !== undefined) {
      const p = proposers[voters.indexOf(m.to)]
      if (!p) continue
      const r = p.onReply(m.from, m.reply)
      for (const s of r.send) net.push({ from: m.to, to: s.to, req: s.req })
      if (r.outcome?.kind === 'chosen') decided.add(key(r.outcome.layout))
    }
  }
  return { chosen, decided }
}

describe('epoch decree: model with loss, reordering, duplicates, crashes and retries', () => {
  it('two or three proposers at one epoch never get two layouts chosen', () => {
    fc.assert(fc.property(fc.constantFrom(1, 2, 3, 4, 5), fc.integer({ min: 2, max: 3 }), fc.array(action, { maxLength: 300, size: 'max' }), (n, k, actions) => {
      const { chosen, decided } = model(n, Math.min(k, n), actions)
      expect(chosen.size).toBeLessThanOrEqual(1)
      for (const d of decided) expect(chosen.has(d)).toBe(true)
    }), { numRuns: 3000 })
  })

  it('the model reaches decisions (it can fail): some runs choose a layout', () => {
    let decidedRuns = 0
    fc.assert(fc.property(fc.array(action, { minLength: 50, maxLength: 300, size: 'max' }), actions => {
      if (model(3, 2, actions).decided.size > 0) decidedRuns++
    }), { numRuns: 300 })
    expect(decidedRuns).toBeGreaterThan(0)
  })
})
