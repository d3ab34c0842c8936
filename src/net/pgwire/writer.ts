// Encoders of the backend messages (server → client) into one growing buffer per connection;
// take() hands the bytes of everything written since the last take() to the socket in one write.
// Lengths are patched in after each message's body, so no message is built twice.

const INITIAL_BYTES = 8 * 1024

export class MessageWriter {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES)
  private pos = 0
  private start = -1

  get length (): number { return this.pos }

  private ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** Starts a message of `type` (a char); end() patches its length. */
  begin (type: string): this {
    this.ensure(5)
    this.buf[this.pos] = type.charCodeAt(0)
    this.start = this.pos + 1
    this.pos += 5
    return this
  }

  end (): void {
    this.buf.writeInt32BE(this.pos - this.start, this.start)
    this.start = -1
  }

  byte (v: number): this { this.ensure(1); this.buf[this.pos++] = v; return this }
  int16 (v: number): this { this.ensure(2); this.buf.writeInt16BE(v, this.pos); this.pos += 2; return this }
  int32 (v: number): this { this.ensure(4); this.buf.writeInt32BE(v, this.pos); this.pos += 4; return this }

  cstring (s: string): this {
    const n = Buffer.byteLength(s)
    this.ensure(n + 1)
    this.pos += this.buf.write(s, this.pos)
    this.buf[this.pos++] = 0
    return this
  }

  bytes (b: Uint8Array): this { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length; return this }

  /** A length-prefixed UTF-8 string (DataRow value, SASL data). */
  lengthString (s: string): this {
    const n = Buffer.byteLength(s)
    this.ensure(n + 4)
    this.buf.writeInt32BE(n, this.pos)
    this.pos += 4
    this.pos += this.buf.write(s, this.pos)
    return this
  }

  /** A copy of what was written (the socket may hold it after we reuse the buffer); resets. */
  take (): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos))
    this.pos = 0
    // A buffer grown for one huge result is not kept for the connection's life.
    if (this.buf.length > 1024 * 1024) this.buf = Buffer.allocUnsafe(INITIAL_BYTES)
    return out
  }

  // ---- messages ---------------------------------------------------------------------------------

  authentication (code: number, data?: Uint8Array): void {
    this.begin('R').int32(code)
    if (data !== undefined) this.bytes(data)
    this.end()
  }

  parameterStatus (name: string, value: string): void { this.begin('S').cstring(name).cstring(value).end() }
  backendKeyData (pid: number, secret: number): void { this.begin('K').int32(pid).int32(secret).end() }
  readyForQuery (status: 'I' | 'T' | 'E'): void { this.begin('Z').byte(status.charCodeAt(0)).end() }
  commandComplete (tag: string): void { this.begin('C').cstring(tag).end() }
  emptyQueryResponse (): void { this.begin('I').end() }
  parseComplete (): void { this.begin('1').end() }
  bindComplete (): void { this.begin('2').end() }
  closeComplete (): void { this.begin('3').end() }
  noData (): void { this.begin('n').end() }
  portalSuspended (): void { this.begin('s').end() }

  parameterDescription (oids: readonly number[]): void {
    this.begin('t').int16(oids.length)
    for (const o of oids) this.int32(o)
    this.end()
  }

  /** ErrorResponse ('E') or NoticeResponse ('N'): (field code, value) pairs. */
  fields (type: 'E' | 'N', fields: ReadonlyArray<readonly [string, string]>): void {
    this.begin(type)
    for (const [code, value] of fields) this.byte(code.charCodeAt(0)).cstring(value)
    this.byte(0).end()
  }
}
