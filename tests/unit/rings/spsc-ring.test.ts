import { describe, expect, test } from 'vitest'
import { Worker } from 'node:worker_threads'
import fc from 'fast-check'
import { ManualClock, type Clock, systemClock } from '../../../src/core/clock'
import { isScratchBirdError } from '../../../src/core/errors'
import { FRAME_HEADER_BYTES, SpscRing } from '../../../src/rings/spsc-ring'

// Header word indices of HEAD and TAIL (spsc-ring.ts layout); tests poke them to start the
// free-running counters next to the 32-bit wrap.
const HEAD = 0
const TAIL = 16

function frameBytes (len: number): number { return (FRAME_HEADER_BYTES + len + 7) & ~7 }

/** Deterministic content that differs per message and per byte. */
function pattern (seq: number, len: number): Uint8Array {
  const b = new Uint8Array(len)
  for (let i = 0; i < len; i++) b[i] = (seq * 31 + i * 7 + (i >> 8)) & 0xff
  return b
}

/** A producer/consumer pair over one SAB, as main thread and worker would hold them. */
function pair (capacity = 4096, startCounter?: number): { tx: SpscRing, rx: SpscRing } {
  const tx0 = SpscRing.create(capacity, { clock: systemClock })
  if (startCounter !== undefined) {
    const ctl = new Int32Array(tx0.sab, 0, 32)
    ctl[HEAD] = startCounter
    ctl[TAIL] = startCounter
  }
  return { tx: SpscRing.attach(tx0.sab, { clock: systemClock }), rx: SpscRing.attach(tx0.sab, { clock: systemClock }) }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function collect (rx: SpscRing, max?: number): Array<{ type: number, id: number, payload: Uint8Array }> {
  const out: Array<{ type: number, id: number, payload: Uint8Array }> = []
  rx.drain((type, id, payload) => out.push({ type, id, payload: payload.slice() }), max)
  return out
}

function expectCode (fn: () => unknown, code: string): void {
  try {
    fn()
  } catch (err) {
    expect(isScratchBirdError(err) && err.code).toBe(code)
    return
  }
  throw new Error(`expected ${code}`)
}

describe('SpscRing creation', () => {
  test('capacity must be a power of two of at least 4 KiB', () => {
    for (const bad of [0, 1000, 2048, 4095, 6000, 4096.5, -4096]) expectCode(() => SpscRing.create(bad, { clock: systemClock }), 'SB_BAD_ARGUMENT')
    const r = SpscRing.create(4096, { clock: systemClock })
    expect(r.capacity).toBe(4096)
    expect(r.maxMessageBytes).toBe(4096 / 4 - FRAME_HEADER_BYTES)
    expect(r.freeBytes()).toBe(4096)
  })

  test('a configured limit below capacity/4 is honoured; above it is refused', () => {
    expect(SpscRing.create(8192, { maxMessageBytes: 100, clock: systemClock }).maxMessageBytes).toBe(100)
    expectCode(() => SpscRing.create(8192, { maxMessageBytes: 4096, clock: systemClock }), 'SB_BAD_ARGUMENT')
  })

  test('attach refuses buffers that are not rings', () => {
    expectCode(() => SpscRing.attach(new SharedArrayBuffer(8192), { clock: systemClock }), 'SB_BAD_ARGUMENT')
    expectCode(() => SpscRing.attach(new SharedArrayBuffer(16), { clock: systemClock }), 'SB_BAD_ARGUMENT')
    expectCode(() => SpscRing.attach(undefined as unknown as SharedArrayBuffer, { clock: systemClock }), 'SB_BAD_ARGUMENT')
  })
})

describe('SpscRing frames', () => {
  test('round-trips type, request id and payload; empty payloads too', () => {
    const { tx, rx } = pair()
    expect(tx.tryWrite(7, 2 ** 40 + 3, pattern(1, 33))).toBe(true)
    expect(tx.tryWrite(0, 0, new Uint8Array(0))).toBe(true)
    expect(rx.hasData()).toBe(true)
    const got = collect(rx)
    expect(got).toEqual([
      { type: 7, id: 2 ** 40 + 3, payload: pattern(1, 33) },
      { type: 0, id: 0, payload: new Uint8Array(0) }
    ])
    expect(rx.hasData()).toBe(false)
    expect(tx.freeBytes()).toBe(4096)
  })

  test('queuedBytes reads the same on the producer\'s and the consumer\'s object (the ring metric reads the consumer\'s for responses)', () => {
    const { tx, rx } = pair(4096, 2 ** 31 - 512) // counters about to wrap
    for (let lap = 0; lap < 3; lap++) {
      expect(tx.tryWrite(1, lap, pattern(lap, 984))).toBe(true)
      expect(tx.tryWrite(1, lap, pattern(lap, 984))).toBe(true)
      expect(tx.queuedBytes()).toBeGreaterThanOrEqual(2000) // two frames, and a pad when one wrapped
      expect(tx.queuedBytes()).toBe(tx.usedBytes()) // the producer's own count
      expect(rx.queuedBytes()).toBe(tx.queuedBytes())
      expect(collect(rx)).toHaveLength(2)
      expect(rx.queuedBytes()).toBe(0)
      expect(tx.queuedBytes()).toBe(0)
    }
  })

  test('a frame that would straddle the end is moved to offset 0 behind a pad', () => {
    const { tx, rx } = pair()
    for (let i = 0; i < 3; i++) expect(tx.tryWrite(1, i, pattern(i, 1008))).toBe(true) // 3 × 1024
    expect(tx.tryWrite(1, 3, pattern(3, 984))).toBe(true) // 1000 → head at 4072, 24 bytes to the end
    expect(collect(rx)).toHaveLength(4)
    expect(tx.usedBytes()).toBe(0)
    expect(tx.tryWrite(2, 4, pattern(4, 100))).toBe(true) // needs 120: 24 pad + 120
    expect(tx.usedBytes()).toBe(24 + frameBytes(100))
    expect(collect(rx)).toEqual([{ type: 2, id: 4, payload: pattern(4, 100) }])
    expect(tx.usedBytes()).toBe(0)
    // exact fit to the end: no pad
    expect(tx.tryWrite(1, 5, pattern(5, 1008))).toBe(true)
    expect(tx.usedBytes()).toBe(1024)
  })

  test('wrap-around: odd sizes over many laps, byte for byte, also across the 2^31 and 2^32 counter wrap', () => {
    for (const start of [0, 0x7fffff00, -256]) {
      const { tx, rx } = pair(4096, start)
      let seq = 0
      let next = 0
      let bytes = 0
      const bad: number[] = []
      const sizes = [0, 1, 3, 7, 13, 100, 255, 511, 777, 1008]
      while (bytes < 4096 * 40) {
        // write until full, then drain a varying part: the fill level keeps moving around the ring
        for (;;) {
          const len = sizes[seq % sizes.length]! + (seq % 5)
          const n = Math.min(len, tx.maxMessageBytes)
          if (!tx.tryWrite(seq % 3, seq, pattern(seq, n))) break
          bytes += n
          seq++
        }
        rx.drain((type, id, payload) => {
          // plain checks: an expect() per frame would dominate the run time
          const want = pattern(next, Math.min(sizes[next % sizes.length]! + (next % 5), 1008))
          if (id !== next || type !== next % 3 || !sameBytes(payload, want)) bad.push(next)
          next++
        }, 1 + (seq % 4))
      }
      rx.drain(() => { next++ })
      expect(bad).toEqual([])
      expect(next).toBe(seq)
      expect(seq).toBeGreaterThan(400)
      expect(tx.usedBytes()).toBe(0)
    }
  })

  test('drain(max) hands out at most max frames and leaves the rest', () => {
    const { tx, rx } = pair()
    for (let i = 0; i < 10; i++) tx.tryWrite(1, i, pattern(i, 10))
    expect(collect(rx, 3).map(f => f.id)).toEqual([0, 1, 2])
    expect(collect(rx).map(f => f.id)).toEqual([3, 4, 5, 6, 7, 8, 9])
  })

  test('a throwing handler consumes its frame; the rest stay queued', () => {
    const { tx, rx } = pair()
    for (let i = 0; i < 3; i++) tx.tryWrite(1, i, pattern(i, 10))
    expect(() => rx.drain((_t, id) => { if (id === 1) throw new Error('boom') })).toThrow('boom')
    expect(collect(rx).map(f => f.id)).toEqual([2])
  })

  test('cork() defers publication until uncork()', () => {
    const { tx, rx } = pair()
    tx.cork()
    tx.tryWrite(1, 1, pattern(1, 5))
    tx.tryWrite(1, 2, pattern(2, 5))
    expect(rx.hasData()).toBe(false)
    tx.uncork()
    expect(collect(rx).map(f => f.id)).toEqual([1, 2])
  })
})

describe('SpscRing backpressure and limits', () => {
  test('full ring: tryWrite false, writeAsync resolves after the consumer drains, nothing lost or reordered', async () => {
    const { tx, rx } = pair()
    let seq = 0
    while (tx.tryWrite(1, seq, pattern(seq, 200))) seq++
    expect(seq).toBe(Math.floor(4096 / frameBytes(200)))
    const waiting: Array<Promise<void>> = []
    const settled: number[] = []
    for (let i = 0; i < 50; i++, seq++) {
      const id = seq
      waiting.push(tx.writeAsync(1, id, pattern(id, 200)).then(() => { settled.push(id) }))
    }
    // while writes are queued, tryWrite must not overtake them even when room appears
    const got: number[] = []
    rx.drain((_t, id, payload) => { expect(payload).toEqual(pattern(id, 200)); got.push(id) }, 2)
    expect(tx.tryWrite(1, 999, pattern(999, 1))).toBe(false)
    let rounds = 0
    while (got.length < seq) {
      rx.drain((_t, id, payload) => { expect(payload).toEqual(pattern(id, 200)); got.push(id) })
      await new Promise(resolve => setImmediate(resolve))
      if (++rounds > 10_000) throw new Error('stuck')
    }
    await Promise.all(waiting)
    expect(got).toEqual(Array.from({ length: seq }, (_, i) => i))
    expect(settled).toEqual([...settled].sort((a, b) => a - b))
    expect(tx.tryWrite(1, 1000, pattern(0, 1))).toBe(true)
  })

  test('writeSync gives up once its clock passes the deadline on a full ring, and writes once there is room', () => {
    // A clock that moves 10 ms each time it is read: the deadline is the clock's, not the wall's.
    const manual = new ManualClock()
    const clock: Clock = { now: () => manual.now(), monotonic: () => { manual.advance(10); return manual.monotonic() } }
    const tx = SpscRing.create(4096, { clock })
    const rx = SpscRing.attach(tx.sab, { clock: systemClock })
    while (tx.tryWrite(1, 0, pattern(0, 1000)));
    const used = tx.usedBytes()
    expect(tx.writeSync(1, 1, pattern(1, 1000), 0)).toBe(false) // no time at all: one try
    expect(tx.producerWaiting).toBe(true) // it did announce itself before giving up
    const start = manual.monotonic()
    expect(tx.writeSync(1, 1, pattern(1, 1000), 30)).toBe(false)
    // It kept waiting until its clock had passed start + 10 (the read taking the deadline) + 30.
    expect(manual.monotonic()).toBeGreaterThanOrEqual(start + 40)
    expect(tx.usedBytes()).toBe(used) // nothing written
    rx.drain(() => {}, 1)
    expect(tx.producerWaiting).toBe(false) // the drain that freed room woke the waiter
    expect(tx.writeSync(1, 1, pattern(1, 1000), 30)).toBe(true)
    expect(collect(rx).map(f => f.id).at(-1)).toBe(1)
  })

  test('oversize message: SB_MESSAGE_TOO_LARGE, ring still usable', async () => {
    const { tx, rx } = pair()
    expectCode(() => tx.tryWrite(1, 1, new Uint8Array(tx.maxMessageBytes + 1)), 'SB_MESSAGE_TOO_LARGE')
    await expect(tx.writeAsync(1, 1, new Uint8Array(5000))).rejects.toMatchObject({ code: 'SB_MESSAGE_TOO_LARGE' })
    expect(tx.usedBytes()).toBe(0)
    expect(tx.tryWrite(1, 2, pattern(2, tx.maxMessageBytes))).toBe(true)
    expect(collect(rx)).toEqual([{ type: 1, id: 2, payload: pattern(2, tx.maxMessageBytes) }])
    const small = SpscRing.create(4096, { maxMessageBytes: 10, clock: systemClock })
    expectCode(() => small.tryWrite(1, 1, new Uint8Array(11)), 'SB_MESSAGE_TOO_LARGE')
    expect(small.tryWrite(1, 1, new Uint8Array(10))).toBe(true)
  })
})

describe('SpscRing close and waiting', () => {
  test('waitAsync reports data, times out, and is woken by a write', async () => {
    const { tx, rx } = pair()
    expect(await rx.waitAsync(10)).toBe('timeout')
    expect(rx.consumerWaiting).toBe(false)
    const w = rx.waitAsync(Infinity) // no timeout: only a wake-up can end this wait
    expect(tx.consumerWaiting).toBe(true) // parked before the write
    expect(tx.tryWrite(1, 1, pattern(1, 1))).toBe(true)
    expect(tx.consumerWaiting).toBe(false) // the write saw the waiter and notified it
    expect(await w).toBe('data')
    expect(await rx.waitAsync(Infinity)).toBe('data') // still undrained: answered at once
  })

  test('close wakes an async consumer and an async producer; writes after close throw', async () => {
    const { tx, rx } = pair()
    // Waits without timeouts: only a wake-up ends them.
    const consumer = rx.waitAsync(Infinity)
    while (tx.tryWrite(1, 0, pattern(0, 500)));
    const producer = tx.writeAsync(1, 1, pattern(1, 500))
    expect(tx.producerWaiting).toBe(true) // parked for room
    const { rx: rx2, tx: tx2 } = pair()
    const idle = rx2.waitAsync(Infinity)
    expect(rx2.consumerWaiting).toBe(true) // parked for data
    tx.close()
    tx2.close()
    expect(await consumer).toBe('data') // frames were queued before close: data first
    await expect(producer).rejects.toMatchObject({ code: 'SB_RING_CLOSED' })
    expect(await idle).toBe('closed')
    expectCode(() => tx.tryWrite(1, 2, pattern(2, 1)), 'SB_RING_CLOSED')
    await expect(tx.writeAsync(1, 2, pattern(2, 1))).rejects.toMatchObject({ code: 'SB_RING_CLOSED' })
    expect(rx.drain(() => {})).toBeGreaterThan(0) // published frames still drain after close
    expect(await rx.waitAsync(60_000)).toBe('closed')
  })

  for (const mode of ['waitSync', 'writeSync'] as const) {
    test(`close wakes a worker blocked in ${mode}`, async () => {
      const ring = SpscRing.create(4096, { clock: systemClock })
      const worker = new Worker(new URL('./fixtures/ts-worker.mjs', import.meta.url),
        { workerData: { entry: './wait-worker.ts', ring: ring.sab, mode } })
      try {
        const messages: unknown[] = []
        const done = new Promise(resolve => worker.on('message', m => { messages.push(m); if (m !== 'ready') resolve(m) }))
        await new Promise(resolve => worker.once('message', resolve))
        // Until the worker has parked: it waits with no timeout, so only close() can end it.
        await expect.poll(() => mode === 'waitSync' ? ring.consumerWaiting : ring.producerWaiting, { timeout: 10_000 }).toBe(true)
        expect(messages).toEqual(['ready'])
        ring.close()
        expect(await done).toBe(mode === 'waitSync' ? 'closed' : 'SB_RING_CLOSED')
      } finally {
        await worker.terminate()
      }
    })
  }
})

describe('SpscRing model', () => {
  test('random writes and drains behave like an array queue', () => {
    type Cmd = { kind: 'write', len: number, burst: number } | { kind: 'drain', max: number }
    const cmd = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), len: fc.oneof(fc.integer({ min: 0, max: 24 }), fc.integer({ min: 0, max: 1008 })), burst: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ kind: fc.constant('drain' as const), max: fc.integer({ min: 1, max: 12 }) })
    )
    fc.assert(fc.property(fc.array(cmd, { maxLength: 120 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      (cmds: Cmd[], start) => {
        const { tx, rx } = pair(4096, start & ~7)
        const model: Array<{ id: number, payload: Uint8Array }> = []
        let seq = 0
        for (const c of cmds) {
          if (c.kind === 'write') {
            for (let i = 0; i < c.burst; i++) {
              const payload = pattern(seq, c.len)
              const need = frameBytes(c.len)
              if (tx.tryWrite(seq & 0xff, seq, payload)) {
                model.push({ id: seq++, payload })
              } else {
                // refusal only when it truly cannot fit (a pad is always smaller than the frame)
                expect(model.length).toBeGreaterThan(0)
                expect(tx.usedBytes() + 2 * need).toBeGreaterThan(4096)
              }
            }
          } else {
            const got = collect(rx, c.max)
            const want = model.splice(0, c.max)
            expect(got.map(f => ({ id: f.id, payload: f.payload }))).toEqual(want)
            expect(got.every(f => f.type === (f.id & 0xff))).toBe(true)
          }
          expect(tx.usedBytes()).toBeGreaterThanOrEqual(model.reduce((s, m) => s + frameBytes(m.payload.length), 0))
          if (model.length === 0) expect(tx.usedBytes()).toBe(0)
        }
        expect(collect(rx).map(f => f.id)).toEqual(model.map(m => m.id))
      }), { numRuns: 300 })
  })
})
