// Single-row autocommit INSERTs with the partition key over POST /v1/sql against a real node, each
// request a distinct row (issue 4 item 11: rows/s ratio ≥ 0.5 to a trivial node:http JSON endpoint
// driven by the same autocannon settings in the same run; plus p99 latency).
import { printResult } from './lib/result'
import { benchArgs, goalNote, machineNote, describe, load, requireClean, sql, startBundleNode, startTrivialServer } from './lib/http'

const args = benchArgs()
const INSERT = 'INSERT INTO events (user_id, seq, payload) VALUES ($1, $2, $3)'
const PAYLOAD = 'x'.repeat(64)
let next = 0
// 1000 users, so the rows spread over every shard; seq is unique, so every (user_id, seq) is new.
const body = (): string => { const i = next++; return JSON.stringify({ sql: INSERT, params: [`user_${i % 1000}`, i, PAYLOAD] }) }

const node = await startBundleNode()
const base = await startTrivialServer()
try {
  await sql(node, 'CREATE TABLE events (user_id TEXT, seq BIGINT, payload TEXT, PRIMARY KEY (user_id, seq)) PARTITION BY user_id')
  const b = await load(base, args, body)
  const n = await load(node, args, body)
  const stored = Number((await sql(node, 'SELECT count(*) FROM events')).rows[0]![0])
  const acked = n.ok + (n.warmup?.ok ?? 0)
  const settings = `${args.connections} connections, pipelining 1, ${args.duration}s after ${args.warmup}s warm-up`
  const note = `node: ${describe(n)}; baseline: ${describe(b)}; rows stored ${stored} (acknowledged ${acked}); ${settings}; ${machineNote()}`
  printResult({ name: 'http_insert', value: n.rate, unit: 'rows/s', baseline: b.rate, note: `${goalNote(n.rate / b.rate, 0.5)}; ${note}` })
  printResult({ name: 'http_insert_p99', value: n.p99, unit: 'ms', baseline: b.p99, note: `p99 latency, node vs trivial endpoint (ratio = how many times slower); ${settings}` })
  requireClean('http_insert', n, b)
  if (stored < acked) {
    console.error(`FAILED http_insert: ${acked} INSERTs acknowledged but only ${stored} rows stored`)
    process.exitCode = 1
  }
} finally {
  await base.stop()
  await node.stop()
}
