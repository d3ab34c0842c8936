import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, MAX_SHARDS } from '../../../src/core/ids'
import { rpcPayloads } from '../../../src/net/rpc/payloads'
import { SnapshotStreams } from '../../../src/node/replication/snapshot-stream'
import type { ShardWorkers } from '../../../src/node/shard-workers'
import { cleanupRule } from '../../../src/node/split-cleanup'
import { SplitSwitch } from '../../../src/node/split-switch'
import { shardOfRow } from '../../../src/plan/table-types'
import type { Tuple } from '../../../src/storage/keys'
import { CAT, PARENT, putUser, SHARDS, splitNode, userRow, USERS } from './split-fixtures'
import { nextHlc } from './worker-fixtures'

// A Mode 1 replica of a split's parent bootstrapped by a snapshot (storage/snapshot-split.ts):
// the snapshot carries the parent's fence record and cleanup state, through real shard workers,
// LevelDB, the node's snapshot stream and the RPC codec between the two "nodes". Parent shard 0
// of 2, children 0 and 2 of 4. A replica bootstrapped after the switch from a fenced primary
// refuses child-side writes once promoted (its log starts after S: it never applies the switch
// entry); one bootstrapped from a primary mid-cleanup counts each row once and has nothing to
// clean; one that had finished its own cleanup, bootstrapped from a primary still fenced (whose
// node follows 2 shards yet), filters the moved rows at once and cleans them.

let started: ShardWorkers[] = []
afterEach(async () => { for (const w of started) await w.stop(); started = [] })
beforeAll(async () => { await initHashing() })

const RULE = cleanupRule(CAT, SHARDS * 2)
const splitting = { code: 'SB_SHARD_SPLITTING', details: { shard: PARENT, shards: SHARDS } }

/** User ids of parent shard 0 of 2 on side `want` of 4 (0: stays, 2: moves to the child). */
function idsOf (want: 0 | 2, count: number, tag: string): string[] {
  const out: string[] = []
  for (let i = 0; out.length < count; i++) if (shardOfRow(USERS, [`${tag}${i}`, null], SHARDS * 2) === want) out.push(`${tag}${i}`)
  return out
}

const auto = (w: ShardWorkers, writes: ReturnType<typeof putUser>[]): Promise<unknown> => w.request('AUTOCOMMIT', { shard: PARENT, writes, commitHlc: nextHlc() })
const lastLsn = async (w: ShardWorkers): Promise<bigint> => (await w.request('REPL_STATE_GET', { shard: PARENT })).lastLsn
const fenceOf = async (w: ShardWorkers): Promise<unknown> => (await w.request('SPLIT_FENCE', { shard: PARENT, lift: null })).fence
const nameOf = async (w: ShardWorkers, id: string): Promise<string | null> => {
  const { row } = await w.request('GET', { shard: PARENT, tableId: USERS.info.id, pk: [id] })
  if (row === null) return null
  for (const n of ['c', 'p', 'after', 'promoted']) if (Buffer.compare(Buffer.from(row), Buffer.from(userRow(id, n))) === 0) return n
  return 'other'
}

/** The user ids the parent's SCAN returns (what a SELECT without a key reads of it). */
async function scanIds (w: ShardWorkers): Promise<string[]> {
  const out: string[] = []
  let after: Tuple | undefined
  for (;;) {
    const { rows } = await w.request('SCAN', { shard: PARENT, tableId: USERS.info.id, options: after === undefined ? { limit: 100 } : { gt: after, limit: 100 } })
    for (const r of rows) out.push(r.pk[0] as string)
    if (rows.length < 100) return out.sort()
    after = rows[rows.length - 1]!.pk
  }
}

/**
 * Bootstrap `to`'s copy of the parent from `from`'s, as a primary streams it: the node's snapshot
 * stream, each chunk through the RPC codec (REPL_SNAPSHOT_CHUNK), installed as the receiving
 * group does (node/replication/shard-group.ts: REPL_SNAPSHOT_INSTALL with the chunk's split state).
 */
async function bootstrap (from: ShardWorkers, to: ShardWorkers): Promise<void> {
  const codec = rpcPayloads('REPL_SNAPSHOT_CHUNK')
  const streams = new SnapshotStreams({
    self: asNodeId(3),
    workers: from,
    // The test workers' ring limit (worker-fixtures.ts): chunks of a few KB.
    maxMessageBytes: 1 << 14,
    sendChunk: async (_to, sent) => {
      const c = codec.request.decode(codec.request.encode(sent))
      return await to.request('REPL_SNAPSHOT_INSTALL', {
        shard: PARENT, snapshotId: c.snapshotId, lsn: c.lsn, generation: c.snapshotGeneration, hlcHighWater: c.hlcHighWater, after: c.after, entries: c.entries, done: c.done, voters: c.voters ?? null, split: c.split ?? null
      })
    },
    log: (_level, message) => { logged.push(message) },
    now: () => 0
  })
  const logged: string[] = []
  expect(await streams.stream(PARENT, asNodeId(4), 2), logged.join('\n')).not.toBeNull()
}

async function primary (w: ShardWorkers, generation: bigint, node: number): Promise<void> {
  await w.request('REPL_STATE_SET', { shard: PARENT, state: { generation, votedFor: asNodeId(node), commitLsn: await lastLsn(w), role: 'primary' } })
}

describe('a replica of a split parent bootstrapped by a snapshot', () => {
  it('from a fenced primary after the switch: holds the same fence, and refuses child-side writes once promoted', async () => {
    const p = await splitNode(started, 3)
    const r = await splitNode(started, 4)
    await primary(p, 2n, 3)
    const C = idsOf(2, 3, 'c')
    const P = idsOf(0, 3, 'p')
    for (let i = 0; i < 3; i++) await auto(p, [putUser(C[i]!, 'c'), putUser(P[i]!, 'p')])
    const s = await new SplitSwitch({ workers: p, catalog: () => CAT, shardCount: { shards: SHARDS } }).beginSwitch(PARENT, SHARDS)
    expect(s).not.toBeNull()
    await auto(p, [putUser(P[0]!, 'after')])

    // The replica's log starts after the snapshot's LSN, past S: it never applies the switch entry.
    await bootstrap(p, r)
    expect(await lastLsn(r)).toBe(await lastLsn(p))
    expect(await lastLsn(r)).toBeGreaterThan(s!)
    expect(await fenceOf(r)).toEqual({ shards: SHARDS, lsn: s, rule: RULE })
    expect(await nameOf(r, P[0]!)).toBe('after')

    // Promoted (the old primary failed): a child-side write would be in no child (derived to S) and
    // deleted by the cleanup — refused, nothing changed; parent-side writes go on.
    await primary(r, 3n, 4)
    const before = await lastLsn(r)
    await expect(auto(r, [putUser(C[0]!, 'promoted')])).rejects.toMatchObject(splitting)
    await expect(auto(r, [putUser(`${C[0]!}-new`, 'promoted'), putUser(P[1]!, 'promoted')])).rejects.toMatchObject(splitting)
    expect(await lastLsn(r)).toBe(before)
    expect(await nameOf(r, C[0]!)).toBe('c')
    expect(await nameOf(r, P[1]!)).toBe('p')
    await auto(r, [putUser(P[1]!, 'promoted')])
    expect(await nameOf(r, P[1]!)).toBe('promoted')
  })

  it('from a primary still fenced, onto a replica that had finished its own cleanup: the moved rows are filtered at once and cleaned; from a primary mid-cleanup: each row once, nothing to clean', async () => {
    const p = await splitNode(started, 3)
    const done = await splitNode(started, 4)
    const fresh = await splitNode(started, 5)
    await primary(p, 2n, 3)
    // More child-side keys than one cleanup chunk looks at (CLEANUP_CHUNK_KEYS), so it can stop midway.
    const C = idsOf(2, 400, 'c')
    const P = idsOf(0, 400, 'p')
    for (let i = 0; i < 400; i += 50) await auto(p, [...C.slice(i, i + 50).map(id => putUser(id, 'c')), ...P.slice(i, i + 50).map(id => putUser(id, 'p'))])
    const s = await new SplitSwitch({ workers: p, catalog: () => CAT, shardCount: { shards: SHARDS } }).beginSwitch(PARENT, SHARDS)
    expect(s).not.toBeNull()

    // A replica whose node follows 4 shards and finished its cleanup for 4 (s/split-clean-at = 4).
    await done.request('SPLIT_CLEANUP', { shard: PARENT, rule: RULE, maxChunks: 10 })
    expect((await done.request('SPLIT_CLEANUP', { shard: PARENT, rule: RULE, maxChunks: 0 })).done).toBe(true)
    // Bootstrapped from the primary, whose node still follows 2 (fenced, nothing cleaned): the rows
    // hold the child's side. They are filtered at once (the fence's rule is the cleanup's at 4) …
    await bootstrap(p, done)
    expect(await fenceOf(done)).toEqual({ shards: SHARDS, lsn: s, rule: RULE })
    expect(await scanIds(done)).toEqual([...P].sort())
    // … and the next cleanup pass deletes them (a finished mark kept from before would skip them for good).
    let deleted = 0
    for (let i = 0; i < 10; i++) {
      const step = await done.request('SPLIT_CLEANUP', { shard: PARENT, rule: RULE, maxChunks: 4 })
      deleted += step.rows
      if (step.done) break
    }
    expect(deleted).toBe(C.length)
    expect(await scanIds(done)).toEqual([...P].sort())

    // The primary's node adopts 4: the fence lifted, the cleanup armed and one chunk run (midway).
    await p.request('SPLIT_FENCE', { shard: PARENT, lift: SHARDS })
    const first = await p.request('SPLIT_CLEANUP', { shard: PARENT, rule: RULE, maxChunks: 1 })
    expect(first.done).toBe(false)
    expect(first.rows).toBeGreaterThan(0)
    expect(await scanIds(p)).toEqual([...P].sort())
    // A replica bootstrapped now holds no moved row: each row once, no fence, nothing left to clean.
    await bootstrap(p, fresh)
    expect(await fenceOf(fresh)).toBeNull()
    expect(await scanIds(fresh)).toEqual([...P].sort())
    expect(await fresh.request('SPLIT_CLEANUP', { shard: PARENT, rule: RULE, maxChunks: 10 })).toEqual({ rows: 0, backVersions: 0, done: true })
  })

  it('from a source with no split state (or of the previous release): a fence of its own after the snapshot\'s LSN is dropped, its own cleanup restarts from the first key', async () => {
    const p = await splitNode(started, 3)
    const r = await splitNode(started, 4)
    // The replica's own history: rows, a switch at S = 17 (an entry the new source's log does not
    // hold), a cleanup stopped after its first chunk (its cursor past the first keys).
    const mine = [...idsOf(2, 400, 'rc'), ...idsOf(0, 400, 'rp')]
    for (let i = 0; i < 800; i += 50) await auto(r, mine.slice(i, i + 50).map(id => putUser(id, 'p')))
    const s = await new SplitSwitch({ workers: r, catalog: () => CAT, shardCount: { shards: SHARDS } }).beginSwitch(PARENT, SHARDS)
    expect(s).toBe(17n)
    expect((await r.request('SPLIT_CLEANUP', { shard: PARENT, rule: RULE, maxChunks: 1 })).done).toBe(false)

    await primary(p, 2n, 3)
    const C = idsOf(2, 400, 'c')
    const P = idsOf(0, 400, 'p')
    for (let i = 0; i < 400; i += 100) await auto(p, [...C.slice(i, i + 100).map(id => putUser(id, 'c')), ...P.slice(i, i + 100).map(id => putUser(id, 'p'))])
    expect(await lastLsn(p)).toBeLessThan(s!)
    await bootstrap(p, r)
    expect(await fenceOf(r)).toBeNull()
    // The cleanup's filter stays armed over the new rows, and its next passes delete every moved
    // one (resumed at the old cursor, those before it would be left and show again once it ends).
    expect(await scanIds(r)).toEqual([...P].sort())
    let deleted = 0
    for (let i = 0; i < 10; i++) {
      const step = await r.request('SPLIT_CLEANUP', { shard: PARENT, rule: RULE, maxChunks: 4 })
      deleted += step.rows
      if (step.done) break
    }
    expect(deleted).toBe(C.length)
    expect(await scanIds(r)).toEqual([...P].sort())
  })

  it('a split state that does not decode is refused (SB_BAD_ARGUMENT) and changes nothing', async () => {
    const r = await splitNode(started, 4)
    await auto(r, [putUser('k', 'p')])
    const lsn = await lastLsn(r)
    for (const split of [{ fence: Uint8Array.of(9, 9, 9), cleanedFor: 0 }, { fence: null, cleanedFor: MAX_SHARDS + 1 }]) {
      await expect(r.request('REPL_SNAPSHOT_INSTALL', { shard: PARENT, snapshotId: 1n, lsn: 5n, generation: 1n, hlcHighWater: 1n, after: null, entries: [], done: true, voters: null, split }))
        .rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    }
    expect(await lastLsn(r)).toBe(lsn)
    expect(await nameOf(r, 'k')).toBe('p')
    expect((await r.request('REPL_STATE_GET', { shard: PARENT })).bootstrap).toBeNull()
  })
})
