// The extended query protocol of one connection: Parse (named and unnamed prepared statements),
// Bind (parameters in text or binary, result formats), Describe (statement: parameter types and
// columns without running; portal), Execute (with a row limit: PortalSuspended), Close.
// Statements run through the connection's executor path (QueryHost.runSql), once per portal;
// a portal keeps its result rows until Execute has sent them all or the batch ends.
import { ScratchBirdError } from '../../core/errors'
import type { ExecEnv } from '../../exec/env'
import { executeScript } from '../../exec/executor'
import type { StatementResult } from '../../exec/result'
import { SessionState } from '../../exec/txn'
import { selectPlanFor } from '../../exec/cached-plans'
import { uncachedScript, type CachedScript } from '../../exec/plan-cache'
import { returningColumns } from '../../exec/returning-columns'
import type { Statement } from '../../sql/ast'
import { checkStatement, type Principal } from '../../security/privileges'
import { T } from '../../types/sql-types'
import type { SqlValue } from '../../types/values'
import type { BodyReader } from './frames'
import { localStatement, type Column, type ConnectionFacts, type LocalStatement } from './local'
import { columnsAndRows, commandTag, writeDataRow, writeRowDescription, type Formats } from './rows'
import { splitStatements } from './statements'
import { OID } from './types'
import { paramValue } from './values'
import type { MessageWriter } from './writer'

/** Prepared statements and portals one connection may hold (bounded like every queue). */
export const MAX_PREPARED = 1000
export const MAX_PORTALS = 1000

/** What the connection lends the extended protocol: its output, its executor path, its facts. */
export interface QueryHost {
  readonly out: MessageWriter
  readonly env: ExecEnv
  readonly facts: ConnectionFacts
  runSql (text: string, params: readonly SqlValue[]): Promise<StatementResult>
  runLocal (local: LocalStatement): { rows: SqlValue[][], tag: string }
  /** Warnings of a statement as NoticeResponses. */
  warnings (list: readonly string[]): void
  /** Writes what is gathered when it has grown (long results stream). */
  flushIfLarge (): void
  /** The session's user, whose privileges a Describe is checked against (undefined: no checks). */
  readonly sessionPrincipal: Principal | undefined
}

interface Prepared {
  readonly text: string
  /** null: an empty query string (Execute answers EmptyQueryResponse). */
  readonly statement: Statement | null
  readonly local: LocalStatement | null
  /** Declared parameter types from Parse (0: unspecified), one per $n. */
  readonly paramOids: number[]
  /** The parsed statement with its plan slot, from the node's plan cache under the placeholder types. */
  readonly script: CachedScript | null
}

interface Portal {
  readonly prepared: Prepared
  readonly params: SqlValue[]
  readonly formats: Formats
  /** Filled when the portal runs (at Describe or the first Execute). */
  result: { columns: readonly Column[], rows: readonly (readonly SqlValue[])[], tag: string, warnings: string[] } | null
  sent: number
}

export function protocolError (message: string): ScratchBirdError {
  return new ScratchBirdError('SB_MALFORMED_REQUEST', message)
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

export class ExtendedQuery {
  private readonly prepared = new Map<string, Prepared>()
  private readonly portals = new Map<string, Portal>()

  constructor (private readonly host: QueryHost) {}

  /** Sync outside a transaction: nothing can use the unnamed portal or a finished one again. */
  endOfTransaction (): void { this.portals.clear() }

  parse (r: BodyReader): void {
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
      prepared = { text, statement: null, local: null, paramOids: [], script: null }
    } else {
      const local = localStatement(piece.text, this.host.facts)
      const count = Math.max(piece.params, oids.length)
      const paramOids = Array.from({ length: count }, (_, i) => oids[i] ?? 0)
      // The parser checks the statement now, so a syntax error is reported at Parse, as PostgreSQL
      // does; through the plan cache, so Execute (same text, usually the same parameter types)
      // and Describe find it parsed, and planned once either of them planned it.
      const script = local === null ? this.host.env.planCache?.script(piece.text, paramOids.map(placeholder)) ?? uncachedScript(piece.text) : null
      const statement = script?.statements[0] ?? null
      prepared = { text: piece.text, statement, local, paramOids, script }
    }
    this.prepared.set(name, prepared)
    this.host.out.parseComplete()
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

  bind (r: BodyReader): void {
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
    this.host.out.bindComplete()
  }

  async describe (r: BodyReader): Promise<void> {
    const kind = String.fromCharCode(r.byte())
    const name = r.cstring()
    r.end()
    const { out } = this.host
    if (kind === 'S') {
      const p = this.statementNamed(name)
      // Unspecified parameter types are described as text: the statement casts them where they meet a typed value.
      out.parameterDescription(p.paramOids.map(o => o === 0 ? OID.text : o))
      const columns = await this.statementColumns(p)
      if (columns === null || columns.length === 0) out.noData()
      else writeRowDescription(out, columns, [])
      return
    }
    if (kind !== 'P') throw protocolError(`invalid Describe kind '${kind}'`)
    const portal = this.portalNamed(name)
    const columns = portal.prepared.local !== null ? portal.prepared.local.columns : (await this.runPortal(portal))?.columns ?? []
    if (columns.length === 0) out.noData()
    else writeRowDescription(out, columns, portal.formats)
  }

  /**
   * The columns a prepared statement returns, without running it: a SELECT is planned (with
   * placeholder parameters of the declared types), EXPLAIN has one text column, a SHOW is run
   * (it only reads); a statement that returns no rows has none. Checked against the session's
   * privileges first, as Execute would be.
   */
  private async statementColumns (p: Prepared): Promise<readonly Column[] | null> {
    if (p.local !== null) return p.local.columns
    const s = p.statement
    if (s === null) return null
    // Describing shows what a statement would return: the same privileges as running it, checked
    // before it is planned (a user without SELECT learns nothing of the table through it).
    const principal = this.host.sessionPrincipal
    if (principal !== undefined) checkStatement(this.host.env.catalog(), principal, s)
    switch (s.kind) {
      case 'select': return selectPlanFor(this.host.env, s, p.paramOids.map(placeholder), p.script!.slots[0]!).columns
      case 'explain': return [{ name: 'QUERY PLAN', type: T.text }]
      case 'insert': case 'update': case 'delete': return s.returning === null ? null : returningColumns(this.host.env, s, p.paramOids.map(placeholder))
      case 'show_setting': return s.name === null
        ? [{ name: 'name', type: T.text }, { name: 'setting', type: T.text }, { name: 'description', type: T.text }]
        : [{ name: s.name.toLowerCase(), type: T.text }]
      case 'show': {
        const out = await executeScript(this.host.env, new SessionState(), p.text, [])
        if (out.error !== null) throw out.error
        return columnsAndRows(out.results[0]!).columns
      }
      default: return null
    }
  }

  /** Runs a portal's statement once (at Describe or the first Execute); Execute then sends its rows. */
  private async runPortal (portal: Portal): Promise<Portal['result']> {
    if (portal.result !== null || portal.prepared.statement === null) return portal.result
    const result = await this.host.runSql(portal.prepared.text, portal.params)
    const { columns, rows } = columnsAndRows(result)
    portal.result = { columns, rows, tag: commandTag(result), warnings: result.warnings }
    return portal.result
  }

  async execute (r: BodyReader): Promise<void> {
    const portal = this.portalNamed(r.cstring())
    const maxRows = r.int32()
    r.end()
    const { out } = this.host
    const { prepared } = portal
    if (prepared.local !== null) {
      if (portal.result === null) {
        const answer = this.host.runLocal(prepared.local)
        portal.result = { columns: prepared.local.columns, rows: answer.rows, tag: answer.tag, warnings: [] }
      }
    } else if (prepared.statement === null) {
      out.emptyQueryResponse()
      return
    }
    const result = await this.runPortal(portal)
    if (result === null) return
    if (portal.sent === 0) this.host.warnings(result.warnings)
    const end = maxRows > 0 ? Math.min(result.rows.length, portal.sent + maxRows) : result.rows.length
    for (let i = portal.sent; i < end; i++) {
      writeDataRow(out, result.columns, result.rows[i]!, portal.formats)
      this.host.flushIfLarge()
    }
    // As PostgreSQL: a row limit that was reached suspends the portal without looking ahead; the
    // next Execute finds no more rows and completes it.
    const limited = maxRows > 0 && end - portal.sent === maxRows
    portal.sent = end
    if (limited) out.portalSuspended()
    else out.commandComplete(result.tag)
  }

  close (r: BodyReader): void {
    const kind = String.fromCharCode(r.byte())
    const name = r.cstring()
    r.end()
    if (kind === 'S') this.prepared.delete(name)
    else if (kind === 'P') this.portals.delete(name)
    else throw protocolError(`invalid Close kind '${kind}'`)
    this.host.out.closeComplete()
  }
}
