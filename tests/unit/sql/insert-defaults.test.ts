import { ddlContext } from '../../../src/plan/column-default'
import { beforeAll, describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import { ManualClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { Hlc, uuidv8NodeId } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'
import { UuidV7Generator } from '../../../src/core/uuid'
import { disassemble } from '../../../src/sblr/disassemble'
import type { CreateTableStatement, InsertStatement } from '../../../src/sql/ast'
import type { ExecEnv } from '../../../src/exec/env'
import { insertWrites, planInsert } from '../../../src/exec/insert'
import { shardOfRow } from '../../../src/plan/table-types'
import { parseOne } from '../../../src/sql/parser'
import { decodeRow } from '../../../src/types/row-codec'
import { SqlUuid, type SqlValue } from '../../../src/types/values'
import type { ShardId } from '../../../src/core/ids'

// INSERT with column defaults: each row program computes the omitted / DEFAULT columns, so a
// gen_uuidv8_hlc() primary key is a new id per row and the row goes to the shard of that id.

const SHARDS = 16

beforeAll(async () => { await initHashing() })

function envWith (ddl: string): ExecEnv {
  const clock = new ManualClock()
  const catalog = new Catalog().createTable(parseOne(ddl) as CreateTableStatement, ddlContext(1)).catalog
  return {
    shards: SHARDS,
    clock,
    hlc: new Hlc({ nodeId: 42, clock, rng: new SeededRng(7) }),
    uuidV7: new UuidV7Generator(clock, new SeededRng(8)),
    catalog: () => catalog
  } as unknown as ExecEnv
}

function rowsOf (env: ExecEnv, sql: string): Array<{ shard: ShardId, row: SqlValue[] }> {
  const p = planInsert(env, parseOne(sql) as InsertStatement, [])
  const out: Array<{ shard: ShardId, row: SqlValue[] }> = []
  for (const [shard, writes] of insertWrites(env, p, [])) {
    for (const w of writes) if (w.op === 'insert') out.push({ shard, row: decodeRow(p.shape.types, w.row) })
  }
  return out
}

describe('INSERT with column defaults', () => {
  it('evaluates a gen_uuidv8_hlc() primary key per row, before routing the row', () => {
    const env = envWith('CREATE TABLE ev (id UUID PRIMARY KEY DEFAULT gen_uuidv8_hlc(), name TEXT, n INTEGER DEFAULT 2 * 21)')
    const rows = rowsOf(env, "INSERT INTO ev (name) VALUES ('a'), ('b'), ('c'), ('d'), ('e'), ('f'), ('g'), ('h')")
      .concat(rowsOf(env, "INSERT INTO ev VALUES (DEFAULT, 'i', DEFAULT)"))
    expect(rows).toHaveLength(9)
    const ids = rows.map(r => r.row[0])
    for (const id of ids) {
      expect(id).toBeInstanceOf(SqlUuid)
      expect(uuidv8NodeId((id as SqlUuid).uuid)).toBe(42)
    }
    expect(new Set(ids.map(String)).size).toBe(9)
    const t = planInsert(env, parseOne("INSERT INTO ev (name) VALUES ('z')") as InsertStatement, []).shape
    for (const r of rows) expect(r.shard).toBe(shardOfRow(t, r.row, SHARDS))
    // eight random ids did not all land on one shard: routing looked at each row's own id
    expect(new Set(rows.map(r => r.shard)).size).toBeGreaterThan(1)
    expect(rows.map(r => r.row[2])).toEqual(Array(9).fill(42n))
  })

  it('puts the default into the row program, where EXPLAIN shows it', () => {
    const env = envWith('CREATE TABLE ev (id UUID PRIMARY KEY DEFAULT gen_uuidv8_hlc(), at TIMESTAMP DEFAULT now(), note TEXT)')
    const p = planInsert(env, parseOne("INSERT INTO ev (note) VALUES ('x')") as InsertStatement, [])
    const code = disassemble(p.programs[0]!).join('\n')
    expect(code).toContain('GEN_UUID_V8_HLC')
    expect(code).toContain('NOW')
    expect(p.programs[0]!.outputs.map(o => o.name)).toEqual(['id', 'at', 'note'])
  })

  it('fills omitted trailing columns when there is no column list, and refuses too many values', () => {
    const env = envWith("CREATE TABLE ev (k INTEGER PRIMARY KEY, s TEXT DEFAULT 'dflt', t TEXT)")
    expect(rowsOf(env, 'INSERT INTO ev VALUES (1)').map(r => r.row)).toEqual([[1n, 'dflt', null]])
    expect(() => rowsOf(env, "INSERT INTO ev VALUES (1, 'a', 'b', 'c')")).toThrow(expect.objectContaining({ code: 'SB_SYNTAX_ERROR' }))
  })
})
