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
import { describe, isScratchBirdError, ScratchBirdError } from '../../core/errors'
import type { Rng } from '../../core/rng'
import type { ExecEnv } from '../../exec/env'
import { executeScript } from '../../exec/executor'
import { typedRows, type StatementResult } from '../../exec/result'
import { SessionState } from '../../exec/txn'
import { planSelect } from '../../plan/select-plan'
import { parse } from '../../sql/parser'
import type { Statement } from '../../sql/ast'
import { T } from '../../types/sql-types'
import type { SqlValue } from '../../types/values'
import type { Session, SessionRegistry } from '../sessions'
import { errorFields, noticeFields, warningFields } from './error-fields'
import { BodyReader, FrameReader, type Frame } from './frames'
import { localStatement, type Column, type LocalStatement } from './local'
import { ServerParams } from './params'
import { writeDataRow, writeRowDescription, type Formats } from './rows'
import { SCRAM_MECHANISM, ScramServer, type ScramVerifier } from './scram'
import { splitStatements } from './statements'
import { OID } from './types'
import { paramValue } from './values'
import { MessageWriter } from './writer'

/** Startup request codes (the int32 after the length of the first packet). */
export const PROTOCOL_3_0 = 196608
export const SSL_REQUEST = 80877103
export const GSSENC_REQUEST = 80877104
export const CANCEL_REQUEST = 80877102

/** Prepared statements and portals one connection may hold (bounded like every queue). */
export const MAX_PREPARED = 1000
export const MAX_PORTALS = 1000
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
  /** The SCRAM verifier of the configured password, or null: trust (read at each connection: live). */
  readonly verifier: () => ScramVerifier | null
  /** A CancelRequest arrived for (pid, secret). */
  readonly cancel: (pid: number, secret: number) => void
}

export interface Socketish {
  write (b: Buffer): void
  /** Ends the connection after what was written. */
  end (): void
  pause (): void
  resume (): void
}

interface Prepared {
  readonly text: string
  /** null: an empty query string (Execute answers EmptyQueryResponse). */
  readonly statement: Statement | null
  readonly local: LocalStatement | null
  /** Declared parameter types from Parse (0: unspecified), one per $n. */
  readonly paramOids: number[]
}

interface Portal {
  readonly prepared: Prepared
  readonly params: SqlValue[]
  readonly formats: Formats
  /** Filled when the portal runs (at Describe or the first Execute). */
  result: { columns: readonly Column[], rows: readonly (readonly SqlValue[])[], tag: string, warnings: string[] } | null
  sent: number
}

type Phase = 'startup' | 'sasl-initial' | 'sasl-continue' | 'ready' | 'closed'

function protocolError (message: string): ScratchBirdError {
  return new ScratchBirdError('SB_MALFORMED_REQUEST', message)
}

/** CommandComplete tag of an executor result, PostgreSQL's spelling. */
export function commandTag (r: StatementResult): string {
  switch (r.command) {
    case 'SELECT': return `SELECT ${r.rowCount}`
    case 'INSERT': return `INSERT 0 ${r.rowCount}`
    case 'UPDATE': case 'DELETE': return `${r.command} ${r.rowCount}`
    default: return r.command
  }
}

function columnsAndRows (r: StatementResult): { columns: readonly Column[], rows: readonly (readonly SqlValue[])[] } {
  const t = typedRows(r)
  if (t !== undefined) return t
  // Every result with columns is made by rowsResult; a command result has none.
  return { columns: [], rows: [] }
}

export class PgConnection {
  private readonly reader: FrameReader
  private readonly out = new MessageWriter()
  private phase: Phase = 'startup'
  private params: ServerParams | null = null
  private scram: ScramServer | null = null
  private user = ''
  private database = ''
  private session: Session<SessionState> | null = null
  private readonly prepared = new Map<string, Prepared>()
  private readonly portals = new Map<string, Portal>()
  /** An extended-protocol message failed: everything up to Sync is skipped. */
  private skipping = false
  private busy = false
  private stopping = false
  private readonly closedWaiters: Array<() => void> = []

  constructor (private readonly ports: PgServerPorts, private readonly socket: Socketish, readonly pid: number, readonly secret: number) {
    this.reader = new FrameReader(ports.maxMessageBytes)
  }

  get closed (): boolean { return this.phase === 'closed' }

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
    if (this.session !== null) {
      const s = this.ports.sessions.close(this.session.id)
      const txn = s?.state.txn ?? null
      this.session = null
      if (txn !== null) {
        s!.state.txn = null
        txn.rollback().catch((e: unknown) => this.ports.log.warn({ err: describe(e) }, 'rolling back the transaction of a closed PostgreSQL connection failed'))
      }
    }
    if (wasOpen || this.closedWaiters.length > 0) for (const w of this.closedWaiters.splice(0)) w()
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
    }
  }

  private flush (): void {
    if (this.out.length > 0 && this.phase !== 'closed') this.socket.write(this.out.take())
  }

  /** A FATAL error: report it (when the stream allows) and close. */
  private fatal (e: unknown): void {
    const err = this.coded(e)
    // Operators look for refused logins (PostgreSQL logs them too); the password is never in it.
    if (err.code === 'SB_AUTH_FAILED') this.ports.log.warn({ user: this.user, pid: this.pid }, `PostgreSQL authentication failed for user "${this.user}": ${err.message}`)
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
    this.ports.log.error({ err: describe(e) }, 'internal error in a PostgreSQL-protocol connection')
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
    const r = new BodyReader(body)
    const code = r.int32()
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      // No TLS or GSS encryption yet: 'N', and the client goes on in plaintext (or gives up).
      this.socket.write(Buffer.from('N'))
      return
    }
    if (code === CANCEL_REQUEST) {
      const pid = r.int32()
      const secret = r.int32()
      this.ports.cancel(pid, secret)
      this.phase = 'closed'
      this.socket.end()
      return
    }
    const major = code >>> 16
    const minor = code & 0xffff
    if (major !== 3) {
      throw new ScratchBirdError('SB_FEATURE_NOT_SUPPORTED', `unsupported frontend protocol ${major}.${minor}: server supports 3.0`, { protocol: `${major}.${minor}` })
    }
    const startupParams = new Map<string, string>()
    for (;;) {
      const name = r.cstring()
      if (name === '') break
      startupParams.set(name, r.cstring())
    }
    r.end()
    const user = startupParams.get('user')
    if (user === undefined || user === '') throw new ScratchBirdError('SB_AUTH_FAILED', 'no user name specified in the startup packet')
    this.reader.startup = false
    this.user = user
    this.database = startupParams.get('database') ?? user
    const params = new ServerParams(this.ports.serverVersion, user)
    const unknownOptions: string[] = []
    for (const [name, value] of startupParams) {
      if (name.startsWith('_pq_.')) unknownOptions.push(name)
      else params.applyStartup(name, value)
    }
    this.params = params
    // A newer 3.x client, or protocol options we do not know: tell it we speak 3.0 without them.
    if (minor > 0 || unknownOptions.length > 0) {
      this.out.begin('v').int32(0).int32(unknownOptions.length)
      for (const o of unknownOptions) this.out.cstring(o)
      this.out.end()
    }
    const verifier = this.ports.verifier()
    if (verifier === null) {
      this.ready()
      return
    }
    this.scram = new ScramServer(verifier, user, this.ports.rng)
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
    this.out.authentication(0)
    for (const [name, value] of this.params!.reported()) this.out.parameterStatus(name, value)
    this.out.backendKeyData(this.pid, this.secret)
    this.phase = 'ready'
    this.out.readyForQuery(this.txnStatus())
    this.ports.log.debug({ user: this.user, database: this.database, pid: this.pid, session: created.id }, 'PostgreSQL client connected')
  }

  private get state (): SessionState { return this.session!.state }

  private txnStatus (): 'I' | 'T' | 'E' {
    const txn = this.state.txn
    return txn === null ? 'I' : txn.failed ? 'E' : 'T'
  }

  // ---- messages after startup ---------------------------------------------------------------

  private async message (f: Frame): Promise<void> {
    const type = String.fromCharCode(f.type)
    if (type === 'X') { this.phase = 'closed'; this.flush(); this.socket.end(); return }
    if (this.skipping) {
      if (type === 'S') { this.skipping = false; this.sync() }
      return
    }
    try {
      switch (type) {
        case 'Q': await this.simpleQuery(new BodyReader(f.body)); return
        case 'P': this.parseMessage(new BodyReader(f.body)); return
        case 'B': this.bind(new BodyReader(f.body)); return
        case 'D': await this.describeMessage(new BodyReader(f.body)); return
        case 'E': await this.execute(new BodyReader(f.body)); return
        case 'C': this.close(new BodyReader(f.body)); return
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

  private sync (): void {
    // Outside a transaction nothing can use the unnamed portal or a finished one again.
    if (this.state.txn === null) this.portals.clear()
    this.out.readyForQuery(this.txnStatus())
    this.flush()
  }

  /** Runs one statement through the executor (the HTTP API's path), stopping at its error. */
  private async runSql (text: string, params: readonly SqlValue[]): Promise<StatementResult> {
    try {
      const outcome = await executeScript(this.ports.env, this.state, text, params, this.session!.id)
      if (outcome.error !== null) throw outcome.error
      return outcome.results[0]!
    } catch (e) {
      // A bug (not a coded error): the executor did not get to mark the transaction.
      if (!isScratchBirdError(e) && this.state.txn !== null) this.state.txn.failed = true
      throw e
    }
  }

  private warnings (list: readonly string[], notice = false): void {
    for (const w of list) this.out.fields('N', notice ? noticeFields(w) : warningFields(w))
  }

  private runLocal (local: LocalStatement): { rows: SqlValue[][], tag: string } {
    const answer = local.run(this.params!)
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
      try {
        const local = localStatement(piece.text, { database: this.database, version: this.ports.serverVersion })
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
            if (this.out.length > FLUSH_BYTES) this.flush()
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

  // ---- extended query -----------------------------------------------------------------------

  private parseMessage (r: BodyReader): void {
    const name = r.cstring()
    const text = r.cstring()
    const n = r.int16()
    const oids: number[] = []
    for (let i = 0; i < n; i++) oids.push(r.int32())
    r.end()
    if (name !== '' && this.prepared.has(name)) throw new ScratchBirdError('SB_DUPLICATE_PREPARED_STATEMENT', `prepared statement "${name}" already exists`, { statement: name })
    if (name !== '' && this.prepared.size >= MAX_PREPARED) throw new ScratchBirdError('SB_PG_LIMIT_EXCEEDED', `a connection holds at most ${MAX_PREPARED} prepared statements`, { limit: MAX_PREPARED })
    const pieces = splitStatements(text)
    if (pieces.length > 1) throw new ScratchBirdError('SB_SYNTAX_ERROR', 'cannot insert multiple commands into a prepared statement')
    const piece = pieces[0]
    let prepared: Prepared
    if (piece === undefined) {
      prepared = { text, statement: null, local: null, paramOids: [] }
    } else {
      const local = localStatement(piece.text, { database: this.database, version: this.ports.serverVersion })
      // The parser checks the statement now, so a syntax error is reported at Parse, as PostgreSQL does.
      const statement = local === null ? parse(piece.text)[0] ?? null : null
      const count = Math.max(piece.params, oids.length)
      const paramOids = Array.from({ length: count }, (_, i) => oids[i] ?? 0)
      prepared = { text: piece.text, statement, local, paramOids }
    }
    this.prepared.set(name, prepared)
    this.out.parseComplete()
  }

  private statementNamed (name: string): Prepared {
    const p = this.prepared.get(name)
    if (p === undefined) throw new ScratchBirdError('SB_UNDEFINED_PREPARED_STATEMENT', `prepared statement "${name}" does not exist`, { statement: name })
    return p
  }

  private portalNamed (name: string): Portal {
    const p = this.portals.get(name)
    if (p === undefined) throw new ScratchBirdError('SB_UNDEFINED_PORTAL', `portal "${name}" does not exist`, { portal: name })
    return p
  }

  private bind (r: BodyReader): void {
    const portalName = r.cstring()
    const statementName = r.cstring()
    const nFormats = r.int16()
    const paramFormats: number[] = []
    for (let i = 0; i < nFormats; i++) paramFormats.push(r.int16())
    const nParams = r.int16()
    if (nFormats > 1 && nFormats !== nParams) throw protocolError(`bind message has ${nFormats} parameter formats but ${nParams} parameters`)
    const raw: Array<Buffer | null> = []
    for (let i = 0; i < nParams; i++) {
      const len = r.int32()
      raw.push(len < 0 ? null : r.bytes(len))
    }
    const nResult = r.int16()
    const formats: number[] = []
    for (let i = 0; i < nResult; i++) {
      const f = r.int16()
      if (f !== 0 && f !== 1) throw protocolError(`unsupported format code ${f}`)
      formats.push(f)
    }
    r.end()
    for (const f of paramFormats) if (f !== 0 && f !== 1) throw protocolError(`unsupported format code ${f}`)
    // Looked up after the whole message is read: a malformed one is refused as such first.
    const prepared = this.statementNamed(statementName)
    if (nParams !== prepared.paramOids.length) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `bind message supplies ${nParams} parameters, but prepared statement requires ${prepared.paramOids.length}`)
    }
    const params = raw.map((b, i) => paramValue(b, (nFormats === 1 ? paramFormats[0] : paramFormats[i]) === 1, prepared.paramOids[i]!))
    if (portalName !== '' && this.portals.has(portalName)) throw new ScratchBirdError('SB_DUPLICATE_PREPARED_STATEMENT', `portal "${portalName}" already exists`, { portal: portalName })
    if (portalName !== '' && this.portals.size >= MAX_PORTALS) throw new ScratchBirdError('SB_PG_LIMIT_EXCEEDED', `a connection holds at most ${MAX_PORTALS} portals`, { limit: MAX_PORTALS })
    this.portals.set(portalName, { prepared, params, formats, result: null, sent: 0 })
    this.out.bindComplete()
  }

  private async describeMessage (r: BodyReader): Promise<void> {
    const kind = String.fromCharCode(r.byte())
    const name = r.cstring()
    r.end()
    if (kind === 'S') {
      const p = this.statementNamed(name)
      // Unspecified parameter types are described as text: the statement casts them where they meet a typed value.
      this.out.parameterDescription(p.paramOids.map(o => o === 0 ? OID.text : o))
      const columns = await this.statementColumns(p)
      if (columns === null || columns.length === 0) this.out.noData()
      else writeRowDescription(this.out, columns, [])
      return
    }
    if (kind !== 'P') throw protocolError(`invalid Describe kind '${kind}'`)
    const portal = this.portalNamed(name)
    const columns = portal.prepared.local !== null ? portal.prepared.local.columns : (await this.runPortal(portal))?.columns ?? []
    if (columns.length === 0) this.out.noData()
    else writeRowDescription(this.out, columns, portal.formats)
  }

  /**
   * The columns a prepared statement returns, without running it: a SELECT is planned (with
   * placeholder parameters of the declared types), EXPLAIN has one text column, a SHOW is run
   * (it only reads); a statement that returns no rows has none.
   */
  private async statementColumns (p: Prepared): Promise<readonly Column[] | null> {
    if (p.local !== null) return p.local.columns
    const s = p.statement
    if (s === null) return null
    switch (s.kind) {
      case 'select': return planSelect(this.ports.env, s, p.paramOids.map(placeholder)).columns
      case 'explain': return [{ name: 'QUERY PLAN', type: T.text }]
      case 'show': {
        const out = await executeScript(this.ports.env, new SessionState(), p.text, [])
        if (out.error !== null) throw out.error
        return columnsAndRows(out.results[0]!).columns
      }
      default: return null
    }
  }

  /** Runs a portal's statement once (at Describe or the first Execute); its rows are then sent by Execute. */
  private async runPortal (portal: Portal): Promise<Portal['result']> {
    if (portal.result !== null || portal.prepared.statement === null) return portal.result
    const result = await this.runSql(portal.prepared.text, portal.params)
    const { columns, rows } = columnsAndRows(result)
    portal.result = { columns, rows, tag: commandTag(result), warnings: result.warnings }
    return portal.result
  }

  private async execute (r: BodyReader): Promise<void> {
    const portal = this.portalNamed(r.cstring())
    const maxRows = r.int32()
    r.end()
    const { prepared } = portal
    if (prepared.local !== null) {
      if (portal.result === null) {
        const answer = this.runLocal(prepared.local)
        portal.result = { columns: prepared.local.columns, rows: answer.rows, tag: answer.tag, warnings: [] }
      }
    } else if (prepared.statement === null) {
      this.out.emptyQueryResponse()
      return
    }
    const result = await this.runPortal(portal)
    if (result === null) return
    if (portal.sent === 0) this.warnings(result.warnings)
    const end = maxRows > 0 ? Math.min(result.rows.length, portal.sent + maxRows) : result.rows.length
    for (let i = portal.sent; i < end; i++) {
      writeDataRow(this.out, result.columns, result.rows[i]!, portal.formats)
      if (this.out.length > FLUSH_BYTES) this.flush()
    }
    // As PostgreSQL: a row limit that was reached suspends the portal without looking ahead; the
    // next Execute finds no more rows and completes it.
    const limited = maxRows > 0 && end - portal.sent === maxRows
    portal.sent = end
    if (limited) this.out.portalSuspended()
    else this.out.commandComplete(result.tag)
  }

  private close (r: BodyReader): void {
    const kind = String.fromCharCode(r.byte())
    const name = r.cstring()
    r.end()
    if (kind === 'S') this.prepared.delete(name)
    else if (kind === 'P') this.portals.delete(name)
    else throw protocolError(`invalid Close kind '${kind}'`)
    this.out.closeComplete()
  }
}

/** A stand-in parameter for planning a statement before Bind: a value of the declared type, else text. */
function placeholder (oid: number): SqlValue {
  switch (oid) {
    case OID.int2: case OID.int4: case OID.int8: return 0n
    case OID.float4: case OID.float8: return 0
    case OID.bool: return false
    default: return ''
  }
}
