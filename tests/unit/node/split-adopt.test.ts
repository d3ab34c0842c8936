import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { initHashing } from '../../../src/core/hash'
import { asShardId, type ShardId } from '../../../src/core/ids'
import type { ShardWorkers } from '../../../src/node/shard-workers'
import { adoptSplitCount } from '../../../src/node/split-adopt'
import { SplitCleanup } from '../../../src/node/split-cleanup'
import { CAT, CHILD, ownersOf, PARENT, putUser, SHARDS, splitNode, USERS } from './split-fixtures'
import { nextHlc } from './worker-fixtures'

// The step a node takes as its shard count doubles (node/split-adopt.ts) through real shard
// workers and LevelDB: parent 0 of 2 holds rows of both halves, child 2 the child-side copies (as
// the derive leaves them), the parent fenced by its switch entry. In the SAME turn as the count
// becomes 4, the cleanup's scan filter is armed, so a scan of every shard sent right after counts
// each row once — with nothing deleted yet; the fence is lifted only after; the filter holds across
// a restart from its record, before any cleanup pass.

const LOG = pino({ level: 'silent' })
let started: ShardWorkers[] = []
afterEach(async () => { for (const w of started) await w.stop(); started = [] })
beforeAll(async () => { await initHashing() })

const ALL = [0, 1, 2, 3].map(s => asShardId(s))

async function node (dir: string): Promise<ShardWorkers> {
  const w = await splitNode(started, 3, dir)
  for (const s of [CHILD, asShardId(3)]) await w.openShard(s)
  return w
}

/** The users every shard's SCAN returns (what a SELECT without a key reads), sorted. */
async function scanAll (w: ShardWorkers, shards: ShardId[]): Promise<string[]> {
  const out: string[] = []
  for (const shard of shards) {
    const { rows } = await w.request('SCAN', { shard, tableId: USERS.info.id, options: { limit: 1000 } })
    for (const r of rows) out.push(String(r.pk[0]))
  }
  return out.sort()
}

const auto = (w: ShardWorkers, shard: ShardId, id: string, name: string): Promise<unknown> =>
  w.request('AUTOCOMMIT', { shard, writes: [putUser(id, name)], commitHlc: nextHlc() })

describe('a node adopting a split\'s doubled count', () => {
  it('arms the scan filter in the same turn (each row counted once, nothing deleted), lifts the fence after, keeps the filter across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-adopt-'))
    let w = await node(dir)
    const child = ownersOf(USERS, v => [v, null], 2, 8, 'c')
    const parent = ownersOf(USERS, v => [v, null], 0, 8, 'p')
    for (const id of [...child, ...parent]) await auto(w, PARENT, id, 'x')
    for (const id of child) await auto(w, CHILD, id, 'x')
    expect(await w.request('SPLIT_SWITCH', { shard: PARENT, shards: SHARDS, rule: null })).toMatchObject({ lsn: expect.any(BigInt) })
    const want = [...child, ...parent].sort()
    // Before the adoption a scan by 4 would count every child-side row twice (what the filter prevents).
    expect((await scanAll(w, ALL)).length).toBe(want.length + child.length)

    const count = { shards: SHARDS * 2 }
    const cleanup = new SplitCleanup({ workers: w, shardCount: count, catalog: () => CAT, log: LOG })
    let settled = false
    const adopted = adoptSplitCount({ workers: w, shardCount: count, cleanup, settled: () => settled, settleCheckMs: 10, stopped: () => false, log: LOG })
    // Sent in the same turn, not awaited first: the workers take the filter before this scan.
    const scanned = scanAll(w, ALL)
    expect(await scanned).toEqual(want)
    // While a peer may still route by 2 shards, the parent stays fenced (its write of a child-side
    // key would land in the parent and be cleaned away).
    await cleanup.arm()
    await expect(auto(w, PARENT, parent[0]!, 'too early')).rejects.toMatchObject({ code: 'SB_SHARD_SPLITTING' })
    settled = true
    await adopted
    // The fence is lifted: the parent takes writes again.
    expect((await w.request('SPLIT_FENCE', { shard: PARENT, lift: null })).fence).toBeNull()
    await auto(w, PARENT, parent[0]!, 'after the adoption')

    // A restart before any cleanup pass: the recorded rule filters from the engine's open.
    await w.stop()
    started = started.filter(x => x !== w)
    w = await node(dir)
    expect(await scanAll(w, ALL)).toEqual(want)
    // Nothing was deleted by the adoption: the cleanup pass deletes every child-side row of the
    // parent now (their versions), and the filter ends with it.
    let deleted = 0
    await new SplitCleanup({ workers: w, shardCount: count, catalog: () => CAT, log: LOG, onDeleted: (rows) => { deleted += rows } }).kick()
    expect(deleted).toBe(child.length)
    expect(await scanAll(w, ALL)).toEqual(want)
  })

  it('a shard already cleaned for the count: arming filters nothing and records nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-adopt-'))
    const w = await node(dir)
    const parent = ownersOf(USERS, v => [v, null], 0, 4, 'q')
    for (const id of parent) await auto(w, PARENT, id, 'x')
    const count = { shards: SHARDS * 2 }
    const cleanup = new SplitCleanup({ workers: w, shardCount: count, catalog: () => CAT, log: LOG })
    await cleanup.kick()
    await adoptSplitCount({ workers: w, shardCount: count, cleanup, settled: () => true, settleCheckMs: 10, stopped: () => false, log: LOG })
    expect(await scanAll(w, [PARENT])).toEqual(parent.slice().sort())
    expect(await w.request('SPLIT_CLEANUP', { shard: PARENT, rule: { shards: 4, relations: [] }, maxChunks: 1 })).toMatchObject({ done: true })
  })
})
