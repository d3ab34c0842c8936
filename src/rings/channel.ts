// Request/response over a pair of SpscRings (DESIGN §2): RingClient on the main thread, RingServer
// in the shard worker. Payloads are opaque bytes; callers bring their own codecs.
//
// Throughput comes from many requests in flight, not from round trips: the client never waits
// for a reply before sending the next request, and the server drains a whole batch, runs it and
// publishes all replies with one HEAD store.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { ScratchBirdError, isScratchBirdError } from '../core/errors'
import { decodeError, encodeError } from './payload'
import type { SpscRing } from './spsc-ring'

/** Requests one client keeps outstanding per worker; further requests wait in a FIFO. */
export const RING_MAX_IN_FLIGHT = 1024
/** Reply type reserved for "the handler failed"; the payload is encodeError()'s JSON. */
export const RING_ERROR_TYPE = 0x7fffffff
/** Replies the client handles before yielding to the event loop, so sockets and timers still run under a reply flood. */
const CLIENT_YIELD_EVERY = 4096
/** Requests the server drains per pass before publishing the replies. */
const SERVER_DRAIN_BATCH = 1024
/** Requests a server handles back to back before giving its event loop a turn. */
const SERVER_YIELD_EVERY = 65536
/** An idle worker blocks at most this long in Atomics.wait, then lets its timers and messages run. */
const SERVER_IDLE_WAIT_MS = 50
/** With async handlers in flight the worker waits with waitAsync and rechecks this often. */
const SERVER_BUSY_WAIT_MS = 5

export interface RingReply {
  type: number
  payload: Uint8Array
}

interface PendingRequest {
  type: number
  payload: Uint8Array
  resolve: (reply: RingReply) => void
  reject: (err: unknown) => void
}

export class RingClient {
  /** Replies whose request id was unknown (a worker bug); exported as a metric later. */
  strayReplies = 0
  private readonly pending = new Map<number, PendingRequest>()
  private waiting: PendingRequest[] = []
  private waitingAt = 0
  private nextId = 0
  private pumping = false
  private closing = false
  private failure: unknown
  private idleWaiters: Array<() => void> = []
  private publishQueued = false

  constructor (
    readonly requests: SpscRing,
    readonly responses: SpscRing,
    readonly maxInFlight = RING_MAX_IN_FLIGHT
  ) {}

  get inFlight (): number { return this.pending.size }
  get queued (): number { return this.waiting.length - this.waitingAt }

  /**
   * Sends one request; resolves with the reply (payload copied out of the ring), rejects with the
   * handler's error, SB_MESSAGE_TOO_LARGE, or failAll()'s error. `payload` must not be modified
   * until the promise settles (it may wait in the queue by reference).
   */
  request (type: number, payload: Uint8Array): Promise<RingReply> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.closing) return Promise.reject(new ScratchBirdError('SB_SHUTTING_DOWN', 'ring client is closing'))
    if (payload.byteLength > this.requests.maxMessageBytes) {
      return Promise.reject(new ScratchBirdError('SB_MESSAGE_TOO_LARGE',
        `request of ${payload.byteLength} bytes exceeds the ring limit of ${this.requests.maxMessageBytes}`,
        { bytes: payload.byteLength, limit: this.requests.maxMessageBytes }))
    }
    return new Promise((resolve, reject) => {
      const p: PendingRequest = { type, payload, resolve, reject }
      if (this.pending.size < this.maxInFlight && this.queued === 0) this.send(p)
      else this.waiting.push(p)
    })
  }

  /** Rejects every queued and in-flight request with `err` (e.g. SB_WORKER_DIED), closes both rings, and fails later requests the same way. */
  failAll (err: unknown): void {
    if (this.failure === undefined) this.failure = err
    const victims = [...this.pending.values(), ...this.waiting.slice(this.waitingAt)]
    this.pending.clear()
    this.waiting = []
    this.waitingAt = 0
    for (const p of victims) p.reject(err)
    this.requests.close() // wakes the pump and, if it still runs, the worker
    this.responses.close()
    this.notifyIdle()
  }

  /** Graceful: refuse new requests, wait for every outstanding reply, then close the request ring (the server then stops). */
  async close (): Promise<void> {
    this.closing = true
    if (this.pending.size > 0 || this.queued > 0) await new Promise<void>(resolve => this.idleWaiters.push(resolve))
    this.requests.close()
  }

  private send (p: PendingRequest): void {
    const id = ++this.nextId
    this.pending.set(id, p)
    if (!this.publishQueued) {
      // Requests made during one event-loop turn (one per HTTP request the poll phase handled)
      // are published together after it: one HEAD store and at most one wake-up of a sleeping
      // worker per turn. A wake-up is a futex syscall and, on a small VM, often a context switch
      // charged to this thread; per request it cost more than the rest of the ring path.
      this.publishQueued = true
      this.requests.cork()
      setImmediate(this.publishRequests)
    }
    try {
      if (!this.requests.tryWrite(p.type, id, p.payload)) {
        this.requests.writeAsync(p.type, id, p.payload).catch(err => this.settleError(id, err))
      }
    } catch (err) {
      this.settleError(id, err)
      return
    }
    if (!this.pumping) this.pump() // never rejects: see the loop
  }

  private readonly publishRequests = (): void => {
    this.publishQueued = false
    this.requests.uncork()
  }

  private settleError (id: number, err: unknown): void {
    const p = this.pending.get(id)
    if (p === undefined) return
    this.pending.delete(id)
    p.reject(err)
    this.admit()
  }

  // An arrow property, so drain() gets the same function every time (no bind per pass).
  private readonly onReply = (type: number, requestId: number, payload: Uint8Array): void => {
    const p = this.pending.get(requestId)
    if (p === undefined) {
      this.strayReplies++
      return
    }
    this.pending.delete(requestId)
    if (type === RING_ERROR_TYPE) p.reject(decodeError(payload))
    else p.resolve({ type, payload: payload.slice() }) // the ring view dies when drain() returns
  }

  private admit (): void {
    while (this.pending.size < this.maxInFlight && this.waitingAt < this.waiting.length) {
      const p = this.waiting[this.waitingAt] as PendingRequest
      this.waiting[this.waitingAt++] = undefined as unknown as PendingRequest
      if (this.waitingAt === this.waiting.length) {
        this.waiting = []
        this.waitingAt = 0
      }
      this.send(p)
    }
    if (this.pending.size === 0) this.notifyIdle()
  }

  private notifyIdle (): void {
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }

  // The one loop that reads replies. It runs only while requests are outstanding, so an idle
  // client holds no waiter; the next send() restarts it.
  private async pump (): Promise<void> {
    this.pumping = true
    let sinceYield = 0
    try {
      while (this.pending.size > 0 && this.failure === undefined) {
        const n = this.responses.drain(this.onReply)
        if (n === 0) {
          if (await this.responses.waitAsync(Infinity) === 'closed' && this.pending.size > 0) {
            this.failAll(new ScratchBirdError('SB_RING_CLOSED', 'response ring closed with requests in flight'))
          }
          continue
        }
        this.admit()
        if ((sinceYield += n) >= CLIENT_YIELD_EVERY) {
          sinceYield = 0
          await yieldToEventLoop()
        }
      }
    } finally {
      this.pumping = false
    }
  }
}

/** Returned by a handler that will answer later through RingServer.reply()/replyError(). */
export const RING_DEFERRED: unique symbol = Symbol('ring deferred reply')

export type RingHandler = (type: number, payload: Uint8Array, requestId: number) => RingReply | Promise<RingReply> | typeof RING_DEFERRED

/**
 * Worker side. The handler gets a view of the request bytes that is valid only until it returns
 * (or, if async, until its first await): copy what must outlive that. A synchronous reply may
 * return that same view as its payload; it is copied into the response ring at once. Handler
 * errors become RING_ERROR_TYPE replies, so one bad request never stops the server.
 *
 * A handler may also return RING_DEFERRED and later call reply() or replyError() exactly once for
 * that request id: the shard worker's write path answers from the engine's group commit that way,
 * with no promise per request.
 *
 * Replies produced outside a drain pass (async or deferred) are corked too, and published
 * together from a microtask: a group commit resolves its whole pass synchronously, so its
 * replies become visible with one HEAD store and at most one wake-up of the main thread instead
 * of one each.
 */
export class RingServer {
  private pendingReplies = 0 // async/deferred handlers running plus replies waiting for room
  private stopped = false
  private sinceYield = 0
  private idleWaiter: (() => void) | undefined
  private draining = false
  private uncorkQueued = false

  constructor (
    private readonly requests: SpscRing,
    private readonly responses: SpscRing,
    private readonly handler: RingHandler
  ) {}

  get inFlight (): number { return this.pendingReplies }

  /** Serves until the request ring is closed and every reply is written; then closes the response ring. */
  async run (): Promise<void> {
    // A pending Atomics.waitAsync does not keep a worker's event loop alive; this timer does.
    const keepAlive = setInterval(() => {}, 1 << 30)
    try {
      while (!this.stopped) {
        this.responses.cork()
        this.draining = true
        let n: number
        try {
          n = this.requests.drain(this.onRequest, SERVER_DRAIN_BATCH)
        } finally {
          this.draining = false
          this.responses.uncork() // all replies of the pass become visible with one HEAD store
        }
        if (n > 0) {
          // Async handlers complete on the event loop: give it a turn after every pass.
          if (this.pendingReplies > 0 || (this.sinceYield += n) >= SERVER_YIELD_EVERY) await this.yield()
          continue
        }
        if (this.pendingReplies > 0) {
          const r = await this.requests.waitAsync(SERVER_BUSY_WAIT_MS)
          // Closed with replies outstanding: finish them (drain() still delivers what was queued).
          if (r === 'closed' && this.pendingReplies > 0) await new Promise<void>(resolve => { this.idleWaiter = resolve })
          continue
        }
        // Nothing in flight: block the thread, the cheapest way to sleep and the fastest wake-up.
        const r = this.requests.waitSync(SERVER_IDLE_WAIT_MS)
        if (r === 'closed') break
        if (r === 'timeout') await this.yield()
      }
    } finally {
      clearInterval(keepAlive)
      this.responses.close()
    }
  }

  private async yield (): Promise<void> {
    this.sinceYield = 0
    await yieldToEventLoop()
  }

  private readonly onRequest = (type: number, requestId: number, payload: Uint8Array): void => {
    let result: RingReply | Promise<RingReply> | typeof RING_DEFERRED
    try {
      result = this.handler(type, payload, requestId)
    } catch (err) {
      this.replySync(requestId, RING_ERROR_TYPE, encodeError(err))
      return
    }
    if (result === RING_DEFERRED) {
      this.pendingReplies++
    } else if (typeof (result as Promise<RingReply>).then === 'function') {
      this.pendingReplies++
      ;(result as Promise<RingReply>).then(
        r => this.replyAsync(requestId, r.type, r.payload),
        err => this.replyAsync(requestId, RING_ERROR_TYPE, encodeError(err)))
    } else {
      const r = result as RingReply
      this.replySync(requestId, r.type, r.payload)
    }
  }

  /** Answer a request whose handler returned RING_DEFERRED (once per request). `payload` may be
   *  kept by reference until there is room in the ring: do not modify it afterwards. */
  reply (requestId: number, type: number, payload: Uint8Array): void {
    if (this.draining) {
      this.replySync(requestId, type, payload)
      this.replyDone()
    } else {
      this.replyAsync(requestId, type, payload)
    }
  }

  /** Answer a RING_DEFERRED request with an error reply. */
  replyError (requestId: number, err: unknown): void {
    this.reply(requestId, RING_ERROR_TYPE, encodeError(err))
  }

  // During a drain pass (corked): copy now, blocking for room if the main thread is behind. That
  // blocking is the backpressure: the worker stops taking requests it cannot answer.
  private replySync (requestId: number, type: number, payload: Uint8Array): void {
    try {
      if (this.responses.tryWrite(type, requestId, payload)) return // throws SB_MESSAGE_TOO_LARGE
      while (!this.stopped && !this.responses.writeSync(type, requestId, payload, SERVER_IDLE_WAIT_MS)) {
        // timed out: the main thread is slow, not gone (that closes the ring); keep waiting
      }
    } catch (err) {
      if (isScratchBirdError(err, 'SB_MESSAGE_TOO_LARGE')) this.replySync(requestId, RING_ERROR_TYPE, encodeError(err))
      else this.onWriteError(err)
    }
  }

  // From an async handler: the event loop is running, so wait for room asynchronously.
  private replyAsync (requestId: number, type: number, payload: Uint8Array): void {
    if (payload.byteLength > this.responses.maxMessageBytes) {
      this.replyAsync(requestId, RING_ERROR_TYPE, encodeError(tooLarge(payload, this.responses)))
      return
    }
    if (!this.uncorkQueued) {
      this.uncorkQueued = true
      queueMicrotask(this.uncorkReplies)
    }
    this.responses.cork() // again each time: a drain pass in between uncorks
    let written: boolean
    try {
      written = this.responses.tryWrite(type, requestId, payload)
    } catch (err) {
      this.onWriteError(err)
      this.replyDone()
      return
    }
    if (written) {
      this.replyDone()
      return
    }
    // No room (or earlier frames queued): writeAsync publishes what it must to make progress.
    this.responses.writeAsync(type, requestId, payload).then(
      () => this.replyDone(),
      err => { this.onWriteError(err); this.replyDone() })
  }

  // Arrow property: queued as a microtask without a bind per batch.
  private readonly uncorkReplies = (): void => {
    this.uncorkQueued = false
    // The drain loop keeps its own cork while it runs; it publishes at its end.
    if (!this.draining) this.responses.uncork()
  }

  private replyDone (): void {
    if (--this.pendingReplies === 0 && this.idleWaiter !== undefined) {
      const w = this.idleWaiter
      this.idleWaiter = undefined
      w()
    }
  }

  private onWriteError (err: unknown): void {
    if (isScratchBirdError(err, 'SB_RING_CLOSED')) this.stopped = true // the client is gone: stop serving
    else throw err
  }
}

function tooLarge (payload: Uint8Array, ring: SpscRing): ScratchBirdError {
  return new ScratchBirdError('SB_MESSAGE_TOO_LARGE',
    `reply of ${payload.byteLength} bytes exceeds the ring limit of ${ring.maxMessageBytes}`,
    { bytes: payload.byteLength, limit: ring.maxMessageBytes })
}
