import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DECISION_TABLE_ID, encodeDecision } from '../../../src/cluster/twopc'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, type ShardId } from '../../../src/core/ids'
import type { Xid } from '../../../src/storage/types'
import { pkTuple, shardOfRow, tableShape, type TableShape } from '../../../src/plan/table-types'
import type { ShardWorkers } from '../../../src/node/shard-workers'
import { cleanupRule } from '../../../src/node/split-cleanup'
import { SplitSwitch } from '../../../src/node/split-switch'
import type { RowWrite } from '../../../src/storage/engine'
import { writeU64 } from '../../../src/storage/keys'
import { LevelKv } from '../../../src/storage/kv-level'
import { SPLIT_SWITCH_META } from '../../../src/storage/split-switch'
import { encodeRow } from '../../../src/types/row-codec'
import type { SqlValue } from '../../../src/types/values'
import { catalogOf } from '../../helpers/catalog-of'
import { PARENT, SHARDS, ship, splitNode } from './split-fixtures'
import { nextHlc, vid } from './worker-fixtures'

// The split's fence refuses only CHILD-side writes (storage/split-fence.ts, split-switch.ts; the
// rule: node/split-cleanup.ts cleanupRule at 2n, sent with the switch), through real shard workers
// and LevelDB, parent shard 0 of 2 (children 0 and 2 of 4): after the switch a parent-side INSERT,
// UPDATE, DELETE, key move within the parent, index entry, decision record, transaction commit and
// PREPARE go through, while a child-side one — or a statement or transaction holding one, a key
// move across the halves in either direction, a relation the rule does not name — is refused with
// SB_SHARD_SPLITTING and changes nothing. The fence keeps its rule across a restart (s/splitswitch)
// and on a Mode 1 replica that applied the entry (it carries the rule); a record of the earlier
// format (no rule) fences every write.

let started: ShardWorkers[] = []
afterEach(async () => { for (const w of started) await w.stop(); started = [] })
beforeAll(async () => { await initHashing() })

const CAT = catalogOf([
  'CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT)',
  'CREATE INDEX users_name ON users (name) LOCAL',
  // Partitioned by a column outside its key: the rule cannot place its keys (left out of it).
  'CREATE TABLE events (id BIGINT PRIMARY KEY, owner TEXT NOT NULL, body TEXT)',
  "ALTER TABLE events SET partition_key_columns = 'owner'"
])
const shape = (name: string): TableShape => tableShape(CAT.table(name)!)
const USERS = shape('users')
const INDEX = shape('users_name')
const EVENTS = shape('events')
const RULE = cleanupRule(CAT, SHARDS * 2)

const put = (t: TableShape, values: SqlValue[]): RowWrite => ({ op: 'put', tableId: t.info.id, pk: pkTuple(t, values), row: encodeRow(t.types, values), versionId: vid() })
const ins = (t: TableShape, values: SqlValue[]): RowWrite => ({ op: 'insert', tableId: t.info.id, pk: pkTuple(t, values), row: encodeRow(t.types, values), versionId: vid() })
const upd = (t: TableShape, values: SqlValue[]): RowWrite => ({ op: 'update', tableId: t.info.id, pk: pkTuple(t, values), row: encodeRow(t.types, values), versionId: vid() })
const del = (t: TableShape, values: SqlValue[]): RowWrite => ({ op: 'delete', tableId: t.info.id, pk: pkTuple(t, values), versionId: vid() })
const user = (id: string, name: string): SqlValue[] => [id, name]

/** User ids of parent shard 0 of 2 on side `want` of 4 (0: stays, 2: moves to the child). */
function idsOf (want: 0 | 2, count: number, tag: string): string[] {
  const out: string[] = []
  for (let i = 0; out.length < count; i++) if (shardOfRow(USERS, [`${tag}${i}`, null], SHARDS * 2) === want) out.push(`${tag}${i}`)
  return out
}

const splitting = { code: 'SB_SHARD_SPLITTING', details: { shard: PARENT, shards: SHARDS } }
const auto = (w: ShardWorkers, writes: RowWrite[]): Promise<unknown> => w.request('AUTOCOMMIT', { shard: PARENT, writes, commitHlc: nextHlc() })
const name = async (w: ShardWorkers, t: TableShape, pk: SqlValue[], shard: ShardId = PARENT): Promise<string | null> => {
  const { row } = await w.request('GET', { shard, tableId: t.info.id, pk: pkTuple(t, pk) })
  return row === null ? null : Buffer.from(row).toString('hex') === Buffer.from(encodeRow(t.types, pk)).toString('hex') ? 'same' : Buffer.from(row).toString('hex')
}
/** The name column of user `id` on the parent (null: no row). */
const nameOf = async (w: ShardWorkers, id: string): Promise<string | null> => {
  const { row } = await w.request('GET', { shard: PARENT, tableId: USERS.info.id, pk: [id] })
  if (row === null) return null
  for (const n of ['c', 'p', 'before', 'after', 'moved', 'restart', 'replica']) {
    for (let i = 0; i < 10; i++) if (Buffer.compare(Buffer.from(row), Buffer.from(encodeRow(USERS.types, user(id, `${n}${i}`)))) === 0) return `${n}${i}`
  }
  return 'other'
}
const begin = async (w: ShardWorkers): Promise<Xid> => (await w.request('BEGIN', { shard: PARENT, isolation: 'read_committed', startHlc: nextHlc() })).xid
const lastLsn = async (w: ShardWorkers): Promise<bigint> => (await w.request('REPL_STATE_GET', { shard: PARENT })).lastLsn

describe('the split fence refuses only child-side writes', () => {
  it('a single copy: parent-side writes and commits go through; child-side ones, mixed ones, moves across the halves and unplaceable relations are refused and change nothing; a restart keeps the rule', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-fence-'))
    let p = await splitNode(started, 3, dir)
    // Indexes 8 and up are keys not written before the switch.
    const C = idsOf(2, 10, 'c')
    const P = idsOf(0, 11, 'p')
    for (let i = 0; i < 8; i++) await auto(p, [put(USERS, user(C[i]!, `c${i}`)), put(USERS, user(P[i]!, `p${i}`))])
    // Transactions open across the switch: one wrote a child-side row, one only parent-side rows.
    const childTxn = await begin(p)
    await p.request('WRITE', { shard: PARENT, xid: childTxn, writes: [upd(USERS, user(C[0]!, 'before0'))] })
    const childPrepare = await begin(p)
    await p.request('WRITE', { shard: PARENT, xid: childPrepare, writes: [upd(USERS, user(C[7]!, 'before1'))] })
    const parentTxn = await begin(p)
    await p.request('WRITE', { shard: PARENT, xid: parentTxn, writes: [upd(USERS, user(P[0]!, 'before0'))] })

    // A rule that does not place keys among 2n is bad input: refused, nothing appended or fenced.
    const unswitched = await lastLsn(p)
    await expect(p.request('SPLIT_SWITCH', { shard: PARENT, shards: SHARDS, rule: { ...RULE, shards: SHARDS * 4 } })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    expect(await lastLsn(p)).toBe(unswitched)
    expect((await p.request('SPLIT_FENCE', { shard: PARENT, lift: null })).fence).toBeNull()

    const s = await new SplitSwitch({ workers: p, catalog: () => CAT, shardCount: { shards: SHARDS } }).beginSwitch(PARENT, SHARDS)
    expect(s).not.toBeNull()
    const { entries } = await p.request('REPL_LOG_READ', { shard: PARENT, fromLsn: s!, limit: 10, maxBytes: 1 << 20 })
    expect(entries.map(e => e.control)).toEqual([{ kind: 'split_switch', shards: SHARDS, rule: RULE }])

    // Refused, nothing changed, nothing logged.
    const refused: Array<[string, RowWrite[]]> = [
      ['a child-side insert', [ins(USERS, user(C[8]!, 'c1'))]],
      ['a child-side update', [upd(USERS, user(C[1]!, 'after1'))]],
      ['a child-side delete', [del(USERS, user(C[2]!, 'c2'))]],
      ['a statement with a parent-side and a child-side row', [upd(USERS, user(P[1]!, 'after1')), upd(USERS, user(C[1]!, 'after1'))]],
      ['a key moved from the parent side to the child side', [del(USERS, user(P[2]!, 'p2')), ins(USERS, user(C[9]!, 'moved2'))]],
      ['a key moved from the child side to the parent side', [del(USERS, user(C[3]!, 'c3')), ins(USERS, user(P[8]!, 'moved3'))]],
      ['a child-side index entry', [put(INDEX, ['n', C[4]!])]],
      ['a row of a relation the rule cannot place', [put(EVENTS, [1n, P[0]!, 'b'])]],
      ['a child-side decision record', [{ op: 'insert', tableId: DECISION_TABLE_ID, pk: [6n], row: encodeDecision({ outcome: 'abort' }), versionId: vid() }]]
    ]
    const before = await lastLsn(p)
    for (const [what, writes] of refused) await expect(auto(p, writes), what).rejects.toMatchObject(splitting)
    const t = await begin(p)
    await expect(p.request('WRITE', { shard: PARENT, xid: t, writes: [upd(USERS, user(C[1]!, 'after1'))] })).rejects.toMatchObject(splitting)
    await expect(p.request('COMMIT', { shard: PARENT, xid: childTxn, commitHlc: nextHlc() })).rejects.toMatchObject(splitting)
    await p.request('ROLLBACK', { shard: PARENT, xid: childTxn })
    await expect(p.request('PREPARE', { shard: PARENT, xid: childPrepare })).rejects.toMatchObject(splitting)
    await p.request('ROLLBACK', { shard: PARENT, xid: childPrepare })
    // A statement with a child-side row in a transaction that wrote a parent-side one is refused alone.
    const pt = await begin(p)
    await p.request('WRITE', { shard: PARENT, xid: pt, writes: [upd(USERS, user(P[3]!, 'after3'))] })
    await expect(p.request('WRITE', { shard: PARENT, xid: pt, writes: [upd(USERS, user(C[5]!, 'after5'))] })).rejects.toMatchObject(splitting)
    await p.request('ROLLBACK', { shard: PARENT, xid: pt })
    expect(await lastLsn(p)).toBe(before)
    for (let i = 1; i < 6; i++) expect(await nameOf(p, C[i]!)).toBe(`c${i}`)
    expect(await nameOf(p, C[0]!)).toBe('c0')
    expect(await nameOf(p, P[1]!)).toBe('p1')
    expect(await nameOf(p, P[2]!)).toBe('p2')
    expect(await nameOf(p, C[9]!)).toBeNull()
    expect(await nameOf(p, P[8]!)).toBeNull()
    expect(await name(p, INDEX, ['n', C[4]!])).toBeNull()
    expect(await name(p, EVENTS, [1n, P[0]!, 'b'])).toBeNull()

    // Parent-side writes go through: insert, update, delete, a key moved within the parent's half,
    // an index entry, a decision record of a parent-side xid, the commit of the parent-only
    // transaction, and a PREPARE whose decision lands after the switch.
    await auto(p, [ins(USERS, user(P[9]!, 'after7'))])
    await auto(p, [upd(USERS, user(P[1]!, 'after1'))])
    await auto(p, [del(USERS, user(P[2]!, 'p2'))])
    await auto(p, [del(USERS, user(P[4]!, 'p4')), ins(USERS, user(P[10]!, 'moved4'))])
    await auto(p, [put(INDEX, ['n', P[3]!])])
    await auto(p, [{ op: 'insert', tableId: DECISION_TABLE_ID, pk: [8n], row: encodeDecision({ outcome: 'abort' }), versionId: vid() }])
    await p.request('COMMIT', { shard: PARENT, xid: parentTxn, commitHlc: nextHlc() })
    const prepared = await begin(p)
    await p.request('WRITE', { shard: PARENT, xid: prepared, writes: [upd(USERS, user(P[6]!, 'after6'))] })
    await p.request('PREPARE', { shard: PARENT, xid: prepared })
    await p.request('COMMIT_PREPARED', { shard: PARENT, xid: prepared, commitHlc: nextHlc() })
    expect(await lastLsn(p)).toBeGreaterThan(before)
    expect(await nameOf(p, P[9]!)).toBe('after7')
    expect(await nameOf(p, P[1]!)).toBe('after1')
    expect(await nameOf(p, P[2]!)).toBeNull()
    expect(await nameOf(p, P[4]!)).toBeNull()
    expect(await nameOf(p, P[10]!)).toBe('moved4')
    expect(await name(p, INDEX, ['n', P[3]!])).toBe('same')
    expect(await nameOf(p, P[0]!)).toBe('before0')
    expect(await nameOf(p, P[6]!)).toBe('after6')

    // A restart re-reads the fence with its rule from s/splitswitch.
    await p.stop()
    started = started.filter(w => w !== p)
    p = await splitNode(started, 3, dir)
    expect((await p.request('SPLIT_FENCE', { shard: PARENT, lift: null })).fence).toEqual({ shards: SHARDS, lsn: s, rule: RULE })
    await expect(auto(p, [upd(USERS, user(C[1]!, 'restart1'))])).rejects.toMatchObject(splitting)
    await auto(p, [upd(USERS, user(P[1]!, 'restart1'))])
    expect(await nameOf(p, C[1]!)).toBe('c1')
    expect(await nameOf(p, P[1]!)).toBe('restart1')
    // Switched again for the same n: the same S, the fence unchanged.
    expect(await new SplitSwitch({ workers: p, catalog: () => CAT, shardCount: { shards: SHARDS } }).beginSwitch(PARENT, SHARDS)).toBe(s)
  })

  it('a fence record of the earlier format (n and S, no rule) fences every write, parent-side ones included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-fence-old-'))
    let p = await splitNode(started, 3, dir)
    const C = idsOf(2, 2, 'c')
    const P = idsOf(0, 2, 'p')
    await auto(p, [put(USERS, user(C[0]!, 'c0')), put(USERS, user(P[0]!, 'p0'))])
    const s = await lastLsn(p)
    await p.stop()
    started = started.filter(w => w !== p)
    // What the previous release wrote with its switch entry: shards u32 · S u64, 12 bytes.
    const old = new Uint8Array(12)
    new DataView(old.buffer).setUint32(0, SHARDS)
    writeU64(old, 4, s)
    const kv = await LevelKv.open(join(dir, 'shards', String(PARENT)))
    try { await kv.batch([{ type: 'put', key: SPLIT_SWITCH_META, value: old }], { sync: true }) } finally { await kv.close() }

    p = await splitNode(started, 3, dir)
    expect((await p.request('SPLIT_FENCE', { shard: PARENT, lift: null })).fence).toEqual({ shards: SHARDS, lsn: s, rule: null })
    await expect(auto(p, [upd(USERS, user(P[0]!, 'after0'))])).rejects.toMatchObject(splitting)
    await expect(auto(p, [upd(USERS, user(C[0]!, 'after0'))])).rejects.toMatchObject(splitting)
    expect(await nameOf(p, P[0]!)).toBe('p0')
    expect(await lastLsn(p)).toBe(s)
    // Lifted as before once the node follows 2n.
    await p.request('SPLIT_FENCE', { shard: PARENT, lift: SHARDS })
    await auto(p, [upd(USERS, user(P[0]!, 'after0'))])
    expect(await nameOf(p, P[0]!)).toBe('after0')
  })

  it('Mode 1: the replica applying the switch entry fences the same child-side writes (the entry carries the rule), and keeps doing so promoted', async () => {
    const p = await splitNode(started, 3)
    const r = await splitNode(started, 4)
    await p.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'primary' } })
    await r.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'replica' } })
    const C = idsOf(2, 4, 'c')
    const P = idsOf(0, 3, 'p')
    for (let i = 0; i < 3; i++) await auto(p, [put(USERS, user(C[i]!, `c${i}`)), put(USERS, user(P[i]!, `p${i}`))])
    const s = await new SplitSwitch({ workers: p, catalog: () => CAT, shardCount: { shards: SHARDS } }).beginSwitch(PARENT, SHARDS)
    expect(s).not.toBeNull()
    // The primary goes on with parent-side writes after S; the replica applies them with the entry.
    await auto(p, [upd(USERS, user(P[0]!, 'after0'))])
    await expect(auto(p, [upd(USERS, user(C[0]!, 'after0'))])).rejects.toMatchObject(splitting)
    await ship(p, r)
    expect((await r.request('SPLIT_FENCE', { shard: PARENT, lift: null })).fence).toEqual({ shards: SHARDS, lsn: s, rule: RULE })
    expect(await nameOf(r, P[0]!)).toBe('after0')

    await r.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 3n, votedFor: asNodeId(4), commitLsn: await lastLsn(r), role: 'primary' } })
    await expect(auto(r, [upd(USERS, user(C[1]!, 'replica1'))])).rejects.toMatchObject(splitting)
    await expect(auto(r, [del(USERS, user(P[1]!, 'p1')), ins(USERS, user(C[3]!, 'moved1'))])).rejects.toMatchObject(splitting)
    await auto(r, [upd(USERS, user(P[1]!, 'replica1'))])
    expect(await nameOf(r, C[1]!)).toBe('c1')
    expect(await nameOf(r, P[1]!)).toBe('replica1')
    expect(await nameOf(r, C[3]!)).toBeNull()
  })
})
