import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { tableAccess } from '../../../src/exec/access/choose'
import { LwwAccess } from '../../../src/exec/access/lww'
import { MAX_KEY_LIST } from '../../../src/plan/key-lists'
import { MgaAccess } from '../../../src/exec/access/mga'
import { SessionState } from '../../../src/exec/txn'
import { testNode, type TestNode } from './local-shards'

// The access method of each replication mode, run through the executor over real shard engines
// (local-shards.ts): what each mode sends, what a statement and a transaction see, what EXPLAIN
// says. The cluster tests (tests/cluster/quorum.test.ts) run the same paths across processes.

beforeAll(async () => { await initHashing() })

const MGA_TABLE = 'CREATE TABLE m (k BIGINT PRIMARY KEY, v TEXT)'
const LWW_TABLE = "CREATE TABLE q (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')"

async function rows (node: TestNode, sql: string, session?: SessionState): Promise<unknown[][]> {
  const res = await node.sql(sql, session)
  return res[res.length - 1]!.rows
}

async function failure (p: Promise<unknown>): Promise<{ code: string, message: string }> {
  return await p.then(() => { throw new Error('expected the statement to fail') }, (e: { code: string, message: string }) => e)
}

async function explain (node: TestNode, sql: string): Promise<string[]> {
  return (await rows(node, `EXPLAIN ${sql}`)).map(r => r[0] as string)
}

describe('tableAccess: one access method per table, from its replication mode', () => {
  it('primary_replica tables are MGA; leaderless tables are LWW in a cluster and MGA on a single node', async () => {
    const cluster = await testNode(1, true)
    await cluster.sql(`${MGA_TABLE}; ${LWW_TABLE}`)
    const cat = cluster.env.catalog()
    expect(tableAccess(cluster.env, cat.mustTable('m'))).toBeInstanceOf(MgaAccess)
    expect(tableAccess(cluster.env, cat.mustTable('q'))).toBeInstanceOf(LwwAccess)
    const single = await testNode(1, false)
    await single.sql(LWW_TABLE)
    expect(tableAccess(single.env, single.env.catalog().mustTable('q'))).toBeInstanceOf(MgaAccess)
  })
})

describe('MGA access', () => {
  it('autocommit INSERT on one shard is one AUTOCOMMIT; a duplicate key is SB_UNIQUE_VIOLATION', async () => {
    const node = await testNode(1, false)
    await node.sql(MGA_TABLE)
    node.shards.sent.length = 0
    expect((await node.sql("INSERT INTO m VALUES (1, 'a')"))[0]!.rowCount).toBe(1)
    expect(node.shards.sent).toEqual(['AUTOCOMMIT'])
    expect((await failure(node.sql("INSERT INTO m VALUES (1, 'b')"))).code).toBe('SB_UNIQUE_VIOLATION')
    expect(await rows(node, 'SELECT k, v FROM m')).toEqual([['1', 'a']])
  })

  it('autocommit UPDATE reads and writes in one implicit transaction, committed locally', async () => {
    const node = await testNode(1, false)
    await node.sql(`${MGA_TABLE}; INSERT INTO m VALUES (1, 'a'), (2, 'b')`)
    node.shards.sent.length = 0
    expect((await node.sql("UPDATE m SET v = 'z' WHERE k >= 1"))[0]!.rowCount).toBe(2)
    // The QUERY carries the implicit transaction's BEGIN: no round trip of its own. The write names
    // the HLC the rows were read at (read committed: exec/read-point.ts).
    expect(node.shards.sent).toEqual(['QUERY', 'WRITE_READ', 'COMMIT'])
    expect(await rows(node, 'SELECT v FROM m ORDER BY k')).toEqual([['z'], ['z']])
    // pinned by its primary key: one MODIFY_ROW, begun and committed on the shard
    node.shards.sent.length = 0
    expect((await node.sql("UPDATE m SET v = 'y' WHERE k = 2"))[0]!.rowCount).toBe(1)
    expect((await node.sql("DELETE FROM m WHERE k = 1 AND v = 'nope'"))[0]!.rowCount).toBe(0)
    expect((await node.sql('DELETE FROM m WHERE k = 1'))[0]!.rowCount).toBe(1)
    expect(node.shards.sent).toEqual(['MODIFY_ROW', 'MODIFY_ROW', 'MODIFY_ROW'])
    expect(await rows(node, 'SELECT k, v FROM m ORDER BY k')).toEqual([['2', 'y']])
  })

  it('a statement failing inside the implicit transaction rolls it back: nothing changes', async () => {
    const node = await testNode(1, false)
    await node.sql("CREATE TABLE m (k BIGINT PRIMARY KEY, v TEXT NOT NULL); INSERT INTO m VALUES (1, 'a'), (2, 'b')")
    node.shards.sent.length = 0
    // the rows were read inside the implicit transaction; the new versions fail NOT NULL
    expect((await failure(node.sql('UPDATE m SET v = NULL WHERE k >= 1'))).code).toBe('SB_NOT_NULL_VIOLATION')
    expect(node.shards.sent).toEqual(['QUERY', 'ROLLBACK'])
    expect(await rows(node, 'SELECT k, v FROM m ORDER BY k')).toEqual([['1', 'a'], ['2', 'b']])
  })

  it('inside BEGIN … the writes are seen by the transaction only, and ROLLBACK undoes them', async () => {
    const node = await testNode(2, false)
    await node.sql(`${MGA_TABLE}; INSERT INTO m VALUES (1, 'a')`)
    const s = new SessionState()
    await node.sql("BEGIN; INSERT INTO m VALUES (2, 'b'); DELETE FROM m WHERE k = 1", s)
    expect(await rows(node, 'SELECT k FROM m ORDER BY k', s)).toEqual([['2']])
    expect(await rows(node, 'SELECT k FROM m ORDER BY k')).toEqual([['1']])
    await node.sql('ROLLBACK', s)
    expect(await rows(node, 'SELECT k FROM m ORDER BY k')).toEqual([['1']])
  })

  it('a transaction\'s first request on a shard carries its BEGIN; when that request fails the shard is not joined', async () => {
    const node = await testNode(1, false)
    await node.sql(`${MGA_TABLE}; INSERT INTO m VALUES (1, 'a'), (2, 'b')`)
    const s = new SessionState()
    node.shards.sent.length = 0
    await node.sql('BEGIN', s)
    expect(node.shards.sent).toEqual([])
    // the first statement's QUERY begins the transaction on the shard and fails there (its WHERE runs in the shard)
    expect((await failure(node.sql('SELECT k FROM m WHERE 1 / (k - 1) = 1', s))).code).toBe('SB_DIVISION_BY_ZERO')
    expect(node.shards.sent).toEqual(['QUERY'])
    // the transaction is aborted as after any failed statement; the shard rolled back what it began, so nothing is left to end there
    expect((await failure(node.sql('SELECT k FROM m', s))).code).toBe('SB_TXN_ABORTED')
    await node.sql('ROLLBACK', s)
    expect(node.shards.sent).toEqual(['QUERY'])
    // the TPC-B shape: a pk-pinned UPDATE is one MODIFY_ROW (exec/point-modify.ts); as the
    // transaction's first request it writes, so its xid comes from a BEGIN of its own (see below)
    node.shards.sent.length = 0
    await node.sql("BEGIN; UPDATE m SET v = 'z' WHERE k = 1; UPDATE m SET v = v || '!' WHERE k = 2; SELECT v FROM m WHERE k = 1; INSERT INTO m VALUES (3, 'c'); COMMIT", s)
    expect(node.shards.sent).toEqual(['BEGIN', 'MODIFY_ROW', 'MODIFY_ROW', 'QUERY', 'WRITE', 'COMMIT'])
    expect(await rows(node, 'SELECT k, v FROM m ORDER BY k')).toEqual([['1', 'z'], ['2', 'b!'], ['3', 'c']])
    // a transaction that read first: its first UPDATE runs on the shard it has joined
    node.shards.sent.length = 0
    await node.sql("BEGIN; SELECT v FROM m WHERE k = 1; UPDATE m SET v = 'y' WHERE k = 1; DELETE FROM m WHERE k = 3; COMMIT", s)
    expect(node.shards.sent).toEqual(['QUERY', 'MODIFY_ROW', 'MODIFY_ROW', 'COMMIT'])
    expect(await rows(node, 'SELECT k, v FROM m ORDER BY k')).toEqual([['1', 'y'], ['2', 'b!']])
  })

  it('a transaction whose first request writes gets its xid from a BEGIN of its own (rows are never held under an xid not yet listed as live)', async () => {
    const node = await testNode(1, false)
    await node.sql(`${MGA_TABLE}; INSERT INTO m VALUES (1, 'a')`)
    const s = new SessionState()
    node.shards.sent.length = 0
    await node.sql("BEGIN; INSERT INTO m VALUES (2, 'b'); COMMIT", s)
    expect(node.shards.sent).toEqual(['BEGIN', 'WRITE', 'COMMIT'])
    node.shards.sent.length = 0
    // a failing first WRITE leaves the shard joined, as always: ROLLBACK ends the transaction there
    expect((await failure(node.sql("BEGIN; INSERT INTO m VALUES (1, 'dup')", s))).code).toBe('SB_UNIQUE_VIOLATION')
    await node.sql('ROLLBACK', s)
    expect(node.shards.sent).toEqual(['BEGIN', 'WRITE', 'ROLLBACK'])
    expect(await rows(node, 'SELECT k, v FROM m ORDER BY k')).toEqual([['1', 'a'], ['2', 'b']])
  })

  it('an INSERT over several shards commits by two-phase commit, and EXPLAIN says which commit it takes', async () => {
    const node = await testNode(4, false)
    await node.sql(MGA_TABLE)
    const values = [...Array(8).keys()].map(i => `(${i}, 'r${i}')`).join(', ')
    expect((await explain(node, `INSERT INTO m VALUES ${values}`))[1]).toBe('Commit: two-phase commit across the shards')
    expect((await explain(node, "INSERT INTO m VALUES (1, 'x')"))[1]).toBe('Commit: local (one shard)')
    node.shards.sent.length = 0
    expect((await node.sql(`INSERT INTO m VALUES ${values}`))[0]!.rowCount).toBe(8)
    expect(node.shards.sent).toContain('PREPARE')
    expect(node.shards.sent).toContain('COMMIT_PREPARED')
    expect(await rows(node, 'SELECT count(*) FROM m')).toEqual([['8']])
    const update = await explain(node, "UPDATE m SET v = 'x' WHERE k = 3")
    expect(update[1]).toBe('Commit: local (one shard)')
    expect(update[2]).toBe('One shard request: the shard reads the row, filters it, computes the SET and writes the new version')
    expect(update).toContain('SET program (shard):')
    const returning = await explain(node, "UPDATE m SET v = 'x' WHERE k = 3 RETURNING k")
    expect(returning[2]).toBe('Two steps: the row is read into the coordinator, then written (RETURNING (computed on the coordinator))')
    expect(returning).toContain('SET program (coordinator):')
    expect((await explain(node, "UPDATE m SET v = 'x' WHERE k > 3"))[2]).toMatch(/^Filter program/)
    expect((await explain(node, 'SELECT v FROM m'))[1]).toBe('Program runs in the shard workers; the coordinator merges')
  })
})

describe('LWW access (leaderless_quorum in a cluster)', () => {
  it('INSERT is an upsert through the quorum: an existing key is replaced, never a duplicate-key error', async () => {
    const node = await testNode(2, true)
    await node.sql(LWW_TABLE)
    node.shards.sent.length = 0
    expect((await node.sql("INSERT INTO q VALUES (1, 'a'), (2, 'b')"))[0]!.rowCount).toBe(2)
    expect((await node.sql("INSERT INTO q VALUES (1, 'c')"))[0]!.rowCount).toBe(1)
    // no MGA write reached the shards: the versions went through the quorum
    expect(node.shards.sent.filter(op => op === 'AUTOCOMMIT' || op === 'WRITE' || op === 'BEGIN')).toEqual([])
    expect(await rows(node, 'SELECT k, v FROM q ORDER BY k')).toEqual([['1', 'c'], ['2', 'b']])
    expect(await rows(node, 'SELECT v FROM q WHERE k = 1')).toEqual([['c']])
  })

  it('UPDATE and DELETE count the rows they changed, point and scan alike', async () => {
    const node = await testNode(2, true)
    await node.sql(`${LWW_TABLE}; INSERT INTO q VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
    expect((await node.sql("UPDATE q SET v = 'x' WHERE k = 2"))[0]!.rowCount).toBe(1)
    expect((await node.sql("UPDATE q SET v = 'y' WHERE k >= 2"))[0]!.rowCount).toBe(2)
    expect((await node.sql('DELETE FROM q WHERE k = 1'))[0]!.rowCount).toBe(1)
    expect((await node.sql('DELETE FROM q WHERE k = 1'))[0]!.rowCount).toBe(0)
    expect(await rows(node, 'SELECT k, v FROM q ORDER BY k')).toEqual([['2', 'y'], ['3', 'y']])
  })

  it('a transaction buffers its writes until COMMIT and reads them itself (point read and scan overlay)', async () => {
    const node = await testNode(2, true)
    await node.sql(`${LWW_TABLE}; INSERT INTO q VALUES (1, 'a'), (2, 'b')`)
    const s = new SessionState()
    await node.sql("BEGIN; INSERT INTO q VALUES (3, 'c'); DELETE FROM q WHERE k = 1; UPDATE q SET v = 'B' WHERE k = 2", s)
    // the transaction sees its own writes
    expect(await rows(node, 'SELECT v FROM q WHERE k = 3', s)).toEqual([['c']])
    expect(await rows(node, 'SELECT v FROM q WHERE k = 1', s)).toEqual([])
    expect(await rows(node, 'SELECT k, v FROM q ORDER BY k', s)).toEqual([['2', 'B'], ['3', 'c']])
    // nobody else does, and nothing reached the replicas yet
    expect(await rows(node, 'SELECT k, v FROM q ORDER BY k')).toEqual([['1', 'a'], ['2', 'b']])
    await node.sql('COMMIT', s)
    expect(await rows(node, 'SELECT k, v FROM q ORDER BY k')).toEqual([['2', 'B'], ['3', 'c']])
  })

  it('ROLLBACK drops the buffered writes: nothing was sent', async () => {
    const node = await testNode(1, true)
    await node.sql(`${LWW_TABLE}; INSERT INTO q VALUES (1, 'a')`)
    const s = new SessionState()
    await node.sql("BEGIN; INSERT INTO q VALUES (2, 'b'); DELETE FROM q WHERE k = 1; ROLLBACK", s)
    expect(await rows(node, 'SELECT k, v FROM q ORDER BY k')).toEqual([['1', 'a']])
  })

  it('a transaction writes leaderless tables or other tables, never both (either order)', async () => {
    const node = await testNode(1, true)
    await node.sql(`${LWW_TABLE}; ${MGA_TABLE}`)
    const a = new SessionState()
    const e1 = await failure(node.sql("BEGIN; INSERT INTO q VALUES (1, 'a'); INSERT INTO m VALUES (1, 'a')", a))
    expect(e1.code).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(e1.message).toMatch(/cannot write both leaderless_quorum tables and other tables/)
    await node.sql('ROLLBACK', a)
    const b = new SessionState()
    const e2 = await failure(node.sql("BEGIN; INSERT INTO m VALUES (1, 'a'); INSERT INTO q VALUES (1, 'a')", b))
    expect(e2.code).toBe('SB_FEATURE_NOT_SUPPORTED')
    await node.sql('ROLLBACK', b)
    expect(await rows(node, 'SELECT count(*) FROM q')).toEqual([['0']])
    expect(await rows(node, 'SELECT count(*) FROM m')).toEqual([['0']])
  })

  it('a join inside a transaction over a table it buffered writes to is refused; before the first write it runs', async () => {
    const node = await testNode(1, true)
    await node.sql(`${LWW_TABLE}; ${MGA_TABLE}; INSERT INTO q VALUES (1, 'a'); INSERT INTO m VALUES (1, 'x')`)
    const s = new SessionState()
    await node.sql('BEGIN', s)
    expect(await rows(node, 'SELECT q.v, m.v FROM q JOIN m ON q.k = m.k', s)).toEqual([['a', 'x']])
    await node.sql("INSERT INTO q VALUES (2, 'b')", s)
    const e = await failure(node.sql('SELECT q.v, m.v FROM q JOIN m ON q.k = m.k', s))
    expect(e.code).toBe('SB_FEATURE_NOT_SUPPORTED')
    expect(e.message).toMatch(/leaderless_quorum table q/)
  })

  // plan/key-lists.ts: a WHERE fixing the whole primary key to a list of keys is read by point
  // reads (quorum reads in a cluster), never by a scan of one replica. Here the quorum is the
  // fixture's (one replica, local-shards.ts), whose reads go to the engine directly: a scan would
  // show as a QUERY among the shard requests, a point read shows as none.
  it('IN lists and ORs of the whole primary key are point reads for SELECT, UPDATE and DELETE (no scan)', async () => {
    const node = await testNode(4, true)
    await node.sql(`${LWW_TABLE}; INSERT INTO q VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')`)
    node.shards.sent.length = 0
    expect(await rows(node, 'SELECT k, v FROM q WHERE k IN (1, 3, 5, 9) ORDER BY k')).toEqual([['1', 'a'], ['3', 'c'], ['5', 'e']])
    expect(await rows(node, 'SELECT v FROM q WHERE k = 2 OR k = 4 OR (k = 9 AND v IS NULL) ORDER BY k')).toEqual([['b'], ['d']])
    // NULLs and duplicates in the list, the rest of the WHERE still filters, aggregates merge
    expect(await rows(node, "SELECT k FROM q WHERE k IN (1, NULL, 1, 2) AND v <> 'b'")).toEqual([['1']])
    expect(await rows(node, 'SELECT count(*), max(v) FROM q WHERE k IN (1, 2, 3)')).toEqual([['3', 'c']])
    expect(await rows(node, 'SELECT count(*) FROM q WHERE k IN (NULL)')).toEqual([['0']])
    expect((await node.sql("UPDATE q SET v = v || '!' WHERE k IN (1, 2, 7)"))[0]!.rowCount).toBe(2)
    expect((await node.sql('DELETE FROM q WHERE k = 3 OR k = 4'))[0]!.rowCount).toBe(2)
    expect(node.shards.sent.filter(op => op === 'QUERY')).toEqual([])
    expect(await rows(node, 'SELECT k, v FROM q ORDER BY k')).toEqual([['1', 'a!'], ['2', 'b!'], ['5', 'e']])
    // what does not fix the whole key to a list is still a scan
    node.shards.sent.length = 0
    expect(await rows(node, "SELECT k FROM q WHERE k IN (1, 2) OR v = 'e' ORDER BY k")).toEqual([['1'], ['2'], ['5']])
    expect(node.shards.sent).toContain('QUERY')
  })

  it('a composite primary key: products of IN lists and ORs of whole keys; a list longer than MAX_KEY_LIST scans', async () => {
    const node = await testNode(4, true)
    await node.sql("CREATE TABLE c (a BIGINT, b TEXT, v BIGINT, PRIMARY KEY (a, b)) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')")
    await node.sql("INSERT INTO c VALUES (1, 'x', 10), (1, 'y', 11), (2, 'x', 20), (2, 'y', 21)")
    node.shards.sent.length = 0
    expect(await rows(node, "SELECT v FROM c WHERE a IN (1, 2) AND b = 'y' ORDER BY v")).toEqual([['11'], ['21']])
    expect(await rows(node, "SELECT v FROM c WHERE (a = 1 AND b = 'x') OR (b = 'x' AND a = 2) ORDER BY v")).toEqual([['10'], ['20']])
    expect((await node.sql("DELETE FROM c WHERE a = 2 AND b IN ('x', 'y', 'z')"))[0]!.rowCount).toBe(2)
    expect(node.shards.sent.filter(op => op === 'QUERY')).toEqual([])
    // only a prefix of the key: a scan
    expect(await rows(node, 'SELECT v FROM c WHERE a IN (1, 2) ORDER BY v')).toEqual([['10'], ['11']])
    expect(node.shards.sent).toContain('QUERY')
    node.shards.sent.length = 0
    const many = [...Array(MAX_KEY_LIST + 1).keys()].join(', ')
    await node.sql(LWW_TABLE)
    expect(await rows(node, `SELECT count(*) FROM q WHERE k IN (${many})`)).toEqual([['0']])
    expect(node.shards.sent).toContain('QUERY')
    expect((await explain(node, `SELECT v FROM q WHERE k IN (${many})`))[1]).toMatch(/scan of one live replica per shard/)
  })

  it('inside a transaction a key list reads its own buffered writes', async () => {
    const node = await testNode(2, true)
    await node.sql(`${LWW_TABLE}; INSERT INTO q VALUES (1, 'a'), (2, 'b')`)
    const s = new SessionState()
    await node.sql("BEGIN; INSERT INTO q VALUES (3, 'c'); DELETE FROM q WHERE k = 1", s)
    expect(await rows(node, 'SELECT k, v FROM q WHERE k IN (1, 2, 3) ORDER BY k', s)).toEqual([['2', 'b'], ['3', 'c']])
    expect((await node.sql("UPDATE q SET v = 'z' WHERE k = 1 OR k = 3", s))[0]!.rowCount).toBe(1)
    await node.sql('COMMIT', s)
    expect(await rows(node, 'SELECT k, v FROM q WHERE k IN (1, 2, 3) ORDER BY k')).toEqual([['2', 'b'], ['3', 'z']])
  })

  it('EXPLAIN of a key list: the shards of its keys and a quorum read per key; a Mode 1 table\'s plan is unchanged', async () => {
    const node = await testNode(4, true)
    await node.sql(`${LWW_TABLE}; ${MGA_TABLE}`)
    const sel = await explain(node, 'SELECT v FROM q WHERE k IN (1, 2, 3)')
    expect(sel[0]).toMatch(/^Scan q \(table \d+\): shards? [\d, ]+ \(the 3 primary keys k IN \(3 values\) allows\), a point read of each key$/)
    expect(sel[1]).toBe('Leaderless quorum (N=1, W=1, R=1): quorum read: R=1 of 1 replicas, newest version wins, stale replicas repaired in the background; a quorum read of each of the 3 primary keys (k IN (3 values)), each shard\'s keys asked together')
    expect(sel).toContain('The program runs on the coordinator over the quorum\'s answers')
    const del = await explain(node, 'DELETE FROM q WHERE k = 1 OR k = 2')
    expect(del[0]).toMatch(/^Delete q \(table \d+\): .*\(the 2 primary keys 2 ORed conditions on the primary key allows\), a point read of each key$/)
    expect(del[1]).toMatch(/^Read rows: Leaderless quorum .*: quorum read: .*a quorum read of each of the 2 primary keys/)
    const upd = await explain(node, "UPDATE q SET v = 'x' WHERE k IN (1, 2)")
    expect(upd[1]).toMatch(/^Read rows: Leaderless quorum .*a quorum read of each of the 2 primary keys/)
    // Mode 1: scanned as before
    const mode1 = await explain(node, 'SELECT v FROM m WHERE k IN (1, 2, 3)')
    expect(mode1[0]).toMatch(/^Scan m \(table \d+\): all 4 shards \(scatter\)$/)
    expect(mode1[1]).toBe('Program runs in the shard workers; the coordinator merges')
    expect((await explain(node, 'DELETE FROM m WHERE k = 1 OR k = 2'))[0]).toMatch(/^Delete m \(table \d+\): all 4 shards \(scatter\)$/)
    // a leaderless table on a single node is an MGA table: scanned as before too
    const single = await testNode(4, false)
    await single.sql(LWW_TABLE)
    expect((await explain(single, 'SELECT v FROM q WHERE k IN (1, 2, 3)'))[0]).toMatch(/^Scan q \(table \d+\): all 4 shards \(scatter\)$/)
  })

  it('EXPLAIN names the quorum read, the replica scan and the quorum write', async () => {
    const node = await testNode(2, true)
    await node.sql(LWW_TABLE)
    const point = await explain(node, 'SELECT v FROM q WHERE k = 1')
    expect(point[1]).toBe('Leaderless quorum (N=1, W=1, R=1): quorum read: R=1 of 1 replicas, newest version wins, stale replicas repaired in the background')
    expect(point[2]).toMatch(/^ {2}shard \d replicas: nodes 1$/)
    expect(point[3]).toBe('The program runs on the coordinator over the quorum\'s answer')
    const scan = await explain(node, 'SELECT v FROM q')
    expect(scan.slice(1, 5)).toEqual([
      'Leaderless quorum (N=1, W=1, R=1): scan of one live replica per shard (not a quorum read)',
      '  shard 0 replicas: nodes 1', '  shard 1 replicas: nodes 1',
      'Program runs in the shard workers; the coordinator merges'])
    expect((await explain(node, "INSERT INTO q VALUES (1, 'a')"))[1]).toMatch(/^Leaderless quorum \(N=1, W=1, R=1\): quorum write: /)
    const update = await explain(node, "UPDATE q SET v = 'b' WHERE k = 1")
    expect(update[1]).toMatch(/^Read rows: Leaderless quorum .*: quorum read: /)
    expect(update[2]).toMatch(/^Read rows: shard \d replicas: nodes 1$/)
    expect(update[3]).toMatch(/^Write: Leaderless quorum .*: quorum write: /)
  })
})
