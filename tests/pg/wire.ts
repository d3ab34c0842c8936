import { connect, type Socket } from 'node:net'

// A bare PostgreSQL-protocol client for the tests that need the bytes themselves: binary
// results (node-postgres decodes every DataRow field as UTF-8 text, so it cannot check them),
// ReadyForQuery's transaction status, and malformed frames no driver would send.

export interface Msg { type: string, body: Buffer }

function frame (type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5)
  head[0] = type.charCodeAt(0)
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}

const cstr = (s: string): Buffer => Buffer.from(s + '\0', 'utf8')
const i16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(v); return b }
const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b }

/** Frontend messages. */
export const fe = {
  startup (params: Record<string, string>, version = 196608): Buffer {
    const body = Buffer.concat([i32(version), ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]), Buffer.from([0])])
    return Buffer.concat([i32(body.length + 4), body])
  },
  request (code: number, ...ints: number[]): Buffer { return Buffer.concat([i32(8 + 4 * ints.length), i32(code), ...ints.map(i32)]) },
  query: (sql: string) => frame('Q', cstr(sql)),
  parse: (name: string, sql: string, oids: number[] = []) => frame('P', Buffer.concat([cstr(name), cstr(sql), i16(oids.length), ...oids.map(i32)])),
  bind (portal: string, statement: string, params: Array<{ value: Buffer | null, binary?: boolean }>, resultFormats: number[] = []): Buffer {
    return frame('B', Buffer.concat([
      cstr(portal), cstr(statement),
      i16(params.length), ...params.map(p => i16(p.binary === true ? 1 : 0)),
      i16(params.length), ...params.map(p => p.value === null ? i32(-1) : Buffer.concat([i32(p.value.length), p.value])),
      i16(resultFormats.length), ...resultFormats.map(i16)
    ]))
  },
  describe: (kind: 'S' | 'P', name: string) => frame('D', Buffer.concat([Buffer.from(kind), cstr(name)])),
  execute: (portal: string, maxRows = 0) => frame('E', Buffer.concat([cstr(portal), i32(maxRows)])),
  close: (kind: 'S' | 'P', name: string) => frame('C', Buffer.concat([Buffer.from(kind), cstr(name)])),
  sync: () => frame('S', Buffer.alloc(0)),
  flush: () => frame('H', Buffer.alloc(0)),
  terminate: () => frame('X', Buffer.alloc(0)),
  raw: frame
}

export class WireClient {
  private buf = Buffer.alloc(0)
  private readonly msgs: Msg[] = []
  private waiter: (() => void) | null = null
  readonly closed: Promise<void>
  private ended = false

  private constructor (readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.onData(d))
    this.closed = new Promise(resolve => socket.on('close', () => { this.ended = true; this.wake(); resolve() }))
    socket.on('error', () => {})
  }

  static async open (port: number): Promise<WireClient> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    return new WireClient(socket)
  }

  /** Connects and completes startup (trust); resolves after the first ReadyForQuery. */
  static async ready (port: number, params: Record<string, string> = { user: 'tester', database: 'db' }): Promise<WireClient> {
    const c = await WireClient.open(port)
    c.send(fe.startup(params))
    await c.until('Z')
    return c
  }

  private wake (): void { const w = this.waiter; this.waiter = null; w?.() }

  private onData (d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d])
    for (;;) {
      if (this.expectByte && this.buf.length >= 1) {
        this.msgs.push({ type: `byte:${String.fromCharCode(this.buf[0]!)}`, body: Buffer.alloc(0) })
        this.buf = this.buf.subarray(1)
        this.expectByte = false
        continue
      }
      if (this.buf.length < 5) break
      const len = this.buf.readInt32BE(1)
      if (this.buf.length < 1 + len) break
      this.msgs.push({ type: String.fromCharCode(this.buf[0]!), body: this.buf.subarray(5, 1 + len) })
      this.buf = this.buf.subarray(1 + len)
    }
    this.wake()
  }

  /** Set before sending SSLRequest / GSSENCRequest: the answer is one bare byte. */
  expectByte = false

  send (b: Buffer): void { this.socket.write(b) }

  /** Messages up to and including the first of `type`; rejects if the connection closes first. */
  async until (type: string): Promise<Msg[]> {
    for (;;) {
      const i = this.msgs.findIndex(m => m.type === type)
      if (i >= 0) return this.msgs.splice(0, i + 1)
      if (this.ended) throw new Error(`connection closed before '${type}'; got ${this.msgs.map(m => m.type).join(',')}`)
      await new Promise<void>(resolve => { this.waiter = resolve })
    }
  }

  /** Everything received until the server closes the connection. */
  async rest (): Promise<Msg[]> {
    await this.closed
    return this.msgs.splice(0)
  }

  end (): void { this.socket.destroy() }
}

/** The fields of an ErrorResponse / NoticeResponse by their code. */
export function fieldsOf (m: Msg): Record<string, string> {
  const out: Record<string, string> = {}
  let i = 0
  while (i < m.body.length && m.body[i] !== 0) {
    const code = String.fromCharCode(m.body[i]!)
    const end = m.body.indexOf(0, i + 1)
    out[code] = m.body.subarray(i + 1, end).toString('utf8')
    i = end + 1
  }
  return out
}

/** DataRow values (null for NULL) as raw bytes. */
export function dataRow (m: Msg): Array<Buffer | null> {
  const n = m.body.readInt16BE(0)
  const out: Array<Buffer | null> = []
  let o = 2
  for (let i = 0; i < n; i++) {
    const len = m.body.readInt32BE(o)
    o += 4
    if (len < 0) { out.push(null); continue }
    out.push(m.body.subarray(o, o + len))
    o += len
  }
  return out
}

/** RowDescription as [name, type oid, format]. */
export function rowDescription (m: Msg): Array<[string, number, number]> {
  const n = m.body.readInt16BE(0)
  const out: Array<[string, number, number]> = []
  let o = 2
  for (let i = 0; i < n; i++) {
    const end = m.body.indexOf(0, o)
    const name = m.body.subarray(o, end).toString('utf8')
    o = end + 1
    out.push([name, m.body.readInt32BE(o + 6), m.body.readInt16BE(o + 16)])
    o += 18
  }
  return out
}

/** The transaction status byte of a ReadyForQuery. */
export const status = (msgs: Msg[]): string => String.fromCharCode(msgs.at(-1)!.body[0]!)
