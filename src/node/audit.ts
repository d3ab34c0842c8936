// The node's audit shell (issue 18 item 4): turns statement reports, PostgreSQL logins and gossip
// topology changes into audit lines (src/ops/audit/file.ts) when audit.enabled and audit.events
// ask for them. Writes are synchronous (append + fsync) on the path of the audited action, so the
// line is on disk before the client hears of it. A write that fails is logged at ERROR with the
// whole event (SB_AUDIT_WRITE_FAILED) and counted; the action itself has already happened and is
// not undone (a DDL cannot be unrun here; refusing logins over a full disk would be a second
// outage on top of the first).
import type { Logger } from 'pino'
import type { Config } from '../core/config/load'
import { describe, messageOf } from '../core/errors'
import type { ExecStatementReport } from '../exec/env'
import type { PgLogin } from '../net/pgwire/connection'
import { CHAIN_BREAK, type AuditEvent } from '../ops/audit/chain'
import { AuditFile } from '../ops/audit/file'
import type { NodeMetrics } from '../ops/metrics'
import { selectedEvents, statementEvents, statementTable, type AuditEventName } from './audit-events'
import type { TopologyChange } from './cluster'

export interface AuditShellDeps {
  readonly config: Config
  readonly log: Logger
  readonly metrics: Pick<NodeMetrics, 'auditEvents' | 'auditWriteFailures'>
  /** Wall-clock milliseconds (the node's Clock). */
  readonly now: () => number
}

export class AuditShell {
  private readonly file: AuditFile
  private readonly events: readonly AuditEventName[]

  constructor (private readonly d: AuditShellDeps) {
    this.file = new AuditFile({ path: d.config.audit.log_file, node: d.config.node.id, now: d.now })
    this.events = d.config.audit.events
  }

  /** Opens the file (an error here stops the start: auditing was asked for and cannot be done). */
  open (): void {
    this.file.open()
    for (const reason of this.file.openedWith) {
      this.d.metrics.auditEvents.inc({ event: CHAIN_BREAK })
      this.d.log.error({ file: this.d.config.audit.log_file, reason }, `audit log: ${reason}; a CHAIN BREAK line records it`)
    }
    this.d.log.info({ file: this.d.config.audit.log_file, events: this.events }, `audit log ${this.d.config.audit.log_file}: recording ${this.events.join(', ')}`)
  }

  close (): void { this.file.close() }

  /** A statement ran (or failed) on this node. */
  statement (r: ExecStatementReport): void {
    const matched = selectedEvents(statementEvents(r.statement), this.events)
    if (matched.length === 0) return
    const table = statementTable(r.statement)
    this.write({
      event: matched[0]!,
      user: r.client?.user ?? 'system',
      client: r.client?.address ?? '',
      protocol: r.client?.protocol ?? 'node',
      statement: safeSql(r),
      outcome: r.error ?? 'ok',
      details: { ...(table !== undefined ? { table } : {}), ...(matched.length > 1 ? { events: matched } : {}) }
    })
  }

  /** A login, admitted or refused: a PostgreSQL connection, or an HTTP request whose credentials failed. */
  login (l: PgLogin, protocol: 'pg' | 'http' = 'pg'): void {
    if (!this.events.includes('LOGIN')) return
    this.write({
      event: 'LOGIN',
      user: l.user,
      client: l.address,
      protocol,
      statement: protocol === 'pg' ? `login of user "${l.user}" to database "${l.database}"` : `HTTP request as user "${l.user}"`,
      outcome: l.outcome
    })
  }

  /** A membership change gossip saw. */
  topology (c: TopologyChange): void {
    if (!this.events.includes('TOPOLOGY')) return
    this.write({
      event: 'TOPOLOGY',
      user: 'system',
      client: c.address,
      protocol: 'gossip',
      statement: c.text,
      outcome: 'ok',
      details: { node_id: c.nodeId, from: c.from, to: c.to }
    })
  }

  private write (e: AuditEvent): void {
    try {
      this.file.append(e)
      this.d.metrics.auditEvents.inc({ event: e.event })
    } catch (err) {
      this.d.metrics.auditWriteFailures.inc()
      this.d.log.error({ code: 'SB_AUDIT_WRITE_FAILED', audit: e, err: describe(err) }, `audit log: could not write a ${e.event} event (${messageOf(err)}) [SB_AUDIT_WRITE_FAILED]`)
    }
  }
}

function safeSql (r: ExecStatementReport): string {
  try { return r.sql() } catch (e) { return `(statement not printable: ${messageOf(e)})` }
}
