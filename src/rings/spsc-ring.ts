// Lock-free single-producer / single-consumer byte ring in a SharedArrayBuffer (DESIGN §2 "Rings").
// One ring carries frames one way between the main thread and one shard worker; each side builds
// its own SpscRing object over the same SAB (create() on the main thread, attach() in the worker).
//
// Layout: a header of 64-byte lines (so producer-written and consumer-written words never share a
// cache line), then `capacity` data bytes. HEAD and TAIL are free-running 32-bit counters of bytes
// written / read; a position is `counter & (capacity - 1)` and `(head - tail) | 0` is the fill
// level, correct across 2^32 wrap because capacity ≤ 2^30.
//
// Frame, always starting 8-byte aligned: [i32 length][i32 type][f64 request id][payload][pad to 8].
// A frame never straddles the end of the data area: when it does not fit before the end, the
// producer writes PAD_MARK in the length slot and the frame starts at offset 0. We pad instead of
// wrapping bytes because then (1) every payload is one contiguous span, so the consumer hands out a
// view of shared memory instead of copying into a scratch buffer, and (2) header fields are always
// aligned, so they are read through Int32Array/Float64Array without DataView. The cost is at most
// one frame of wasted space per lap, which the capacity/4 message limit keeps bounded.
// The request id is an f64: ids from a per-worker counter never wrap (2^53 ids), unlike a u32.
//
// Memory ordering: payload bytes are plain stores, published by Atomics.store(HEAD) (a
// sequentially consistent store); the consumer's Atomics.load(HEAD) makes them visible. Symmetrically
// Atomics.store(TAIL) hands the bytes back to the producer. Nothing else needs to be atomic.
//
// Waiting (futex words): a sleeper sets its WAITING flag, reads the SIGNAL word, re-checks its
// condition, then Atomics.wait(SIGNAL, seen). The other side publishes, then reads the flag and
// only if it is set clears it, bumps SIGNAL and notifies. All of these are SC atomics, so (Dekker)
// either the publisher sees the flag or the sleeper sees the new HEAD/TAIL; and if SIGNAL moved
// between the sleeper's read and its wait, the wait returns at once. Hence no lost wake-ups, and
// the fast path (nobody sleeping) makes no notify call: Atomics.notify takes V8's global futex
// lock and may cost a syscall, far more than the write itself.
import { ScratchBirdError, assert } from '../core/errors'
import type { Clock } from '../core/clock'

export const RING_MIN_CAPACITY = 4096
export const RING_MAX_CAPACITY = 1 << 30
/** [i32 length][i32 type][f64 request id] */
export const FRAME_HEADER_BYTES = 16
/** Largest frame (header + payload) as a share of capacity; see maxMessageBytes. */
const MAX_FRAME_SHARE = 4

// Header: Int32 indices, grouped per writer on 64-byte lines.
const HEAD = 0 // line 0: written by the producer only
const TAIL = 16 // line 1: written by the consumer only
const DATA_SIGNAL = 32 // line 2: consumer futex word (bumped by producer / close)
const CONSUMER_WAITING = 33
const SPACE_SIGNAL = 48 // line 3: producer futex word (bumped by consumer / close)
const PRODUCER_WAITING = 49
const MAGIC = 64 // line 4: set once at creation, plus the closed flag
const CAPACITY = 65
const MAX_MESSAGE = 66
const CLOSED = 67
const HEADER_BYTES = 320
const MAGIC_VALUE = 0x53425231 // 'SBR1': layout version 1
const PAD_MARK = -1

export type RingWaitResult = 'data' | 'timeout' | 'closed'
export type FrameHandler = (type: number, requestId: number, payload: Uint8Array) => void

export interface RingOptions {
  /** Payload limit below the capacity/4 ceiling (e.g. from config). */
  maxMessageBytes?: number
  /** Deadlines of writeSync (the thread's injected clock). */
  clock: Clock
}

export interface AttachOptions {
  /** Deadlines of writeSync (the thread's injected clock). */
  clock: Clock
}

interface DeferredWrite {
  type: number
  requestId: number
  payload: Uint8Array
  resolve: () => void
  reject: (err: unknown) => void
}

interface WaitAsyncResult { async: boolean, value: Promise<'ok' | 'timed-out'> | 'not-equal' | 'timed-out' }
// Atomics.waitAsync is in Node 20 but only in TypeScript's ES2024 lib.
const waitAsync = (Atomics as unknown as {
  waitAsync: (ta: Int32Array, index: number, value: number, timeout: number) => WaitAsyncResult
}).waitAsync

export class SpscRing {
  readonly sab: SharedArrayBuffer
  readonly capacity: number
  /** Largest payload a frame may carry; larger writes throw SB_MESSAGE_TOO_LARGE. */
  readonly maxMessageBytes: number
  private readonly mask: number
  private readonly ctl: Int32Array
  private readonly bytes: Uint8Array
  private readonly words: Int32Array
  private readonly doubles: Float64Array
  // Producer-local state (only the producing side uses these).
  private head: number
  private publishedHead: number
  private cachedTail: number
  private corked = false
  private deferred: DeferredWrite[] = []
  private deferredAt = 0
  private flushing = false
  // Consumer-local state.
  private tail: number

  static create (capacityBytes: number, options: RingOptions): SpscRing {
    if (!Number.isInteger(capacityBytes) || capacityBytes < RING_MIN_CAPACITY ||
      capacityBytes > RING_MAX_CAPACITY || (capacityBytes & (capacityBytes - 1)) !== 0) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT',
        `ring capacity must be a power of two between ${RING_MIN_CAPACITY} and ${RING_MAX_CAPACITY} bytes`,
        { capacityBytes })
    }
    const ceiling = capacityBytes / MAX_FRAME_SHARE - FRAME_HEADER_BYTES
    const max = options.maxMessageBytes ?? ceiling
    if (!Number.isInteger(max) || max < 0 || max > ceiling) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `ring maxMessageBytes must be an integer in 0..${ceiling}`,
        { capacityBytes, maxMessageBytes: max })
    }
    const sab = new SharedArrayBuffer(HEADER_BYTES + capacityBytes)
    const ctl = new Int32Array(sab, 0, HEADER_BYTES >> 2)
    ctl[CAPACITY] = capacityBytes
    ctl[MAX_MESSAGE] = max
    // Plain stores are published to the other thread by postMessage(workerData), which copies
    // the SAB handle after them; the atomic store of MAGIC is belt and braces.
    Atomics.store(ctl, MAGIC, MAGIC_VALUE)
    return new SpscRing(sab, options.clock)
  }

  /** The other side of a ring made by create(), e.g. in a worker from workerData. */
  static attach (sab: SharedArrayBuffer, options: AttachOptions): SpscRing {
    return new SpscRing(sab, options.clock)
  }

  private constructor (sab: SharedArrayBuffer, private readonly clock: Clock) {
    const bad = (): ScratchBirdError =>
      new ScratchBirdError('SB_BAD_ARGUMENT', 'not a ScratchBird ring buffer', { byteLength: sab?.byteLength })
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength <= HEADER_BYTES) throw bad()
    const ctl = new Int32Array(sab, 0, HEADER_BYTES >> 2)
    const cap = ctl[CAPACITY] as number
    if (Atomics.load(ctl, MAGIC) !== MAGIC_VALUE || sab.byteLength !== HEADER_BYTES + cap) throw bad()
    this.sab = sab
    this.ctl = ctl
    this.capacity = cap
    this.mask = cap - 1
    this.maxMessageBytes = ctl[MAX_MESSAGE] ?? 0
    this.bytes = new Uint8Array(sab, HEADER_BYTES, cap)
    this.words = new Int32Array(sab, HEADER_BYTES, cap >> 2)
    this.doubles = new Float64Array(sab, HEADER_BYTES, cap >> 3)
    this.head = this.publishedHead = Atomics.load(ctl, HEAD)
    this.tail = this.cachedTail = Atomics.load(ctl, TAIL)
  }

  get closed (): boolean { return Atomics.load(this.ctl, CLOSED) !== 0 }

  /** Bytes currently queued (frames, headers and padding), as the producer sees it. */
  usedBytes (): number {
    this.cachedTail = Atomics.load(this.ctl, TAIL)
    return (this.head - this.cachedTail) | 0
  }

  freeBytes (): number { return this.capacity - this.usedBytes() }

  /**
   * Bytes published and not yet consumed, as either side sees them (both counters read from
   * shared memory): what a metric may read on the consumer's object too — usedBytes counts from
   * the producer's own head, which a consumer's object never advances (it read -9.7 MB there).
   */
  queuedBytes (): number {
    return (Atomics.load(this.ctl, HEAD) - Atomics.load(this.ctl, TAIL)) | 0
  }

  /** The consumer has announced that it is parked in waitSync/waitAsync (or about to park). The
   *  producer's next publish wakes it. Read by either side, e.g. to know a waiter is in place. */
  get consumerWaiting (): boolean { return Atomics.load(this.ctl, CONSUMER_WAITING) !== 0 }

  /** The producer has parked waiting for room (writeSync/writeAsync) and the consumer has not
   *  woken it since (a drain that frees room does). */
  get producerWaiting (): boolean { return Atomics.load(this.ctl, PRODUCER_WAITING) !== 0 }

  /** Frames published and not yet drained (consumer's view). */
  hasData (): boolean { return Atomics.load(this.ctl, HEAD) !== this.tail }

  /** Marks the ring closed and wakes every waiter on both sides. Either side may call it. */
  close (): void {
    Atomics.store(this.ctl, CLOSED, 1)
    Atomics.add(this.ctl, DATA_SIGNAL, 1)
    Atomics.add(this.ctl, SPACE_SIGNAL, 1)
    Atomics.notify(this.ctl, DATA_SIGNAL)
    Atomics.notify(this.ctl, SPACE_SIGNAL)
  }

  // ---------------------------------------------------------------- producer

  /**
   * Copies one frame into the ring. Returns false when there is not enough room, or while earlier
   * writeAsync() calls are still queued (so frames keep their order). Throws SB_MESSAGE_TOO_LARGE
   * (waiting would never help) and SB_RING_CLOSED.
   */
  tryWrite (type: number, requestId: number, payload: Uint8Array): boolean {
    if (this.deferredAt < this.deferred.length) {
      this.checkWritable(payload)
      return false
    }
    return this.writeFrame(type, requestId, payload)
  }

  /**
   * While corked, tryWrite() copies frames but does not publish HEAD; uncork() publishes them all
   * with one store and at most one wake-up. Used to reply to a drained batch in one go.
   */
  cork (): void { this.corked = true }

  uncork (): void {
    this.corked = false
    this.publish()
  }

  /**
   * Writes, waiting (without blocking the event loop) for room. Callers wait, frames are never
   * dropped; calls complete in call order. The ring keeps a reference to `payload` until the
   * frame is copied, so the caller must not modify it before the promise settles. Rejects with
   * SB_RING_CLOSED if the ring closes first. Note: a pending Atomics.waitAsync does not keep
   * Node's event loop alive; the owner (a Worker handle, a server) must.
   */
  writeAsync (type: number, requestId: number, payload: Uint8Array): Promise<void> {
    try {
      if (this.tryWrite(type, requestId, payload)) return Promise.resolve()
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      this.deferred.push({ type, requestId, payload, resolve, reject })
      if (!this.flushing) this.flushDeferred() // never rejects: each write settles its own promise
    })
  }

  /**
   * Writes, blocking the thread with Atomics.wait until there is room (worker side only: the main
   * thread must never block). Earlier writeAsync() frames go first. Returns false on timeout.
   */
  writeSync (type: number, requestId: number, payload: Uint8Array, timeoutMs = Infinity): boolean {
    this.checkWritable(payload)
    const deadline = this.clock.monotonic() + timeoutMs
    while (this.deferredAt < this.deferred.length) {
      const d = this.deferred[this.deferredAt] as DeferredWrite
      if (!this.writeBlocking(d.type, d.requestId, d.payload, deadline)) return false
      this.shiftDeferred()
      d.resolve()
    }
    return this.writeBlocking(type, requestId, payload, deadline)
  }

  // Hot path: one compare and one load; the throwing part lives out of line so this inlines.
  private checkWritable (payload: Uint8Array): void {
    if (payload.byteLength > this.maxMessageBytes || Atomics.load(this.ctl, CLOSED) !== 0) this.unwritable(payload)
  }

  private unwritable (payload: Uint8Array): never {
    if (Atomics.load(this.ctl, CLOSED) !== 0) {
      throw new ScratchBirdError('SB_RING_CLOSED', 'ring is closed')
    }
    // Rejected, not chunked: chunks would need reassembly buffers on the consumer (unbounded
    // memory, allocation on the hot path) and would let one huge message hog the ring while
    // small requests queue behind it. Big results are paged by the caller instead.
    throw new ScratchBirdError('SB_MESSAGE_TOO_LARGE',
      `message of ${payload.byteLength} bytes exceeds the ring limit of ${this.maxMessageBytes}`,
      { bytes: payload.byteLength, limit: this.maxMessageBytes })
  }

  private writeFrame (type: number, requestId: number, payload: Uint8Array): boolean {
    if (type !== (type & 0x7fffffff)) assert(false, 'ring frame type must be a non-negative int32')
    this.checkWritable(payload)
    const len = payload.byteLength
    const need = (FRAME_HEADER_BYTES + len + 7) & ~7
    let h = this.head
    const toEnd = this.capacity - (h & this.mask)
    const pad = toEnd < need ? toEnd : 0
    if (this.capacity - ((h - this.cachedTail) | 0) < pad + need) {
      // Only re-read TAIL (a cache line the consumer writes) when the cached value says full.
      this.cachedTail = Atomics.load(this.ctl, TAIL)
      if (this.capacity - ((h - this.cachedTail) | 0) < pad + need) return false
    }
    if (pad !== 0) {
      this.words[(h & this.mask) >> 2] = PAD_MARK
      h = (h + pad) | 0
    }
    const off = h & this.mask
    this.words[off >> 2] = len
    this.words[(off >> 2) + 1] = type
    this.doubles[(off >> 3) + 1] = requestId
    this.bytes.set(payload, off + FRAME_HEADER_BYTES)
    this.head = (h + need) | 0
    if (!this.corked) this.publish()
    return true
  }

  private publish (): void {
    if (this.head === this.publishedHead) return
    this.publishedHead = this.head
    Atomics.store(this.ctl, HEAD, this.head)
    if (Atomics.load(this.ctl, CONSUMER_WAITING) !== 0) this.wake(CONSUMER_WAITING, DATA_SIGNAL)
  }

  private wake (flag: number, signal: number): void {
    // Clearing the flag here means a burst of writes costs one notify, not one per write while
    // the sleeper is still on its way back to the ring.
    Atomics.store(this.ctl, flag, 0)
    Atomics.add(this.ctl, signal, 1)
    Atomics.notify(this.ctl, signal)
  }

  private writeBlocking (type: number, requestId: number, payload: Uint8Array, deadline: number): boolean {
    for (;;) {
      if (this.writeFrame(type, requestId, payload)) return true
      this.publish() // when corked the consumer must see what we have, or it can never free room
      Atomics.store(this.ctl, PRODUCER_WAITING, 1)
      const seen = Atomics.load(this.ctl, SPACE_SIGNAL)
      if (this.writeFrame(type, requestId, payload)) return true
      const left = deadline - this.clock.monotonic()
      if (left <= 0) return false
      Atomics.wait(this.ctl, SPACE_SIGNAL, seen, left)
    }
  }

  private shiftDeferred (): void {
    this.deferred[this.deferredAt++] = undefined as unknown as DeferredWrite
    if (this.deferredAt === this.deferred.length) {
      this.deferred = []
      this.deferredAt = 0
    }
  }

  private async flushDeferred (): Promise<void> {
    this.flushing = true
    try {
      while (this.deferredAt < this.deferred.length) {
        const d = this.deferred[this.deferredAt] as DeferredWrite
        try {
          if (!this.writeFrame(d.type, d.requestId, d.payload)) {
            this.publish()
            Atomics.store(this.ctl, PRODUCER_WAITING, 1)
            const seen = Atomics.load(this.ctl, SPACE_SIGNAL)
            if (!this.writeFrame(d.type, d.requestId, d.payload)) {
              const r = waitAsync(this.ctl, SPACE_SIGNAL, seen, Infinity)
              if (r.async) await r.value
              continue
            }
          }
        } catch (err) { // closed (every queued write fails the same way) or oversize
          this.shiftDeferred()
          d.reject(err)
          continue
        }
        this.shiftDeferred()
        d.resolve()
      }
    } finally {
      this.flushing = false
    }
  }

  // ---------------------------------------------------------------- consumer

  /**
   * Calls `handler` for every frame published so far (at most `max`), then hands the space back
   * with one TAIL store. The payload is a view into shared memory, valid only during the call:
   * the producer reuses the bytes after drain() returns, so copy (`payload.slice()`) anything
   * kept. A throwing handler consumes its frame (a poison frame must not be redelivered forever)
   * and the exception propagates after TAIL is published. Returns the number of frames handled.
   */
  drain (handler: FrameHandler, max = Infinity): number {
    const head = Atomics.load(this.ctl, HEAD)
    let tail = this.tail
    let n = 0
    try {
      while (tail !== head && n < max) {
        const off = tail & this.mask
        const len = this.words[off >> 2] as number
        if (len === PAD_MARK) {
          tail = (tail + this.capacity - off) | 0
          continue
        }
        assert(len >= 0 && len <= this.maxMessageBytes, 'ring frame length corrupt')
        const type = this.words[(off >> 2) + 1] as number
        const requestId = this.doubles[(off >> 3) + 1] as number
        tail = (tail + ((FRAME_HEADER_BYTES + len + 7) & ~7)) | 0
        n++
        const start = off + FRAME_HEADER_BYTES
        handler(type, requestId, this.bytes.subarray(start, start + len))
      }
    } finally {
      if (tail !== this.tail) {
        this.tail = tail
        Atomics.store(this.ctl, TAIL, tail)
        if (Atomics.load(this.ctl, PRODUCER_WAITING) !== 0) this.wake(PRODUCER_WAITING, SPACE_SIGNAL)
      }
    }
    return n
  }

  /**
   * Blocks the thread until a frame is published, the ring closes, or the timeout passes. Worker
   * side only, and only when it has nothing in flight: a blocked worker runs no callbacks.
   * 'closed' is returned only once every published frame has been drained.
   */
  waitSync (timeoutMs: number): RingWaitResult {
    const seen = this.prepareWait()
    if (typeof seen === 'string') return seen
    Atomics.wait(this.ctl, DATA_SIGNAL, seen, timeoutMs)
    return this.afterWait()
  }

  /** As waitSync, without blocking the event loop (main thread). See writeAsync about keep-alive. */
  async waitAsync (timeoutMs: number): Promise<RingWaitResult> {
    const seen = this.prepareWait()
    if (typeof seen === 'string') return seen
    const r = waitAsync(this.ctl, DATA_SIGNAL, seen, timeoutMs)
    if (r.async) await r.value
    return this.afterWait()
  }

  private prepareWait (): number | RingWaitResult {
    if (this.hasData()) return 'data'
    Atomics.store(this.ctl, CONSUMER_WAITING, 1)
    const seen = Atomics.load(this.ctl, DATA_SIGNAL)
    // Re-check after announcing ourselves: a producer that published before seeing the flag
    // did not notify, but its HEAD is visible now.
    if (this.hasData() || this.closed) return this.afterWait()
    return seen
  }

  private afterWait (): RingWaitResult {
    Atomics.store(this.ctl, CONSUMER_WAITING, 0)
    if (this.hasData()) return 'data'
    return this.closed ? 'closed' : 'timeout'
  }
}
