import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { applyUserStatement } from '../../../src/catalog/users'
import { SeededRng } from '../../../src/core/rng'
import { TRUNCATE_BATCH_ROWS } from '../../../src/exec/truncate'
import { SessionState } from '../../../src/exec/txn'
import { checkStatement, statementNeeds, type Principal } from '../../../src/security/privileges'
import { encodeVerifier, newScramVerifier } from '../../../src/security/scram-verifier'
import type { UserStatement } from '../../../src/sql/ast'
import { formatStatement } from '../../../src/sql/format'
import { parseOne } from '../../../src/sql/parser'
import { testNode, type TestNode } from './local-shards'

// TRUNCATE (issue 19): the transactional deletion of every row and index entry, in bounded
// batches per shard; RESTRICT / CASCADE over foreign keys; DELETE privilege on every table emptied;
// leaderless tables get tombstones.

beforeAll(async () => { await initHashing() })

/** Live (visible, committed) keys of relation `tableId` on every shard, read from the engines themselves. */
async function storedKeys (node: TestNode, tableId: number): Promise<number> {
  let n = 0
  for (const e of node.shards.engines) {
    const it = e.scan(tableId)[Symbol.asyncIterator]()
    while ((await it.next()).done !== true) n++
  }
  return n
}

describe('TRUNCATE parses as PostgreSQL writes it', () => {
  it('tables, IDENTITY and CASCADE / RESTRICT; formats back', () => {
    expect(parseOne('TRUNCATE TABLE a, b RESTART IDENTITY CASCADE')).toMatchObject({ kind: 'truncate', tables: ['a', 'b'], identity: 'restart', cascade: true })
    expect(parseOne('truncate only a continue identity restrict')).toMatchObject({ kind: 'truncate', tables: ['a'], identity: 'continue', cascade: false })
    expect(formatStatement(parseOne('TRUNCATE a, b CASCADE'))).toBe('TRUNCATE TABLE a, b CASCADE')
    for (const bad of ['TRUNCATE', 'TRUNCATE a RESTART', 'TRUNCATE a,', 'TRUNCATE a CASCADE RESTRICT']) {
      expect(() => parseOne(bad), bad).toThrow(expect.objectContaining({ code: 'SB_SYNTAX_ERROR' }))
    }
  })
})

describe('TRUNCATE empties tables', () => {
  it('rows and index entries (local and global), batch by batch on each shard, in one transaction', async () => {
    const node = await testNode(2, false)
    await node.sql('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, u TEXT UNIQUE)')
    await node.sql('CREATE INDEX t_k ON t (k) LOCAL')
    const rows = 2 * TRUNCATE_BATCH_ROWS + 300
    await node.sql(`INSERT INTO t VALUES ${Array.from({ length: rows }, (_, i) => `(${i}, ${i % 7}, 'u${i}')`).join(', ')}`)
    const c = node.env.catalog()
    const ids = { t: c.table('t')!.id, k: c.table('t_k')!.id, u: c.table('t_u_key')!.id }
    expect([await storedKeys(node, ids.t), await storedKeys(node, ids.k), await storedKeys(node, ids.u)]).toEqual([rows, rows, rows])
    node.shards.sent.length = 0
    await node.sql('TRUNCATE t')
    expect([await storedKeys(node, ids.t), await storedKeys(node, ids.k), await storedKeys(node, ids.u)]).toEqual([0, 0, 0])
    // each shard holds more than one batch: read TRUNCATE_BATCH_ROWS at a time, not all at once
    const reads = node.shards.sent.filter(op => op === 'QUERY').length
    expect(reads).toBeGreaterThanOrEqual(4)
    // one transaction: committed once (two shards: two-phase commit)
    expect(node.shards.sent.filter(op => op === 'COMMIT' || op === 'COMMIT_PREPARED').length).toBeLessThanOrEqual(2)
    // ROLLBACK undoes rows and entries
    await node.sql("INSERT INTO t VALUES (1, 1, 'a'), (2, 2, 'b')")
    const s = new SessionState()
    await node.sql('BEGIN; TRUNCATE t', s)
    expect((await node.sql('SELECT count(*) FROM t', s))[0]!.rows).toEqual([['0']])
    await node.sql('ROLLBACK', s)
    expect([await storedKeys(node, ids.t), await storedKeys(node, ids.k), await storedKeys(node, ids.u)]).toEqual([2, 2, 2])
  })

  it('leaderless tables get tombstones; not together with other tables', async () => {
    const node = await testNode(2, true)
    await node.sql("CREATE TABLE q (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')")
    await node.sql('CREATE TABLE t (k BIGINT PRIMARY KEY)')
    await node.sql("INSERT INTO q VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    await expect(node.sql('TRUNCATE q, t')).rejects.toMatchObject({ code: 'SB_FEATURE_NOT_SUPPORTED' })
    expect((await node.sql('SELECT count(*) FROM q'))[0]!.rows).toEqual([['3']])
    await node.sql('TRUNCATE q')
    expect((await node.sql('SELECT count(*) FROM q'))[0]!.rows).toEqual([['0']])
    expect((await node.sql('SELECT v FROM q WHERE k = 2'))[0]!.rows).toEqual([])
    await node.sql("INSERT INTO q VALUES (2, 'again')")
    expect((await node.sql('SELECT v FROM q'))[0]!.rows).toEqual([['again']])
  })
})

describe('TRUNCATE and foreign keys, privileges', () => {
  it('RESTRICT refuses a referenced table left out (0A000); CASCADE and the privilege check take the referencing tables', async () => {
    const node = await testNode(2, false)
    await node.sql('CREATE TABLE p (id INTEGER PRIMARY KEY)')
    await node.sql('CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id))')
    await node.sql('INSERT INTO p VALUES (1); INSERT INTO c VALUES (10, 1)')
    await expect(node.sql('TRUNCATE p')).rejects.toMatchObject({ code: 'SB_FEATURE_NOT_SUPPORTED', details: { table: 'p', referencing: 'c' } })
    let cat = node.env.catalog()
    const verifier = encodeVerifier(newScramVerifier('pw', new SeededRng(3), 16))
    for (const sql of ["CREATE USER w PASSWORD 'x'", 'GRANT DELETE ON p TO w']) {
      const st = parseOne(sql) as UserStatement
      cat = applyUserStatement(cat, st.kind === 'create_user' ? { ...st, password: verifier } : st, () => {}).catalog
    }
    const w: Principal = { kind: 'user', id: cat.user('w')!.id, name: 'w' }
    expect(statementNeeds(parseOne('TRUNCATE p CASCADE'), cat, cat.user('w')!)).toEqual([
      { kind: 'table', privilege: 'delete', table: 'p' }, { kind: 'table', privilege: 'delete', table: 'c' }])
    expect(() => checkStatement(cat, w, parseOne('TRUNCATE c'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE', details: expect.objectContaining({ table: 'c' }) }))
    expect(() => checkStatement(cat, w, parseOne('TRUNCATE p CASCADE'))).toThrow(expect.objectContaining({ code: 'SB_INSUFFICIENT_PRIVILEGE' }))
    await node.sql('TRUNCATE p CASCADE')
    expect((await node.sql('SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM c)'))[0]!.rows).toEqual([['0', '0']])
  })
})
