// The point-select workload of bench/http-point-select.ts and bench/tracing.ts: an `events` table
// of `rows` preloaded rows over 1,000 users, and request bodies selecting one row each by its full
// primary key, visiting the rows in a scattered order (a stride coprime with most row counts), every
// key present.
import { sql, type Target } from './http'

const USERS = 1000
const PER_INSERT = 500
const STRIDE = 7919
export const EVENTS_SELECT = 'SELECT user_id, seq, payload FROM events WHERE user_id = $1 AND seq = $2'
export const payloadOf = (i: number): string => `payload-${i}-${'x'.repeat(48)}`
export const keyOf = (i: number): [string, number] => [`user_${i % USERS}`, i]

/** Request bodies for POST /v1/sql: the next row's point SELECT each call. */
export function pointSelects (rows: number): () => string {
  let next = 0
  return () => JSON.stringify({ sql: EVENTS_SELECT, params: keyOf((next++ * STRIDE) % rows) })
}

/** Creates `events` on `node` and inserts `rows` rows, 500 per INSERT; returns the seconds it took. */
export async function preloadEvents (node: Target, rows: number): Promise<number> {
  await sql(node, 'CREATE TABLE events (user_id TEXT, seq BIGINT, payload TEXT, PRIMARY KEY (user_id, seq)) PARTITION BY user_id')
  const t0 = performance.now()
  for (let from = 0; from < rows; from += PER_INSERT) {
    const n = Math.min(PER_INSERT, rows - from)
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
  return (performance.now() - t0) / 1000
}

/** The answers are not inspected under load (that would slow the client): checks `n` of them now; returns how many. */
export async function checkSample (node: Target, rows: number, n = 200): Promise<number> {
  for (let k = 0; k < n; k++) {
    const i = (k * STRIDE) % rows
    const r = await sql(node, EVENTS_SELECT, keyOf(i))
    if (r.rowCount !== 1 || r.rows[0]![2] !== payloadOf(i)) throw new Error(`point select of row ${i} answered ${JSON.stringify(r.rows)}`)
  }
  return n
}

/** Rows per preload INSERT (for notes). */
export const EVENTS_PER_INSERT = PER_INSERT
