import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isScratchBirdError } from '../../../src/core/errors'
import {
  commitValueCount, commitValueGeneration, commitValueSpan, decodeCommitEntry, decodeCommitValue, decodeCommitValueRaw, encodeCommitEntry, encodeCommitGroup, encodeControlEntry,
  MAX_CONTROL_VOTERS, type Mutation
} from '../../../src/storage/commit-log'
import { Arena, checkTuple, decodeTuple, encodeTuple, readU64, writeU64 } from '../../../src/storage/keys'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { decodeTipEntry, decodeTipGroup, encodeTipEntry, encodeTipGroup, findInTipGroup, TipCache } from '../../../src/storage/tip'
import { HLC_ZERO, hlcCounter, hlcMs, hlcTs } from '../../../src/storage/types'
import { decodeVersion, encodeVersion, type RecordVersion } from '../../../src/storage/versions'
import { makeXid, XID_BLOCK, XidAllocator, xidCounter, xidNodeId } from '../../../src/storage/xid'
import { asHlcTs, asNodeId, asXid } from '../../../src/core/ids'

// Every decoder of bytes read from disk (or a peer) must turn garbage into SB_STORAGE_CORRUPT,
// never into a crash or a wrong value.
function corruptOrValue<T> (decode: () => T): T | undefined {
  try {
    return decode()
  } catch (e) {
    expect(isScratchBirdError(e, 'SB_STORAGE_CORRUPT')).toBe(true)
    return undefined
  }
}

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })
const xidArb = u64.map(asXid)
const hlcArb = u64.map(asHlcTs)
const uuid = fc.uint8Array({ minLength: 16, maxLength: 16 })
const versionArb: fc.Arbitrary<RecordVersion> = fc.record({
  xid: xidArb,
  versionId: uuid,
  tombstone: fc.boolean(),
  commitHlc: fc.option(hlcArb, { nil: undefined }),
  prev: fc.option(uuid, { nil: undefined }),
  row: fc.uint8Array({ maxLength: 200 })
}).map(v => v.tombstone ? { ...v, row: new Uint8Array(0) } : v)

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  tableId: fc.integer({ min: 0, max: 0xffffffff }),
  pkBytes: fc.array(fc.bigInt({ min: -1000n, max: 1000n }), { minLength: 1, maxLength: 3 }).map(t => encodeTuple(t)),
  versionId: uuid,
  row: fc.option(fc.uint8Array({ maxLength: 100 }), { nil: null })
})

describe('u64 and HLC helpers', () => {
  it('writeU64/readU64 round-trip big-endian', () => {
    fc.assert(fc.property(u64, v => {
      const b = new Uint8Array(10)
      writeU64(b, 1, v)
      expect(readU64(b, 1)).toBe(v)
      expect(Buffer.from(b.subarray(1, 9)).readBigUInt64BE()).toBe(v)
    }))
  })

  it('HlcTs orders by (ms, counter)', () => {
    expect(hlcTs(1000, 4095) < hlcTs(1001, 0)).toBe(true)
    expect(hlcMs(hlcTs(1_767_225_600_000, 17))).toBe(1_767_225_600_000)
    expect(hlcCounter(hlcTs(1_767_225_600_000, 17))).toBe(17)
  })

  it('Arena views are independent and zeroed', () => {
    const a = new Arena(1024)
    const x = a.alloc(100)
    const y = a.copy(new Uint8Array(100).fill(7))
    x.fill(1)
    expect(y.every(b => b === 7)).toBe(true)
    expect(a.alloc(100).every(b => b === 0)).toBe(true)
  })
})

describe('record versions', () => {
  it('decode(encode(v)) = v', () => {
    fc.assert(fc.property(versionArb, v => {
      const d = decodeVersion(encodeVersion(v))
      expect({ ...d, versionId: [...d.versionId], prev: d.prev && [...d.prev], row: [...d.row] })
        .toEqual({ ...v, versionId: [...v.versionId], prev: v.prev && [...v.prev], row: [...v.row] })
    }))
  })

  it('garbage is SB_STORAGE_CORRUPT or a version that re-encodes to the same bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), b => {
      const v = corruptOrValue(() => decodeVersion(b))
      if (v !== undefined) expect(Buffer.from(encodeVersion(v)).equals(Buffer.from(b))).toBe(true)
    }), { numRuns: 3000 })
    fc.assert(fc.property(versionArb, fc.nat(), fc.nat(255), (v, at, byte) => {
      const b = encodeVersion(v)
      b[at % b.length] = byte
      corruptOrValue(() => decodeVersion(b))
    }), { numRuns: 3000 })
  })
})

describe('TIP entries', () => {
  it('round-trip every state, limbo with its mutations', () => {
    fc.assert(fc.property(hlcArb, fc.array(mutationArb, { maxLength: 4 }), (hlc, ms) => {
      expect(decodeTipEntry(encodeTipEntry('committed', hlc))).toEqual({ state: 'committed', commitHlc: hlc })
      expect(decodeTipEntry(encodeTipEntry('dead')).state).toBe('dead')
      expect(decodeTipEntry(encodeTipEntry('active')).state).toBe('active')
      const limbo = decodeTipEntry(encodeTipEntry('limbo', HLC_ZERO, ms))
      expect(limbo.state).toBe('limbo')
      expect(limbo.mutations).toEqual(ms.map(m => ({ ...m })))
    }))
  })

  it('garbage is SB_STORAGE_CORRUPT or an entry', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 60 }), b => { corruptOrValue(() => decodeTipEntry(b)) }), { numRuns: 3000 })
  })

  it('the cache is a bounded LRU', () => {
    const c = new TipCache(3)
    for (const x of [1n, 2n, 3n].map(asXid)) c.set(x, { state: 'dead' })
    c.get(asXid(1n))
    c.set(asXid(4n), { state: 'committed', commitHlc: asHlcTs(9n) })
    expect(c.size).toBe(3)
    expect(c.get(asXid(2n))).toBeUndefined()
    expect(c.get(asXid(1n))?.state).toBe('dead')
    expect(c.get(asXid(4n))?.commitHlc).toBe(9n)
  })
})

describe('commit log entries', () => {
  it('round-trip', () => {
    fc.assert(fc.property(xidArb, hlcArb, fc.array(mutationArb, { maxLength: 5 }), (xid, hlc, ms) => {
      const e = decodeCommitEntry(7n, encodeCommitEntry(xid, hlc, ms))
      expect(e.lsn).toBe(7n)
      expect(e.xid).toBe(xid)
      expect(e.commitHlc).toBe(hlc)
      expect(e.mutations.map(m => [m.tableId, encodeTuple(m.pk), m.versionId, m.row]))
        .toEqual(ms.map(m => [m.tableId, m.pkBytes, m.versionId, m.row]))
    }))
  })

  it('garbage and bit flips are SB_STORAGE_CORRUPT or an entry', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), b => { corruptOrValue(() => decodeCommitEntry(1n, b)) }), { numRuns: 3000 })
    fc.assert(fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), fc.nat(), fc.nat(255), (ms, at, byte) => {
      const b = encodeCommitEntry(asXid(1n), asHlcTs(2n), ms)
      b[at % b.length] = byte
      corruptOrValue(() => decodeCommitEntry(1n, b))
    }), { numRuns: 3000 })
  })
})

describe('xid allocator', () => {
  it('node-prefixed ids; the persisted mark always covers every id handed out before a write', async () => {
    const kv = MemoryKv.open()
    let alloc = await XidAllocator.open(kv, 42)
    const first = alloc.next()
    expect(xidNodeId(first)).toBe(42)
    expect(first).toBe(makeXid(asNodeId(42), 1n))
    let op = alloc.reservation()!
    expect(op).toBeDefined()
    await kv.batch([op], { sync: true })
    alloc.reserved(op)
    expect(alloc.reservation()).toBeUndefined()
    let last = first
    for (let i = 0n; i < XID_BLOCK; i++) last = alloc.next()
    op = alloc.reservation()!
    await kv.batch([op], { sync: true })
    alloc.reserved(op)
    alloc = await XidAllocator.open(kv, 42)
    expect(xidCounter(alloc.next())).toBeGreaterThan(xidCounter(last))
    await expect(XidAllocator.open(kv, 0)).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
  })
})

describe('commit log groups (one value per pass)', () => {
  const commitArb = fc.record({ xid: xidArb, commitHlc: hlcArb, mutations: fc.array(mutationArb, { maxLength: 3 }) })

  it('round-trip from every LSN inside the group, with limits', () => {
    fc.assert(fc.property(fc.array(commitArb, { minLength: 1, maxLength: 6 }), fc.bigInt({ min: 1n, max: 1n << 40n }), fc.nat(8), fc.nat(8),
      (commits, first, skip, max) => {
        const b = encodeCommitGroup(commits, new Arena())
        expect(commitValueCount(first, b)).toBe(commits.length)
        const from = first + BigInt(skip)
        const got = decodeCommitValue(first, b, from, max)
        const want = commits.map((c, i) => ({ c, lsn: first + BigInt(i) })).filter(e => e.lsn >= from).slice(0, max)
        expect(got.map(e => e.lsn)).toEqual(want.map(e => e.lsn))
        expect(got.map(e => [e.xid, e.commitHlc, e.mutations.map(m => [m.tableId, encodeTuple(m.pk), m.versionId, m.row])]))
          .toEqual(want.map(({ c }) => [c.xid, c.commitHlc, c.mutations.map(m => [m.tableId, m.pkBytes, m.versionId, m.row])]))
      }))
  })

  it('a single commit keeps the format-1 entry', () => {
    const b = encodeCommitGroup([{ xid: asXid(5n), commitHlc: asHlcTs(6n), mutations: [] }])
    expect(b[0]).toBe(1)
    expect(decodeCommitEntry(3n, b).xid).toBe(5n)
  })

  it('garbage and bit flips are SB_STORAGE_CORRUPT or entries', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 160 }), b => {
      corruptOrValue(() => decodeCommitValue(1n, b))
      corruptOrValue(() => commitValueCount(1n, b))
    }), { numRuns: 3000 })
    fc.assert(fc.property(fc.array(commitArb, { minLength: 2, maxLength: 4 }), fc.nat(), fc.nat(255), (commits, at, byte) => {
      const b = encodeCommitGroup(commits)
      b[at % b.length] = byte
      corruptOrValue(() => decodeCommitValue(1n, b))
    }), { numRuns: 3000 })
  })
})

describe('TIP groups', () => {
  const groupArb = fc.uniqueArray(xidArb, { minLength: 2, maxLength: 20 }).map(xs => xs.sort((a, b) => a < b ? -1 : a > b ? 1 : 0))

  it('round-trip; every member is found with its HLC, nothing else is', () => {
    fc.assert(fc.property(groupArb, xidArb, (xids, probe) => {
      const hlcs = xids.map((x, i) => asHlcTs(x ^ BigInt(i)))
      const b = encodeTipGroup(xids, hlcs, new Arena())
      expect(decodeTipGroup(b)).toEqual(xids.map((x, i) => [x, hlcs[i]]))
      xids.forEach((x, i) => expect(findInTipGroup(b, x)).toBe(hlcs[i]))
      if (!xids.includes(probe)) expect(findInTipGroup(b, probe)).toBeUndefined()
    }))
  })

  it('garbage and bit flips are SB_STORAGE_CORRUPT or a group', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), xidArb, (b, x) => {
      corruptOrValue(() => decodeTipGroup(b))
      corruptOrValue(() => findInTipGroup(b, x))
    }), { numRuns: 3000 })
    fc.assert(fc.property(groupArb, fc.nat(), fc.nat(255), (xids, at, byte) => {
      const b = encodeTipGroup(xids, xids.map(x => asHlcTs(x)))
      b[at % b.length] = byte
      corruptOrValue(() => decodeTipGroup(b))
    }), { numRuns: 2000 })
  })
})

describe('checkTuple', () => {
  const valueArb = fc.oneof(
    fc.constant(null), fc.boolean(), fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), fc.double(), fc.string(),
    fc.uint8Array({ maxLength: 8 }), uuid.map(u => ({ uuid: u })))

  it('accepts every encoded tuple', () => {
    fc.assert(fc.property(fc.array(valueArb, { maxLength: 4 }), t => {
      const b = encodeTuple(t)
      checkTuple(b)
      const padded = new Uint8Array(b.length + 2)
      padded.set(b, 1)
      checkTuple(padded, 1, b.length + 1)
    }))
  })

  it('agrees with decodeTuple on garbage: SB_STORAGE_CORRUPT exactly when the decoder refuses', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 24 }), b => {
      const decoded = corruptOrValue(() => decodeTuple(b))
      const checked = corruptOrValue(() => { checkTuple(b); return true })
      expect(checked === true).toBe(decoded !== undefined)
    }), { numRuns: 5000 })
  })
})

describe('commit log control entries (format 5: the replication machine\'s noop and config entries)', () => {
  const nodeIdArb = fc.integer({ min: 1, max: 65535 }).map(asNodeId)
  const controlArb = fc.oneof(
    fc.constant({ kind: 'noop' as const }),
    fc.uniqueArray(nodeIdArb, { minLength: 1, maxLength: MAX_CONTROL_VOTERS }).map(voters => ({ kind: 'config' as const, voters })))

  it('round-trip as one raw entry with no transaction; transaction readers see nothing; one LSN', () => {
    fc.assert(fc.property(controlArb, u64, fc.bigInt({ min: 1n, max: 1n << 40n }), (c, generation, lsn) => {
      const b = encodeControlEntry(generation, c)
      expect(decodeCommitValueRaw(lsn, b)).toEqual([{ lsn, generation, xid: 0n, commitHlc: 0n, mutations: [], control: c }])
      expect(decodeCommitValue(lsn, b)).toEqual([])
      expect(commitValueCount(lsn, b)).toBe(1)
      expect(commitValueGeneration(lsn, b)).toBe(generation)
      expect(commitValueSpan(lsn, b)).toEqual({ count: 1, maxCommitHlc: 0n })
    }))
  })

  it('garbage and bit flips are SB_STORAGE_CORRUPT or entries', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 60 }), b => {
      b[0] = 5
      corruptOrValue(() => decodeCommitValueRaw(1n, b))
      corruptOrValue(() => commitValueCount(1n, b))
    }), { numRuns: 3000 })
    fc.assert(fc.property(controlArb, fc.nat(), fc.nat(255), (c, at, byte) => {
      const b = encodeControlEntry(7n, c)
      b[at % b.length] = byte
      const got = corruptOrValue(() => decodeCommitValueRaw(1n, b))
      for (const e of got ?? []) if (e.control?.kind === 'config') expect(new Set(e.control.voters).size).toBe(e.control.voters.length)
    }), { numRuns: 3000 })
  })
})
