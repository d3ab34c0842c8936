import { describe, expect, it } from 'vitest'
import { ackRuleMet, acksToward, neededAcks, type AckRule } from '../../../src/cluster/quorum/ack-rule'
import { StatementWrite, type StatementWriteEffect } from '../../../src/cluster/quorum/coordinator'
import { QuorumWrite } from '../../../src/cluster/quorum/write'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { asHlcTs, asNodeId, asShardId, asXid, type NodeId } from '../../../src/core/ids'
import type { ReplicaWrite } from '../../../src/storage/engine'

// A leaderless write while a join or drain moves its shard (issue 20; cluster/quorum/ack-rule.ts):
// acknowledged only with W acks of the old replicas AND an ack of every pending replica (the
// targets, new − old). Enumerated over small (n, W, P) and every way the old replicas can be
// swapped out: every acknowledged write is on every target, on ≥ W old replicas and on ≥ W of the
// new placement (what the placement after the move needs, its W and R intersecting), and no
// write meeting that is refused.

const n = (x: number): NodeId => asNodeId(x)

function subsets<T> (xs: readonly T[]): T[][] {
  const out: T[][] = []
  for (let mask = 0; mask < 1 << xs.length; mask++) out.push(xs.filter((_, i) => (mask & (1 << i)) !== 0))
  return out
}

/** Every move of factor ≤ 4: old = 1..k, P of them replaced by the targets 101.. (new = old − gone + targets). */
function * moves (): Generator<{ k: number, w: number, old: NodeId[], targets: NodeId[], newer: NodeId[] }> {
  for (let k = 1; k <= 4; k++) {
    const old = Array.from({ length: k }, (_, i) => n(i + 1))
    for (let w = 1; w <= k; w++) {
      for (const gone of subsets(old)) {
        const targets = gone.map((_, i) => n(101 + i))
        yield { k, w, old, targets, newer: [...old.filter(id => !gone.includes(id)), ...targets] }
      }
    }
  }
}

const ruleOf = (w: number, old: NodeId[], targets: NodeId[]): AckRule => ({ w, voters: new Set(old), pending: new Set(targets) })

describe('ack rule during a leaderless move (W old + every pending replica)', () => {
  it('enumerated: an acknowledged write is on every target, on ≥ W old and ≥ W new replicas; a write that is, is acknowledged', () => {
    let cases = 0
    for (const { w, old, targets, newer } of moves()) {
      const rule = ruleOf(w, old, targets)
      expect(neededAcks(rule)).toBe(w + targets.length)
      for (const acked of subsets([...old, ...targets])) {
        const met = ackRuleMet(rule, acked)
        const onOld = acked.filter(id => old.includes(id)).length
        const onNew = acked.filter(id => newer.includes(id)).length
        const onTargets = targets.every(t => acked.includes(t))
        if (met) {
          expect(onTargets).toBe(true)
          expect(onOld).toBeGreaterThanOrEqual(w)
          expect(onNew).toBeGreaterThanOrEqual(w)
        }
        expect(met).toBe(onTargets && onOld >= w)
        cases++
      }
    }
    expect(cases).toBeGreaterThan(1000)
  })

  it('enumerated through the write machine: the same outcome for every set of replicas acking (the others failing), and a down target fails it at once', () => {
    for (const { w, old, targets } of moves()) {
      const replicas = [...old, ...targets]
      for (const acked of subsets(replicas)) {
        const m = new QuorumWrite<string>({ reqId: 1, batch: 'b', replicas, w, voters: old, pending: targets, alive: () => true, deadlineMs: 1000 })
        const out = m.start(0)
        for (const id of replicas) out.push(...(acked.includes(id) ? m.onAck(id, 1) : m.onFail(id, 1)))
        const outcome = out.filter(o => o.type === 'succeeded' || o.type === 'failed')
        expect(outcome).toHaveLength(1)
        expect(outcome[0]!.type).toBe(ackRuleMet(ruleOf(w, old, targets), acked) ? 'succeeded' : 'failed')
        // A hint is never an ack: every replica that did not ack got one, and the write was not acknowledged without a target.
        expect(out.filter(o => o.type === 'hint').map(o => (o as { to: NodeId }).to).sort()).toEqual(replicas.filter(id => !acked.includes(id)).sort())
        expect(m.finished).toBe(true)
      }
      for (const down of targets) {
        const m = new QuorumWrite<string>({ reqId: 1, batch: 'b', replicas, w, voters: old, pending: targets, alive: id => id !== down, deadlineMs: 1000 })
        const out = m.start(0)
        expect(out).toHaveLength(1)
        expect(out[0]).toMatchObject({ type: 'failed', error: { code: 'SB_QUORUM_NOT_ACHIEVED', details: { required_replicas: w + targets.length, available_replicas: w + targets.length - 1, reason: 'not_enough_alive' } } })
      }
    }
  })

  it('a silent target is a timeout, not an acknowledgement: W old acks alone do not answer the client', () => {
    const m = new QuorumWrite<string>({ reqId: 1, batch: 'b', replicas: [n(1), n(2), n(3), n(4)], w: 2, voters: [n(1), n(2), n(3)], pending: [n(4)], alive: () => true, deadlineMs: 1000 })
    m.start(0)
    expect(m.onAck(n(1), 1)).toEqual([])
    expect(m.onAck(n(2), 2)).toEqual([])
    expect(m.onAck(n(3), 3)).toEqual([])
    expect(m.outcome).toBeNull()
    const out = m.tick(1000)
    expect(out[0]).toMatchObject({ type: 'failed', error: { code: 'SB_QUORUM_NOT_ACHIEVED', details: { required_replicas: 3, available_replicas: 2, reason: 'timeout', pending_replicas: [4] } } })
    expect((out[0] as { error: Error }).error.message).toBe('Write requires W=2 + 1 being filled (node 4) = 3 nodes, only 2 acknowledged within write_timeout_ms')
    expect(out.slice(1)).toEqual([{ type: 'hint', to: 4, batch: 'b' }])
  })

  it('the pending ack may come first or last', () => {
    const m = new QuorumWrite<string>({ reqId: 1, batch: 'b', replicas: [n(1), n(2), n(3), n(4)], w: 2, voters: [n(1), n(2), n(3)], pending: [n(4)], alive: () => true, deadlineMs: 1000 })
    m.start(0)
    expect(m.onAck(n(1), 1)).toEqual([])
    expect(m.onAck(n(2), 2)).toEqual([])
    expect(m.onAck(n(4), 3)).toEqual([{ type: 'succeeded', acked: [1, 2] }])
    expect(m.pendingAcked).toEqual([4])
  })

  it('acksToward counts at most W voters', () => {
    const rule = ruleOf(2, [n(1), n(2), n(3)], [n(4)])
    expect(acksToward(rule, [n(1), n(2), n(3)])).toBe(2)
    expect(acksToward(rule, [n(1), n(4), n(4), n(9)])).toBe(2)
  })
})

describe('StatementWrite during a move', () => {
  const rw: ReplicaWrite = { tableId: 5, pk: [1n], versionId: encodeUuidV8({ ts: 1_767_225_600_000, counter: 0, nodeId: 1, random: 0 }), row: new Uint8Array([1]) }
  // Shard 0 moves from {1, 2, 3} to {1, 2, 4}: the shell lists old first, then the target.
  const stmt = (alive: (id: NodeId) => boolean = () => true, pendingListed = true): StatementWrite => {
    let seq = 0
    return new StatementWrite({
      batches: [{ shard: asShardId(0), replicationFactor: 3, writeQuorum: 2, countedReplicas: 3, writes: [rw] }],
      xid: asXid(7n),
      commitHlc: asHlcTs(9n),
      replicas: () => pendingListed ? [n(1), n(2), n(3), n(4)] : [n(1), n(2), n(3)],
      pending: () => [n(4)],
      alive,
      nowMs: 0,
      timeoutMs: 1000,
      nextReqId: () => ++seq
    })
  }
  const of = <T extends StatementWriteEffect['type']>(out: StatementWriteEffect[], t: T): Array<StatementWriteEffect & { type: T }> =>
    out.filter((e): e is StatementWriteEffect & { type: T } => e.type === t)

  it('answers the client only once the target acked; the failure report lists the target', () => {
    const sw = stmt()
    const sent = of(sw.start(0), 'apply')
    expect(sent.map(e => e.to)).toEqual([1, 2, 3, 4])
    const req = sent[0]!.reqId
    expect(sw.onAck(req, n(1), 1)).toEqual([])
    expect(sw.onAck(req, n(2), 2)).toEqual([])
    expect(of(sw.onAck(req, n(4), 3), 'succeeded')).toHaveLength(1)

    const failing = stmt()
    const r2 = of(failing.start(0), 'apply')[0]!.reqId
    failing.onAck(r2, n(1), 1)
    failing.onAck(r2, n(2), 2)
    const out = failing.onFail(r2, n(4), 'SB_NODE_UNREACHABLE', 3)
    const report = of(out, 'batch-failed')[0]!.report
    expect(report.acked).toEqual([1, 2])
    expect(report.missing).toEqual(['Node 3 no answer', 'Node 4 failed: SB_NODE_UNREACHABLE'])
    expect(of(out, 'failed')[0]!.error.details).toMatchObject({ required_replicas: 3, available_replicas: 2, pending_replicas: [4] })
    expect(of(out, 'hint').map(e => e.to)).toEqual([4])
  })

  it('a target down fails the statement at once and sends nothing', () => {
    const out = stmt(id => id !== 4).start(0)
    expect(of(out, 'apply')).toEqual([])
    expect(of(out, 'failed')[0]!.error.code).toBe('SB_QUORUM_NOT_ACHIEVED')
  })

  it('a target the shell did not list is still sent the write and must ack', () => {
    const sw = stmt(() => true, false)
    const sent = of(sw.start(0), 'apply')
    expect(sent.map(e => e.to)).toEqual([1, 2, 3, 4])
    sw.onAck(sent[0]!.reqId, n(1), 1)
    expect(sw.onAck(sent[0]!.reqId, n(2), 2)).toEqual([])
  })
})
