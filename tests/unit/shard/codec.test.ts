import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import {
  decodeAutocommit, decodeAutocommitReply, decodeReplicaApply, decodeReplicaApplyReply, encodeAutocommit, encodeAutocommitReply,
  encodeReplicaApply, encodeReplicaApplyReply
} from '../../../src/shard/protocol/codec'
import type { ReplicaWrite, RowWrite } from '../../../src/storage/engine'
import { encodeTuple } from '../../../src/storage/keys'
import { asHlcTs, asShardId, asXid, MAX_SHARDS } from '../../../src/core/ids'

// The AUTOCOMMIT codec carries the write path between the main thread and a shard worker: it
// must round-trip, and garbage (a bug, a torn frame) must be SB_MALFORMED_REQUEST, never a crash.

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })
const xidArb = u64.map(asXid)
const hlcArb = u64.map(asHlcTs)
const pkArb = fc.array(fc.oneof(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), fc.string({ maxLength: 6 }), fc.constant(null)), { minLength: 1, maxLength: 3 })
const writeArb: fc.Arbitrary<RowWrite> = fc.record({
  op: fc.constantFrom('insert', 'update', 'delete', 'put', 'lww'),
  tableId: fc.integer({ min: 0, max: 0xffffffff }),
  pk: pkArb,
  row: fc.uint8Array({ maxLength: 40 }),
  nullRow: fc.boolean(),
  versionId: fc.uint8Array({ minLength: 16, maxLength: 16 })
}).map(w => {
  const base = { tableId: w.tableId, pk: w.pk, versionId: w.versionId }
  if (w.op === 'delete') return { ...base, op: 'delete' }
  if (w.op === 'put' || w.op === 'lww') return { ...base, op: w.op, row: w.nullRow ? null : w.row }
  return { ...base, op: w.op, row: w.row }
})
const msgArb = fc.record({
  shard: fc.integer({ min: 0, max: MAX_SHARDS - 1 }).map(s => asShardId(s)),
  writes: fc.array(writeArb, { maxLength: 4 }),
  commitHlc: hlcArb,
  xid: fc.option(xidArb, { nil: undefined })
})

function plain (w: RowWrite): unknown[] {
  return [w.op, w.tableId, w.pk, [...w.versionId], w.op === 'delete' ? null : w.row === null ? null : [...w.row]]
}

function malformedOrValue<T> (decode: () => T): T | undefined {
  try {
    return decode()
  } catch (e) {
    expect(isScratchBirdError(e, 'SB_MALFORMED_REQUEST')).toBe(true)
    return undefined
  }
}

describe('AUTOCOMMIT codec', () => {
  it('round-trips, with pk bytes kept encoded (copying and view decodes)', () => {
    fc.assert(fc.property(msgArb, m => {
      const bytes = encodeAutocommit(m)
      for (const copy of [true, false]) {
        const d = decodeAutocommit(bytes, copy)
        expect([d.shard, d.commitHlc, d.xid]).toEqual([m.shard, m.commitHlc, m.xid])
        expect(d.writes.map(plain)).toEqual(m.writes.map(plain))
        d.writes.forEach((w, i) => expect([...w.pkBytes!]).toEqual([...encodeTuple(m.writes[i]!.pk)]))
      }
      // A copying decode owns its bytes; a view decode does not.
      const c = decodeAutocommit(bytes, true)
      const v = decodeAutocommit(bytes, false)
      if (m.writes.length > 0) {
        expect(c.writes[0]!.versionId.buffer).not.toBe(bytes.buffer)
        expect(v.writes[0]!.versionId.buffer).toBe(bytes.buffer)
      }
    }))
  })

  it('encodes pkBytes when a write carries them', () => {
    const pkBytes = encodeTuple([42n, 'x'])
    const b = encodeAutocommit({ shard: asShardId(1), commitHlc: asHlcTs(5n), writes: [{ op: 'insert', tableId: 3, pk: [], pkBytes, row: Uint8Array.of(1), versionId: new Uint8Array(16) }] })
    expect(decodeAutocommit(b).writes[0]!.pk).toEqual([42n, 'x'])
  })

  it('replies round-trip', () => {
    fc.assert(fc.property(xidArb, fc.option(u64, { nil: null }), hlcArb, fc.array(fc.boolean(), { maxLength: 8 }), (xid, lsn, commitHlc, affected) => {
      expect(decodeAutocommitReply(encodeAutocommitReply({ xid, lsn, commitHlc, affected }))).toEqual({ xid, lsn, commitHlc, affected })
    }))
  })

  it('garbage and bit flips are SB_MALFORMED_REQUEST or a request', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), b => {
      malformedOrValue(() => decodeAutocommit(b))
      malformedOrValue(() => decodeAutocommitReply(b))
    }), { numRuns: 3000 })
    fc.assert(fc.property(msgArb, fc.nat(), fc.nat(255), (m, at, byte) => {
      const b = encodeAutocommit(m)
      b[at % b.length] = byte
      malformedOrValue(() => decodeAutocommit(b, false))
    }), { numRuns: 3000 })
  })
})

const replicaWriteArb: fc.Arbitrary<ReplicaWrite> = fc.record({
  tableId: fc.integer({ min: 0, max: 0xffffffff }),
  pk: pkArb,
  row: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: null }),
  versionId: fc.uint8Array({ minLength: 16, maxLength: 16 })
})
const replicaMsgArb = fc.record({
  shard: fc.integer({ min: 0, max: MAX_SHARDS - 1 }).map(s => asShardId(s)),
  writes: fc.array(replicaWriteArb, { maxLength: 4 }),
  commitHlc: hlcArb,
  xid: fc.option(xidArb, { nil: undefined })
})

describe('REPLICA_APPLY codec', () => {
  it('round-trips; decoded writes are lww RowWrites with pk bytes kept encoded', () => {
    fc.assert(fc.property(replicaMsgArb, m => {
      const bytes = encodeReplicaApply(m)
      for (const copy of [true, false]) {
        const d = decodeReplicaApply(bytes, copy)
        expect([d.shard, d.commitHlc, d.xid]).toEqual([m.shard, m.commitHlc, m.xid])
        expect(d.writes.map(plain)).toEqual(m.writes.map(w => plain({ ...w, op: 'lww' })))
        d.writes.forEach((w, i) => expect([...w.pkBytes!]).toEqual([...encodeTuple(m.writes[i]!.pk)]))
      }
    }))
  })

  it('refuses writes of any other op; AUTOCOMMIT takes lww writes', () => {
    const w = { tableId: 1, pk: [1n], row: Uint8Array.of(1), versionId: new Uint8Array(16) }
    const other = encodeAutocommit({ shard: asShardId(1), commitHlc: asHlcTs(2n), writes: [{ ...w, op: 'lww' }, { ...w, op: 'put' }] })
    expect(() => decodeReplicaApply(other)).toThrow(/REPLICA_APPLY.*only lww/)
    expect(decodeAutocommit(other).writes.map(x => x.op)).toEqual(['lww', 'put'])
    expect(decodeReplicaApply(encodeAutocommit({ shard: asShardId(1), commitHlc: asHlcTs(2n), writes: [{ ...w, op: 'lww' }] })).writes[0]!.op).toBe('lww')
  })

  it('refuses a shard id at or above MAX_SHARDS as malformed', () => {
    const ok = encodeAutocommit({ shard: asShardId(MAX_SHARDS - 1), commitHlc: asHlcTs(2n), writes: [] })
    expect(decodeAutocommit(ok).shard).toBe(MAX_SHARDS - 1)
    const bad = ok.slice()
    new DataView(bad.buffer).setUint32(0, MAX_SHARDS, true) // the shard is the first field, little-endian
    expect(() => decodeAutocommit(bad)).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST', message: expect.stringContaining(`shard id ${MAX_SHARDS}`) }))
    expect(() => decodeReplicaApply(bad)).toThrow(expect.objectContaining({ code: 'SB_MALFORMED_REQUEST' }))
  })

  it('replies round-trip', () => {
    const outcome = fc.constantFrom('newer' as const, 'same' as const, 'older' as const)
    fc.assert(fc.property(xidArb, fc.option(u64, { nil: null }), hlcArb, fc.array(outcome, { maxLength: 8 }), (xid, lsn, commitHlc, applied) => {
      expect(decodeReplicaApplyReply(encodeReplicaApplyReply({ xid, lsn, commitHlc, applied }))).toEqual({ xid, lsn, commitHlc, applied })
    }))
  })

  it('garbage and bit flips are SB_MALFORMED_REQUEST or a request', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), b => {
      malformedOrValue(() => decodeReplicaApply(b))
      malformedOrValue(() => decodeReplicaApplyReply(b))
    }), { numRuns: 2000 })
    fc.assert(fc.property(replicaMsgArb, fc.nat(), fc.nat(255), (m, at, byte) => {
      const b = encodeReplicaApply(m)
      b[at % b.length] = byte
      const d = malformedOrValue(() => decodeReplicaApply(b, false))
      if (d !== undefined) for (const w of d.writes) expect(w.op).toBe('lww')
    }), { numRuns: 2000 })
  })
})
