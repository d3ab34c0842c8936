// SELECT by the full primary key over POST /v1/sql against a real node holding N preloaded rows,
// each request a different key (issue 4 item 11: reads/s ratio ≥ 0.6 to a trivial node:http JSON
// endpoint driven by the same autocannon settings in the same run; plus p99 latency).
import { printResult } from './lib/result'
import { benchArgs, goalNote, machineNote, describe, load, requireClean, sql, startBundleNode, startTrivialServer } from './lib/http'

const args = benchArgs()
const ROWS = Math.max(1, Math.floor(args.rows))
const USERS = 1000
const PER_INSERT = 500
const SELECT = 'SELECT user_id, seq, payload FROM events WHERE user_id = $1 AND seq = $2'
const payloadOf = (i: number): string => `payload-${i}-${'x'.repeat(48)}`
const keyOf = (i: number): [string, number] => [`user_${i % USERS}`, i]

let next = 0
// Visits the rows in a scattered order (stride coprime with most row counts), every key present.
const STRIDE = 7919
const body = (): string => JSON.stringify({ sql: SELECT, params: keyOf((next++ * STRIDE) % ROWS) })

const node = await startBundleNode()
const base = await startTrivialServer()
try {
  await sql(node, 'CREATE TABLE events (user_id TEXT, seq BIGINT, payload TEXT, PRIMARY KEY (user_id, seq)) PARTITION BY user_id')
  const t0 = performance.now()
  for (let from = 0; from < ROWS; from += PER_INSERT) {
    const n = Math.min(PER_INSERT, ROWS - from)
    const values: string[] = []
    const params: unknown[] = []
    for (let i = from; i < from + n; i++) {
      const p = params.length
      values.push(`($${p + 1}, $${p + 2}, $${p + 3})`)
      params.push(...keyOf(i), payloadOf(i))
    }
    const r = await sql(node, `INSERT INTO events (user_id, seq, payload) VALUES ${values.join(', ')}`, params)
    if (r.rowCount !== n) throw new Error(`preload: inserted ${r.rowCount} of ${n} rows`)
  }
  const preloadS = (performance.now() - t0) / 1000

  const b = await load(base, args, body)
  const n = await load(node, args, body)

  // The answers were not inspected under load (that would slow the client); check a sample now.
  let checked = 0
  for (let k = 0; k < 200; k++) {
    const i = (k * STRIDE) % ROWS
    const r = await sql(node, SELECT, keyOf(i))
    if (r.rowCount !== 1 || r.rows[0]![2] !== payloadOf(i)) throw new Error(`point select of row ${i} answered ${JSON.stringify(r.rows)}`)
    checked++
  }
  const settings = `${args.connections} connections, pipelining 1, ${args.duration}s after ${args.warmup}s warm-up`
  const note = `node: ${describe(n)}; baseline: ${describe(b)}; ${ROWS} rows preloaded in ${preloadS.toFixed(1)}s (${PER_INSERT}-row INSERTs), ${checked} sampled answers checked; ${settings}; ${machineNote()}`
  printResult({ name: 'http_point_select', value: n.rate, unit: 'reads/s', baseline: b.rate, note: `${goalNote(n.rate / b.rate, 0.6)}; ${note}` })
  printResult({ name: 'http_point_select_p99', value: n.p99, unit: 'ms', baseline: b.p99, note: `p99 latency, node vs trivial endpoint (ratio = how many times slower); ${settings}` })
  requireClean('http_point_select', n, b)
} finally {
  await base.stop()
  await node.stop()
}
