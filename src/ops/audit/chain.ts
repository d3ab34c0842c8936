// The audit log's hash chain (issue 18 item 4, DESIGN §9 "hash-chained so tampering is
// detectable"). Pure: the writer (file.ts) and `scratchbird audit verify` (verify.ts) share it.
//
// One JSON object per line. Every line carries `seq` (its 1-based line number in the file) and
// `prev`, the sha256 (hex) of the exact bytes of the line before it (without the newline); the
// first line's prev is GENESIS. Editing a line changes its hash, so the next line's prev no longer
// matches; deleting or reordering lines breaks seq and prev; cutting the file mid-line leaves a
// damaged last line. Lines cut off whole at the end leave a valid chain: the head file (the last
// seq and hash, rewritten after every append, see file.ts) is what catches that.
//
// The chain has no key: someone able to rewrite the whole file after the edited line can forge
// it. What it gives is that an edit, a removal or a reordering is visible unless every later line
// is recomputed too — and the head file, kept elsewhere or copied off the host, anchors the end.
import { createHash } from 'node:crypto'

/** prev of a chain's first line. */
export const GENESIS = '0'.repeat(64)

/** The event a node writes when it continues after a damaged line or a missing end (see file.ts). */
export const CHAIN_BREAK = 'CHAIN BREAK'

/** Outcome of an audited action: 'ok' or the ScratchBird error code it failed with. */
export type AuditOutcome = 'ok' | string

/** What an audit line says (seq, time and prev are added by the writer). */
export interface AuditEvent {
  /** One of config AUDIT_EVENTS (e.g. 'CREATE TABLE', 'LOGIN', 'TOPOLOGY') or CHAIN_BREAK. */
  readonly event: string
  /** The pg user; 'http' for the HTTP API until users exist; 'system' for the node's own events. */
  readonly user: string
  /** Client address HOST:PORT ('' for the node's own events). */
  readonly client: string
  /** 'http', 'pg' or 'gossip' (topology seen by gossip), 'node' (the audit log itself). */
  readonly protocol: string
  /** Statement text (canonical SQL), or a description of the event. */
  readonly statement: string
  readonly outcome: AuditOutcome
  /** Further fields (e.g. a topology change's node id and states, the settings an ALTER sets). */
  readonly details?: Readonly<Record<string, unknown>>
}

/** A line as stored. Field order is fixed by formatLine so the bytes are reproducible. */
export interface AuditRecord extends AuditEvent {
  readonly seq: number
  /** ISO-8601 UTC. */
  readonly time: string
  /** Node id that wrote the line. */
  readonly node: number
  readonly prev: string
}

export function lineHash (line: string): string {
  return createHash('sha256').update(line, 'utf8').digest('hex')
}

/** The line (without newline) for `e` at position `seq` after a line hashing to `prev`. */
export function formatLine (e: AuditEvent, seq: number, timeMs: number, node: number, prev: string): string {
  const r: Record<string, unknown> = {
    seq,
    time: new Date(timeMs).toISOString(),
    node,
    event: e.event,
    user: e.user,
    client: e.client,
    protocol: e.protocol,
    statement: e.statement,
    outcome: e.outcome
  }
  if (e.details !== undefined) r.details = e.details
  r.prev = prev
  return JSON.stringify(r)
}

const HEX64 = /^[0-9a-f]{64}$/

/** The record a line holds, or a reason it is not one. */
export function parseLine (line: string): AuditRecord | { bad: string } {
  let v: unknown
  try { v = JSON.parse(line) } catch { return { bad: 'not a JSON object (damaged or cut short)' } }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { bad: 'not a JSON object' }
  const r = v as Record<string, unknown>
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return { bad: 'no valid seq' }
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev)) return { bad: 'no valid prev hash' }
  for (const k of ['time', 'event', 'user', 'client', 'protocol', 'statement', 'outcome']) {
    if (typeof r[k] !== 'string') return { bad: `field ${k} missing or not text` }
  }
  if (typeof r.node !== 'number') return { bad: 'field node missing or not a number' }
  return r as unknown as AuditRecord
}

export function isRecord (p: AuditRecord | { bad: string }): p is AuditRecord {
  return !('bad' in p)
}

/** The head file's content: the chain's last line as the writer left it. */
export interface AuditHead {
  readonly seq: number
  readonly hash: string
}

export function parseHead (text: string): AuditHead | null {
  try {
    const v = JSON.parse(text) as Record<string, unknown>
    if (Number.isSafeInteger(v.seq) && typeof v.hash === 'string' && HEX64.test(v.hash)) return { seq: v.seq as number, hash: v.hash }
  } catch { /* unreadable: treated as absent by the caller, which says so */ }
  return null
}

/** Where the head of the log at `logPath` is kept. */
export function headPath (logPath: string): string {
  return `${logPath}.head`
}
