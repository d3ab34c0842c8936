// The cost of tracing (issue 18 item 8): point SELECTs over POST /v1/sql against two real nodes in
// the same run — tracing off (the baseline: no tracing section, no span is created) and tracing on
// with tracing.sample_ratio 1, exporting every statement's spans with OTLP/HTTP to a local sink
// server this bench runs. Same rows, same keys, same autocannon settings (structure as
// bench/http-point-select.ts). RESULT tracing_overhead: reads/s traced, baseline = untraced.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { printResult } from './lib/result'
import { ROOT, benchArgs, describe, load, machineNote, requireClean, spawnListening, type Target } from './lib/http'
import { checkSample, pointSelects, preloadEvents } from './lib/events'

const args = benchArgs()
const ROWS = Math.max(1, Math.floor(args.rows))
const body = pointSelects(ROWS)

/** The OTLP/HTTP sink: accepts every export, counts requests and bytes, parses nothing. */
let exports = 0
let exportBytes = 0
const sink = createServer((req, res) => {
  req.on('data', (c: Buffer) => { exportBytes += c.length })
  req.on('end', () => { exports++; res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}') })
})
await new Promise<void>(resolve => sink.listen(0, '127.0.0.1', resolve))
const sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}/v1/traces`

/** A node from dist/bundle/main.cjs with this YAML as its whole configuration (defaults otherwise). */
function startNode (yaml: string): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-tracing-'))
  const config = join(dir, 'node.yaml')
  writeFileSync(config, yaml)
  return spawnListening([join(ROOT, 'dist/bundle/main.cjs'), '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0',
    '--metrics-listen', '127.0.0.1:0', '--pg-listen', '127.0.0.1:0', '--config', config], '"ready', { onStop: () => rmSync(dir, { recursive: true, force: true }) })
}

const off = await startNode('# tracing off: no tracing section (tracing.otlp_endpoint empty)\n')
const on = await startNode(`tracing:\n  otlp_endpoint: ${sinkUrl}\n  sample_ratio: 1\n`)
try {
  const preloadOff = await preloadEvents(off, ROWS)
  const preloadOn = await preloadEvents(on, ROWS)

  const b = await load(off, args, body)
  const n = await load(on, args, body)

  // A sample of the traced node's answers.
  const checked = await checkSample(on, ROWS)
  if (exports === 0) throw new Error('the traced node exported no spans to the sink')
  const settings = `${args.connections} connections, pipelining 1, ${args.duration}s after ${args.warmup}s warm-up`
  const note = `traced: ${describe(n)}; untraced: ${describe(b)}; sink got ${exports} OTLP exports (${(exportBytes / 1e6).toFixed(1)} MB); ${ROWS} rows preloaded in ${preloadOff.toFixed(1)}s / ${preloadOn.toFixed(1)}s, ${checked} sampled answers checked; ${settings}; ${machineNote()}`
  printResult({ name: 'tracing_overhead', value: n.rate, unit: 'reads/s', baseline: b.rate, note: `point selects with tracing on (sample 1.0, OTLP/HTTP to a local sink) vs off; ratio ${(n.rate / b.rate).toFixed(2)}; ${note}` })
  printResult({ name: 'tracing_overhead_p99', value: n.p99, unit: 'ms', baseline: b.p99, note: `p99 latency, traced vs untraced; ${settings}` })
  requireClean('tracing_overhead', n, b)
} finally {
  await on.stop()
  await off.stop()
  sink.close()
}
