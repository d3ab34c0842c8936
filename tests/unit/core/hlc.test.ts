import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ManualClock, systemClock } from '../../../src/core/clock'
import { isScratchBirdError, type ScratchBirdError } from '../../../src/core/errors'
import {
  encodeUuidV8, Hlc, HLC_MAX_COUNTER, HLC_MAX_TS, type HlcMarkSink, type HlcOptions, type HlcWarningKind,
  uuidv8Counter, uuidv8NodeId, uuidv8Random, uuidv8Timestamp
} from '../../../src/core/hlc'
import { HlcPersistence } from '../../../src/core/hlc-persist'
import { observeRemoteHlc } from '../../../src/cluster/hlc-observe'
import { cryptoRng, SeededRng } from '../../../src/core/rng'
import { compareUuid, formatUuid, isRfc9562Variant, parseUuid, UuidV7Generator, uuidVersion } from '../../../src/core/uuid'

const T0 = 1_767_225_600_000

function makeHlc (over: Partial<HlcOptions> = {}): { hlc: Hlc, clock: ManualClock } {
  const clock = (over.clock as ManualClock | undefined) ?? new ManualClock(T0)
  return { hlc: new Hlc({ clock, rng: new SeededRng(1), nodeId: 7, ...over }), clock }
}

function thrown (fn: () => unknown): ScratchBirdError {
  try { fn() } catch (e) {
    if (isScratchBirdError(e)) return e
    throw e
  }
  throw new Error('expected a ScratchBirdError')
}

/** Counts ids that are not v8/RFC-variant or not strictly above their predecessor. */
function checkSequence (ids: Uint8Array[]): number {
  let bad = 0
  for (let i = 0; i < ids.length; i++) {
    const u = ids[i]!
    if (uuidVersion(u) !== 8 || !isRfc9562Variant(u)) bad++
    if (i > 0 && compareUuid(ids[i - 1]!, u) !== -1) bad++
  }
  return bad
}

describe('Hlc.generate', () => {
  it('10,000 sequential ids are strictly increasing, version 8, variant 0b10', () => {
    const { hlc, clock } = makeHlc()
    const ids: Uint8Array[] = []
    for (let i = 0; i < 10_000; i++) {
      if (i % 7 === 0) clock.advance(1)
      ids.push(hlc.generate())
    }
    expect(checkSequence(ids)).toBe(0)
    // and on the real clock and CSPRNG
    const real = new Hlc({ clock: systemClock, rng: cryptoRng, nodeId: 1 })
    const realIds = Array.from({ length: 10_000 }, () => real.now())
    expect(checkSequence(realIds)).toBe(0)
  })

  it('keeps increasing when the wall clock steps back 5 s; the timestamp never goes back', () => {
    const { hlc, clock } = makeHlc()
    const before = Array.from({ length: 100 }, () => { clock.advance(1); return hlc.generate() })
    const lastTs = uuidv8Timestamp(before.at(-1)!)
    clock.setWall(clock.now() - 5000)
    const after = Array.from({ length: 5000 }, (_, i) => { if (i % 2 === 0) clock.advance(1); return hlc.generate() })
    expect(checkSequence([...before, ...after])).toBe(0)
    expect(Math.min(...after.map(uuidv8Timestamp))).toBeGreaterThanOrEqual(lastTs)
    // once the wall passes the HLC again, ids follow the wall clock
    clock.advance(10_000)
    expect(uuidv8Timestamp(hlc.generate())).toBe(clock.now())
  })

  it('5,000 ids in one frozen millisecond: counter ≤ 4095, timestamp advances, unique and increasing', () => {
    const { hlc, clock } = makeHlc()
    const ids = Array.from({ length: 5000 }, () => hlc.generate())
    expect(checkSequence(ids)).toBe(0)
    expect(Math.max(...ids.map(uuidv8Counter))).toBeLessThanOrEqual(HLC_MAX_COUNTER)
    expect(uuidv8Timestamp(ids[0]!)).toBe(clock.now())
    expect(uuidv8Timestamp(ids[4095]!)).toBe(clock.now())
    expect(uuidv8Timestamp(ids[4096]!)).toBe(clock.now() + 1)
    expect(uuidv8Counter(ids[4096]!)).toBe(0)
    expect(new Set(ids.map(formatUuid)).size).toBe(5000)
    expect(hlc.counterOverflows).toBe(1)
  })

  it('puts the encoded fields where the extractors find them', () => {
    const { hlc, clock } = makeHlc({ nodeId: 0xabcd })
    hlc.generate()
    const u = hlc.generate()
    expect(uuidv8Timestamp(u)).toBe(clock.now())
    expect(uuidv8Counter(u)).toBe(1)
    expect(uuidv8NodeId(u)).toBe(0xabcd)
    expect(hlc.state()).toEqual({ ts: clock.now(), counter: 1 })
  })

  it('generateInto writes at an offset', () => {
    const { hlc } = makeHlc()
    const buf = new Uint8Array(40).fill(0xee)
    hlc.generateInto(buf, 3)
    expect([buf[2], buf[19]]).toEqual([0xee, 0xee])
    expect(uuidv8NodeId(buf.subarray(3, 19))).toBe(7)
  })

  it('is reproducible from the clock and rng seed (simulator replay)', () => {
    const run = (): string[] => {
      const { hlc, clock } = makeHlc()
      return Array.from({ length: 50 }, (_, i) => { clock.advance(i % 3); return formatUuid(hlc.generate()) })
    }
    expect(run()).toEqual(run())
  })

  it('rejects node id 0 and other bad options', () => {
    expect(thrown(() => makeHlc({ nodeId: 0 })).code).toBe('SB_BAD_ARGUMENT')
    expect(thrown(() => makeHlc({ nodeId: 0 })).message).toMatch(/0 is reserved/)
    expect(thrown(() => makeHlc({ nodeId: 65536 })).code).toBe('SB_BAD_ARGUMENT')
    expect(thrown(() => makeHlc({ nodeId: 1.5 })).code).toBe('SB_BAD_ARGUMENT')
    expect(thrown(() => makeHlc({ maxClockOffsetMs: 0 })).code).toBe('SB_BAD_ARGUMENT')
    expect(makeHlc({ nodeId: 65535 }).hlc.nodeId).toBe(65535)
  })
})

describe('Hlc.update (remote events)', () => {
  it('B generates after receiving A\'s id → B\'s id is greater, even with a lower node id', () => {
    const a = makeHlc({ clock: new ManualClock(T0 + 300), nodeId: 65535 }).hlc
    const b = makeHlc({ clock: new ManualClock(T0), nodeId: 1, rng: new SeededRng(2) }).hlc
    b.generate()
    const fromA = a.generate()
    b.update(fromA)
    const fromB = b.generate()
    expect(compareUuid(fromA, fromB)).toBe(-1)
    expect(uuidv8Timestamp(fromB)).toBe(T0 + 300)
  })

  it('follows the HLC counter rule', () => {
    const { hlc, clock } = makeHlc()
    // wall ahead of both → (wall, 0)
    hlc.update({ ts: T0 - 10, counter: 9 })
    expect(hlc.state()).toEqual({ ts: T0, counter: 0 })
    // remote ahead of both → (remote, remote + 1)
    hlc.update({ ts: T0 + 5, counter: 9 })
    expect(hlc.state()).toEqual({ ts: T0 + 5, counter: 10 })
    // local ahead → (local, local + 1)
    hlc.update({ ts: T0 + 1, counter: 4000 })
    expect(hlc.state()).toEqual({ ts: T0 + 5, counter: 11 })
    // same ts → max + 1
    hlc.update({ ts: T0 + 5, counter: 100 })
    expect(hlc.state()).toEqual({ ts: T0 + 5, counter: 101 })
    hlc.update({ ts: T0 + 5, counter: 3 })
    expect(hlc.state()).toEqual({ ts: T0 + 5, counter: 102 })
    // counter overflow → next ms, counter 0
    hlc.update({ ts: T0 + 6, counter: HLC_MAX_COUNTER })
    expect(hlc.state()).toEqual({ ts: T0 + 7, counter: 0 })
    clock.advance(100)
    hlc.update({ ts: T0 + 7, counter: 0 })
    expect(hlc.state()).toEqual({ ts: T0 + 100, counter: 0 })
  })

  it('rejects a remote timestamp past max_clock_offset_ms without changing state', () => {
    const { hlc, clock } = makeHlc({ maxClockOffsetMs: 500 })
    hlc.generate()
    const before = hlc.state()
    const remote = makeHlc({ clock: new ManualClock(T0 + 501), nodeId: 9 }).hlc.generate()
    const err = thrown(() => hlc.update(remote))
    expect(err.code).toBe('SB_CLOCK_OFFSET_EXCEEDED')
    expect(err.details).toMatchObject({ remoteTs: T0 + 501, localWall: T0, offsetMs: 501, maxClockOffsetMs: 500, remoteNodeId: 9 })
    expect(err.message).toMatch(/501 ms ahead/)
    expect(hlc.state()).toEqual(before)
    expect(hlc.remoteRejections).toBe(1)
    expect(thrown(() => hlc.update({ ts: T0 + 10_000, counter: 0 })).code).toBe('SB_CLOCK_OFFSET_EXCEEDED')
    expect(hlc.remoteRejections).toBe(2)
    expect(hlc.state()).toEqual(before)
    // exactly at the limit is accepted
    hlc.update({ ts: clock.now() + 500, counter: 0 })
    expect(hlc.state()).toEqual({ ts: T0 + 500, counter: 1 })
  })

  it('rejects remote values that are not UUIDv8-HLC or are out of range', () => {
    const { hlc } = makeHlc()
    const v7 = new UuidV7Generator(new ManualClock(), new SeededRng(1)).generate()
    expect(thrown(() => hlc.update(v7)).code).toBe('SB_UUID_INVALID')
    expect(thrown(() => hlc.update(new Uint8Array(8))).code).toBe('SB_UUID_INVALID')
    expect(thrown(() => hlc.update({ ts: T0, counter: 4096 })).code).toBe('SB_BAD_ARGUMENT')
    expect(thrown(() => hlc.update({ ts: -1, counter: 0 })).code).toBe('SB_BAD_ARGUMENT')
  })
})

describe('UUIDv8 encoding', () => {
  const fields = fc.record({
    ts: fc.integer({ min: 0, max: HLC_MAX_TS }),
    counter: fc.integer({ min: 0, max: HLC_MAX_COUNTER }),
    nodeId: fc.integer({ min: 0, max: 0xffff }),
    random: fc.integer({ min: 0, max: 2 ** 46 - 1 })
  })
  type Fields = { ts: number, counter: number, nodeId: number, random: number }
  const tupleCmp = (a: Fields, b: Fields): number => {
    for (const k of ['ts', 'counter', 'nodeId', 'random'] as const) {
      if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1
    }
    return 0
  }

  it('byte order equals (ts, counter, node, random) order', () => {
    fc.assert(fc.property(fields, fields, (a, b) => {
      expect(compareUuid(encodeUuidV8(a), encodeUuidV8(b))).toBe(tupleCmp(a, b))
    }), { numRuns: 2000 })
    // near-equal tuples, where only a low field differs
    fc.assert(fc.property(fields, fc.constantFrom('ts', 'counter', 'nodeId', 'random'), (a, k) => {
      const max = { ts: HLC_MAX_TS, counter: HLC_MAX_COUNTER, nodeId: 0xffff, random: 2 ** 46 - 1 }[k]
      const b = { ...a, [k]: a[k] === max ? a[k] - 1 : a[k] + 1 }
      expect(compareUuid(encodeUuidV8(a), encodeUuidV8(b))).toBe(tupleCmp(a, b))
    }), { numRuns: 2000 })
  })

  it('extraction returns the encoded fields; text round-trips; version and variant are fixed', () => {
    fc.assert(fc.property(fields, (f) => {
      const u = encodeUuidV8(f)
      expect([uuidv8Timestamp(u), uuidv8Counter(u), uuidv8NodeId(u), uuidv8Random(u)]).toEqual([f.ts, f.counter, f.nodeId, f.random])
      expect(uuidVersion(u)).toBe(8)
      expect(isRfc9562Variant(u)).toBe(true)
      expect(parseUuid(formatUuid(u))).toEqual(u)
    }), { numRuns: 2000 })
  })

  it('extractors reject non-v8 UUIDs (timestamp also reads v7)', () => {
    const v7 = new UuidV7Generator(new ManualClock(T0), new SeededRng(1)).generate()
    expect(uuidv8Timestamp(v7)).toBe(T0)
    expect(thrown(() => uuidv8Counter(v7)).code).toBe('SB_UUID_INVALID')
    expect(thrown(() => uuidv8NodeId(parseUuid('00000000-0000-4000-8000-000000000000'))).code).toBe('SB_UUID_INVALID')
    expect(thrown(() => uuidv8Timestamp(new Uint8Array(16))).code).toBe('SB_UUID_INVALID')
  })
})

describe('warnings', () => {
  function recorder (): { hook: (k: HlcWarningKind, d: Record<string, unknown>) => void, seen: Array<[HlcWarningKind, Record<string, unknown>]> } {
    const seen: Array<[HlcWarningKind, Record<string, unknown>]> = []
    return { seen, hook: (k, d) => { seen.push([k, d]) } }
  }

  it('counter_high once when the counter passes 3000, rate-limited', () => {
    const r = recorder()
    const { hlc, clock } = makeHlc({ onWarning: r.hook })
    for (let i = 0; i < 3001; i++) hlc.generate()
    expect(r.seen).toHaveLength(0)
    hlc.generate()
    expect(r.seen).toEqual([['counter_high', { nodeId: 7, ts: T0, counter: 3001 }]])
    for (let i = 0; i < 500; i++) hlc.generate()
    clock.advance(1)
    for (let i = 0; i < 3100; i++) hlc.generate()
    expect(r.seen).toHaveLength(1) // next ms, within a second: suppressed
    clock.advance(1000)
    for (let i = 0; i < 3100; i++) hlc.generate()
    expect(r.seen.map(([k]) => k)).toEqual(['counter_high', 'counter_high'])
  })

  it('ahead_of_wall only when the lead crosses 10, 100, 1000 ms; re-armed once the wall catches up', () => {
    const r = recorder()
    const { hlc, clock } = makeHlc({ onWarning: r.hook })
    const ahead = (): number[] => r.seen.filter(([k]) => k === 'ahead_of_wall').map(([, d]) => d['thresholdMs'] as number)
    for (let i = 0; i < 4096 * 9; i++) hlc.generate() // 8 ms ahead
    expect(ahead()).toEqual([])
    for (let i = 0; i < 4096 * 95; i++) hlc.generate() // ~103 ms ahead
    expect(ahead()).toEqual([10, 100])
    clock.advance(200) // wall passes the HLC
    hlc.generate()
    hlc.update({ ts: clock.now() + 300, counter: 0 }) // a peer drags us 300 ms ahead
    expect(ahead()).toEqual([10, 100, 100])
    expect(r.seen.at(-1)![1]).toMatchObject({ aheadMs: 300 })
  })

  it('clock_skew when a peer is more than 100 ms ahead, at most every 10 s', () => {
    const r = recorder()
    const { hlc, clock } = makeHlc({ onWarning: r.hook })
    hlc.update({ ts: T0 + 100, counter: 0 })
    expect(r.seen.filter(([k]) => k === 'clock_skew')).toHaveLength(0)
    const remote = encodeUuidV8({ ts: T0 + 250, counter: 0, nodeId: 3, random: 0 })
    hlc.update(remote)
    hlc.update(remote)
    const skews = r.seen.filter(([k]) => k === 'clock_skew')
    expect(skews).toEqual([['clock_skew', { nodeId: 7, remoteNodeId: 3, skewMs: 250, remoteTs: T0 + 250, localWall: T0 }]])
    clock.advance(10_000)
    hlc.update({ ts: clock.now() + 150, counter: 0 })
    expect(r.seen.filter(([k]) => k === 'clock_skew')).toHaveLength(2)
  })

  it('a throwing hook does not break generation', () => {
    const { hlc } = makeHlc({ onWarning: () => { throw new Error('logger down') } })
    expect(() => { for (let i = 0; i < 4000; i++) hlc.generate() }).not.toThrow()
  })
})

describe('high-water mark', () => {
  it('encodeState/decodeState round-trip; garbage → SB_HLC_STATE_INVALID', () => {
    for (const m of [0, 1, T0, HLC_MAX_TS]) expect(Hlc.decodeState(Hlc.encodeState(m))).toBe(m)
    const good = Hlc.encodeState(T0)
    expect(thrown(() => Hlc.decodeState(new Uint8Array(3))).code).toBe('SB_HLC_STATE_INVALID')
    fc.assert(fc.property(fc.integer({ min: 0, max: 127 }), (bit) => {
      const flipped = good.slice()
      flipped[bit >> 3]! ^= 1 << (bit & 7)
      expect(thrown(() => Hlc.decodeState(flipped)).code).toBe('SB_HLC_STATE_INVALID')
    }), { numRuns: 128 })
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), (bytes) => {
      expect(thrown(() => Hlc.decodeState(bytes)).code).toBe('SB_HLC_STATE_INVALID')
    }))
  })

  it('restoreFrom(highWaterMark()) starts above every id issued, even if the clock went back', () => {
    const { hlc, clock } = makeHlc()
    let last = hlc.generate()
    for (let i = 0; i < 5000; i++) last = hlc.generate() // counter overflow: ts ahead of wall
    const mark = Hlc.decodeState(Hlc.encodeState(hlc.highWaterMark()))
    const restarted = makeHlc({ clock: new ManualClock(clock.now() - 60_000), restoreFrom: mark }).hlc
    expect(compareUuid(last, restarted.generate())).toBe(-1)
    expect(thrown(() => makeHlc({ restoreFrom: -5 })).code).toBe('SB_HLC_STATE_INVALID')
  })

  it('asks the mark sink rarely, and never issues an id at or past an unpersisted mark', () => {
    let persisted = 0
    let calls = 0
    let failing = false
    const sink: HlcMarkSink = {
      reserve (ts) {
        calls++
        if (failing) throw new Error('disk full')
        persisted = ts + 1000
        return persisted
      }
    }
    const warnings: HlcWarningKind[] = []
    const { hlc, clock } = makeHlc({ markSink: sink, onWarning: (k) => warnings.push(k) })
    expect(calls).toBe(1) // reserved at construction
    let bad = 0
    for (let i = 0; i < 100_000; i++) {
      if (i % 10 === 0) clock.advance(1) // 10 s of clock time
      if (uuidv8Timestamp(hlc.generate()) >= persisted) bad++
    }
    expect(bad).toBe(0)
    expect(calls).toBeLessThanOrEqual(22) // ~ one per 500 ms, not per id
    // sink fails while still inside the reservation: keep going, warn
    failing = true
    clock.advance(600)
    hlc.generate()
    expect(warnings).toContain('persist_failed')
    // past the reservation: refuse, state unchanged
    clock.advance(1000)
    const before = hlc.state()
    expect(() => hlc.generate()).toThrow('disk full')
    expect(hlc.state()).toEqual(before)
    failing = false
    expect(uuidv8Timestamp(hlc.generate())).toBe(clock.now())
  })
})

describe('HLC background lease renewal (reserveAhead)', () => {
  /** A mark sink whose background writes land when the test says. */
  function laggingSink (): { sink: HlcMarkSink, syncCalls: number[], pending: Array<{ ts: number, done: (m: number) => void, failed: (e: unknown) => void }> } {
    const out = {
      syncCalls: [] as number[],
      pending: [] as Array<{ ts: number, done: (m: number) => void, failed: (e: unknown) => void }>,
      sink: {
        reserve (ts: number) { out.syncCalls.push(ts); return ts + 1000 },
        reserveAhead (ts: number, done: (m: number) => void, failed: (e: unknown) => void) { out.pending.push({ ts, done, failed }) }
      } satisfies HlcMarkSink
    }
    return out
  }

  it('starts one background renewal halfway, keeps issuing ids, and extends the lease when it lands', () => {
    const s = laggingSink()
    const { hlc, clock } = makeHlc({ markSink: s.sink })
    expect(s.syncCalls).toHaveLength(1) // boot
    const leaseEnd = s.syncCalls[0]! + 1000
    clock.advance(600)
    hlc.generate()
    clock.advance(100)
    hlc.generate()
    expect(s.pending).toHaveLength(1) // one at a time
    expect(s.syncCalls).toHaveLength(1)
    s.pending[0]!.done(s.pending[0]!.ts + 1000)
    clock.advance(500) // past the first lease's end, inside the new one
    expect(uuidv8Timestamp(hlc.generate())).toBeGreaterThanOrEqual(leaseEnd)
    expect(s.syncCalls).toHaveLength(1)
  })

  it('falls back to a synchronous reservation when the lease ends first; a late landing never shortens the lease', () => {
    const s = laggingSink()
    const warnings: HlcWarningKind[] = []
    const { hlc, clock } = makeHlc({ markSink: s.sink, onWarning: (k) => warnings.push(k) })
    clock.advance(600)
    hlc.generate()
    expect(s.pending).toHaveLength(1)
    clock.advance(500) // the lease ends, the background write has not landed
    const ts = uuidv8Timestamp(hlc.generate())
    expect(s.syncCalls).toEqual([expect.any(Number), ts])
    s.pending[0]!.done(s.pending[0]!.ts + 1000) // lower than the synchronous mark
    clock.advance(900) // inside the synchronous lease: no new synchronous write
    hlc.generate()
    expect(s.syncCalls).toHaveLength(2)
    // A failed background write is a warning; the next one is tried later.
    expect(s.pending).toHaveLength(2)
    s.pending[1]!.failed(new Error('disk full'))
    expect(warnings).toContain('persist_failed')
    clock.advance(50)
    hlc.generate()
    expect(s.pending).toHaveLength(3)
  })
})

describe('HlcPersistence', () => {
  const dirs: string[] = []
  const tempFile = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-hlc-'))
    dirs.push(dir)
    return join(dir, 'hlc.mark')
  }
  afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

  it('a restart never yields an id below the last one issued, even with the clock set back', async () => {
    const file = tempFile()
    const clock = new ManualClock(T0)
    const p1 = new HlcPersistence(file)
    expect(p1.read()).toBeUndefined()
    const hlc1 = p1.startHlc({ clock, rng: new SeededRng(1), nodeId: 4 })
    let last = hlc1.generate()
    let bad = 0
    for (let i = 0; i < 50_000; i++) {
      if (i % 5 === 0) clock.advance(1)
      last = hlc1.generate()
      if (uuidv8Timestamp(last) >= p1.read()!) bad++ // every issued ts is below the mark on disk
    }
    expect(bad).toBe(0)
    expect(p1.writes).toBeLessThanOrEqual(4) // 10 s of clock time, ~one write per 5 s
    // "crash", then restart on a machine whose clock is an hour behind
    clock.setWall(T0 - 3_600_000)
    const p2 = new HlcPersistence(file)
    const hlc2 = p2.startHlc({ clock, rng: new SeededRng(1), nodeId: 4 })
    const first = hlc2.generate()
    expect(compareUuid(last, first)).toBe(-1)
    // One synchronous burst: the background renewals never landed before their lease ended, so
    // the synchronous fallback wrote the companion file; no tmp file is left behind.
    await p1.settled()
    expect(readdirSync(join(file, '..')).sort()).toEqual(['hlc.mark', 'hlc.mark.sync'])
  })

  it('renews in the background while ids go on; the event loop never waits for the disk when the write lands in time', async () => {
    const file = tempFile()
    const clock = new ManualClock(T0)
    const p = new HlcPersistence(file, { reserveMs: 1000 })
    const hlc = p.startHlc({ clock, rng: new SeededRng(1), nodeId: 4 })
    expect(p.writes).toBe(1) // the boot reservation, synchronous
    let bad = 0
    for (let ms = 0; ms < 10_000; ms += 50) {
      clock.advance(50)
      const ts = uuidv8Timestamp(hlc.generate())
      if (ts >= p.read()!) bad++
      await p.settled() // the background write lands before the lease ends
    }
    expect(bad).toBe(0)
    expect(p.writes).toBeGreaterThanOrEqual(15) // about one per 500 ms
    expect(p.writes).toBeLessThanOrEqual(25)
    expect(readdirSync(join(file, '..'))).toEqual(['hlc.mark']) // no synchronous fallback was needed
  })

  it('reads the higher of the mark file and its .sync companion', () => {
    const file = tempFile()
    writeFileSync(file, Hlc.encodeState(T0 + 5_000))
    writeFileSync(`${file}.sync`, Hlc.encodeState(T0 + 9_000))
    expect(new HlcPersistence(file).read()).toBe(T0 + 9_000)
    writeFileSync(`${file}.sync`, Hlc.encodeState(T0 + 1_000))
    expect(new HlcPersistence(file).read()).toBe(T0 + 5_000)
    rmSync(file)
    expect(new HlcPersistence(file).read()).toBe(T0 + 1_000)
    writeFileSync(`${file}.sync`, 'garbage')
    expect(thrown(() => new HlcPersistence(file).read()).code).toBe('SB_HLC_STATE_INVALID')
  })

  it('refuses a corrupt mark file with SB_HLC_STATE_INVALID', () => {
    const file = tempFile()
    writeFileSync(file, 'garbage, not a mark')
    const err = thrown(() => new HlcPersistence(file).startHlc({ clock: new ManualClock(), rng: new SeededRng(1), nodeId: 1 }))
    expect(err.code).toBe('SB_HLC_STATE_INVALID')
    expect(err.details['path']).toBe(file)
  })

  it('fails at boot when the directory is not writable', () => {
    const file = join(tempFile(), 'missing-dir', 'hlc.mark')
    const err = thrown(() => new HlcPersistence(file).startHlc({ clock: new ManualClock(), rng: new SeededRng(1), nodeId: 1 }))
    expect(err.code).toBe('SB_HLC_PERSIST_FAILED')
    expect(err.message).toMatch(/ENOENT/)
  })

  it('a mark that cannot be written past the lease is a coded refusal, also for a peer\'s stamp (gossip must not crash the node)', () => {
    const file = tempFile()
    const clock = new ManualClock(T0)
    const hlc = new HlcPersistence(file).startHlc({ clock, rng: new SeededRng(1), nodeId: 1 })
    hlc.generate()
    rmSync(join(file, '..'), { recursive: true, force: true }) // the directory is gone: every write fails
    clock.advance(3_600_000) // far past the reservation
    expect(thrown(() => hlc.generate()).code).toBe('SB_HLC_PERSIST_FAILED')
    const refused = observeRemoteHlc(hlc, [`${T0 + 3_600_000}.0`])
    expect(refused?.code).toBe('SB_HLC_PERSIST_FAILED')
  })
})

describe('HLC reserve and restart wait', () => {
  it('keeps the reserve near max_clock_offset_ms and waits out a lead above half of it', async () => {
    const { hlcReserveMs, restartWaitMs } = await import('../../../src/core/hlc-persist')
    expect(hlcReserveMs(500)).toBe(1000)
    expect(hlcReserveMs(60_000)).toBe(10_000)
    expect(restartWaitMs(undefined, 1000, 500)).toBe(0)
    expect(restartWaitMs(1_000, 2_000, 500)).toBe(0) // mark in the past
    expect(restartWaitMs(2_900, 2_000, 500)).toBe(650) // lead 900, allowed 250
    expect(restartWaitMs(2_200, 2_000, 500)).toBe(0) // lead within half the bound
  })
})
