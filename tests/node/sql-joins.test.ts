import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT, sourceCommand, startNode, tempDir, type RunningNode } from '../helpers/node-process'

// Joins against a real node: the seed's colocated users/orders query runs inside one shard (EXPLAIN
// says so and the answer is right), the seed's non-colocated orders/products join is answered on
// the coordinator, and a join inside a session's transaction sees that transaction's writes.

let n: RunningNode
type Json = Record<string, any>

async function sql (text: string, session?: string): Promise<{ status: number, body: Json }> {
  const res = await fetch(n.url('/v1/sql'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(session !== undefined ? { 'x-scratchbird-session': session } : {}) },
    body: JSON.stringify({ sql: text })
  })
  return { status: res.status, body: await res.json() as Json }
}

const planText = (body: Json): string => body.rows.map((r: string[]) => r[0]).join('\n')

beforeAll(async () => {
  const [cmd, args] = sourceCommand(['--config', join(ROOT, 'etc/scratchbird.yaml'), '--data-dir', join(tempDir(), 'data'), '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'])
  n = await startNode(cmd, args)
  const setup = await sql(`CREATE TABLE users (user_id VARCHAR(50) PRIMARY KEY, name TEXT NOT NULL);
    CREATE TABLE orders (order_id UUID PRIMARY KEY, user_id VARCHAR(50) REFERENCES users (user_id), product_id INTEGER, amount DECIMAL(10,2));
    ALTER TABLE orders SET partition_key_columns = 'user_id';
    CREATE TABLE products (product_id INTEGER PRIMARY KEY, product_name TEXT);
    INSERT INTO users VALUES ('user_123', 'Alice'), ('user_7', 'Bob');
    INSERT INTO orders (order_id, user_id, product_id, amount) VALUES (gen_uuidv8_hlc(), 'user_123', 1, 100.0), (gen_uuidv8_hlc(), 'user_7', 2, 7.5);
    INSERT INTO products VALUES (1, 'Widget'), (2, 'Gadget')`)
  expect(setup.body.error).toBeUndefined()
})
afterAll(() => { n?.proc.kill('SIGKILL') })

describe('joins', () => {
  const seed = "SELECT u.name, o.amount FROM users u JOIN orders o ON u.user_id = o.user_id WHERE u.user_id = 'user_123'"

  it('runs the seed\'s colocated join inside a single shard', async () => {
    const plan = await sql(`EXPLAIN ${seed}`)
    expect(plan.status).toBe(200)
    expect(plan.body.rows[0][0]).toBe('Join users u, orders o: colocated on the partition key: runs inside 1 shard, shard 7 (partition key of u pinned)')
    expect(planText(plan.body)).toContain('Step 1: INNER JOIN orders o, hash join on u.user_id = o.user_id (colocated)')
    const res = await sql(seed)
    expect(res.body).toMatchObject({ command: 'SELECT', columns: ['name', 'amount'], rows: [['Alice', '100.00']] })
  })

  it('scatters an unpinned colocated join to every shard', async () => {
    const q = 'SELECT u.name, sum(o.amount) FROM users u JOIN orders o ON u.user_id = o.user_id GROUP BY u.name ORDER BY u.name'
    expect((await sql(`EXPLAIN ${q}`)).body.rows[0][0]).toContain('runs inside each of the 16 shards')
    expect((await sql(q)).body.rows).toEqual([['Alice', '100.00'], ['Bob', '7.50']])
  })

  it('answers the seed\'s non-colocated join on the coordinator', async () => {
    const q = 'SELECT o.amount, p.product_name FROM orders o JOIN products p ON o.product_id = p.product_id ORDER BY o.amount'
    const plan = planText((await sql(`EXPLAIN ${q}`)).body)
    expect(plan).toContain('not colocated: each table is read from its shards and joined on the coordinator')
    expect(plan).toContain('hash join on o.product_id = p.product_id')
    expect((await sql(q)).body.rows).toEqual([['7.50', 'Gadget'], ['100.00', 'Widget']])
    // o.product_id = 2 carries over the ON equality: products is read from one shard by its key
    const pinned = planText((await sql(`EXPLAIN ${q.replace(' ORDER BY', ' WHERE o.product_id = 2 ORDER BY')}`)).body)
    expect(pinned).toMatch(/Table products p \(table \d+\): shard \d+ \(partition key pinned\), point lookup on the primary key/)
    expect(pinned).toMatch(/Table orders o \(table \d+\): all 16 shards \(scatter\)/)
  })

  it('sees the transaction\'s own writes in both tables', async () => {
    const session = (await (await fetch(n.url('/v1/sessions'), { method: 'POST' })).json() as Json).id as string
    const q = "SELECT u.name, count(o.order_id) FROM users u LEFT JOIN orders o ON u.user_id = o.user_id WHERE u.user_id = 'user_9' GROUP BY u.name"
    const txn = await sql(`BEGIN; INSERT INTO users VALUES ('user_9', 'Carol');
      INSERT INTO orders (order_id, user_id, product_id, amount) VALUES (gen_uuidv8_hlc(), 'user_9', 1, 1)`, session)
    expect(txn.body.error).toBeUndefined()
    expect((await sql(q, session)).body.rows).toEqual([['Carol', '1']])
    expect((await sql(q)).body.rows).toEqual([]) // not committed: invisible outside
    await sql('ROLLBACK', session)
  })

  it('reports an ambiguous column with SQLSTATE 42702', async () => {
    const res = await sql('SELECT user_id FROM users u JOIN orders o ON u.user_id = o.user_id')
    expect(res.status).toBe(400)
    expect(res.body.error).toMatchObject({ code: 'SB_AMBIGUOUS_COLUMN', sqlstate: '42702' })
  })
})
