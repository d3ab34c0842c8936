// Tracing as the rest of the code sees it (issue 18 item 8): the W3C Trace Context `traceparent`
// codec and the narrow port the executor, the shard router, the quorum and 2PC code and the RPC
// layer call. The OpenTelemetry SDK (its clock, ids, export) stays behind the port in
// src/ops/tracing.ts; here is no time and no randomness. A node with tracing off passes `null`
// for the port, and every call site checks for null first: off costs a pointer test, no span
// object, no closure.

/** A parsed W3C traceparent (https://www.w3.org/TR/trace-context/#traceparent-header). */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  readonly traceId: string
  /** 16 lower-case hex digits, not all zero. */
  readonly spanId: string
  /** The sampled flag (bit 0 of trace-flags). */
  readonly sampled: boolean
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/
const ZERO_TRACE = '0'.repeat(32)
const ZERO_SPAN = '0'.repeat(16)

/**
 * The trace context of a traceparent value, or undefined when it is not a valid one — a missing,
 * malformed or unsupported context is ignored (the work starts a trace of its own), never an
 * error: a client or peer cannot fail a statement by sending a bad header. Version ff is invalid;
 * a later version is read by its first four fields, as the specification asks.
 */
export function parseTraceparent (value: unknown): TraceParent | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined
  const m = TRACEPARENT.exec(value.trim())
  if (m === null) return undefined
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined]
  if (version === 'ff') return undefined
  // Version 00 has exactly four fields; later versions may append more after a '-'.
  if (version === '00' && rest !== undefined) return undefined
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 }
}

/** The version-00 traceparent text of a context. */
export function formatTraceparent (p: TraceParent): string {
  return `00-${p.traceId}-${p.spanId}-${p.sampled ? '01' : '00'}`
}

/** Attribute values a span carries (never a statement's parameter values). */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>

/** Adds attributes to the running span once they are known (a quorum's replies, a commit's outcome). */
export type SpanSetter = (key: string, value: string | number | boolean) => void

/**
 * The tracer port. `span` runs `fn` as a child of the current span and ends the span when `fn`
 * returns or its promise settles (an error sets the span's status and its code); with no current
 * span (background work: gossip, hints, anti-entropy) `fn` runs untraced. `root` starts a trace,
 * or continues `parent` (a client's or a peer's traceparent). `current` is the traceparent to hand
 * on to a peer, undefined outside a span.
 */
export interface TracePort {
  span<T> (name: string, attributes: SpanAttributes, fn: (set: SpanSetter) => T): T
  root<T> (name: string, attributes: SpanAttributes, parent: TraceParent | undefined, fn: (set: SpanSetter) => T): T
  current (): string | undefined
}
