// Issue 19's acceptance figures for keys unique across shards, in one run against one node:
//  - insert rate into a table whose primary key holds its partition key (one shard per INSERT,
//    the baseline) and into one partitioned by another column, whose key is kept by the hidden
//    global unique index `<table>_pkey` (the row and its entry: two shards, two-phase commit);
//  - point lookup by that key: by primary key on the first table (one shard, the baseline) vs
//    through the global index on the second (the index shard, then the row's shard).
// Each INSERT and lookup is a different key; both tables get the same rows.
import { printResult } from './lib/result'
import { benchArgs, describe, load, machineNote, requireClean, sql, startBundleNode } from './lib/http'

const args = benchArgs({ duration: 5, warmup: 2 })
const PLAIN = 'CREATE TABLE plain_orders (order_id BIGINT PRIMARY KEY, user_id TEXT NOT NULL, amount INTEGER)'
const GLOBAL = 'CREATE TABLE global_orders (order_id BIGINT PRIMARY KEY, user_id TEXT NOT NULL, amount INTEGER) PARTITION BY user_id'
const USERS = 1000

const node = await startBundleNode()
try {
  await sql(node, `${PLAIN}; ${GLOBAL}`)
  const inserter = (table: string): () => string => {
    let next = 0
    return () => { const id = next++; return JSON.stringify({ sql: `INSERT INTO ${table} VALUES ($1, $2, 1)`, params: [id, `user_${id % USERS}`] }) }
  }
  const plainIns = await load(node, args, inserter('plain_orders'))
  const globalIns = await load(node, args, inserter('global_orders'))
  const settings = `${args.connections} connection(s), ${args.duration}s after ${args.warmup}s warm-up; ${machineNote()}`
  printResult({ name: 'global_index_insert', value: globalIns.rate, unit: 'rows/s', baseline: plainIns.rate, note: `INSERT into a table with its key kept by a global unique index (2 shards, 2PC) vs one partitioned by its key (1 shard); with: ${describe(globalIns)}; without: ${describe(plainIns)}; ${settings}` })

  const rows = Math.min(
    Number((await sql(node, 'SELECT count(*) FROM plain_orders')).rows[0]![0]),
    Number((await sql(node, 'SELECT count(*) FROM global_orders')).rows[0]![0]))
  const lookup = (table: string): () => string => {
    let next = 0
    return () => JSON.stringify({ sql: `SELECT user_id, amount FROM ${table} WHERE order_id = $1`, params: [(next++ * 7919) % Math.max(rows, 1)] })
  }
  const plainGet = await load(node, args, lookup('plain_orders'))
  const globalGet = await load(node, args, lookup('global_orders'))
  printResult({ name: 'global_index_point_lookup', value: globalGet.rate, unit: 'reads/s', baseline: plainGet.rate, note: `SELECT by order_id through the global index (index shard, then the row's shard) vs by primary key on the row's shard; ${rows} rows each; through the index: ${describe(globalGet)}; by primary key: ${describe(plainGet)}; ${settings}` })
  requireClean('global_index', plainIns, globalIns, plainGet, globalGet)
} finally {
  await node.stop()
}
