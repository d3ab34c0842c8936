import { createConnection, createServer, type Server, type Socket } from 'node:net'

// A small TCP proxy the tests control (DESIGN §11: `tc netem` and toxiproxy are not available).
// It listens on 127.0.0.1:<random port> and forwards every connection to a target HOST:PORT.
// Faults:
//   cut()        every live connection is reset, and new ones are reset as soon as accepted
//                (a refused / cut link: the client fails fast with ECONNRESET);
//   blackhole()  connections are accepted but nothing passes in either direction, and no FIN
//                either (a hung peer or a partition as a client with timeouts sees it);
//   setDelay(ms) every chunk is held ms before it is passed on, both directions, order kept;
//   restore()    back to a healthy link (clears cut, blackhole and delay; chunks a delay still
//                holds go out at once — before, they kept their due time, up to a whole delay
//                after the restore).
// Dropping random TCP chunks would only corrupt the byte streams (HTTP would fail to parse, not
// time out), so "drop" is the blackhole. Connections that lost data to the blackhole are reset on
// restore(): their streams are corrupt, as a real connection would be that timed out.
// A delay holds bytes, not the connection: the target's idle timers keep running. A request held
// longer than the target sees its connection idle — a node's HTTP/RPC server closes a kept-alive
// connection after 5 s (net/http-server.ts keepAliveTimeout) — is lost with that connection: the
// target closes it never having read the request, and the client sees the connection closed (for
// a node's RPC, SB_NODE_UNREACHABLE: outcome unknown; a leaderless coordinator keeps a hint).
// Socket errors (ECONNRESET, ECONNREFUSED, EPIPE…) are expected here and never thrown.

export type ProxyMode = 'pass' | 'cut' | 'blackhole'

export interface ProxyStats {
  /** Connections accepted (including the ones reset because the link was cut). */
  connections: number
  /** Connections currently open. */
  active: number
  /** Connections reset on accept because the link was cut. */
  refused: number
  /** Connections that could not reach the target (connect error); the client is reset. */
  upstreamFailures: number
  /** Bytes passed client → target. */
  bytesToTarget: number
  /** Bytes passed target → client. */
  bytesFromTarget: number
  /** Bytes swallowed by the blackhole (both directions). */
  bytesDropped: number
}

interface Item { due: number, chunk: Buffer | null }

/** One direction of one connection: a FIFO holding chunks until their due time. */
class Pipe {
  private readonly queue: Item[] = []
  private timer: NodeJS.Timeout | undefined
  private lastDue = 0

  constructor (
    private readonly from: () => Socket | undefined,
    private readonly to: () => Socket | undefined,
    private readonly count: (n: number) => void,
    /** The destination is gone but data still arrives: the pair is broken. */
    private readonly broken: () => void
  ) {}

  push (chunk: Buffer | null, delayMs: number): void {
    if (delayMs <= 0 && this.queue.length === 0) { this.deliver(chunk); return }
    // Due times never go backwards, so lowering the delay mid-stream cannot reorder chunks.
    const due = Math.max(Date.now() + delayMs, this.lastDue)
    this.lastDue = due
    this.queue.push({ due, chunk })
    this.schedule()
  }

  clear (): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.queue.length = 0
  }

  /** Passes every held chunk on now, in order (restore(): a healthy link holds nothing back). */
  release (): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.lastDue = 0
    // deliver() may tear the pair down (the destination is gone), which clears the queue.
    while (this.queue.length > 0) this.deliver(this.queue.shift()!.chunk)
  }

  private schedule (): void {
    if (this.timer || this.queue.length === 0) return
    const wait = Math.max(0, this.queue[0]!.due - Date.now())
    this.timer = setTimeout(() => { this.timer = undefined; this.pump() }, wait)
  }

  private pump (): void {
    const now = Date.now()
    while (this.queue.length > 0 && this.queue[0]!.due <= now) this.deliver(this.queue.shift()!.chunk)
    this.schedule()
  }

  private deliver (chunk: Buffer | null): void {
    const to = this.to()
    if (!to || to.destroyed || to.writableEnded) {
      if (chunk !== null) this.broken()
      return
    }
    if (chunk === null) { to.end(); return }
    this.count(chunk.length)
    // Backpressure: stop reading the source while the destination's buffer is full.
    const from = this.from()
    if (!to.write(chunk) && from && !from.isPaused()) {
      from.pause()
      to.once('drain', () => { if (!from.destroyed) from.resume() })
    }
  }
}

class Conn {
  upstream: Socket | undefined
  /** Lost data to the blackhole (or never had an upstream): reset on restore(). */
  tainted = false
  private readonly up: Pipe
  private readonly down: Pipe
  private done = false

  constructor (private readonly proxy: TcpProxy, readonly client: Socket) {
    const broken = () => this.destroy(true)
    this.up = new Pipe(() => client, () => this.upstream, (n) => { proxy.stats.bytesToTarget += n }, broken)
    this.down = new Pipe(() => this.upstream, () => client, (n) => { proxy.stats.bytesFromTarget += n }, broken)
  }

  fromClient (chunk: Buffer | null): void {
    if (this.proxy.mode === 'blackhole' || !this.upstream) { this.drop(chunk); return }
    this.up.push(chunk, this.proxy.delayMs)
  }

  fromTarget (chunk: Buffer | null): void {
    if (this.proxy.mode === 'blackhole') { this.drop(chunk); return }
    this.down.push(chunk, this.proxy.delayMs)
  }

  /** Held chunks go out now, both ways. */
  release (): void {
    this.up.release()
    this.down.release()
  }

  private drop (chunk: Buffer | null): void {
    this.tainted = true
    if (chunk) this.proxy.stats.bytesDropped += chunk.length
  }

  /** A socket closed: an error breaks the pair; clean closes finish on their own. */
  closed (hadError: boolean): void {
    const up = this.upstream
    if (hadError || (this.tainted && this.client.destroyed)) { this.destroy(true); return }
    if (this.client.destroyed && (!up || up.destroyed)) this.destroy(false)
  }

  /** Tears both sides down; `reset` sends RST (a cut link) rather than FIN. */
  destroy (reset: boolean): void {
    if (this.done) return
    this.done = true
    this.up.clear()
    this.down.clear()
    for (const s of [this.client, this.upstream]) {
      if (!s || s.destroyed) continue
      if (reset && !s.connecting) s.resetAndDestroy()
      else s.destroy()
    }
    this.proxy.forget(this)
  }
}

export class TcpProxy {
  readonly host = '127.0.0.1'
  mode: ProxyMode = 'pass'
  delayMs = 0
  readonly stats: ProxyStats = { connections: 0, active: 0, refused: 0, upstreamFailures: 0, bytesToTarget: 0, bytesFromTarget: 0, bytesDropped: 0 }
  private readonly conns = new Set<Conn>()
  private closing: Promise<void> | undefined

  private constructor (
    private readonly server: Server,
    readonly port: number,
    private targetHost: string,
    private targetPort: number,
    /** For messages: "n1->n2" in a cluster. */
    readonly name: string
  ) {}

  /** Starts a proxy on 127.0.0.1:0 forwarding to `target` ("HOST:PORT"). */
  static async start (target: string, opts: { name?: string } = {}): Promise<TcpProxy> {
    const [host, port] = splitHostPort(target)
    const server = createServer({ allowHalfOpen: true })
    server.on('error', () => { /* listen errors surface through the promise below */ })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => { server.off('error', reject); resolve() })
    })
    const addr = server.address()
    if (!addr || typeof addr === 'string') throw new Error('proxy: no address')
    const proxy = new TcpProxy(server, addr.port, host, port, opts.name ?? `proxy :${addr.port} -> ${target}`)
    server.on('connection', (s) => proxy.accept(s))
    return proxy
  }

  /** "127.0.0.1:PORT": where clients connect. */
  get address (): string { return `${this.host}:${this.port}` }
  /** "HOST:PORT" the proxy forwards to. */
  get target (): string { return `${this.targetHost}:${this.targetPort}` }

  /** New connections go to `target`; live ones keep their old target unless `resetLive`. */
  setTarget (target: string, resetLive = false): void {
    ;[this.targetHost, this.targetPort] = splitHostPort(target)
    if (resetLive) this.resetAll()
  }

  /** Resets every live connection and every new one until restore(). */
  cut (): void {
    this.mode = 'cut'
    this.resetAll()
  }

  /** Accepts connections but passes nothing either way until restore(). */
  blackhole (): void {
    if (this.mode === 'cut') this.resetAll()
    this.mode = 'blackhole'
  }

  /** Holds every chunk `ms` before passing it on (both directions; order kept). 0: no delay. */
  setDelay (ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`delay must be ≥ 0, got ${ms}`)
    this.delayMs = ms
  }

  /** A healthy link again: no cut, no blackhole, no delay. Connections the blackhole corrupted are reset. */
  restore (): void {
    this.mode = 'pass'
    this.delayMs = 0
    for (const c of [...this.conns]) {
      if (c.tainted) c.destroy(true)
      else c.release()
    }
  }

  /** Closes every connection and the listening socket. Idempotent. */
  close (): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.mode = 'cut'
      this.server.close(() => resolve())
      this.resetAll()
    })
    return this.closing
  }

  /** @internal */
  forget (c: Conn): void {
    if (this.conns.delete(c)) this.stats.active--
  }

  private resetAll (): void {
    for (const c of [...this.conns]) c.destroy(true)
  }

  private accept (client: Socket): void {
    this.stats.connections++
    client.on('error', () => { /* ECONNRESET etc.: the close handler tears down */ })
    if (this.mode === 'cut' || this.closing) {
      this.stats.refused++
      client.resetAndDestroy()
      return
    }
    client.setNoDelay(true)
    const conn = new Conn(this, client)
    this.conns.add(conn)
    this.stats.active++
    client.on('data', (d: Buffer) => conn.fromClient(d))
    client.on('end', () => conn.fromClient(null))
    client.on('close', (hadError) => conn.closed(hadError))

    if (this.mode === 'blackhole') { conn.tainted = true; return }
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort, allowHalfOpen: true })
    conn.upstream = upstream
    let connected = false
    upstream.on('connect', () => { connected = true; upstream.setNoDelay(true) })
    upstream.on('error', () => { if (!connected) this.stats.upstreamFailures++ })
    upstream.on('data', (d: Buffer) => conn.fromTarget(d))
    upstream.on('end', () => conn.fromTarget(null))
    upstream.on('close', (hadError) => conn.closed(hadError))
  }
}

function splitHostPort (text: string): [string, number] {
  const colon = text.lastIndexOf(':')
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  const port = Number(text.slice(colon + 1))
  if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`proxy: bad HOST:PORT ${JSON.stringify(text)}`)
  return [host, port]
}
