// Which audit events (config AUDIT_EVENTS) a statement is, and which of them audit.events asks
// for. Pure: the audit shell (audit.ts) records a line when this answers anything.
import type { AUDIT_EVENTS } from '../core/config/schema'
import type { Statement, TableOption } from '../sql/ast'

export type AuditEventName = typeof AUDIT_EVENTS[number]

/** The table options whose change is an event of its own ("SET replication_mode" …). */
const SET_EVENTS: ReadonlyMap<string, AuditEventName> = new Map<string, AuditEventName>([
  ['replication_mode', 'SET replication_mode'],
  ['replication_factor', 'SET replication_factor'],
  ['write_quorum', 'SET write_quorum'],
  ['read_quorum', 'SET read_quorum'],
  ['uuid_type', 'SET uuid_type'],
  ['partition_key_columns', 'SET partition_key_columns']
])

function setEvents (options: readonly TableOption[]): AuditEventName[] {
  const out: AuditEventName[] = []
  for (const o of options) {
    const e = SET_EVENTS.get(o.name.toLowerCase())
    if (e !== undefined && !out.includes(e)) out.push(e)
  }
  return out
}

/** Every audit event a statement is, its own kind first (empty: not an audited statement). */
export function statementEvents (s: Statement): AuditEventName[] {
  switch (s.kind) {
    case 'create_table': return ['CREATE TABLE', ...setEvents(s.options)]
    case 'alter_table': return ['ALTER TABLE', ...(s.action.kind === 'set_options' ? setEvents(s.action.options) : [])]
    case 'drop_table': return ['DROP TABLE']
    case 'grant': return ['GRANT']
    case 'revoke': return ['REVOKE']
    case 'create_user': return ['CREATE USER']
    case 'alter_user': return ['ALTER USER']
    case 'drop_user': return ['DROP USER']
    case 'create_token': return ['CREATE TOKEN']
    case 'drop_token': return ['DROP TOKEN']
    default: return []
  }
}

/** The events of `all` that audit.events asks for, in `all`'s order. */
export function selectedEvents (all: readonly AuditEventName[], configured: readonly AuditEventName[]): AuditEventName[] {
  return all.filter(e => configured.includes(e))
}

/** The table a DDL statement names (for the line's details). */
export function statementTable (s: Statement): string | undefined {
  switch (s.kind) {
    case 'create_table': case 'drop_table': return s.name
    case 'alter_table': return s.table
    case 'grant': case 'revoke': return s.target.kind === 'table' ? s.target.table : undefined
    default: return undefined
  }
}
