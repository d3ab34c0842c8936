import { ByteSink, ByteSource, type Fail } from './bytes'
import { ScratchBirdError, assert } from './errors'
import { asHlcTs, asXid, isNodeId, isShardId, type HlcTs, type NodeId, type ShardId, type Xid } from './ids'

// Toolkit of the versioned binary codecs for everything that crosses nodes (DESIGN §7) and the
// shard ops on the rings: ByteSink/ByteSource (bytes.ts) plus the pieces every message needs —
// unsigned 64-bit integers (xids, HLCs, LSNs), length-prefixed bytes and UTF-8 strings, booleans,
// counts bounded by the bytes left, optional values, and the codec version every payload starts
// with. Reads check every bound and fail through the codec's own error factory (SB_RPC_MALFORMED
// for cluster RPC payloads, SB_MALFORMED_REQUEST for shard ops), never with a RangeError.
//
// Versions: each payload's first byte is its codec version (1..255). A reader decodes every
// version up to its own; a newer one is refused with SB_CODEC_VERSION naming both (a peer running
// a newer release during a rolling upgrade), never guessed at. What crosses nodes is written in
// the lowest version that carries it (versionedLowest); the rule and the table of every wire
// codec's version are in codec-versions.ts.

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export class CodecWriter extends ByteSink {
  bool (v: boolean): void { this.u8(v ? 1 : 0) }

  /** Unsigned 64-bit, big-endian (xids, HLC timestamps, LSNs). */
  u64 (v: bigint): void {
    assert(v >= 0n && v <= 0xffff_ffff_ffff_ffffn, `u64 out of range: ${v}`)
    this.i64(BigInt.asIntN(64, v))
  }

  /** A non-negative safe integer (counts, ids, lengths) as a varint. */
  uint (v: number): void {
    assert(Number.isSafeInteger(v) && v >= 0, `not a non-negative safe integer: ${v}`)
    this.varint(v)
  }

  /** Length-prefixed bytes. */
  blob (b: Uint8Array): void { this.varint(b.length); this.bytes(b) }

  /** Length-prefixed UTF-8. */
  str (s: string): void { this.blob(utf8.encode(s)) }

  /** 0 = absent, 1 = present followed by the value. */
  opt<T> (v: T | null | undefined, write: (v: T) => void): void {
    if (v === null || v === undefined) { this.u8(0); return }
    this.u8(1)
    write(v)
  }

  /** A list; not an array (a caller passing untyped data) is SB_BAD_ARGUMENT, not a garbled message. */
  array<T> (items: readonly T[], write: (v: T) => void): void {
    if (!Array.isArray(items)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `a list field holds ${typeof items}, not an array`)
    this.varint(items.length)
    for (const v of items) write(v)
  }
}

/**
 * Writers reused by every encode, one per nesting depth: an encode may run another inside it (an
 * entry's payload encoded into its envelope), never across an await (writers are synchronous), so
 * the depth is a stack. A fresh 64-byte writer per message grew by doubling — a 64 KiB snapshot
 * chunk allocated (and zeroed, and left to the GC) eleven buffers before its final copy, on the
 * main thread of every node moving shards while it serves statements (issue 20, bench rebalance).
 * A writer that grew past POOLED_WRITER_MAX_BYTES is dropped after use rather than pinned.
 */
const writerPool: Array<CodecWriter | undefined> = []
let writerDepth = 0
const POOLED_WRITER_MAX_BYTES = 1 << 20

/** The bytes `write` puts in a (pooled) writer: a copy of exactly their length. */
export function encodeWith (write: (w: CodecWriter) => void): Uint8Array {
  const depth = writerDepth++
  const w = writerPool[depth] ?? new CodecWriter(4096)
  writerPool[depth] = w
  w.reset()
  try {
    write(w)
    return w.take()
  } finally {
    writerDepth = depth
    if (w.buf.length > POOLED_WRITER_MAX_BYTES) writerPool[depth] = undefined
  }
}

export class CodecReader extends ByteSource {
  constructor (buf: Uint8Array, readonly malformed: Fail) {
    super(buf, malformed)
  }

  get left (): number { return this.end - this.pos }

  /** A copy, always a plain Uint8Array (a Buffer's slice would be a view of the caller's body). */
  override bytes (n: number): Uint8Array {
    const p = this.need(n)
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset + p, n).slice()
  }

  bool (): boolean {
    const b = this.u8()
    if (b > 1) throw this.malformed(`boolean byte ${b}`)
    return b === 1
  }

  u64 (): bigint { return BigInt.asUintN(64, this.i64()) }
  /** A u64 field holding an XID. */
  xid (): Xid { return asXid(this.u64()) }
  /** A u64 field holding an HLC timestamp. */
  hlc (): HlcTs { return asHlcTs(this.u64()) }
  /** A u32 field holding a shard id: one at or above MAX_SHARDS is a malformed message. */
  shard (): ShardId {
    const v = this.u32()
    if (!isShardId(v)) throw this.malformed(`shard id ${v} out of range`)
    return v
  }

  /** A u16 field holding a node id: 0 (reserved) is a malformed message. */
  nodeId (): NodeId {
    const v = this.u16()
    if (!isNodeId(v)) throw this.malformed(`node id ${v} out of range`)
    return v
  }

  uint (): number {
    const v = this.varint()
    if (!Number.isSafeInteger(v)) throw this.malformed(`integer ${v} above 2^53`)
    return v
  }

  /** A finite double (times, durations). */
  finite (): number {
    const v = this.f64()
    if (!Number.isFinite(v)) throw this.malformed(`number ${v} is not finite`)
    return v
  }

  blob (): Uint8Array {
    const n = this.varint()
    if (n > this.left) throw this.malformed(`length ${n} runs past the end`)
    return this.bytes(n)
  }

  /**
   * `n` (key, value) pairs of length-prefixed bytes, every one a view into ONE copy of the bytes
   * they span (still never a view of the caller's body). A snapshot chunk holds hundreds of
   * entries: a copy each (blob) was two ArrayBuffers per entry to allocate and collect, on the
   * decoding thread and the GC's — for a node joining, on every chunk it installs while client
   * writes share its cores (issue 20 item 3). The views keep that copy alive together: a caller
   * retaining one key for long copies it.
   */
  blobPairs (n: number): Array<{ key: Uint8Array, value: Uint8Array }> {
    const start = this.pos
    const at: number[] = []
    for (let i = 0; i < 2 * n; i++) {
      const len = this.varint()
      if (len > this.left) throw this.malformed(`length ${len} runs past the end`)
      at.push(this.need(len), len)
    }
    // Uint8Array's slice, a copy (a Buffer's slice is a view of the body).
    const copy = new Uint8Array(this.buf.buffer, this.buf.byteOffset + start, this.pos - start).slice()
    const view = (i: number): Uint8Array => copy.subarray(at[i]! - start, at[i]! - start + at[i + 1]!)
    const out: Array<{ key: Uint8Array, value: Uint8Array }> = []
    for (let i = 0; i < n; i++) out.push({ key: view(4 * i), value: view(4 * i + 2) })
    return out
  }

  str (): string {
    const b = this.blob()
    try {
      return strictUtf8.decode(b)
    } catch {
      throw this.malformed('string is not valid UTF-8')
    }
  }

  /** A count of items of at least `minBytes` each: one the bytes left cannot hold is garbage, not a reason to allocate. */
  count (minBytes = 1): number {
    const n = this.varint()
    if (n * minBytes > this.left) throw this.malformed(`count ${n} exceeds the data`)
    return n
  }

  opt<T> (read: () => T): T | undefined {
    const flag = this.u8()
    if (flag === 0) return undefined
    if (flag !== 1) throw this.malformed(`presence byte ${flag}`)
    return read()
  }

  array<T> (read: () => T, minBytes = 1): T[] {
    const n = this.count(minBytes)
    const out: T[] = []
    for (let i = 0; i < n; i++) out.push(read())
    return out
  }

  /** One of `values` by its index byte. */
  pick<T> (values: readonly T[], what: string): T {
    const i = this.u8()
    const v = values[i]
    if (v === undefined) throw this.malformed(`unknown ${what} ${i}`)
    return v
  }

  finish (): void {
    if (!this.done) throw this.malformed(`${this.left} trailing bytes`)
  }
}

/** A message codec with a version: what the cluster RPC table and the shard op table hold. */
export interface Codec<T> {
  encode (v: T): Uint8Array
  decode (b: Uint8Array): T
}

export function codecVersionError (codec: string, version: number, supported: number): ScratchBirdError {
  return new ScratchBirdError('SB_CODEC_VERSION',
    `${codec} payload is codec version ${version}, this node speaks up to version ${supported}; it was not applied (upgrade this node)`,
    { codec, version, supported })
}

/**
 * A versioned codec that writes each value in the LOWEST version able to carry it (`lowest(v)`,
 * at most `version`): a value that needs nothing a newer version added goes out in the old
 * format, so a peer of the previous release reads it during a rolling upgrade; only a value that
 * uses the newer part is written in the newer version, which such a peer refuses with
 * SB_CODEC_VERSION (never misreads) — the protocol must do without that message from new to old
 * nodes (README "Upgrading"). The writer gets the version it writes.
 */
export function versionedLowest<T> (
  name: string,
  version: number,
  fail: (codec: string) => Fail,
  lowest: (v: T) => number,
  write: (w: CodecWriter, v: T, version: number) => void,
  read: (r: CodecReader, version: number) => T
): Codec<T> {
  const c = versioned(name, version, fail, (w, v: T) => { write(w, v, version) }, read)
  return {
    encode (v: T): Uint8Array {
      const at = lowest(v)
      assert(Number.isInteger(at) && at >= 1 && at <= version, `${name}: a value needs codec version ${at}, this codec writes 1..${version}`)
      return encodeWith(w => {
        w.u8(at)
        write(w, v, at)
      })
    },
    decode: c.decode
  }
}

/** Reads the version byte: 0 is malformed, above `supported` is SB_CODEC_VERSION. */
export function readVersion (r: CodecReader, codec: string, supported: number): number {
  const v = r.u8()
  if (v === 0) throw r.malformed('codec version 0')
  if (v > supported) throw codecVersionError(codec, v, supported)
  return v
}

/**
 * A versioned codec from a body writer and reader: payload = version u8 | body. The reader gets
 * the version it must decode (≤ `version`); the whole payload must be consumed.
 */
export function versioned<T> (
  name: string,
  version: number,
  fail: (codec: string) => Fail,
  write: (w: CodecWriter, v: T) => void,
  read: (r: CodecReader, version: number) => T
): Codec<T> {
  assert(Number.isInteger(version) && version >= 1 && version <= 0xff, `codec version ${version} outside 1..255`)
  const onFail = fail(name)
  return {
    encode (v: T): Uint8Array {
      return encodeWith(w => {
        w.u8(version)
        write(w, v)
      })
    },
    decode (b: Uint8Array): T {
      const r = new CodecReader(b, onFail)
      const got = readVersion(r, name, version)
      const v = read(r, got)
      r.finish()
      return v
    }
  }
}
