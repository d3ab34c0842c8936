// OpenTelemetry tracing (issue 18 item 8): the TracePort (core/trace-context.ts) over the
// OpenTelemetry SDK, exported with OTLP/HTTP (JSON) through a bounded queue. The SDK keeps its own
// time and ids (span timestamps, trace ids) here, outside the deterministic core, which sees only
// the port. The current span travels with the async work through an AsyncLocalStorage, so the
// shard router, the quorum and 2PC code and the RPC client find their parent without passing it.
//
// Export never slows or fails a statement: finished spans wait in a queue of tracing.queue_spans;
// a full queue drops the new span (counted, reason queue_full); one batch at a time is sent, and a
// batch the collector refuses or does not take is dropped (counted, export_failed). Shutdown sends
// what is queued within its budget and counts the rest (shutdown).
import { AsyncLocalStorage } from 'node:async_hooks'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Span, type Tracer } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  BasicTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler, type ReadableSpan, type SpanExporter, type SpanProcessor
} from '@opentelemetry/sdk-trace-base'
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions'
import { formatTraceparent, type SpanAttributes, type SpanSetter, type TraceParent, type TracePort } from '../core/trace-context'
import type { NodeMetrics } from './metrics'

/** Spans per export request (the OTLP default batch size). */
export const TRACING_EXPORT_BATCH = 512
/** How often a partly filled batch is sent. */
export const TRACING_EXPORT_INTERVAL_MS = 1000
/** An export request the collector has not answered by then counts as failed. */
export const TRACING_EXPORT_TIMEOUT_MS = 5000

/** The part of node.shutdown_timeout_ms the last export may take: a quarter, at most 2 s (the listeners take half). */
export function tracingShutdownBudgetMs (shutdownTimeoutMs: number): number {
  return Math.min(2000, Math.floor(shutdownTimeoutMs / 4))
}

export interface TracingConfig {
  readonly otlp_endpoint: string
  readonly sample_ratio: number
  readonly service_name: string
  readonly queue_spans: number
}

type ExportMetrics = Pick<NodeMetrics, 'tracingSpansExported' | 'tracingSpansDropped'>

/**
 * The bounded batching span processor. Its queue never holds more than `max` spans, at most one
 * export is in flight, and nothing here waits on the collector on a statement's path.
 */
export class BoundedSpanExport implements SpanProcessor {
  private queue: ReadableSpan[] = []
  private inFlight: Promise<void> | null = null
  /** The batch being exported; `abandoned` once shutdown counted it as dropped (its late answer is then not counted again). */
  private sending: { readonly n: number, abandoned: boolean } | null = null
  private readonly timer: NodeJS.Timeout
  private closed = false

  /** Whether the last export failed: the operator hears of the first failure of a run of them, and of the recovery. */
  private failing = false

  /** `warn`: a WARNING for the node log when export starts failing and when it works again. */
  constructor (private readonly exporter: SpanExporter, private readonly max: number, private readonly metrics: ExportMetrics,
    private readonly warn: (msg: string) => void = () => {}) {
    this.timer = setInterval(() => { this.send() }, TRACING_EXPORT_INTERVAL_MS)
    this.timer.unref()
  }

  onStart (): void {}

  onEnd (span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return
    if (this.closed) {
      this.metrics.tracingSpansDropped.inc({ reason: 'shutdown' })
      return
    }
    if (this.queue.length >= this.max) {
      this.metrics.tracingSpansDropped.inc({ reason: 'queue_full' })
      return
    }
    this.queue.push(span)
    if (this.queue.length >= TRACING_EXPORT_BATCH) this.send()
  }

  /** Starts sending the next batch unless one is in flight; resolves when that batch is answered. */
  private send (): Promise<void> {
    if (this.inFlight !== null) return this.inFlight
    if (this.queue.length === 0) return Promise.resolve()
    const batch = this.queue.splice(0, TRACING_EXPORT_BATCH)
    const sending = { n: batch.length, abandoned: false }
    this.sending = sending
    this.inFlight = new Promise<void>(resolve => {
      try {
        this.exporter.export(batch, (result) => {
          // ExportResultCode.SUCCESS is 0 (@opentelemetry/core, not a dependency of ours).
          if (sending.abandoned) { /* counted at shutdown */ } else if (result.code === 0) this.metrics.tracingSpansExported.inc(batch.length)
          else this.metrics.tracingSpansDropped.inc({ reason: 'export_failed' }, batch.length)
          this.noteOutcome(result.code === 0, (result as { error?: unknown }).error)
          resolve()
        })
      } catch (e) {
        this.metrics.tracingSpansDropped.inc({ reason: 'export_failed' }, batch.length)
        this.noteOutcome(false, e)
        resolve()
      }
    }).then(() => {
      this.inFlight = null
      this.sending = null
      if (this.queue.length >= TRACING_EXPORT_BATCH) void this.send()
    })
    return this.inFlight
  }

  private noteOutcome (ok: boolean, error: unknown): void {
    if (ok === !this.failing) return
    this.failing = !ok
    this.warn(ok
      ? 'tracing: the OTLP collector accepts spans again'
      : `tracing: span export to the OTLP collector failed (${error instanceof Error ? error.message : 'refused'}); spans are dropped (scratchbird_tracing_spans_dropped_total) until it works again`)
  }

  async forceFlush (): Promise<void> {
    while (this.queue.length > 0 || this.inFlight !== null) await this.send()
  }

  /** Sends what is queued, giving up after `budgetMs`: what is left is counted as dropped. */
  async shutdownWithin (budgetMs: number): Promise<void> {
    clearInterval(this.timer)
    this.closed = true
    let timer: NodeJS.Timeout | undefined
    const out = new Promise<void>(resolve => { timer = setTimeout(resolve, budgetMs); timer.unref() })
    await Promise.race([this.forceFlush(), out])
    clearTimeout(timer)
    const left = this.queue.length + (this.sending !== null ? this.sending.n : 0)
    if (this.sending !== null) this.sending.abandoned = true
    if (left > 0) this.metrics.tracingSpansDropped.inc({ reason: 'shutdown' }, left)
    this.queue = []
    await Promise.race([this.exporter.shutdown().catch(() => {}), out])
  }

  async shutdown (): Promise<void> {
    await this.shutdownWithin(TRACING_EXPORT_TIMEOUT_MS)
  }
}

const noSet: SpanSetter = () => {}

function isThenable (v: unknown): v is PromiseLike<unknown> {
  return typeof (v as { then?: unknown } | null)?.then === 'function'
}

/** The TracePort over an SDK tracer; the current span lives in `store`. */
export class OtelTracePort implements TracePort {
  private readonly store = new AsyncLocalStorage<Span>()

  constructor (private readonly tracer: Tracer, private readonly base: SpanAttributes) {}

  span<T> (name: string, attributes: SpanAttributes, fn: (set: SpanSetter) => T): T {
    const parent = this.store.getStore()
    // Untraced work (no statement around it) and unsampled traces create no child spans.
    if (parent === undefined || !parent.isRecording()) return fn(noSet)
    return this.run(this.tracer.startSpan(name, { attributes, kind: SpanKind.INTERNAL }, trace.setSpan(ROOT_CONTEXT, parent)), fn)
  }

  root<T> (name: string, attributes: SpanAttributes, parent: TraceParent | undefined, fn: (set: SpanSetter) => T): T {
    const ctx = parent === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { traceId: parent.traceId, spanId: parent.spanId, traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true })
    const span = this.tracer.startSpan(name, { attributes: { ...this.base, ...attributes }, kind: SpanKind.SERVER }, ctx)
    return this.run(span, fn)
  }

  current (): string | undefined {
    const s = this.store.getStore()
    if (s === undefined) return undefined
    const c = s.spanContext()
    return formatTraceparent({ traceId: c.traceId, spanId: c.spanId, sampled: (c.traceFlags & TraceFlags.SAMPLED) !== 0 })
  }

  private run<T> (span: Span, fn: (set: SpanSetter) => T): T {
    const set: SpanSetter = span.isRecording() ? (k, v) => { span.setAttribute(k, v) } : noSet
    const failed = (e: unknown): void => {
      const code = (e as { code?: unknown } | null)?.code
      if (typeof code === 'string') span.setAttribute('scratchbird.error_code', code)
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) })
      span.end()
    }
    let out: T
    try {
      out = this.store.run(span, fn, set)
    } catch (e) {
      failed(e)
      throw e
    }
    if (!isThenable(out)) { span.end(); return out }
    return out.then(v => { span.end(); return v }, (e: unknown) => { failed(e); throw e }) as T
  }
}

/** A node's tracing: the port to hand inward (null when off) and the export's shutdown. */
export interface Tracing {
  readonly port: TracePort | null
  shutdown (budgetMs: number): Promise<void>
}

export const TRACING_OFF: Tracing = { port: null, shutdown: async () => {} }

/** Tracing as configured: off (no SDK object at all) without tracing.otlp_endpoint. */
export function createTracing (config: TracingConfig, node: { id: number }, metrics: ExportMetrics, exporter?: SpanExporter, warn?: (msg: string) => void): Tracing {
  if (config.otlp_endpoint === '' && exporter === undefined) return TRACING_OFF
  const exp = exporter ?? new OTLPTraceExporter({ url: config.otlp_endpoint, timeoutMillis: TRACING_EXPORT_TIMEOUT_MS })
  const processor = new BoundedSpanExport(exp, config.queue_spans, metrics, warn)
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.service_name, 'service.instance.id': String(node.id) }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sample_ratio) }),
    spanProcessors: [processor]
  })
  const port = new OtelTracePort(provider.getTracer('scratchbird'), { 'scratchbird.node': node.id })
  return {
    port,
    shutdown: async (budgetMs) => { await processor.shutdownWithin(budgetMs) }
  }
}
