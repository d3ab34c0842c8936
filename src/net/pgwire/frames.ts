// Framing of the PostgreSQL frontend/backend protocol v3, client side in: the bytes a socket
// delivers become whole messages. Sans-I/O: the connection pushes chunks and pulls frames. The
// first message of a connection (startup, SSLRequest, GSSENCRequest, CancelRequest) has no type
// byte; every later one is a type byte and an int32 length that counts itself. A length beyond
// the bound is refused as soon as its header arrives, so a client cannot make the node buffer
// more than one bounded message (plus the chunk in hand).
import { ScratchBirdError } from '../../core/errors'
import { decodeUtf8 } from './values'

/** PostgreSQL's own bound on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_BYTES = 10_000

export interface Frame {
  /** Message type byte; 0 for a startup-phase packet. */
  readonly type: number
  /** The message body (after type and length); a view, valid until the next push(). */
  readonly body: Buffer
}

function malformed (message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_MALFORMED_REQUEST', message, details)
}

const EMPTY = Buffer.alloc(0)

export class FrameReader {
  private buf: Buffer = EMPTY
  private off = 0
  /** Until the startup packet is read, frames have no type byte. */
  startup = true

  constructor (private readonly maxMessageBytes: number) {}

  /** Bytes received and not yet returned as frames. */
  get buffered (): number { return this.buf.length - this.off }

  push (chunk: Buffer): void {
    if (this.off >= this.buf.length) { this.buf = chunk; this.off = 0; return }
    this.buf = Buffer.concat([this.buf.subarray(this.off), chunk])
    this.off = 0
  }

  /** The next whole frame, or null until more bytes arrive. Throws SB_MALFORMED_REQUEST / SB_BODY_TOO_LARGE. */
  next (): Frame | null {
    const avail = this.buf.length - this.off
    const head = this.startup ? 4 : 5
    if (avail < head) return null
    const type = this.startup ? 0 : this.buf[this.off]!
    const len = this.buf.readInt32BE(this.off + head - 4)
    if (len < 4) throw malformed(`invalid message length ${len}`, { message_type: String.fromCharCode(type) })
    const max = this.startup ? MAX_STARTUP_BYTES : this.maxMessageBytes
    if (len - 4 > max) {
      throw new ScratchBirdError('SB_BODY_TOO_LARGE', `${this.startup ? 'startup packet' : `message '${String.fromCharCode(type)}'`} of ${len - 4} bytes exceeds the limit of ${max} bytes`, { limit: max })
    }
    const total = head + len - 4
    if (avail < total) return null
    const body = this.buf.subarray(this.off + head, this.off + total)
    this.off += total
    return { type, body }
  }
}

/** Reads the fields of one message body; any overrun or missing terminator is a protocol error. */
export class BodyReader {
  private off = 0
  constructor (private readonly b: Buffer) {}

  get remaining (): number { return this.b.length - this.off }

  private need (n: number): void {
    if (this.off + n > this.b.length) throw malformed('message is shorter than its fields')
  }

  byte (): number { this.need(1); return this.b[this.off++]! }
  int16 (): number { this.need(2); const v = this.b.readInt16BE(this.off); this.off += 2; return v }
  int32 (): number { this.need(4); const v = this.b.readInt32BE(this.off); this.off += 4; return v }

  /** A NUL-terminated UTF-8 string. */
  cstring (): string {
    const end = this.b.indexOf(0, this.off)
    if (end < 0) throw malformed('string field without its terminator')
    const s = decodeUtf8(this.b.subarray(this.off, end))
    this.off = end + 1
    return s
  }

  bytes (n: number): Buffer { this.need(n); const v = this.b.subarray(this.off, this.off + n); this.off += n; return v }

  /** The message must end here (trailing bytes mean a client we misunderstand). */
  end (): void {
    if (this.off !== this.b.length) throw malformed(`message has ${this.b.length - this.off} unexpected trailing byte(s)`)
  }
}
