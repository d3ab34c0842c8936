import { beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { planModify } from '../../../src/exec/modify'
import { pointModifyRefusal } from '../../../src/exec/point-modify'
import { parse } from '../../../src/sql/parser'
import type { DeleteStatement, UpdateStatement } from '../../../src/sql/ast'
import { SessionState } from '../../../src/exec/txn'
import { testNode, type TestNode } from './local-shards'
import { codecVersionError } from '../../../src/core/codec'
import type { ShardOpName, ShardReplies, ShardRequests } from '../../../src/shard/protocol/ops'

// The one predicate deciding whether an UPDATE / DELETE runs as one MODIFY_ROW shard request or
// in two steps (exec/point-modify.ts pointModifyRefusal), over plans made by the planner; and that
// what it refuses does run in two steps, with the coordinator's checks (a domain's CHECK).

beforeAll(async () => { await initHashing() })

function refusal (node: TestNode, sql: string): string | null {
  const s = parse(sql)[0] as UpdateStatement | DeleteStatement
  return pointModifyRefusal(planModify(node.env, s, []), node.env.catalog())
}

const SCHEMA = [
  'CREATE TABLE t (a INTEGER NOT NULL, b BIGINT NOT NULL, v BIGINT, u UUID, PRIMARY KEY (a, b)) PARTITION BY a',
  'CREATE TABLE ix (k BIGINT PRIMARY KEY, v BIGINT)',
  'CREATE INDEX ix_v ON ix (v)',
  'CREATE TABLE parent (k BIGINT PRIMARY KEY, v BIGINT)',
  'CREATE TABLE child (k BIGINT PRIMARY KEY, p BIGINT REFERENCES parent (k))',
  'CREATE DOMAIN small AS BIGINT CHECK (VALUE < 10)',
  'CREATE TABLE dom (k BIGINT PRIMARY KEY, v small)'
].join('; ')

describe('pointModifyRefusal', () => {
  it('lets through what one request does exactly, and names why the rest needs two steps', async () => {
    const node = await testNode(2, false)
    await node.sql(SCHEMA)
    expect(refusal(node, 'UPDATE t SET v = v + 1 WHERE a = 1 AND b = 2')).toBeNull()
    expect(refusal(node, 'UPDATE t SET v = v + 1 WHERE b = 2 AND a = 1 AND v > 3 OR FALSE')).toMatch(/pin the whole primary key/)
    expect(refusal(node, 'UPDATE t SET v = v * 2 WHERE a = 1 AND b = 2 AND (v IS NULL OR v > 0)')).toBeNull()
    expect(refusal(node, 'DELETE FROM t WHERE a = 1 AND b = 2')).toBeNull()
    expect(refusal(node, 'UPDATE t SET v = 1 WHERE a = 1')).toMatch(/pin the whole primary key/)
    expect(refusal(node, 'UPDATE t SET v = 1 WHERE a = 1 AND b > 2')).toMatch(/pin the whole primary key/)
    expect(refusal(node, 'UPDATE t SET v = 1 WHERE a = 1 AND b = 2 RETURNING v')).toMatch(/RETURNING/)
    expect(refusal(node, 'UPDATE t SET u = gen_uuidv7() WHERE a = 1 AND b = 2')).toMatch(/UUID generator/)
    expect(refusal(node, 'UPDATE t SET b = 3 WHERE a = 1 AND b = 2')).toMatch(/primary key/)
    expect(refusal(node, 'UPDATE ix SET v = 1 WHERE k = 1')).toMatch(/indexes/)
    expect(refusal(node, 'DELETE FROM parent WHERE k = 1')).toMatch(/foreign key/)
    expect(refusal(node, 'UPDATE child SET p = 1 WHERE k = 1')).toMatch(/foreign key/)
    expect(refusal(node, 'UPDATE dom SET v = 1 WHERE k = 1')).toMatch(/domain/)
  })

  it('refuses a leaderless table (its writes go to a quorum)', async () => {
    const node = await testNode(1, true)
    await node.sql("CREATE TABLE q (k BIGINT PRIMARY KEY, v TEXT) WITH (replication_mode = 'leaderless_quorum', uuid_type = 'v8_hlc')")
    expect(refusal(node, "UPDATE q SET v = 'x' WHERE k = 1")).toMatch(/leaderless/)
  })

  it('what it refuses runs in two steps, with the coordinator\'s checks; temporary tables too', async () => {
    const node = await testNode(1, false)
    await node.sql(`${SCHEMA}; INSERT INTO dom VALUES (1, 5); INSERT INTO t VALUES (1, 2, 3, NULL)`)
    node.shards.sent.length = 0
    const e = await node.sql('UPDATE dom SET v = 50 WHERE k = 1').then(() => null, (x: { code: string }) => x.code)
    expect(e).toBe('SB_CHECK_VIOLATION')
    expect(node.shards.sent).toEqual(['QUERY', 'ROLLBACK'])
    node.shards.sent.length = 0
    await node.sql('UPDATE t SET u = gen_uuidv7() WHERE a = 1 AND b = 2')
    expect(node.shards.sent).toEqual(['QUERY', 'WRITE_READ', 'COMMIT'])
    const s = new SessionState()
    await node.sql('CREATE TEMPORARY TABLE tmp (k BIGINT PRIMARY KEY, v BIGINT); INSERT INTO tmp VALUES (1, 1)', s)
    node.shards.sent.length = 0
    expect((await node.sql('UPDATE tmp SET v = 2 WHERE k = 1', s))[0]!.rowCount).toBe(1)
    expect(node.shards.sent).toEqual([])
  })

  it('a shard on a node of the previous release (SB_CODEC_VERSION: MODIFY_ROW and WRITE_READ refused, nothing applied) gets the two steps and a plain WRITE', async () => {
    const at: { node?: TestNode } = {}
    const requester = {
      request: async <K extends ShardOpName>(op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> => {
        if (op === 'MODIFY_ROW' || op === 'WRITE_READ') {
          at.node!.shards.sent.push(op)
          throw codecVersionError('SHARD_QUERY', op === 'MODIFY_ROW' ? 5 : 6, 4)
        }
        return await at.node!.shards.request(op, req)
      }
    }
    const node = at.node = await testNode(1, false, undefined, { requester })
    await node.sql("CREATE TABLE m (k BIGINT PRIMARY KEY, v TEXT); INSERT INTO m VALUES (1, 'a'), (2, 'b')")
    node.shards.sent.length = 0
    expect((await node.sql("UPDATE m SET v = 'z' WHERE k = 1"))[0]!.rowCount).toBe(1)
    expect(node.shards.sent).toEqual(['MODIFY_ROW', 'QUERY', 'WRITE_READ', 'WRITE', 'COMMIT'])
    const s = new SessionState()
    node.shards.sent.length = 0
    await node.sql('BEGIN; SELECT v FROM m WHERE k = 2; DELETE FROM m WHERE k = 2; COMMIT', s)
    expect(node.shards.sent).toEqual(['QUERY', 'MODIFY_ROW', 'QUERY', 'WRITE', 'COMMIT'])
    const rows = await node.sql('SELECT k, v FROM m ORDER BY k')
    expect(rows[0]!.rows).toEqual([['1', 'z']])
  })
})
