// UUIDv8-HLC (DESIGN §3): a hybrid logical clock whose every reading is an RFC 9562 version-8
// UUID, so unsigned byte order = (timestamp, counter, node, random) = last-write-wins order.
// Pure state machine: time only through the injected Clock, randomness only through the Rng,
// no I/O. Persistence of the high-water mark is the HlcMarkSink's job (hlc-persist.ts).
//
// Layout (bit 0 = MSB of byte 0): 0–47 unix_ts_ms | 48–51 version 8 | 52–63 counter |
// 64–65 variant 0b10 | 66–81 node_id | 82–127 random (46 bits).
import type { Clock } from './clock'
import type { Rng } from './rng'
import { assert, ScratchBirdError } from './errors'
import { NODE_ID_MAX } from './ids'
import { assertUuidBytes, RandomPool, UUID_BYTES, writeUint48 } from './uuid'

export const HLC_MAX_COUNTER = 0xfff
export const HLC_MAX_TS = 2 ** 48 - 1
export const HLC_MAX_NODE_ID = NODE_ID_MAX
export const HLC_RANDOM_BITS = 46
export const DEFAULT_MAX_CLOCK_OFFSET_MS = 500
/** Counter values above this in one millisecond mean we are near the 4096-ids/ms ceiling. */
export const HLC_COUNTER_WARN = 3000
/** DESIGN §3: skew above this is logged ("Clock skew detected: …"). */
export const HLC_SKEW_WARN_MS = 100

// Rate limits for warnings, in HLC/wall milliseconds (Clock time, so the simulator replays them).
const COUNTER_WARN_INTERVAL_MS = 1000
const SKEW_WARN_INTERVAL_MS = 10_000
// ahead_of_wall fires when the lead first crosses 10, 100, 1000 … ms; re-armed when the wall catches up.
const AHEAD_WARN_FIRST_MS = 10
const AHEAD_WARN_FACTOR = 10

const TWO_32 = 4294967296

export interface HlcState {
  /** Physical part: unix milliseconds (may run ahead of the wall clock). */
  readonly ts: number
  /** Logical part, 0..4095. */
  readonly counter: number
}

export type HlcWarningKind = 'counter_high' | 'ahead_of_wall' | 'clock_skew' | 'persist_failed'
export type HlcWarningHook = (kind: HlcWarningKind, details: Record<string, unknown>) => void

/**
 * Durable storage for the high-water mark (implemented by HlcPersistence). The Hlc calls it
 * synchronously, rarely: when the timestamp reaches the middle of the current reservation.
 */
export interface HlcMarkSink {
  /**
   * Durably record a mark > `ts` and return it: after a crash the node restarts at or above it,
   * so the Hlc may issue ids with timestamp < the returned mark. Throws if it cannot persist.
   */
  reserve (ts: number): number
  /**
   * Optional: persist a mark > `ts` in the background (off the event loop) and call `done(mark)`
   * once it is durable, or `failed(error)`. The Hlc starts one halfway through its lease and runs
   * at most one at a time; only when the lease's end arrives first does it fall back to reserve().
   */
  reserveAhead? (ts: number, done: (mark: number) => void, failed: (error: unknown) => void): void
}

export interface HlcOptions {
  clock: Clock
  rng: Rng
  /** 1..65535, unique in the cluster; 0 is reserved for range-bound UUIDs. */
  nodeId: number
  /** Remote timestamps further than this ahead of our wall clock are rejected. Default 500. */
  maxClockOffsetMs?: number
  /** A high-water mark from a previous run (highWaterMark() or a persisted reservation). */
  restoreFrom?: number
  markSink?: HlcMarkSink
  onWarning?: HlcWarningHook
}

function badArgument (message: string, details: Record<string, unknown>): ScratchBirdError {
  return new ScratchBirdError('SB_BAD_ARGUMENT', message, details)
}

export class Hlc {
  readonly nodeId: number
  readonly maxClockOffsetMs: number
  /** Remote timestamps rejected as too far ahead (exported as a metric by the ops layer). */
  remoteRejections = 0
  /** Times the counter overflowed and the logical timestamp was pushed 1 ms ahead. */
  counterOverflows = 0
  /** Subscribed by the logging/metrics layer; errors it throws are swallowed. */
  onWarning: HlcWarningHook | undefined

  private readonly clock: Clock
  private readonly pool: RandomPool
  private readonly markSink: HlcMarkSink | undefined
  private ts = 0
  private counter = 0
  // Node-id bytes are constant: precomputed so the hot path only copies them.
  private readonly b8: number
  private readonly b9: number
  private readonly b10: number
  // Lease from the mark sink: ids may use ts < leaseEnd; we renew once ts reaches refreshAt.
  private leaseEnd = Infinity
  private refreshAt = Infinity
  /** A background renewal (reserveAhead) is running. */
  private renewing = false
  private nextAheadWarnMs = AHEAD_WARN_FIRST_MS
  private lastCounterWarnTs = -Infinity
  private lastSkewWarnWall = -Infinity

  constructor (options: HlcOptions) {
    const { nodeId, maxClockOffsetMs = DEFAULT_MAX_CLOCK_OFFSET_MS, restoreFrom } = options
    if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > HLC_MAX_NODE_ID) {
      throw badArgument(`HLC node id must be an integer 1..${HLC_MAX_NODE_ID} (0 is reserved), got ${nodeId}`, { nodeId })
    }
    if (!Number.isFinite(maxClockOffsetMs) || maxClockOffsetMs <= 0) {
      throw badArgument(`max_clock_offset_ms must be a positive number, got ${maxClockOffsetMs}`, { maxClockOffsetMs })
    }
    if (restoreFrom !== undefined && !isValidTs(restoreFrom)) {
      throw new ScratchBirdError('SB_HLC_STATE_INVALID', `HLC high-water mark ${restoreFrom} is not a 48-bit millisecond timestamp`, { restoreFrom })
    }
    this.clock = options.clock
    this.pool = new RandomPool(options.rng)
    this.nodeId = nodeId
    this.maxClockOffsetMs = maxClockOffsetMs
    this.onWarning = options.onWarning
    this.markSink = options.markSink
    this.b8 = 0x80 | (nodeId >>> 10)
    this.b9 = (nodeId >>> 2) & 0xff
    this.b10 = (nodeId & 3) << 6
    // Every id of the previous run had ts < restoreFrom; (restoreFrom, 0) counts as used, so the
    // first id here is above all of them even if the wall clock went back across the restart.
    if (restoreFrom !== undefined) this.ts = restoreFrom
    if (this.markSink) {
      this.leaseEnd = -Infinity
      // Reserve up front so a broken disk fails the node at boot, not on its first write.
      this.renewLease(Math.max(this.ts, this.wall()))
    }
  }

  /** Local event: a new id. Alias of generate(). */
  now (): Uint8Array { return this.generate() }

  /** Local event: a new UUIDv8-HLC id, strictly greater than every id this instance issued or saw. */
  generate (): Uint8Array {
    const out = new Uint8Array(UUID_BYTES)
    this.generateInto(out, 0)
    return out
  }

  /** generate() into out[offset..offset+15], without allocating (batch inserts). */
  generateInto (out: Uint8Array, offset = 0): void {
    const wall = this.wall()
    let ts = this.ts
    let c = this.counter
    if (wall > ts) {
      ts = wall
      c = 0
    } else if (c < HLC_MAX_COUNTER) {
      c++
    } else {
      // 4096 ids in one logical ms: borrow the next ms rather than block the event loop.
      ts++
      c = -1 // marks the overflow for the count below; becomes 0
    }
    if (ts >= this.refreshAt) this.refresh(ts) // may throw: nothing is committed before this
    if (c < 0) { c = 0; this.counterOverflows++ }
    this.ts = ts
    this.counter = c
    this.write(out, offset, ts, c)
    // Two compares on the hot path; the warning logic itself runs only near a threshold.
    if (ts === wall) this.nextAheadWarnMs = AHEAD_WARN_FIRST_MS
    if (c > HLC_COUNTER_WARN || ts - wall >= this.nextAheadWarnMs) this.checkWarnings(ts, c, wall)
  }

  /**
   * Remote event (any message from a peer). ts' = max(wall, ts, remote_ts); the counter follows
   * the standard HLC rule. Throws SB_CLOCK_OFFSET_EXCEEDED, changing nothing but the rejection
   * count, when remote_ts is more than maxClockOffsetMs ahead of our wall clock.
   */
  update (remote: Uint8Array | HlcState): void {
    let rts: number
    let rc: number
    let remoteNodeId: number | undefined
    if (remote instanceof Uint8Array) {
      assertUuidV8(remote)
      rts = readUint48(remote, 0)
      rc = counterOf(remote)
      remoteNodeId = nodeIdOf(remote)
    } else {
      rts = remote.ts
      rc = remote.counter
      if (!isValidTs(rts) || !Number.isInteger(rc) || rc < 0 || rc > HLC_MAX_COUNTER) {
        throw badArgument(`remote HLC state (${rts}, ${rc}) is out of range`, { remoteTs: rts, remoteCounter: rc })
      }
    }
    const wall = this.wall()
    const offsetMs = rts - wall
    if (offsetMs > this.maxClockOffsetMs) {
      this.remoteRejections++
      throw new ScratchBirdError('SB_CLOCK_OFFSET_EXCEEDED',
        `remote HLC timestamp ${rts}${remoteNodeId === undefined ? '' : ` from node ${remoteNodeId}`} is ${offsetMs} ms ahead of the local clock (max_clock_offset_ms ${this.maxClockOffsetMs}); check NTP on both nodes`,
        { remoteTs: rts, localWall: wall, offsetMs, maxClockOffsetMs: this.maxClockOffsetMs, nodeId: this.nodeId, remoteNodeId })
    }
    if (offsetMs > HLC_SKEW_WARN_MS && wall - this.lastSkewWarnWall >= SKEW_WARN_INTERVAL_MS) {
      // The remote HLC can lead its own wall clock a little, so this is an upper estimate of skew.
      this.lastSkewWarnWall = wall
      this.warn('clock_skew', { nodeId: this.nodeId, remoteNodeId, skewMs: offsetMs, remoteTs: rts, localWall: wall })
    }
    const lts = this.ts
    let ts = Math.max(wall, lts, rts)
    let c: number
    if (ts === lts && ts === rts) c = Math.max(this.counter, rc) + 1
    else if (ts === lts) c = this.counter + 1
    else if (ts === rts) c = rc + 1
    else c = 0
    const overflow = c > HLC_MAX_COUNTER
    if (overflow) { ts++; c = 0 }
    if (ts >= this.refreshAt) this.refresh(ts) // may throw: nothing is committed before this
    if (overflow) this.counterOverflows++
    this.ts = ts
    this.counter = c
    this.checkWarnings(ts, c, wall)
  }

  /** The last (ts, counter) issued or received. */
  state (): HlcState { return { ts: this.ts, counter: this.counter } }

  /**
   * Exclusive bound: every id issued so far has timestamp < highWaterMark(). Passing it as
   * `restoreFrom` after a restart guarantees the new ids sort above all old ones.
   */
  highWaterMark (): number { return this.ts + 1 }

  /** 16 bytes: "SBHW", format 1, 0, mark (uint48 BE), FNV-1a-32 of bytes 0–11. */
  static encodeState (mark: number): Uint8Array {
    assert(isValidTs(mark), `HLC mark ${mark} out of range`)
    const b = new Uint8Array(STATE_BYTES)
    b.set(STATE_MAGIC, 0)
    b[4] = STATE_FORMAT
    writeUint48(b, 6, mark)
    new DataView(b.buffer).setUint32(12, fnv1a(b, 12))
    return b
  }

  /** Inverse of encodeState; anything else → SB_HLC_STATE_INVALID. */
  static decodeState (bytes: Uint8Array): number {
    const bad = (why: string): ScratchBirdError =>
      new ScratchBirdError('SB_HLC_STATE_INVALID', `persisted HLC high-water mark is unreadable: ${why}`, { reason: why })
    if (!(bytes instanceof Uint8Array) || bytes.length !== STATE_BYTES) throw bad(`expected ${STATE_BYTES} bytes, got ${bytes?.length}`)
    for (let i = 0; i < 4; i++) if (bytes[i] !== STATE_MAGIC[i]) throw bad('wrong magic (not an HLC state file)')
    if (bytes[4] !== STATE_FORMAT || bytes[5] !== 0) throw bad(`unknown format ${bytes[4]}`)
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    if (dv.getUint32(12) !== fnv1a(bytes, 12)) throw bad('checksum mismatch')
    return readUint48(bytes, 6)
  }

  private wall (): number {
    // Integer ms only: a fractional ManualClock must not leak into the 48-bit field.
    return Math.floor(this.clock.now())
  }

  private write (out: Uint8Array, o: number, ts: number, c: number): void {
    writeUint48(out, o, ts)
    out[o + 6] = 0x80 | (c >>> 8)
    out[o + 7] = c
    out[o + 8] = this.b8
    out[o + 9] = this.b9
    const r = this.pool.bytes
    const p = this.pool.take(6)
    out[o + 10] = this.b10 | (r[p]! & 0x3f)
    out[o + 11] = r[p + 1]!
    out[o + 12] = r[p + 2]!
    out[o + 13] = r[p + 3]!
    out[o + 14] = r[p + 4]!
    out[o + 15] = r[p + 5]!
  }

  /**
   * Halfway through the lease: renew in the background when the sink can (no fsync on the event
   * loop — it cost a Mode 1 node 7.7 % of its main thread), synchronously when it cannot or when
   * the lease's end came before the background write landed.
   */
  private refresh (ts: number): void {
    const sink = this.markSink!
    if (ts < this.leaseEnd && sink.reserveAhead !== undefined) {
      if (!this.renewing) {
        this.renewing = true
        sink.reserveAhead(ts, mark => this.renewed(mark), error => this.renewFailed(error))
      }
      // Until it lands, only the lease's end makes an id wait for the disk.
      this.refreshAt = this.leaseEnd
      return
    }
    this.renewLease(ts)
  }

  /** A background renewal landed: the lease reaches `mark` (a synchronous one may have gone further meanwhile). */
  private renewed (mark: number): void {
    this.renewing = false
    if (mark > this.leaseEnd) this.leaseEnd = mark
    this.refreshAt = this.ts + Math.max(1, Math.floor((this.leaseEnd - this.ts) / 2))
  }

  /** A background renewal failed: warn, try again halfway to the lease's end (at its end: synchronously, which throws). */
  private renewFailed (error: unknown): void {
    this.renewing = false
    this.warn('persist_failed', { nodeId: this.nodeId, ts: this.ts, leaseEnd: this.leaseEnd, error })
    this.refreshAt = this.ts + Math.max(1, Math.floor((this.leaseEnd - this.ts) / 2))
  }

  private renewLease (ts: number): void {
    let end: number
    try {
      end = this.markSink!.reserve(ts)
    } catch (error) {
      // Still inside the old reservation: keep serving and retry halfway to its end.
      if (ts < this.leaseEnd) {
        this.refreshAt = ts + Math.max(1, Math.floor((this.leaseEnd - ts) / 2))
        this.warn('persist_failed', { nodeId: this.nodeId, ts, leaseEnd: this.leaseEnd, error })
        return
      }
      throw error // no id may be issued at or past a mark that is not on disk
    }
    assert(end > ts, `HLC mark sink returned ${end}, not above ${ts}`)
    this.leaseEnd = end
    this.refreshAt = ts + Math.max(1, Math.floor((end - ts) / 2))
  }

  private checkWarnings (ts: number, c: number, wall: number): void {
    if (c > HLC_COUNTER_WARN && ts - this.lastCounterWarnTs >= COUNTER_WARN_INTERVAL_MS) {
      this.lastCounterWarnTs = ts
      this.warn('counter_high', { nodeId: this.nodeId, ts, counter: c })
    }
    const ahead = ts - wall
    if (ahead <= 0) {
      this.nextAheadWarnMs = AHEAD_WARN_FIRST_MS
    } else if (ahead >= this.nextAheadWarnMs) {
      let threshold = this.nextAheadWarnMs
      while (ahead >= threshold * AHEAD_WARN_FACTOR) threshold *= AHEAD_WARN_FACTOR
      this.nextAheadWarnMs = threshold * AHEAD_WARN_FACTOR
      this.warn('ahead_of_wall', { nodeId: this.nodeId, aheadMs: ahead, thresholdMs: threshold, ts, wall })
    }
  }

  private warn (kind: HlcWarningKind, details: Record<string, unknown>): void {
    const hook = this.onWarning
    if (!hook) return
    try { hook(kind, details) } catch { /* a failing logger must not stop id generation */ }
  }
}

const STATE_BYTES = 16
const STATE_MAGIC = [0x53, 0x42, 0x48, 0x57] // "SBHW": ScratchBird high-water
const STATE_FORMAT = 1

function fnv1a (b: Uint8Array, n: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[i]!, 0x01000193)
  return h >>> 0
}

function isValidTs (ts: number): boolean {
  return Number.isInteger(ts) && ts >= 0 && ts <= HLC_MAX_TS
}

function readUint48 (u: Uint8Array, o: number): number {
  const hi = (u[o]! << 8) | u[o + 1]!
  const lo = ((u[o + 2]! << 24) | (u[o + 3]! << 16) | (u[o + 4]! << 8) | u[o + 5]!) >>> 0
  return hi * TWO_32 + lo
}

/** Throws SB_UUID_INVALID unless `u` is 16 bytes, version 8, RFC 9562 variant. */
export function assertUuidV8 (u: Uint8Array): void {
  assertUuidBytes(u)
  if ((u[6]! >>> 4) !== 8 || (u[8]! & 0xc0) !== 0x80) {
    throw new ScratchBirdError('SB_UUID_INVALID', `not a UUIDv8-HLC (version ${u[6]! >>> 4}, variant bits ${u[8]! >>> 6})`)
  }
}

export interface UuidV8Fields {
  ts: number
  counter: number
  /** 0..65535; 0 never appears in generated ids, so it is free for range bounds. */
  nodeId: number
  /** 0 .. 2^46-1 */
  random: number
}

/**
 * Build a UUIDv8-HLC from its fields. Used for range bounds (e.g. the smallest id of a time
 * window: node 0, random 0) and tests; generated ids come from Hlc.
 */
export function encodeUuidV8 (f: UuidV8Fields): Uint8Array {
  assert(isValidTs(f.ts) && f.counter >= 0 && f.counter <= HLC_MAX_COUNTER && f.nodeId >= 0 &&
    f.nodeId <= HLC_MAX_NODE_ID && f.random >= 0 && f.random < 2 ** HLC_RANDOM_BITS, 'UUIDv8 field out of range')
  const u = new Uint8Array(UUID_BYTES)
  writeUint48(u, 0, f.ts)
  u[6] = 0x80 | (f.counter >>> 8)
  u[7] = f.counter
  u[8] = 0x80 | (f.nodeId >>> 10)
  u[9] = f.nodeId >>> 2
  const rhi = Math.floor(f.random / TWO_32) // top 14 random bits
  u[10] = ((f.nodeId & 3) << 6) | (rhi >>> 8)
  u[11] = rhi
  new DataView(u.buffer).setUint32(12, f.random >>> 0)
  return u
}

/** unix_ts_ms (the HLC physical part). Accepts v7 too: the field sits at the same position. */
export function uuidv8Timestamp (u: Uint8Array): number {
  assertUuidBytes(u)
  const v = u[6]! >>> 4
  if (v !== 8 && v !== 7) assertUuidV8(u)
  return readUint48(u, 0)
}

export function uuidv8Counter (u: Uint8Array): number {
  assertUuidV8(u)
  return counterOf(u)
}

export function uuidv8NodeId (u: Uint8Array): number {
  assertUuidV8(u)
  return nodeIdOf(u)
}

// Unchecked field readers, for callers that validated already.
function counterOf (u: Uint8Array): number {
  return ((u[6]! & 0x0f) << 8) | u[7]!
}

function nodeIdOf (u: Uint8Array): number {
  return ((u[8]! & 0x3f) << 10) | (u[9]! << 2) | (u[10]! >>> 6)
}

/** The 46 random bits, as a number. */
export function uuidv8Random (u: Uint8Array): number {
  assertUuidV8(u)
  const hi = ((u[10]! & 0x3f) << 8) | u[11]!
  const lo = ((u[12]! << 24) | (u[13]! << 16) | (u[14]! << 8) | u[15]!) >>> 0
  return hi * TWO_32 + lo
}
