import { describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { asNodeId, asXid, type NodeId, type ShardId } from '../../../src/core/ids'
import { bootstrapJobs, chunkKeys, finishedTables } from '../../../src/node/leaderless-bootstrap-plan'
import { ddlContext } from '../../../src/plan/column-default'
import type { AlterTableStatement, CreateTableStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import { rowKey, tipKey } from '../../../src/storage/keys'

// Which shards of which tables this node fills as the source of a leaderless bootstrap, and which
// keys of a snapshot chunk are a table's rows (node/leaderless-bootstrap-plan.ts).

const ctx = ddlContext(3)
const apply = (c: Catalog, sql: string): Catalog => {
  const s = parseOne(sql)
  return s.kind === 'create_table' ? c.createTable(s as CreateTableStatement, ctx).catalog : c.alterTable(s as AlterTableStatement, ctx).catalog
}
const raised = (): Catalog => apply(apply(new Catalog(),
  "CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) WITH (replication_mode = 'leaderless_quorum', replication_factor = 2, write_quorum = 1, read_quorum = 1)"),
'ALTER TABLE kv SET replication_factor = 3')
/** Shard s: nodes s+1, s+2, s+3 (mod 3, 1-based). */
const replicas = (shard: ShardId, n: number): NodeId[] => [0, 1, 2].map(i => asNodeId(((shard + i) % 3) + 1)).slice(0, n)
const jobs = (c: Catalog, self: number, alive: (id: number) => boolean = () => true): Array<[number, number, readonly number[]]> =>
  bootstrapJobs({ catalog: c, shards: 3, selfId: asNodeId(self), replicas, alive }).map(j => [j.shard, j.source, j.targets])

describe('bootstrapJobs', () => {
  it('the first live replica that counts is the source of its shard; the new one is the target', () => {
    expect(jobs(raised(), 1)).toEqual([[0, 1, [3]]])
    expect(jobs(raised(), 2)).toEqual([[1, 2, [1]]])
    expect(jobs(raised(), 3)).toEqual([[2, 3, [2]]])
  })

  it('a source that is down hands its shard to the next counted replica', () => {
    // Node 1 down: node 2 fills shard 0 (replicas 1, 2 count) — and shard 1 waits for its target, node 1.
    expect(jobs(raised(), 2, id => id !== 1)).toEqual([[0, 2, [3]]])
  })

  it('waits while a target is down (hints carry its writes meanwhile)', () => {
    // Node 3 down: shard 0's target is node 3, so it waits; node 1 takes over shard 2 from node 3 (its source).
    expect(jobs(raised(), 1, id => id !== 3)).toEqual([[2, 1, [2]]])
  })

  it('ready shards and tables without a bootstrap give no job; a table all ready is finished', () => {
    let c = apply(raised(), 'ALTER TABLE kv SET REPLICAS READY ON SHARD 0')
    expect(jobs(c, 1)).toEqual([])
    expect(finishedTables(c, 3)).toEqual([])
    c = apply(apply(c, 'ALTER TABLE kv SET REPLICAS READY ON SHARD 1'), 'ALTER TABLE kv SET REPLICAS READY ON SHARD 2')
    expect(finishedTables(c, 3)).toEqual(['kv'])
    expect(finishedTables(apply(c, 'ALTER TABLE kv SET REPLICAS READY'), 3)).toEqual([])
  })
})

describe('chunkKeys', () => {
  it('keeps the row keys of the table, decoded, and skips other tables and other key spaces', () => {
    const v = new Uint8Array([1])
    const entries = [
      { key: tipKey(asXid(7n)), value: v },
      { key: rowKey(1024, ['a']), value: v },
      { key: rowKey(1025, ['x']), value: v },
      { key: rowKey(1024, ['b', 2n]), value: v }
    ]
    expect(chunkKeys(entries, 1024)).toEqual([['a'], ['b', 2n]])
    expect(chunkKeys(entries, 9999)).toEqual([])
  })
})
