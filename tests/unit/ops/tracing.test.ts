import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base'
import { describe, expect, it } from 'vitest'
import { createMetrics, type NodeMetrics } from '../../../src/ops/metrics'
import { TRACING_OFF, createTracing, tracingShutdownBudgetMs } from '../../../src/ops/tracing'

// The tracing shell (issue 18 item 8): off without an endpoint (no port at all); spans nest through
// async work; a slow or dead collector never blocks a statement — the bounded queue drops and
// counts; shutdown gives up after its budget and counts what it could not send.

/** An exporter that never answers (a hung collector) until released, recording each batch. */
class HungExporter implements SpanExporter {
  batches: ReadableSpan[][] = []
  private answers: Array<() => void> = []
  export (spans: ReadableSpan[], done: (r: { code: number }) => void): void {
    this.batches.push(spans)
    this.answers.push(() => done({ code: 0 }))
  }

  release (): void { for (const a of this.answers.splice(0)) a() }
  async shutdown (): Promise<void> {}
}

async function counter (m: NodeMetrics, name: 'tracingSpansDropped' | 'tracingSpansExported', reason?: string): Promise<number> {
  const { values } = await m[name].get()
  return values.filter(v => reason === undefined || v.labels.reason === reason).reduce((a, v) => a + v.value, 0)
}

const CONFIG = { otlp_endpoint: '', sample_ratio: 1, service_name: 'scratchbird', queue_spans: 16 }

describe('tracing shell', () => {
  it('is off without tracing.otlp_endpoint: no port, nothing to shut down', () => {
    expect(createTracing(CONFIG, { id: 1 }, createMetrics())).toBe(TRACING_OFF)
    expect(TRACING_OFF.port).toBeNull()
  })

  it('nests spans through async work and runs untraced work without spans', async () => {
    const exp = new HungExporter()
    const m = createMetrics()
    const t = createTracing({ ...CONFIG, queue_spans: 100 }, { id: 3 }, m, exp)
    const port = t.port!
    expect(port.current()).toBeUndefined()
    expect(port.span('orphan', {}, () => 7)).toBe(7)
    await port.root('statement', { 'scratchbird.protocol': 'http' }, undefined, async (set) => {
      set('scratchbird.statement.kind', 'select')
      await port.span('plan', {}, () => Promise.resolve())
      await expect(port.span('shard request', {}, async () => { throw Object.assign(new Error('down'), { code: 'SB_NODE_UNREACHABLE' }) })).rejects.toThrow('down')
    })
    const done = t.shutdown(1000)
    exp.release()
    await done
    exp.release()
    const spans = exp.batches.flat()
    expect(spans.map(s => s.name).sort()).toEqual(['plan', 'shard request', 'statement'])
    const root = spans.find(s => s.name === 'statement')!
    expect(root.attributes).toMatchObject({ 'scratchbird.node': 3, 'scratchbird.protocol': 'http', 'scratchbird.statement.kind': 'select' })
    expect(root.resource.attributes['service.name']).toBe('scratchbird')
    for (const child of spans.filter(s => s !== root)) {
      expect(child.spanContext().traceId).toBe(root.spanContext().traceId)
      expect(child.parentSpanContext?.spanId).toBe(root.spanContext().spanId)
    }
    expect(spans.find(s => s.name === 'shard request')!.attributes['scratchbird.error_code']).toBe('SB_NODE_UNREACHABLE')
    expect(await counter(m, 'tracingSpansExported')).toBe(3)
  })

  it('drops and counts spans beyond its queue while the collector hangs, and never waits for it', async () => {
    const exp = new HungExporter()
    const m = createMetrics()
    const t = createTracing(CONFIG, { id: 1 }, m, exp)
    // 40 statements finish while no export completes: nothing waits on the collector.
    for (let i = 0; i < 40; i++) t.port!.root('statement', {}, undefined, () => i)
    expect(await counter(m, 'tracingSpansDropped', 'queue_full')).toBe(40 - CONFIG.queue_spans)
    // Shutdown with a hung export: gives up after its budget and counts the queued spans as dropped.
    await t.shutdown(50)
    expect(await counter(m, 'tracingSpansDropped', 'shutdown')).toBe(CONFIG.queue_spans)
  })

  it('counts a refused export as dropped, and follows the sample ratio and a remote parent\'s flag', async () => {
    const m = createMetrics()
    const batches: ReadableSpan[][] = []
    const refusing: SpanExporter = { export: (s, done) => { batches.push(s); done({ code: 1, error: new Error('connect ECONNREFUSED') } as never) }, shutdown: async () => {} }
    const warnings: string[] = []
    const t = createTracing({ ...CONFIG, sample_ratio: 0 }, { id: 1 }, m, refusing, w => warnings.push(w))
    t.port!.root('unsampled', {}, undefined, () => null)
    t.port!.root('remote unsampled', {}, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: false }, () => null)
    t.port!.root('remote sampled', {}, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true }, () => null)
    await t.shutdown(1000)
    expect(batches.flat().map(s => s.name)).toEqual(['remote sampled'])
    expect(await counter(m, 'tracingSpansDropped', 'export_failed')).toBe(1)
    expect(warnings).toEqual([expect.stringMatching(/export to the OTLP collector failed \(connect ECONNREFUSED\)/)])
  })

  it('takes a quarter of the shutdown timeout, at most 2 s', () => {
    expect(tracingShutdownBudgetMs(10_000)).toBe(2000)
    expect(tracingShutdownBudgetMs(400)).toBe(100)
  })
})
