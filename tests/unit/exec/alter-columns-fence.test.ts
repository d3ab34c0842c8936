import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { SessionState } from '../../../src/exec/txn'
import type { TableFenceShell } from '../../../src/node/table-fences'
import { testNode } from './local-shards'

// ALTER TABLE … ADD/DROP COLUMN on a populated table, through the executor over real shard
// engines: the rows stay as stored (no rewrite), and the change runs under the write fence, so a
// write planned by the old columns cannot land after it (exec/ddl-needs-empty.ts).

beforeAll(async () => { await initHashing() })

async function failure (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  return await p.then(() => { throw new Error('expected the statement to fail') }, (e: { code: string, message: string }) => e)
}

describe('ADD/DROP COLUMN on a populated table', () => {
  it('rows on every shard read the added column\'s default; a write planned by the old columns arriving after it is refused', async () => {
    const node = await testNode(8, false)
    const fences = node.env.fences as TableFenceShell
    await node.sql('CREATE TABLE items (id BIGINT PRIMARY KEY, v TEXT)')
    const values = Array.from({ length: 40 }, (_, i) => `(${i}, 'v${i}')`).join(', ')
    await node.sql(`INSERT INTO items VALUES ${values}`)
    // An open transaction that updated a row by the old columns cannot commit after the ALTER
    // (storage/table-fence.ts: fence generations): the DDL wins, and its update is rolled back.
    const holder = new SessionState()
    await node.sql("BEGIN; UPDATE items SET v = 'held' WHERE id = 3", holder)
    // An INSERT planned by the old columns whose shard write is held until after the change.
    let arrive!: () => void
    const gate = new Promise<void>(resolve => { arrive = resolve })
    const request = node.env.request
    let held = 0
    node.env.request = async (op, req) => {
      if (op === 'AUTOCOMMIT' && held++ === 0) await gate
      return await request(op, req)
    }
    const late = failure(node.sql("INSERT INTO items VALUES (100, 'late')"))
    let fenced = 0
    const fence = fences.fence.bind(fences)
    fences.fence = async (t, token) => { fenced++; return await fence(t, token) }
    await node.sql("ALTER TABLE items ADD COLUMN c INTEGER NOT NULL DEFAULT 5; ALTER TABLE items ADD COLUMN d TEXT DEFAULT 'x'")
    expect(fenced).toBe(2)
    fences.checkDue()
    arrive()
    expect(await late).toMatchObject({ code: 'SB_TABLE_ALTERING' })
    fences.checkDue()
    expect(fences.held()).toEqual([])
    expect(await failure(node.sql('COMMIT', holder))).toMatchObject({ code: 'SB_TABLE_ALTERING' })
    expect((await node.sql('SELECT count(*), sum(c), min(d), max(d) FROM items WHERE c = 5'))[0]!.rows).toEqual([['40', '200', 'x', 'x']])
    expect((await node.sql('SELECT v, c, d FROM items WHERE id = 3'))[0]!.rows).toEqual([['v3', 5, 'x']])
    await node.sql('ALTER TABLE items DROP COLUMN v')
    expect(fenced).toBe(3)
    expect((await node.sql('SELECT * FROM items WHERE id = 7'))[0]!.rows).toEqual([['7', 5, 'x']])
    // A no-op (IF EXISTS) fences nothing.
    await node.sql('ALTER TABLE items DROP COLUMN IF EXISTS v')
    expect(fenced).toBe(3)
  })
})
