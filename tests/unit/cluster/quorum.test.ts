import { describe, expect, it } from 'vitest'
import { QuorumRead, type ReadOutput } from '../../../src/cluster/quorum/read'
import { isVersioned, type Versioned } from '../../../src/cluster/quorum/types'
import { QuorumWrite, type WriteOutput } from '../../../src/cluster/quorum/write'
import { isScratchBirdError, ScratchBirdError } from '../../../src/core/errors'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { compareVersionIds, newerVersion } from '../../../src/storage/lww'
import { asNodeId, type NodeId } from '../../../src/core/ids'

const KEY = new Uint8Array([1, 2, 3])
const T0 = 1_767_225_600_000
const ALL = new Set([1, 2, 3].map(n => asNodeId(n)))

function vid (ts: number, counter = 0, nodeId = 1, random = 0): Uint8Array {
  return encodeUuidV8({ ts: T0 + ts, counter, nodeId, random })
}

function ver (ts: number, row: string | null = `row@${ts}`, counter = 0, nodeId = 1): Versioned {
  return { versionId: vid(ts, counter, nodeId), row: row === null ? null : new TextEncoder().encode(row) }
}

/** The machines never look inside their unit: any value will do, and comes back as it went in. */
interface Batch { key: Uint8Array, version: Versioned }

function write (over: { w?: number, alive?: ReadonlySet<NodeId> | ((id: number) => boolean), replicas?: NodeId[], version?: Versioned } = {}): QuorumWrite<Batch> {
  const replicas = over.replicas ?? [1, 2, 3].map(n => asNodeId(n))
  return new QuorumWrite<Batch>({ reqId: 7, batch: { key: KEY, version: over.version ?? ver(10) }, replicas, w: over.w ?? 2, alive: over.alive ?? ALL, deadlineMs: 1000 })
}

function read (over: { r?: number, alive?: ReadonlySet<NodeId>, replicas?: NodeId[] } = {}): QuorumRead<Uint8Array> {
  return new QuorumRead<Uint8Array>({ reqId: 9, query: KEY, replicas: over.replicas ?? [1, 2, 3].map(n => asNodeId(n)), r: over.r ?? 2, alive: over.alive ?? ALL, deadlineMs: 1000 })
}

const sends = (out: Array<WriteOutput<Batch> | ReadOutput<Uint8Array>>): number[] => out.flatMap(o => o.type === 'send' ? [o.to] : [])
const hints = (out: Array<WriteOutput<Batch>>): number[] => out.flatMap(o => o.type === 'hint' ? [o.to] : [])
const repairs = (out: Array<ReadOutput<Uint8Array>>): number[] => out.flatMap(o => o.type === 'repair' ? [o.to] : [])
const outcomes = (out: Array<WriteOutput<Batch> | ReadOutput<Uint8Array>>): Array<WriteOutput<Batch> | ReadOutput<Uint8Array>> => out.filter(o => o.type === 'succeeded' || o.type === 'failed')

function failure (out: Array<WriteOutput<Batch> | ReadOutput<Uint8Array>>): ScratchBirdError {
  const f = out.find(o => o.type === 'failed')
  expect(f, 'a failed output').toBeDefined()
  const e = (f as { error: unknown }).error
  expect(isScratchBirdError(e, 'SB_QUORUM_NOT_ACHIEVED')).toBe(true)
  return e as ScratchBirdError
}

const cmp = (a: Versioned, b: Versioned): number => compareVersionIds(a.versionId, b.versionId)

describe('LWW order (storage/lww.ts, the one replicas apply with)', () => {
  it('orders versions by unsigned bytes of the id (timestamp, counter, node, random)', () => {
    expect(cmp(ver(1), ver(2))).toBe(-1)
    expect(cmp(ver(2), ver(1))).toBe(1)
    expect(cmp(ver(1, 'a', 5), ver(1, 'b', 4))).toBe(1)
    expect(cmp(ver(1, 'a', 0, 2), ver(1, 'b', 0, 1))).toBe(1)
    // Bytes ≥ 0x80 are large, not negative.
    const a = { versionId: new Uint8Array(16).fill(0x7f), row: null }
    const b = { versionId: new Uint8Array(16).fill(0x80), row: null }
    expect(cmp(a, b)).toBe(-1)
    expect(cmp(ver(3), ver(3, 'other row'))).toBe(0)
  })

  it('newerVersion: the higher id; absent loses; the first on a tie', () => {
    const x = ver(1)
    const y = ver(2, null)
    expect(newerVersion(x, y)).toBe(y)
    expect(newerVersion(y, x)).toBe(y)
    expect(newerVersion(null, x)).toBe(x)
    expect(newerVersion(x, undefined)).toBe(x)
    expect(newerVersion(null, null)).toBeNull()
    const x2 = ver(1, 'same id')
    expect(newerVersion(x, x2)).toBe(x)
  })

  it('isVersioned checks a peer version', () => {
    expect(isVersioned(ver(1))).toBe(true)
    expect(isVersioned(ver(1, null))).toBe(true)
    expect(isVersioned({ versionId: new Uint8Array(15), row: null })).toBe(false)
    expect(isVersioned({ versionId: new Uint8Array(16), row: null })).toBe(false) // not v8
    expect(isVersioned({ versionId: vid(1), row: 'text' })).toBe(false)
    expect(isVersioned(null)).toBe(false)
  })
})

describe('QuorumWrite', () => {
  it('W=2 of 3 with one dead: sends to the alive two, hints the dead one, succeeds on two acks', () => {
    const m = write({ alive: new Set([1, 3].map(n => asNodeId(n))) })
    const out = m.start(0)
    expect(sends(out)).toEqual([1, 3])
    expect(out.find(o => o.type === 'send')).toMatchObject({ msg: { type: 'apply', reqId: 7, batch: m.batch } })
    expect(out.filter(o => o.type === 'hint')).toEqual([{ type: 'hint', to: 2, batch: m.batch }])
    expect(outcomes(out)).toEqual([])
    expect(m.onAck(asNodeId(1), 10)).toEqual([])
    expect(m.onAck(asNodeId(3), 20)).toEqual([{ type: 'succeeded', acked: [1, 3] }])
    expect(m.finished).toBe(true)
    expect(m.tick(5000)).toEqual([])
  })

  it('accepts a predicate as the alive view', () => {
    const out = write({ alive: id => id !== 3 }).start(0)
    expect(sends(out)).toEqual([1, 2])
    expect(hints(out)).toEqual([3])
  })

  it('W=3 with one dead fails fast with the details and the exact message, sending nothing', () => {
    const m = write({ w: 3, alive: new Set([1, 2].map(n => asNodeId(n))) })
    const out = m.start(0)
    expect(out).toHaveLength(1)
    const e = failure(out)
    expect(e.message).toBe('Write requires W=3 nodes, only 2 available')
    expect(e.details).toMatchObject({ available_replicas: 2, required_replicas: 3 })
    expect(e.httpStatus).toBe(503)
    expect(m.finished).toBe(true)
    expect(m.onAck(asNodeId(1), 1)).toEqual([])
  })

  it('W=2 with one alive: "Write requires W=2 nodes, only 1 available"', () => {
    const e = failure(write({ w: 2, alive: new Set([2].map(n => asNodeId(n))) }).start(0))
    expect(e.message).toBe('Write requires W=2 nodes, only 1 available')
    expect(e.details).toMatchObject({ available_replicas: 1, required_replicas: 2, reason: 'not_enough_alive' })
  })

  it('after success, acks until the deadline spare the hint; the rest are hinted at the deadline', () => {
    const m = write({ w: 1 })
    m.start(0)
    expect(m.onAck(asNodeId(2), 5)).toEqual([{ type: 'succeeded', acked: [2] }])
    expect(m.onAck(asNodeId(1), 50)).toEqual([])
    expect(m.finished).toBe(false)
    expect(m.tick(999)).toEqual([])
    const out = m.tick(1000)
    expect(out).toEqual([{ type: 'hint', to: 3, batch: m.batch }])
    expect(m.finished).toBe(true)
    expect(m.acked).toEqual([2, 1])
    expect(m.onAck(asNodeId(3), 1001)).toEqual([])
    expect(m.tick(2000)).toEqual([])
  })

  it('times out with available = acks received, then hints every replica that did not ack', () => {
    const m = write({ w: 3 })
    m.start(0)
    m.onAck(asNodeId(2), 10)
    const out = m.tick(1000)
    const e = failure(out)
    expect(e.message).toBe('Write requires W=3 nodes, only 1 acknowledged within write_timeout_ms')
    expect(e.details).toMatchObject({ available_replicas: 1, required_replicas: 3, reason: 'timeout' })
    expect(out[0]!.type).toBe('failed') // the client's answer first
    expect(hints(out)).toEqual([1, 3])
    expect(m.finished).toBe(true)
  })

  it('an ack at or after the deadline does not count: the deadline fires first', () => {
    const m = write({ w: 2 })
    m.start(0)
    m.onAck(asNodeId(1), 10)
    const out = m.onAck(asNodeId(2), 1000)
    expect(failure(out).details).toMatchObject({ available_replicas: 1 })
    expect(hints(out)).toEqual([2, 3])
    expect(m.acked).toEqual([1])
  })

  it('ignores duplicate acks and unknown senders', () => {
    const m = write({ w: 2 })
    m.start(0)
    expect(m.onAck(asNodeId(1), 1)).toEqual([])
    expect(m.onAck(asNodeId(1), 2)).toEqual([])
    expect(m.onAck(asNodeId(99), 3)).toEqual([])
    expect(m.outcome).toBeNull()
    expect(m.onAck(asNodeId(3), 4)).toEqual([{ type: 'succeeded', acked: [1, 3] }])
    expect(m.onAck(asNodeId(3), 5)).toEqual([])
  })

  it('ignores acks from replicas it did not send to (dead at start, already hinted)', () => {
    const m = write({ w: 1, alive: new Set([1].map(n => asNodeId(n))) })
    m.start(0)
    expect(m.onAck(asNodeId(2), 1)).toEqual([])
    expect(m.outcome).toBeNull()
  })

  it('receive() routes ApplyAcks by reqId', () => {
    const m = write({ w: 1 })
    m.start(0)
    expect(m.receive({ type: 'apply-ack', reqId: 8, from: asNodeId(1) }, 1)).toEqual([])
    expect(m.receive({ type: 'apply-ack', reqId: 7, from: asNodeId(1) }, 1)).toEqual([{ type: 'succeeded', acked: [1] }])
  })

  it('a replica failure hints it at once and fails fast when W became unreachable', () => {
    const m = write({ w: 3 })
    m.start(0)
    m.onAck(asNodeId(1), 1)
    const out = m.onFail(asNodeId(2), 2)
    expect(out.map(o => o.type)).toEqual(['failed', 'hint'])
    const e = failure(out)
    expect(e.message).toBe('Write requires W=3 nodes, only 2 available')
    expect(e.details).toMatchObject({ available_replicas: 2, required_replicas: 3, reason: 'replicas_failed' })
    expect(hints(out)).toEqual([2])
    expect(m.finished).toBe(false)
    // A late ack after the failure still spares its replica the hint, and changes no outcome.
    expect(m.onAck(asNodeId(3), 3)).toEqual([])
    expect(m.finished).toBe(true)
    expect(m.tick(1000)).toEqual([])
  })

  it('a failure that leaves W reachable only hints; a later ack from the failed replica is ignored', () => {
    const m = write({ w: 2 })
    m.start(0)
    expect(m.onFail(asNodeId(1), 1)).toEqual([{ type: 'hint', to: 1, batch: m.batch }])
    expect(m.onAck(asNodeId(1), 2)).toEqual([])
    expect(m.onFail(asNodeId(1), 2)).toEqual([])
    m.onAck(asNodeId(2), 3)
    expect(outcomes(m.onAck(asNodeId(3), 4))).toEqual([{ type: 'succeeded', acked: [2, 3] }])
    expect(m.finished).toBe(true)
  })

  it('late acks after a timeout failure change nothing and add no hints', () => {
    const m = write({ w: 2 })
    m.start(0)
    const out = m.tick(1500)
    expect(failure(out).details).toMatchObject({ available_replicas: 0 })
    expect(hints(out)).toEqual([1, 2, 3])
    expect(m.onAck(asNodeId(1), 1600)).toEqual([])
    expect(m.onFail(asNodeId(2), 1600)).toEqual([])
    expect(m.outcome?.type).toBe('failed')
  })

  it('a replica refusing for good (a DDL fence) is hinted only when the write still succeeds', () => {
    // Every replica refused: the write changed nothing anywhere, so no hint may carry it past the DDL.
    const failed = write({ w: 2 })
    failed.start(0)
    expect(failed.onRefuse(asNodeId(1), 1)).toEqual([])
    const out = failed.onRefuse(asNodeId(2), 2)
    expect(failure(out).details).toMatchObject({ reason: 'replicas_failed' })
    expect(hints(out)).toEqual([])
    expect(hints(failed.onRefuse(asNodeId(3), 3))).toEqual([])
    expect(failed.finished).toBe(true)
    expect(hints(failed.tick(2000))).toEqual([])
    // A write that reached W elsewhere: the refusing replica must still get it.
    const ok = write({ w: 1 })
    ok.start(0)
    expect(ok.onRefuse(asNodeId(1), 1)).toEqual([])
    const done = ok.onAck(asNodeId(2), 2)
    expect(outcomes(done)).toEqual([{ type: 'succeeded', acked: [2] }])
    expect(hints(done)).toEqual([1])
    expect(hints(ok.onRefuse(asNodeId(3), 3))).toEqual([3])
    expect(ok.finished).toBe(true)
  })

  it('exactly one of ack or hint per replica, over many interleavings', () => {
    // Every schedule of ack/fail/nothing for 3 replicas, W = 1..3, deadline at the end.
    const events = ['ack', 'fail', 'none'] as const
    for (let w = 1; w <= 3; w++) {
      for (let s = 0; s < 27; s++) {
        for (const order of [[1, 2, 3], [3, 1, 2], [2, 3, 1]].map(o => o.map(n => asNodeId(n)))) {
          const m = write({ w })
          const all = m.start(0)
          let t = 1
          for (const id of order) {
            const ev = events[Math.floor(s / 3 ** (id - 1)) % 3]!
            if (ev === 'ack') all.push(...m.onAck(id, t++))
            if (ev === 'fail') all.push(...m.onFail(id, t++))
          }
          all.push(...m.tick(1000))
          const hinted = hints(all)
          expect(new Set(hinted).size).toBe(hinted.length)
          expect([...m.acked, ...hinted].sort()).toEqual([1, 2, 3])
          expect(hinted.filter(h => m.acked.includes(h))).toEqual([])
          expect(outcomes(all)).toHaveLength(1)
          expect(outcomes(all)[0]!.type).toBe(m.acked.length >= w ? 'succeeded' : 'failed')
          expect(m.finished).toBe(true)
        }
      }
    }
  })

  it('W=1 of N=1 and a start past the deadline', () => {
    const m = write({ w: 1, replicas: [asNodeId(5)], alive: new Set([5].map(n => asNodeId(n))) })
    expect(sends(m.start(0))).toEqual([5])
    expect(outcomes(m.onAck(asNodeId(5), 1))).toEqual([{ type: 'succeeded', acked: [5] }])
    const late = write({ w: 1 })
    const out = late.start(1000)
    expect(sends(out)).toEqual([1, 2, 3])
    expect(failure(out).details).toMatchObject({ reason: 'timeout' })
    expect(hints(out)).toEqual([1, 2, 3])
  })

  it('asserts on programmer errors', () => {
    expect(() => write({ w: 0 })).toThrow(/W=0/)
    expect(() => write({ w: 4 })).toThrow(/W=4/)
    expect(() => write({ replicas: [asNodeId(1), asNodeId(1), asNodeId(2)] })).toThrow(/distinct/)
    const m = write()
    m.start(0)
    expect(() => m.start(0)).toThrow(/twice/)
  })
})

describe('QuorumRead', () => {
  it('R=2 asks every alive replica and answers with the highest of the first two replies', () => {
    const m = read()
    expect(sends(m.start(0))).toEqual([1, 2, 3])
    expect(m.onReply(asNodeId(1), ver(5), 1)).toEqual([])
    const out = m.onReply(asNodeId(2), ver(7), 2)
    expect(outcomes(out)).toEqual([{ type: 'succeeded', version: ver(7), row: ver(7).row, replied: [1, 2] }])
    expect(out[0]!.type).toBe('succeeded') // before any repair
    expect(out.filter(o => o.type === 'repair')).toEqual([{ type: 'repair', to: 1, query: KEY, version: ver(7) }])
  })

  it('a tombstone is a version: the newer delete wins and the row is not found', () => {
    const m = read()
    m.start(0)
    m.onReply(asNodeId(1), ver(5), 1)
    const out = m.onReply(asNodeId(3), ver(6, null), 2)
    expect(outcomes(out)).toEqual([{ type: 'succeeded', version: ver(6, null), row: null, replied: [1, 3] }])
    expect(repairs(out)).toEqual([1])
  })

  it('an older tombstone loses to a newer row', () => {
    const m = read()
    m.start(0)
    m.onReply(asNodeId(1), ver(6, null), 1)
    const out = m.onReply(asNodeId(2), ver(8), 2)
    expect(outcomes(out)[0]).toMatchObject({ type: 'succeeded', row: ver(8).row })
    expect(repairs(out)).toEqual([1])
  })

  it('no replica has the key: found nothing, repairs nothing', () => {
    const m = read()
    m.start(0)
    m.onReply(asNodeId(1), null, 1)
    const out = m.onReply(asNodeId(2), null, 2)
    expect(out).toEqual([{ type: 'succeeded', version: null, row: null, replied: [1, 2] }])
    expect(m.onReply(asNodeId(3), null, 3)).toEqual([])
    expect(m.finished).toBe(true)
  })

  it('orders by unsigned bytes of the id, not by row or arrival', () => {
    const m = read({ r: 3 })
    m.start(0)
    const hi = ver(4, 'b', 2, 7)
    m.onReply(asNodeId(1), ver(4, 'z', 2, 6), 1)
    m.onReply(asNodeId(2), hi, 2)
    const out = m.onReply(asNodeId(3), ver(4, 'a', 1, 9), 3)
    expect(outcomes(out)[0]).toMatchObject({ version: hi })
    expect(repairs(out)).toEqual([1, 3])
  })

  it('repairs replicas that are missing the key as well as stale ones, and not equal ones', () => {
    const m = read({ r: 3 })
    m.start(0)
    m.onReply(asNodeId(1), ver(9), 1)
    m.onReply(asNodeId(2), null, 2)
    const out = m.onReply(asNodeId(3), ver(9, 'same id'), 3)
    expect(repairs(out)).toEqual([2])
  })

  it('late replies after the answer are repaired too, at most once per replica', () => {
    const m = read({ r: 1 })
    m.start(0)
    const first = m.onReply(asNodeId(2), ver(5), 1)
    expect(outcomes(first)).toEqual([{ type: 'succeeded', version: ver(5), row: ver(5).row, replied: [2] }])
    expect(repairs(first)).toEqual([])
    expect(repairs(m.onReply(asNodeId(1), null, 2))).toEqual([1])
    expect(m.onReply(asNodeId(1), null, 3)).toEqual([]) // duplicate
    // A later, newer reply: the client already has its answer; replicas not yet repaired get the
    // newer version, the one already repaired is not repaired again.
    const out = m.onReply(asNodeId(3), ver(8), 4)
    expect(outcomes(out)).toEqual([])
    expect(out).toEqual([{ type: 'repair', to: 2, query: KEY, version: ver(8) }])
    expect(m.repairedReplicas).toEqual([1, 2])
    expect(m.finished).toBe(true)
  })

  it('repairs stop at the deadline', () => {
    const m = read({ r: 1 })
    m.start(0)
    m.onReply(asNodeId(1), ver(5), 1)
    expect(m.tick(1000)).toEqual([])
    expect(m.finished).toBe(true)
    expect(m.onReply(asNodeId(2), null, 1001)).toEqual([])
  })

  it('fewer than R alive fails fast with the exact message, sending nothing', () => {
    const m = read({ r: 2, alive: new Set([3].map(n => asNodeId(n))) })
    const out = m.start(0)
    expect(out).toHaveLength(1)
    const e = failure(out)
    expect(e.message).toBe('Read requires R=2 nodes, only 1 available')
    expect(e.details).toMatchObject({ available_replicas: 1, required_replicas: 2, reason: 'not_enough_alive' })
  })

  it('sends only to alive replicas', () => {
    const m = read({ r: 1, alive: new Set([2, 3].map(n => asNodeId(n))) })
    expect(sends(m.start(0))).toEqual([2, 3])
    expect(m.onReply(asNodeId(1), ver(1), 1)).toEqual([]) // not asked
    expect(m.outcome).toBeNull()
  })

  it('times out with available = replies received; late replies are ignored', () => {
    const m = read({ r: 2 })
    m.start(0)
    m.onReply(asNodeId(1), ver(1), 1)
    const e = failure(m.tick(1000))
    expect(e.message).toBe('Read requires R=2 nodes, only 1 answered within read_timeout_ms')
    expect(e.details).toMatchObject({ available_replicas: 1, required_replicas: 2, reason: 'timeout' })
    expect(m.onReply(asNodeId(2), ver(2), 1001)).toEqual([])
    expect(m.outcome?.type).toBe('failed')
  })

  it('a reply at the deadline is too late', () => {
    const m = read({ r: 1 })
    m.start(0)
    expect(failure(m.onReply(asNodeId(1), ver(1), 1000)).details).toMatchObject({ available_replicas: 0 })
  })

  it('replica failures fail fast once R is unreachable; no repair after a failure', () => {
    const m = read({ r: 2 })
    m.start(0)
    m.onReply(asNodeId(1), null, 1)
    expect(m.onFail(asNodeId(2), 2)).toEqual([])
    const out = m.onFail(asNodeId(3), 3)
    const e = failure(out)
    expect(e.message).toBe('Read requires R=2 nodes, only 1 available')
    expect(e.details).toMatchObject({ reason: 'replicas_failed' })
    expect(m.finished).toBe(true)
  })

  it('a malformed reply counts as a failed replica', () => {
    const m = read({ r: 3 })
    m.start(0)
    const out = m.onReply(asNodeId(1), { versionId: new Uint8Array(3), row: null }, 1)
    expect(failure(out).details).toMatchObject({ available_replicas: 2 })
  })

  it('receive() routes ReadReplies by reqId; duplicates are ignored', () => {
    const m = read({ r: 2 })
    m.start(0)
    expect(m.receive({ type: 'read-reply', reqId: 1, from: asNodeId(1), version: null }, 1)).toEqual([])
    expect(m.receive({ type: 'read-reply', reqId: 9, from: asNodeId(1), version: ver(1) }, 1)).toEqual([])
    expect(m.receive({ type: 'read-reply', reqId: 9, from: asNodeId(1), version: ver(3) }, 2)).toEqual([])
    expect(outcomes(m.receive({ type: 'read-reply', reqId: 9, from: asNodeId(2), version: ver(2) }, 3))[0]).toMatchObject({ version: ver(2), replied: [1, 2] })
  })

  it('asserts on programmer errors', () => {
    expect(() => read({ r: 0 })).toThrow(/R=0/)
    expect(() => read({ r: 4 })).toThrow(/R=4/)
  })
})

describe('SB_QUORUM_NOT_ACHIEVED', () => {
  it('is a 503 with SQLSTATE 57P03 and carries the replica counts in JSON', () => {
    const e = failure(write({ w: 3, alive: new Set([1].map(n => asNodeId(n))) }).start(0))
    expect(e).toBeInstanceOf(ScratchBirdError)
    expect(e.sqlstate).toBe('57P03')
    expect(e.toJSON()).toMatchObject({ code: 'SB_QUORUM_NOT_ACHIEVED', available_replicas: 1, required_replicas: 3 })
  })
})
