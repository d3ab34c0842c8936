// One PostgreSQL-protocol connection (protocol 3.0): startup and authentication, then the simple
// and extended query protocols over the SAME executor, sessions and transactions as the HTTP API
// (src/net/sql-api.ts): every statement runs through executeScript with this connection's
// SessionState, registered in the node's session registry for the connection's life.
//
// Messages are handled strictly in order, one at a time; output is gathered in one buffer and
// written at ReadyForQuery, Flush, or when it grows (a long result is not held whole twice).
// Bad input from the client is answered with an ErrorResponse and, where the stream cannot be
// trusted any more (framing, startup, authentication), a closed connection — never a crash.
import type { Logger } from 'pino'
import type { Clock } from '../../core/clock'
import { classifyIoError, describe, isScratchBirdError, ScratchBirdError } from '../../core/errors'
import type { Rng } from '../../core/rng'
import type { ExecEnv } from '../../exec/env'
import { executeScript } from '../../exec/executor'
import type { StatementResult } from '../../exec/result'
import { sessionEnv } from '../../exec/temp-statements'
import type { SessionState } from '../../exec/txn'
import type { SqlValue } from '../../types/values'
import type { Session, SessionRegistry } from '../sessions'
import { errorFields, noticeFields, warningFields } from './error-fields'
import { ExtendedQuery, protocolError, type QueryHost } from './extended'
import { BodyReader, FrameReader, type Frame } from './frames'
import { localStatement, type ConnectionFacts, type LocalStatement } from './local'
import { columnsAndRows, commandTag, writeDataRow, writeRowDescription } from './rows'
import { SCRAM_MECHANISM, ScramServer } from './scram'
import type { PgAuthPlan } from '../../security/authenticator'
import type { Principal } from '../../security/privileges'
import { readStartup } from './startup'
import type { LoginThrottle } from '../login-throttle'
import type { RefusalReason, RequestLimiter } from '../request-limit'
import { hostOf } from '../peer-address'
import { splitStatements } from './statements'
import { MessageWriter } from './writer'

/** Output gathered beyond this is written before the next row (results stream, not pile up). */
const FLUSH_BYTES = 64 * 1024

export interface PgServerPorts {
  readonly env: ExecEnv
  readonly sessions: SessionRegistry<SessionState>
  readonly clock: Clock
  readonly rng: Rng
  readonly log: Logger
  readonly maxMessageBytes: number
  /** '15.0 (ScratchBird x.y.z)'. */
  readonly serverVersion: string
  /** How to authenticate a startup's user (security/authenticator.ts): trust, or SCRAM against a verifier. */
  readonly auth: (user: string) => PgAuthPlan
  /** Failed-login throttling (../login-throttle.ts): a locked-out address is refused before the SCRAM exchange. */
  readonly throttle?: LoginThrottle | undefined
  /** Per-client request limits (../request-limit.ts): each Query and Execute message is admitted first. */
  readonly requests?: RequestLimiter | undefined
  /** A message refused by `requests` (the node's metric). */
  readonly onRequestRefused?: ((reason: RefusalReason) => void) | undefined
  /** A CancelRequest arrived for (pid, secret). */
  readonly cancel: (pid: number, secret: number) => void
  /**
   * A login ended: 'ok' just before AuthenticationOk is sent, or the error code of a refused one
   * (the audit log records both; it runs synchronously, so the line is written before the client
   * is admitted).
   */
  readonly onLogin?: ((e: PgLogin) => void) | undefined
}

export interface PgLogin {
  readonly user: string
  readonly database: string
  /** The client's HOST:PORT. */
  readonly address: string
  readonly outcome: 'ok' | string
}

export interface Socketish {
  write (b: Buffer): void
  /** Ends the connection after what was written. */
  end (): void
  pause (): void
  resume (): void
  /** The client's HOST:PORT, when the transport knows it (audit log, statement reports). */
  readonly remoteAddress?: string
}

type Phase = 'startup' | 'sasl-initial' | 'sasl-continue' | 'ready' | 'closed'

export class PgConnection implements QueryHost {
  private readonly reader: FrameReader
  readonly out = new MessageWriter()
  private phase: Phase = 'startup'
  /** The startup packet's parameters, applied to the session's settings once it exists. */
  private startupParams: ReadonlyArray<readonly [string, string]> = []
  private scram: ScramServer | null = null
  private user = ''
  private database = ''
  /** Who the session runs as once authenticated; null: an unknown user whose exchange is bound to fail. */
  private principal: Principal | null = null
  private session: Session<SessionState> | null = null
  private readonly extended = new ExtendedQuery(this)
  /** An extended-protocol message failed: everything up to Sync is skipped. */
  private skipping = false
  private busy = false
  private stopping = false
  private readonly closedWaiters: Array<() => void> = []

  constructor (private readonly ports: PgServerPorts, private readonly socket: Socketish, readonly pid: number, readonly secret: number) {
    this.reader = new FrameReader(ports.maxMessageBytes)
  }

  /** What Describe plans against: the node's catalog as this session sees it (its temporary tables too). */
  get env (): ExecEnv { return this.session === null ? this.ports.env : sessionEnv(this.ports.env, this.session.state.temp) }
  get facts (): ConnectionFacts { return { database: this.database, version: this.ports.serverVersion } }

  get closed (): boolean { return this.phase === 'closed' }
  /** Startup and authentication are over (successfully or not). */
  get authenticated (): boolean { return this.phase === 'ready' || this.phase === 'closed' }

  /** Bytes from the socket. */
  onData (chunk: Buffer): void {
    if (this.phase === 'closed') return
    try {
      this.reader.push(chunk)
    } catch (e) {
      this.fatal(e)
      return
    }
    // Bounded: while a statement runs, stop reading once a whole message is waiting.
    if (this.busy && this.reader.buffered > this.ports.maxMessageBytes) this.socket.pause()
    if (!this.busy) void this.pump()
  }

  /** The socket closed (client went away, or we ended it): roll back and forget the session. */
  onClose (): void {
    const wasOpen = this.phase !== 'closed'
    this.phase = 'closed'
    // A statement in flight still uses the session (and may yet open a transaction in it): the
    // pump releases it when that statement is done, so nothing it leaves open outlives us.
    if (!this.busy) this.releaseSession()
    if (wasOpen || this.closedWaiters.length > 0) for (const w of this.closedWaiters.splice(0)) w()
  }

  /** Forgets the session and rolls back its open transaction (the connection is gone). */
  private releaseSession (): void {
    if (this.session !== null) {
      const s = this.ports.sessions.close(this.session.id)
      const txn = s?.state.txn ?? null
      this.session = null
      // Its temporary tables go with it (exec/temp-tables.ts).
      s?.state.temp.dropAll()
      if (txn !== null) {
        s!.state.txn = null
        txn.rollback().catch((e: unknown) => this.ports.log.warn({ err: describe(e) }, 'rolling back the transaction of a closed PostgreSQL connection failed'))
      }
    }
  }

  /** Node shutdown: finish the message in hand, then end the connection with a FATAL notice. */
  shutdown (): Promise<void> {
    if (this.phase === 'closed') return Promise.resolve()
    const done = new Promise<void>(resolve => this.closedWaiters.push(resolve))
    this.stopping = true
    if (!this.busy) this.terminate(new ScratchBirdError('SB_SHUTTING_DOWN', 'terminating connection: the node is shutting down'))
    return done
  }

  private async pump (): Promise<void> {
    this.busy = true
    try {
      for (;;) {
        if (this.phase === 'closed') return
        if (this.stopping) { this.terminate(new ScratchBirdError('SB_SHUTTING_DOWN', 'terminating connection: the node is shutting down')); return }
        let frame: Frame | null
        try { frame = this.reader.next() } catch (e) { this.fatal(e); return }
        if (frame === null) break
        await this.handle(frame)
        if (this.out.length > FLUSH_BYTES) this.flush()
      }
      this.flush()
    } finally {
      this.busy = false
      if (this.phase !== 'closed') this.socket.resume()
      else this.releaseSession()
    }
  }

  private flush (): void {
    if (this.out.length > 0 && this.phase !== 'closed') this.socket.write(this.out.take())
  }

  /** A FATAL error: report it (when the stream allows) and close. */
  private fatal (e: unknown): void {
    const err = this.coded(e)
    // Operators look for refused logins (PostgreSQL logs them too); the password is never in it.
    if (err.code === 'SB_AUTH_FAILED' || err.code === 'SB_LOGIN_THROTTLED') {
      // A failed password exchange counts toward the address's lockout (not a refusal before it).
      if (err.code === 'SB_AUTH_FAILED' && this.scram !== null) this.ports.throttle?.failure(hostOf(this.socket.remoteAddress ?? ''))
      this.ports.log.warn({ user: this.user, pid: this.pid }, `PostgreSQL authentication failed for user "${this.user}": ${err.message}`)
      this.ports.onLogin?.({ user: this.user, database: this.database, address: this.socket.remoteAddress ?? '', outcome: err.code })
    }
    this.terminate(err)
  }

  /** Refuses the connection before startup (too many connections): FATAL, closed. */
  refuse (err: ScratchBirdError): void { this.terminate(err) }

  private terminate (err: ScratchBirdError): void {
    if (this.phase === 'closed') return
    this.out.fields('E', errorFields(err, 'FATAL'))
    this.flush()
    this.phase = 'closed'
    this.socket.end()
  }

  private coded (e: unknown): ScratchBirdError {
    if (isScratchBirdError(e)) return e
    const io = classifyIoError(e)
    this.ports.log.error({ err: describe(e) }, io?.message ?? 'internal error in a PostgreSQL-protocol connection')
    if (io !== null) return io
    return new ScratchBirdError('SB_INTERNAL', 'internal error; see the node log')
  }

  private async handle (f: Frame): Promise<void> {
    try {
      if (this.phase === 'startup') this.startup(f.body)
      else if (this.phase === 'sasl-initial' || this.phase === 'sasl-continue') this.authenticate(f)
      else if (this.phase === 'ready') await this.message(f)
    } catch (e) {
      this.fatal(e)
    }
  }

  // ---- startup and authentication -----------------------------------------------------------

  private startup (body: Buffer): void {
    const req = readStartup(body)
    if (req.kind === 'encryption') {
      // TLS off (security.tls_enabled: server.ts answers SSLRequest before this connection
      // exists), no GSS encryption: 'N', and the client goes on in plaintext (or gives up).
      this.socket.write(Buffer.from('N'))
      return
    }
    if (req.kind === 'cancel') {
      this.ports.cancel(req.pid, req.secret)
      this.phase = 'closed'
      this.socket.end()
      return
    }
    this.reader.startup = false
    this.user = req.user
    this.database = req.database
    this.startupParams = [...req.params]
    // A newer 3.x client, or protocol options we do not know: tell it we speak 3.0 without them.
    if (req.minor > 0 || req.unknownOptions.length > 0) {
      this.out.begin('v').int32(0).int32(req.unknownOptions.length)
      for (const o of req.unknownOptions) this.out.cstring(o)
      this.out.end()
    }
    const plan = this.ports.auth(req.user)
    this.principal = plan.principal
    if (plan.kind === 'trust') {
      this.ready()
      return
    }
    this.ports.throttle?.check(hostOf(this.socket.remoteAddress ?? ''))
    this.scram = new ScramServer(plan.verifier, req.user, this.ports.rng)
    this.out.authentication(10, Buffer.from(`${SCRAM_MECHANISM}\0\0`))
    this.phase = 'sasl-initial'
  }

  private authenticate (f: Frame): void {
    if (f.type !== 0x70 /* p */) throw protocolError(`expected a SASL response, got message type '${String.fromCharCode(f.type)}'`)
    const r = new BodyReader(f.body)
    if (this.phase === 'sasl-initial') {
      const mechanism = r.cstring()
      if (mechanism !== SCRAM_MECHANISM) throw new ScratchBirdError('SB_AUTH_FAILED', `SASL mechanism ${mechanism} is not supported: use ${SCRAM_MECHANISM}`)
      const len = r.int32()
      const data = len < 0 ? '' : r.bytes(len).toString('utf8')
      r.end()
      const serverFirst = this.scram!.first(data)
      this.out.authentication(11, Buffer.from(serverFirst))
      this.phase = 'sasl-continue'
      return
    }
    const serverFinal = this.scram!.final(f.body.toString('utf8'))
    this.scram = null
    this.ports.throttle?.success(hostOf(this.socket.remoteAddress ?? ''))
    // Unreachable in practice (an unknown user's keys match no proof); never admit one without a principal.
    if (this.principal === null) throw new ScratchBirdError('SB_AUTH_FAILED', `password authentication failed for user "${this.user}"`, { user: this.user })
    this.out.authentication(12, Buffer.from(serverFinal))
    this.ready()
  }

  /** Authenticated: the session, ParameterStatus, BackendKeyData, ReadyForQuery. */
  private ready (): void {
    const now = this.ports.clock.monotonic()
    const created = this.ports.sessions.create(now)
    // Held busy for the connection's life: the idle-session timer (HTTP's) never closes it, and
    // no HTTP request can run in it; it closes with the connection, as in PostgreSQL.
    this.session = this.ports.sessions.acquire(created.id, now)
    this.session.state.client = { protocol: 'pg', user: this.user, address: this.socket.remoteAddress ?? '' }
    this.session.state.principal = this.principal ?? undefined
    applyStartup(this.session.state, this.user, this.startupParams)
    this.ports.onLogin?.({ user: this.user, database: this.database, address: this.socket.remoteAddress ?? '', outcome: 'ok' })
    this.out.authentication(0)
    for (const [name, value] of this.state.settings.reported()) this.out.parameterStatus(name, value)
    this.out.backendKeyData(this.pid, this.secret)
    this.phase = 'ready'
    this.out.readyForQuery(this.txnStatus())
    this.ports.log.debug({ user: this.user, database: this.database, pid: this.pid, session: created.id }, 'PostgreSQL client connected')
  }

  private get state (): SessionState { return this.session!.state }
  get sessionPrincipal (): Principal | undefined { return this.session?.state.principal }

  private txnStatus (): 'I' | 'T' | 'E' {
    const txn = this.state.txn
    return txn === null ? 'I' : txn.failed ? 'E' : 'T'
  }

  // ---- messages after startup ---------------------------------------------------------------

  private async message (f: Frame): Promise<void> {
    const type = String.fromCharCode(f.type)
    if (type === 'X') { this.flush(); this.phase = 'closed'; this.socket.end(); return }
    if (this.skipping) {
      if (type === 'S') { this.skipping = false; this.sync() }
      return
    }
    try {
      if (type === 'Q' || type === 'E') { await this.limited(() => type === 'Q' ? this.simpleQuery(new BodyReader(f.body)) : this.extended.execute(new BodyReader(f.body))); return }
      switch (type) {
        case 'P': this.extended.parse(new BodyReader(f.body)); return
        case 'B': this.extended.bind(new BodyReader(f.body)); return
        case 'D': await this.extended.describe(new BodyReader(f.body)); return
        case 'C': this.extended.close(new BodyReader(f.body)); return
        case 'S': this.sync(); return
        case 'H': this.flush(); return
        case 'F': throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'the function call protocol is not supported')
        case 'd': case 'c': case 'f': throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', 'COPY is not supported')
        default:
          this.terminate(protocolError(`invalid frontend message type ${f.type} ('${type}')`))
      }
    } catch (e) {
      const err = this.coded(e)
      // A malformed message means we may have misread the stream: end it, as PostgreSQL does.
      if (err.code === 'SB_MALFORMED_REQUEST') { this.terminate(err); return }
      this.out.fields('E', errorFields(err))
      if (type === 'Q') this.out.readyForQuery(this.txnStatus())
      else this.skipping = true
    }
  }

  /** Runs a message that runs SQL once the client's request limits admit it (refused: SB_TOO_MANY_REQUESTS, the connection stays). */
  private async limited (run: () => Promise<void>): Promise<void> {
    const a = this.ports.requests?.admit(hostOf(this.socket.remoteAddress ?? ''))
    if (a !== undefined && !a.ok) {
      this.ports.onRequestRefused?.(a.reason)
      throw a.error
    }
    try { await run() } finally { a?.release() }
  }

  private sync (): void {
    if (this.state.txn === null) this.extended.endOfTransaction()
    this.out.readyForQuery(this.txnStatus())
    this.flush()
  }

  /** Runs one statement through the executor (the HTTP API's path), stopping at its error. */
  async runSql (text: string, params: readonly SqlValue[]): Promise<StatementResult> {
    const before = this.state.settings.reported()
    try {
      const outcome = await executeScript(this.ports.env, this.state, text, params, this.session!.id)
      if (outcome.error !== null) throw outcome.error
      return outcome.results[0]!
    } catch (e) {
      // A bug (not a coded error): the executor did not get to mark the transaction.
      if (!isScratchBirdError(e) && this.state.txn !== null) this.state.txn.failed = true
      throw e
    } finally {
      // SET, RESET, and a ROLLBACK undoing a SET, change what clients track: ParameterStatus.
      this.state.settings.reported().forEach(([name, value], i) => { if (before[i]![1] !== value) this.out.parameterStatus(name, value) })
    }
  }

  warnings (list: readonly string[], notice = false): void {
    for (const w of list) this.out.fields('N', notice ? noticeFields(w) : warningFields(w))
  }

  flushIfLarge (): void { if (this.out.length > FLUSH_BYTES) this.flush() }

  runLocal (local: LocalStatement): { rows: SqlValue[][], tag: string } {
    const answer = local.run(this.state.settings)
    for (const p of answer.report) this.out.parameterStatus(p.name, p.value)
    this.warnings(answer.notices, true)
    return answer
  }

  // ---- simple query -------------------------------------------------------------------------

  private async simpleQuery (r: BodyReader): Promise<void> {
    const sql = r.cstring()
    r.end()
    const pieces = splitStatements(sql)
    if (pieces.length === 0) this.out.emptyQueryResponse()
    for (const piece of pieces) {
      // The client went away while an earlier statement ran: run no more of its script.
      if (this.phase === 'closed') return
      try {
        const local = localStatement(piece.text, this.facts)
        if (local !== null) {
          const answer = this.runLocal(local)
          if (local.columns.length > 0) writeRowDescription(this.out, local.columns, [])
          for (const row of answer.rows) writeDataRow(this.out, local.columns, row, [])
          this.out.commandComplete(answer.tag)
          continue
        }
        const result = await this.runSql(piece.text, [])
        this.warnings(result.warnings)
        const { columns, rows } = columnsAndRows(result)
        if (columns.length > 0) {
          writeRowDescription(this.out, columns, [])
          for (const row of rows) {
            writeDataRow(this.out, columns, row, [])
            this.flushIfLarge()
          }
        }
        this.out.commandComplete(commandTag(result))
      } catch (e) {
        const err = this.coded(e)
        this.out.fields('E', errorFields(err, 'ERROR', piece))
        break
      }
    }
    this.out.readyForQuery(this.txnStatus())
  }
}

/** Neither user nor database: the startup packet's other parameters (client_encoding, application_name …). */
const NOT_SETTINGS = new Set(['user', 'database', 'options', 'replication'])

/**
 * The startup packet's parameters, applied like SET, except that a value we cannot honour does
 * not refuse the connection (libpq sends client_encoding=SQL_ASCII under the C locale; we speak
 * UTF8 and say so in ParameterStatus, which the client then follows), nor does a name we do not know.
 */
function applyStartup (state: SessionState, user: string, params: ReadonlyArray<readonly [string, string]>): void {
  state.settings.fix('session_authorization', user)
  for (const [name, value] of params) {
    if (NOT_SETTINGS.has(name.toLowerCase())) continue
    try { state.settings.set(name, value, false, false) } catch { /* keep ours; ParameterStatus tells the client */ }
  }
}
