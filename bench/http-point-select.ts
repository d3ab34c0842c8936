// SELECT by the full primary key over POST /v1/sql against a real node holding N preloaded rows,
// each request a different key (issue 4 item 11: reads/s ratio ≥ 0.6 to a trivial node:http JSON
// endpoint driven by the same autocannon settings in the same run; plus p99 latency).
import { printResult } from './lib/result'
import { benchArgs, goalNote, machineNote, describe, load, requireClean, startBundleNode, startTrivialServer } from './lib/http'
import { checkSample, EVENTS_PER_INSERT, pointSelects, preloadEvents } from './lib/events'

const args = benchArgs()
const ROWS = Math.max(1, Math.floor(args.rows))
const body = pointSelects(ROWS)

const node = await startBundleNode()
const base = await startTrivialServer()
try {
  const preloadS = await preloadEvents(node, ROWS)

  const b = await load(base, args, body)
  const n = await load(node, args, body)

  const checked = await checkSample(node, ROWS)
  const settings = `${args.connections} connections, pipelining 1, ${args.duration}s after ${args.warmup}s warm-up`
  const note = `node: ${describe(n)}; baseline: ${describe(b)}; ${ROWS} rows preloaded in ${preloadS.toFixed(1)}s (${EVENTS_PER_INSERT}-row INSERTs), ${checked} sampled answers checked; ${settings}; ${machineNote()}`
  printResult({ name: 'http_point_select', value: n.rate, unit: 'reads/s', baseline: b.rate, note: `${goalNote(n.rate / b.rate, 0.6)}; ${note}` })
  printResult({ name: 'http_point_select_p99', value: n.p99, unit: 'ms', baseline: b.p99, note: `p99 latency, node vs trivial endpoint (ratio = how many times slower); ${settings}` })
  requireClean('http_point_select', n, b)
} finally {
  await base.stop()
  await node.stop()
}
