import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { asNodeId } from '../../../src/core/ids'
import type { ShardWorkers } from '../../../src/node/shard-workers'
import { deriveStep, deriveUntilCaughtUp, type DeriveDeps } from '../../../src/node/split-derive'
import { childSideOf } from '../../../src/node/split-row-side'
import { cleanupRule } from '../../../src/node/split-cleanup'
import { SplitSwitch } from '../../../src/node/split-switch'
import type { RowWrite } from '../../../src/storage/engine'
import { CAT, CHILD, ownersOf, PARENT, putUser, SHARDS, ship, splitNode, userRow, USERS, versions } from './split-fixtures'
import { nextHlc } from './worker-fixtures'

// The SWITCH of a shard split (cluster/shard-split.ts "3. SWITCH"; storage/split-switch.ts,
// node/split-switch.ts) through real shard workers and LevelDB: the parent's primary appends the
// switch entry at S and refuses child-side writes from then on (SB_SHARD_SPLITTING, nothing
// changed), also a commit of a transaction that wrote one before it, also after a restart and on a
// replica promoted after applying the entry (split-fence.test.ts: which writes pass, which not); every holder's derive stops exactly at S, so a primary's and a
// replica's children are identical; the fence lifts once the node follows 2n.

let started: ShardWorkers[] = []
afterEach(async () => { for (const w of started) await w.stop(); started = [] })
beforeAll(async () => { await initHashing() })

const node = async (nodeId: number, dir?: string): Promise<ShardWorkers> => await splitNode(started, nodeId, dir)
const get = async (w: ShardWorkers, shard: number, pk: string): Promise<Uint8Array | null> =>
  (await w.request('GET', { shard: shard as typeof PARENT, tableId: USERS.info.id, pk: [pk] })).row
const auto = (w: ShardWorkers, writes: RowWrite[]): Promise<unknown> => w.request('AUTOCOMMIT', { shard: PARENT, writes, commitHlc: nextHlc() })
const splitting = { code: 'SB_SHARD_SPLITTING', details: { shard: PARENT, shards: SHARDS } }

/** Every version (tombstones included) of the child's users, comparable. */
const childRows = async (w: ShardWorkers): Promise<string[]> => await versions(w, CHILD, USERS.info.id)

describe('the switch of a split on the parent\'s primary', () => {
  it('a single copy: the switch entry at S fences child-side writes, an earlier transaction\'s commit and a restart; the derive stops at S; the fence lifts at 2n', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-switch-'))
    let p = await node(3, dir)
    const child = ownersOf(USERS, v => [v, null], 2, 6, 'c')
    const parent = ownersOf(USERS, v => [v, null], 0, 6, 'p')
    for (let i = 0; i < 6; i++) await auto(p, [putUser(child[i]!, `c${i}`), putUser(parent[i]!, `p${i}`)])
    const d = (): DeriveDeps => ({ workers: p, catalog: () => CAT, pageRows: 4 })
    await deriveUntilCaughtUp(d(), PARENT, SHARDS, 100)
    // A transaction writes a child-side row before the switch and commits after it.
    const { xid } = await p.request('BEGIN', { shard: PARENT, isolation: 'read_committed', startHlc: nextHlc() })
    await p.request('WRITE', { shard: PARENT, xid, writes: [putUser(child[0]!, 'before the fence')] })

    const count = { shards: SHARDS }
    const sw = (): SplitSwitch => new SplitSwitch({ workers: p, catalog: () => CAT, shardCount: count })
    const { lastLsn } = await p.request('REPL_STATE_GET', { shard: PARENT })
    const s = await sw().beginSwitch(PARENT, SHARDS)
    expect(s).toBe(lastLsn + 1n)
    expect(await sw().beginSwitch(PARENT, SHARDS)).toBe(s)
    const { entries } = await p.request('REPL_LOG_READ', { shard: PARENT, fromLsn: s!, limit: 10, maxBytes: 1 << 20 })
    expect(entries.map(e => [e.lsn, e.control])).toEqual([[s, { kind: 'split_switch', shards: SHARDS, rule: cleanupRule(CAT, SHARDS * 2) }]])

    // Refused and nothing changed: child-side autocommit writes, a statement in a transaction, the earlier transaction's commit.
    await expect(auto(p, [putUser(child[1]!, 'after')])).rejects.toMatchObject(splitting)
    await expect(auto(p, [putUser(parent[1]!, 'after'), putUser(child[1]!, 'after')])).rejects.toMatchObject(splitting)
    await expect(p.request('WRITE', { shard: PARENT, xid, writes: [putUser(child[2]!, 'after')] })).rejects.toMatchObject(splitting)
    await expect(p.request('COMMIT', { shard: PARENT, xid, commitHlc: nextHlc() })).rejects.toMatchObject(splitting)
    await p.request('ROLLBACK', { shard: PARENT, xid })
    expect(await get(p, PARENT, child[0]!)).toEqual(userRow(child[0]!, 'c0'))
    expect(await get(p, PARENT, child[1]!)).toEqual(userRow(child[1]!, 'c1'))
    expect(await get(p, PARENT, parent[1]!)).toEqual(userRow(parent[1]!, 'p1'))
    expect((await p.request('REPL_STATE_GET', { shard: PARENT })).lastLsn).toBe(s)
    // A transaction that only read commits.
    const reader = await p.request('BEGIN', { shard: PARENT, isolation: 'read_committed', startHlc: nextHlc() })
    await p.request('COMMIT', { shard: PARENT, xid: reader.xid, commitHlc: nextHlc() })

    // The derive applies the log to S and stops there.
    expect(await sw().switchedAt(PARENT, SHARDS)).toBeNull()
    const done = await deriveUntilCaughtUp(d(), PARENT, SHARDS, 100)
    expect(done).toMatchObject({ through: s, switchAt: s })
    expect(await sw().switchedAt(PARENT, SHARDS)).toBe(s)

    // A restart of the node keeps the fence (s/splitswitch, written with the entry).
    await p.stop()
    started = started.filter(w => w !== p)
    p = await node(3, dir)
    await expect(auto(p, [putUser(child[2]!, 'after restart')])).rejects.toMatchObject(splitting)
    expect(await sw().beginSwitch(PARENT, SHARDS)).toBe(s)
    expect(await sw().switchedAt(PARENT, SHARDS)).toBe(s)

    // Started while the node still routes by n: the fence holds; once it follows 2n, it lifts.
    await sw().startChild(PARENT, SHARDS)
    await expect(auto(p, [putUser(child[2]!, 'still fenced')])).rejects.toMatchObject(splitting)
    count.shards = SHARDS * 2
    await sw().startChild(PARENT, SHARDS)
    await auto(p, [putUser(parent[2]!, 'after 2n'), putUser(child[3]!, 'written to the parent after S')])
    expect(await get(p, PARENT, parent[2]!)).toEqual(userRow(parent[2]!, 'after 2n'))
    // An entry after S is never applied to the child: its derive is final.
    const before = await childRows(p)
    expect((await deriveStep(d(), PARENT, SHARDS)).caughtUp).toBe(true)
    expect(await childRows(p)).toEqual(before)
    expect(await get(p, CHILD, child[3]!)).toEqual(userRow(child[3]!, 'c3'))
    expect(await get(p, CHILD, child[0]!)).toEqual(userRow(child[0]!, 'c0'))
  })

  it('Mode 1: a prepared transaction holds the switch back; the replica applying the entry is fenced once promoted; primary and replica derive identical children to S', async () => {
    const p = await node(3)
    const r = await node(4)
    await p.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'primary' } })
    await r.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'replica' } })
    const child = ownersOf(USERS, v => [v, null], 2, 20, 'm')
    const parent = ownersOf(USERS, v => [v, null], 0, 20, 'n')
    for (let i = 0; i < 20; i++) await auto(p, [putUser(child[i]!, `c${i}`), putUser(parent[i]!, `p${i}`)])
    await ship(p, r)
    const dp: DeriveDeps = { workers: p, catalog: () => CAT, pageRows: 5 }
    const dr: DeriveDeps = { workers: r, catalog: () => CAT, pageRows: 7 }
    await deriveUntilCaughtUp(dp, PARENT, SHARDS, 100)
    await deriveUntilCaughtUp(dr, PARENT, SHARDS, 100)

    const { xid } = await p.request('BEGIN', { shard: PARENT, isolation: 'read_committed', startHlc: nextHlc() })
    await p.request('WRITE', { shard: PARENT, xid, writes: [putUser(child[4]!, 'prepared')] })
    await p.request('PREPARE', { shard: PARENT, xid })
    const sw = new SplitSwitch({ workers: p, catalog: () => CAT, shardCount: { shards: SHARDS } })
    expect(await sw.beginSwitch(PARENT, SHARDS)).toBeNull()
    await auto(p, [putUser(child[5]!, 'while prepared')])
    await p.request('COMMIT_PREPARED', { shard: PARENT, xid, commitHlc: nextHlc() })
    // Only the primary appends it.
    await expect(new SplitSwitch({ workers: r, catalog: () => CAT, shardCount: { shards: SHARDS } }).beginSwitch(PARENT, SHARDS)).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
    const s = await sw.beginSwitch(PARENT, SHARDS)
    expect(s).not.toBeNull()
    await expect(auto(p, [putUser(child[6]!, 'after')])).rejects.toMatchObject(splitting)
    await ship(p, r)

    await deriveUntilCaughtUp(dp, PARENT, SHARDS, 100)
    await deriveUntilCaughtUp(dr, PARENT, SHARDS, 100)
    expect(await new SplitSwitch({ workers: r, catalog: () => CAT, shardCount: { shards: SHARDS } }).switchedAt(PARENT, SHARDS)).toBe(s)
    expect(await sw.switchedAt(PARENT, SHARDS)).toBe(s)
    const side = childSideOf(() => CAT, PARENT, SHARDS)
    const expected = await versions(p, PARENT, USERS.info.id, (pk, row) => side(USERS.info.id, pk, row))
    expect(await childRows(p)).toEqual(expected)
    expect(await childRows(r)).toEqual(expected)
    expect(await get(r, CHILD, child[4]!)).toEqual(userRow(child[4]!, 'prepared'))
    expect(await get(r, CHILD, child[5]!)).toEqual(userRow(child[5]!, 'while prepared'))

    // A failover: r becomes the primary (generation 3) and keeps refusing, from the entry it applied.
    await r.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 3n, votedFor: asNodeId(4), commitLsn: s!, role: 'primary' } })
    await expect(auto(r, [putUser(child[7]!, 'on the new primary')])).rejects.toMatchObject(splitting)
    expect(await get(r, PARENT, child[7]!)).toEqual(userRow(child[7]!, 'c7'))
    expect(await r.request('SPLIT_FENCE', { shard: PARENT, lift: null })).toEqual({ fence: { shards: SHARDS, lsn: s, rule: cleanupRule(CAT, SHARDS * 2) } })

    // A replica whose copy of the entry is cut back (a failover to a primary that never had it) drops the fence with it.
    const q = await node(5)
    await q.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'replica' } })
    await ship(p, q)
    expect((await q.request('SPLIT_FENCE', { shard: PARENT, lift: null })).fence).toEqual({ shards: SHARDS, lsn: s, rule: cleanupRule(CAT, SHARDS * 2) })
    await q.request('REPL_TRUNCATE', { shard: PARENT, afterLsn: s! - 1n, committedLsn: 0n })
    expect((await q.request('SPLIT_FENCE', { shard: PARENT, lift: null })).fence).toBeNull()
  })

  it('Mode 1: S answers only once the group committed it by a majority — beginSwitch on the primary, switchedAt on a replica — and the same S after', async () => {
    const p = await node(3)
    const r = await node(4)
    await p.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'primary' } })
    await r.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'replica' } })
    const child = ownersOf(USERS, v => [v, null], 2, 6, 'k')
    for (let i = 0; i < 6; i++) await auto(p, [putUser(child[i]!, `c${i}`)])
    await ship(p, r)
    const dp: DeriveDeps = { workers: p, catalog: () => CAT }
    const dr: DeriveDeps = { workers: r, catalog: () => CAT }
    await deriveUntilCaughtUp(dp, PARENT, SHARDS, 100)
    await deriveUntilCaughtUp(dr, PARENT, SHARDS, 100)
    // The group's commit LSN as each node knows it (node/split-wiring.ts groupCommitted reads it from the ShardGroup).
    let commit = 0n
    const committed = (_shard: unknown, lsn: bigint): boolean => commit >= lsn
    const sp = new SplitSwitch({ workers: p, catalog: () => CAT, shardCount: { shards: SHARDS }, committed })
    const sr = new SplitSwitch({ workers: r, catalog: () => CAT, shardCount: { shards: SHARDS }, committed })
    expect(await sp.beginSwitch(PARENT, SHARDS)).toBeNull()
    // Appended and fenced all the same: asked again, the same entry, not a second one.
    const { lastLsn: s } = await p.request('REPL_STATE_GET', { shard: PARENT })
    await expect(auto(p, [putUser(child[0]!, 'after')])).rejects.toMatchObject(splitting)
    expect(await sp.beginSwitch(PARENT, SHARDS)).toBeNull()
    expect((await p.request('REPL_STATE_GET', { shard: PARENT })).lastLsn).toBe(s)
    await ship(p, r)
    await deriveUntilCaughtUp(dr, PARENT, SHARDS, 100)
    // The replica derived exactly to S, but S may still be cut back: not switched yet.
    expect(await sr.switchedAt(PARENT, SHARDS)).toBeNull()
    await expect(sr.startChild(PARENT, SHARDS)).rejects.toMatchObject({ code: 'SB_SPLIT_PROGRESS_MISMATCH' })
    commit = s
    expect(await sp.beginSwitch(PARENT, SHARDS)).toBe(s)
    expect(await sr.switchedAt(PARENT, SHARDS)).toBe(s)
  })
})
