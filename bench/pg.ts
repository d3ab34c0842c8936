// ScratchBird and PostgreSQL side by side in one run (issue 16 item 4): the same pgbench custom
// scripts against a node (its PostgreSQL listener) and against a PostgreSQL server this benchmark
// starts in a temporary directory (fsync on, its own port). Scenarios: single-row durable INSERT,
// point SELECT by primary key (-M prepared and -M simple), and a TPC-B-like transaction on tables
// from a custom init — ScratchBird's own DDL, every table partitioned by the branch, each client
// working in its own branch, so a transaction touches one shard and no two clients contend.
// RESULT lines: value = ScratchBird, baseline = PostgreSQL, ratio = ScratchBird / PostgreSQL; the
// note carries p50/p99 latency and the CPU µs per statement of both servers (process tree: the
// node's threads, PostgreSQL's backends).
//
// Environment: SB_PG_BENCH_SECONDS (measured seconds per run, default 10), SB_PG_BENCH_WARMUP
// (seconds of the same load before, default 3), SB_PG_BENCH_CLIENTS (default 16),
// SB_PG_BENCH_ONLY (comma-separated scenario names to run, default all); SB_BENCH_NODE_ARGS (node flags
// for the benchmarked node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof": node refuses --cpu-prof in
// NODE_OPTIONS; on the command line it profiles every thread, one .cpuprofile each at stop).
import { availableParallelism, loadavg } from 'node:os'
import { startBundleNode, type Target } from './lib/http'
import { postgresBin, pgbenchWorks, psqlFile, runPgbench, startPostgres, type PgbenchRun, type PgServer } from './lib/pg'
import { printResult } from './lib/result'

const envNum = (name: string, fallback: number): number => {
  const v = process.env[name] === undefined ? fallback : Number(process.env[name])
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, got ${process.env[name]}`)
  return v
}
const SECONDS = envNum('SB_PG_BENCH_SECONDS', 10)
const WARMUP = envNum('SB_PG_BENCH_WARMUP', 3)
const CLIENTS = Math.floor(envNum('SB_PG_BENCH_CLIENTS', 16))
const THREADS = Math.min(CLIENTS, 2)
const ACCOUNTS_PER_BRANCH = 1000
const TELLERS_PER_BRANCH = 10
const POINT_ROWS = 10_000

interface Scenario {
  name: string
  mode: 'simple' | 'prepared'
  /** statements per transaction, BEGIN/END not counted */
  statements: number
  goal: number | null
  script: string
}

const INSERT_SCRIPT = `\\set v random(1, 1000000)
INSERT INTO bench_inserted (id, client, v) VALUES (gen_uuidv8_hlc(), :client_id, :v);
`
const SELECT_SCRIPT = `\\set id random(1, ${POINT_ROWS})
SELECT v FROM bench_point WHERE id = :id;
`
// pgbench's built-in tpcb-like, with the branch as every table's partition key in the WHERE clauses
// (the branch is the client's own: bid = client_id + 1).
const TPCB_SCRIPT = `\\set bid :client_id + 1
\\set aid (:bid - 1) * ${ACCOUNTS_PER_BRANCH} + random(1, ${ACCOUNTS_PER_BRANCH})
\\set tid (:bid - 1) * ${TELLERS_PER_BRANCH} + random(1, ${TELLERS_PER_BRANCH})
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid AND bid = :bid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid AND bid = :bid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid AND bid = :bid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (hid, tid, bid, aid, delta, mtime) VALUES (gen_uuidv8_hlc(), :tid, :bid, :aid, :delta, now());
END;
`

const SCENARIOS: Scenario[] = [
  { name: 'pg_insert', mode: 'prepared', statements: 1, goal: 1.0, script: INSERT_SCRIPT },
  { name: 'pg_insert_simple', mode: 'simple', statements: 1, goal: null, script: INSERT_SCRIPT },
  { name: 'pg_point_select', mode: 'prepared', statements: 1, goal: 0.5, script: SELECT_SCRIPT },
  { name: 'pg_point_select_simple', mode: 'simple', statements: 1, goal: null, script: SELECT_SCRIPT },
  { name: 'pg_tpcb_like', mode: 'prepared', statements: 5, goal: 0.5, script: TPCB_SCRIPT }
]

/** The tables, in ScratchBird's DDL; PostgreSQL gets the same without the PARTITION BY clauses. */
function initSql (partitioned: boolean): string {
  const by = (col: string): string => partitioned ? ` PARTITION BY ${col}` : ''
  const branches = CLIENTS
  const out: string[] = [
    `CREATE TABLE bench_inserted (id UUID PRIMARY KEY, client INTEGER, v INTEGER)${by('id')};`,
    `CREATE TABLE bench_point (id INTEGER PRIMARY KEY, v BIGINT NOT NULL)${by('id')};`,
    `CREATE TABLE pgbench_branches (bid INTEGER PRIMARY KEY, bbalance INTEGER NOT NULL)${by('bid')};`,
    // The branch leads every key: a primary key without the partition key is kept unique through a
    // global index (a second shard, so two-phase commit, on every INSERT — DESIGN §12), which is not
    // how a ScratchBird user partitions these tables; PostgreSQL gets the same keys.
    `CREATE TABLE pgbench_tellers (bid INTEGER NOT NULL, tid INTEGER NOT NULL, tbalance INTEGER NOT NULL, PRIMARY KEY (bid, tid))${by('bid')};`,
    `CREATE TABLE pgbench_accounts (bid INTEGER NOT NULL, aid INTEGER NOT NULL, abalance INTEGER NOT NULL, PRIMARY KEY (bid, aid))${by('bid')};`,
    `CREATE TABLE pgbench_history (bid INTEGER NOT NULL, hid UUID NOT NULL, tid INTEGER, aid INTEGER, delta INTEGER, mtime TIMESTAMP, PRIMARY KEY (bid, hid))${by('bid')};`
  ]
  const batches = (rows: string[], table: string): void => {
    for (let i = 0; i < rows.length; i += 500) out.push(`INSERT INTO ${table} VALUES ${rows.slice(i, i + 500).join(', ')};`)
  }
  batches(Array.from({ length: POINT_ROWS }, (_, i) => `(${i + 1}, ${i * 7})`), 'bench_point')
  batches(Array.from({ length: branches }, (_, i) => `(${i + 1}, 0)`), 'pgbench_branches')
  batches(Array.from({ length: branches * TELLERS_PER_BRANCH }, (_, i) => `(${Math.floor(i / TELLERS_PER_BRANCH) + 1}, ${i + 1}, 0)`), 'pgbench_tellers')
  batches(Array.from({ length: branches * ACCOUNTS_PER_BRANCH }, (_, i) => `(${Math.floor(i / ACCOUNTS_PER_BRANCH) + 1}, ${i + 1}, 0)`), 'pgbench_accounts')
  return out.join('\n') + '\n'
}

interface Server { label: string, host: string, port: number, user: string, db: string, pid: number, settle?: () => Promise<void> }

async function measure (s: Server, sc: Scenario): Promise<PgbenchRun> {
  const base = { host: s.host, port: s.port, user: s.user, db: s.db, mode: sc.mode, clients: CLIENTS, threads: THREADS, script: sc.script, serverPid: s.pid, settle: s.settle }
  await runPgbench({ ...base, seconds: WARMUP })
  const r = await runPgbench({ ...base, seconds: SECONDS })
  if (r.failed > 0 || r.transactions === 0) {
    console.error(`FAILED ${sc.name} on ${s.label}: ${r.transactions} transactions, ${r.failed} failed\n${r.output}`)
    process.exitCode = 1
  }
  return r
}

const cpuUs = (r: PgbenchRun, statements: number): number => r.cpuSeconds * 1e6 / (r.transactions * statements)
const figures = (label: string, r: PgbenchRun, statements: number): string =>
  `${label}: ${r.tps.toFixed(0)} tps, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, CPU ${cpuUs(r, statements).toFixed(0)} µs/statement (${(r.cpuSeconds / r.seconds).toFixed(2)} cores)`
const goalNote = (ratio: number, goal: number | null): string =>
  goal === null ? 'no goal' : ratio >= goal ? `goal ratio >= ${goal}: met` : `goal ratio >= ${goal}: MISSED by ${(goal / ratio).toFixed(1)}x`

if (!pgbenchWorks()) {
  console.error('pg: pgbench is not installed (Debian: apt-get install postgresql); nothing to measure')
  process.exit(2)
}
const bin = postgresBin()
let node: Target | undefined
let pgServer: PgServer | undefined
try {
  node = await startBundleNode()
  const sbListen = String(node.ready?.pg ?? '')
  const colon = sbListen.lastIndexOf(':')
  if (colon < 0) throw new Error(`the node did not report its PostgreSQL listener: ${JSON.stringify(node.ready)}`)
  const sb: Server = { label: 'ScratchBird', host: sbListen.slice(0, colon), port: Number(sbListen.slice(colon + 1)), user: 'bench', db: 'db', pid: node.pid }
  psqlFile(sb.host, sb.port, sb.user, sb.db, initSql(true))
  let pg: Server | null = null
  if (bin === null) {
    console.error('pg: no PostgreSQL server under /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql) — the PostgreSQL baseline is SKIPPED, ScratchBird figures only')
  } else {
    pgServer = await startPostgres(bin)
    pg = { label: 'PostgreSQL', host: pgServer.host, port: pgServer.port, user: 'bench', db: 'postgres', pid: pgServer.pid, settle: pgServer.settle }
    // gen_uuidv8_hlc() is ScratchBird's; PostgreSQL gets a function of that name so the scripts are the same
    psqlFile(pg.host, pg.port, pg.user, pg.db, "CREATE FUNCTION gen_uuidv8_hlc() RETURNS uuid AS 'SELECT gen_random_uuid()' LANGUAGE sql;\n" + initSql(false))
  }
  const only = process.env.SB_PG_BENCH_ONLY?.split(',').map(s => s.trim())
  for (const sc of SCENARIOS.filter(s => !only || only.includes(s.name))) {
    const a = await measure(sb, sc)
    const b = pg ? await measure(pg, sc) : null
    const settings = `-M ${sc.mode}, ${CLIENTS} clients, ${THREADS} pgbench threads, ${SECONDS}s after ${WARMUP}s warm-up, ${sc.statements} statement(s) per transaction; ${availableParallelism()} cores shared by both servers and pgbench (1-min load ${loadavg()[0]!.toFixed(2)})`
    if (b) {
      printResult({ name: sc.name, value: a.tps, unit: 'txn/s', baseline: b.tps, note: `${goalNote(a.tps / b.tps, sc.goal)}; ${figures('ScratchBird', a, sc.statements)}; ${figures('PostgreSQL', b, sc.statements)}; ${settings}` })
    } else {
      console.log(`RESULT name=${sc.name} value=${a.tps.toFixed(0)} unit=txn/s baseline=skipped ratio=skipped note="${figures('ScratchBird', a, sc.statements)}; ${settings}"`)
    }
  }
} finally {
  await node?.stop()
  await pgServer?.stop()
}
