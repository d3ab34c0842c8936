// Trace context of cluster RPC calls (issue 18 item 8). A batch (one POST) carries calls of many
// statements, so the context is per message: the HTTP header x-scratchbird-trace maps request ids
// to W3C traceparent values,
//
//   x-scratchbird-trace: 1;<id>=<traceparent>,<id>=<traceparent>,…
//
// An HTTP header and not a frame field, so the frame format (wire.ts, version 2) is unchanged: a
// peer of the previous release ignores the header and still serves the batch, and a batch without
// it (from such a peer, or with tracing off) is served as before, untraced. The leading "1;" is
// the header's own version: a value of another version, or any entry that does not parse, is
// ignored — trace context is advisory and never fails a call. Bounded: at most
// RPC_TRACE_MAX_ENTRIES entries are sent (the rest of the batch goes untraced) and read.
import { parseTraceparent, type TraceParent } from '../../core/trace-context'

export const RPC_HEADER_TRACE = 'x-scratchbird-trace'
export const RPC_TRACE_HEADER_VERSION = 1
/** Entries per batch: 64 × ~66 bytes stays far below Node's 16 KiB header limit. */
export const RPC_TRACE_MAX_ENTRIES = 64

/** The header value for these calls' contexts (ids with none are left out); undefined when none has one. */
export function encodeTraceHeader (calls: Iterable<{ readonly id: number, readonly traceparent?: string | undefined }>): string | undefined {
  let out: string | undefined
  let n = 0
  for (const c of calls) {
    if (c.traceparent === undefined) continue
    if (n === RPC_TRACE_MAX_ENTRIES) break
    out = out === undefined ? `${RPC_TRACE_HEADER_VERSION};${c.id}=${c.traceparent}` : `${out},${c.id}=${c.traceparent}`
    n++
  }
  return out
}

const ID = /^(?:0|[1-9][0-9]{0,9})$/

/** Request id → trace context of a received header; empty for a missing, other-version or malformed one. */
export function decodeTraceHeader (value: string | string[] | undefined): Map<number, TraceParent> {
  const out = new Map<number, TraceParent>()
  if (typeof value !== 'string' || value.length > RPC_TRACE_MAX_ENTRIES * 600) return out
  const semi = value.indexOf(';')
  if (semi < 0 || value.slice(0, semi) !== String(RPC_TRACE_HEADER_VERSION)) return out
  for (const entry of value.slice(semi + 1).split(',', RPC_TRACE_MAX_ENTRIES)) {
    const eq = entry.indexOf('=')
    if (eq < 0) continue
    const idText = entry.slice(0, eq).trim()
    if (!ID.test(idText)) continue
    const id = Number(idText)
    const parent = parseTraceparent(entry.slice(eq + 1))
    if (id <= 0xffff_ffff && parent !== undefined && !out.has(id)) out.set(id, parent)
  }
  return out
}
