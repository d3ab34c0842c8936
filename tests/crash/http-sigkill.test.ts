import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ROOT, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Issue 4 acceptance, over the real HTTP API: "A SIGKILL during a stream of committed INSERTs over
// HTTP loses no acknowledged row; a transaction killed before COMMIT leaves nothing visible."
// A node runs; many concurrent clients stream single-row autocommit INSERTs into a table
// partitioned over all shards, a few clients run two-row BEGIN … COMMIT scripts whose rows land on
// different shards (two-phase commit), and a few sessions hold a BEGIN with INSERTs never
// committed. The node is SIGKILLed at a random moment and restarted on the same data directory.
// Then: every acknowledged row is there with the values sent, no row of an uncommitted
// transaction is visible, no row appears that was never sent, and a two-row transaction is never
// half visible. Repeated HTTP_CRASH_ITERATIONS times (default 5) on one data directory.

const ITERATIONS = Number(process.env.HTTP_CRASH_ITERATIONS ?? 5)
const WRITERS = 12
const TXN_WRITERS = 3
const OPEN_SESSIONS = 3

type Json = Record<string, any>

/** What the clients did, over all iterations. Keys are row ids. */
interface Ledger {
  /** every committable row sent (autocommit or inside a script ending in COMMIT), with its values */
  sent: Map<string, [string, number, string]>
  /** rows whose INSERT (or whose transaction's COMMIT) was answered 2xx */
  acked: Set<string>
  /** rows written inside a session transaction that was never committed */
  uncommitted: Set<string>
  /** two-row transactions: each row id → its partner */
  pairs: Map<string, string>
}

const running: RunningNode[] = []
afterEach(() => { for (const n of running.splice(0)) n.proc.kill('SIGKILL') })

async function start (dataDir: string): Promise<RunningNode> {
  const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  const n = await startNode(cmd, args)
  running.push(n)
  return n
}

async function post (n: RunningNode, sql: string, params?: unknown[], session?: string): Promise<{ status: number, body: Json }> {
  const res = await fetch(n.url('/v1/sql'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session ? { 'x-scratchbird-session': session } : {}) },
    body: JSON.stringify(params ? { sql, params } : { sql })
  })
  return { status: res.status, body: await res.json() as Json }
}

const INSERT = 'INSERT INTO events (id, client, note) VALUES ($1, $2, $3)'

/** Streams autocommit INSERTs until a request fails (the node is dead). */
async function autocommitWriter (n: RunningNode, iter: number, client: number, ledger: Ledger, onAck: () => void): Promise<void> {
  for (let seq = 0; ; seq++) {
    const id = `a${iter}-${client}-${seq}`
    const note = `note ${id} ${'x'.repeat(seq % 7)}`
    ledger.sent.set(id, [id, client, note])
    let res
    try { res = await post(n, INSERT, [id, client, note]) } catch { return } // connection refused/reset: killed
    if (res.status >= 200 && res.status < 300) {
      expect(res.body).toMatchObject({ command: 'INSERT', rowCount: 1 })
      ledger.acked.add(id)
      onAck()
    } else {
      throw new Error(`INSERT ${id} answered ${res.status}: ${JSON.stringify(res.body)}`)
    }
  }
}

/** Two-row transactions in one request (BEGIN; INSERT; INSERT; COMMIT): both rows or neither. */
async function txnWriter (n: RunningNode, iter: number, client: number, ledger: Ledger, onAck: () => void): Promise<void> {
  for (let seq = 0; ; seq++) {
    const a = `t${iter}-${client}-${seq}-a`
    const b = `t${iter}-${client}-${seq}-b`
    ledger.sent.set(a, [a, 1000 + client, 'pair'])
    ledger.sent.set(b, [b, 1000 + client, 'pair'])
    ledger.pairs.set(a, b)
    ledger.pairs.set(b, a)
    let res
    try {
      res = await post(n, `BEGIN TRANSACTION; ${INSERT}; INSERT INTO events (id, client, note) VALUES ($4, $2, $3); COMMIT`, [a, 1000 + client, 'pair', b])
    } catch { return }
    if (res.status !== 200) throw new Error(`transaction ${a} answered ${res.status}: ${JSON.stringify(res.body)}`)
    expect(res.body.results.map((r: Json) => r.command)).toEqual(['BEGIN', 'INSERT', 'INSERT', 'COMMIT'])
    ledger.acked.add(a)
    ledger.acked.add(b)
    onAck()
  }
}

/** A session with an open transaction that keeps inserting and never commits. */
async function openTxnWriter (n: RunningNode, iter: number, client: number, ledger: Ledger, onInsert: () => void): Promise<void> {
  let session: string
  try {
    const res = await fetch(n.url('/v1/sessions'), { method: 'POST' })
    session = (await res.json() as { id: string }).id
    const begin = await post(n, 'BEGIN', undefined, session)
    if (begin.status !== 200) throw new Error(`BEGIN answered ${begin.status}`)
  } catch (e) {
    if (e instanceof TypeError) return // fetch failed: killed already
    throw e
  }
  for (let seq = 0; ; seq++) {
    const id = `u${iter}-${client}-${seq}`
    ledger.uncommitted.add(id) // before sending: even an unanswered INSERT must stay invisible
    let res
    try { res = await post(n, INSERT, [id, 2000 + client, 'never committed'], session) } catch { return }
    if (res.status !== 200) throw new Error(`session INSERT ${id} answered ${res.status}: ${JSON.stringify(res.body)}`)
    onInsert()
  }
}

async function runAndKill (n: RunningNode, iter: number, ledger: Ledger): Promise<{ acks: number, open: number }> {
  const killAfter = 100 + Math.floor(Math.random() * 500)
  let acks = 0
  let openInserts = 0
  let killed = false
  const maybeKill = (): void => {
    if (!killed && acks >= killAfter && openInserts >= OPEN_SESSIONS) {
      killed = true
      n.proc.kill('SIGKILL')
    }
  }
  const onAck = (): void => { acks++; maybeKill() }
  const onOpen = (): void => { openInserts++; maybeKill() }
  const clients: Promise<void>[] = []
  for (let c = 0; c < OPEN_SESSIONS; c++) clients.push(openTxnWriter(n, iter, c, ledger, onOpen))
  for (let c = 0; c < WRITERS; c++) clients.push(autocommitWriter(n, iter, c, ledger, onAck))
  for (let c = 0; c < TXN_WRITERS; c++) clients.push(txnWriter(n, iter, c, ledger, onAck))
  const guard = setTimeout(() => { if (!killed) { killed = true; n.proc.kill('SIGKILL') } }, 30_000)
  try {
    await Promise.all(clients)
  } finally {
    clearTimeout(guard)
  }
  expect(await n.exited).toBe('SIGKILL')
  expect(acks, 'the node was killed by the guard timer, not under load').toBeGreaterThanOrEqual(killAfter)
  return { acks, open: openInserts }
}

async function verify (n: RunningNode, ledger: Ledger): Promise<number> {
  const all = await post(n, 'SELECT id, client, note FROM events')
  expect(all.status).toBe(200)
  const rows = all.body.rows as [string, number, string][]
  const present = new Map<string, [string, number, string]>()
  for (const row of rows) {
    expect(present.has(row[0]), `row ${row[0]} returned twice`).toBe(false)
    present.set(row[0], row)
  }
  const lost = [...ledger.acked].filter(id => !present.has(id))
  expect(lost, `${lost.length} acknowledged rows lost`).toEqual([])
  for (const [id, row] of present) {
    expect(ledger.uncommitted.has(id), `row ${id} of an uncommitted transaction is visible`).toBe(false)
    expect(ledger.sent.get(id), `row ${id} was never sent (or not with these values)`).toEqual(row)
    const partner = ledger.pairs.get(id)
    if (partner !== undefined) expect(present.has(partner), `half of a transaction: ${id} without ${partner}`).toBe(true)
  }
  // the scatter-gathered count agrees with the rows
  expect((await post(n, 'SELECT count(*) FROM events')).body.rows).toEqual([[String(present.size)]])
  return present.size
}

describe('SIGKILL during a stream of INSERTs over HTTP', () => {
  it(`loses no acknowledged row and shows nothing uncommitted, ${ITERATIONS} kills of one data dir`, async () => {
    const dataDir = join(tempDir('sb-http-crash-'), 'data')
    const ledger: Ledger = { sent: new Map(), acked: new Set(), uncommitted: new Set(), pairs: new Map() }
    let n = await start(dataDir)
    const ddl = await post(n, 'CREATE TABLE events (id TEXT PRIMARY KEY, client INTEGER NOT NULL, note TEXT) PARTITION BY id')
    expect(ddl.status).toBe(200)
    // the rows of a pair must land on different shards for their COMMIT to be two-phase
    const plan = await post(n, "EXPLAIN INSERT INTO events VALUES ('t0-0-0-a', 1, 'x'), ('t0-0-0-b', 1, 'x')")
    expect(plan.body.rows.map((r: string[]) => r[0]).join('\n')).toContain('two-phase commit')
    for (let iter = 0; iter < ITERATIONS; iter++) {
      const { acks, open } = await runAndKill(n, iter, ledger)
      n = await start(dataDir)
      const present = await verify(n, ledger)
      expect(present).toBeGreaterThanOrEqual(ledger.acked.size)
      expect(acks).toBeGreaterThan(0)
      expect(open).toBeGreaterThanOrEqual(OPEN_SESSIONS)
    }
    // the restarted node still takes writes
    expect((await post(n, INSERT, ['after', 1, 'after'])).status).toBe(200)
    expect((await post(n, "SELECT note FROM events WHERE id = 'after'")).body.rows).toEqual([['after']])
  }, 300_000)
})
