import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { Catalog } from '../../../src/catalog/catalog'
import type { ClusterLayout } from '../../../src/cluster/layout'
import type { SplitParentReport, SplitSwitchHooks } from '../../../src/cluster/split-progress'
import { ManualClock } from '../../../src/core/clock'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId, asXid, type NodeId, type ShardId } from '../../../src/core/ids'
import { ddlContext } from '../../../src/plan/column-default'
import { shardOfRow, tableShape } from '../../../src/plan/table-types'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { SplitRunner, type SplitRunnerDeps } from '../../../src/node/split-runner'
import { SPLIT_CAUGHT_UP_FILE, splitCaughtUpStore } from '../../../src/node/split-caught-up'
import { childSideOf } from '../../../src/node/split-row-side'
import type { TableDdlStatement } from '../../../src/sql/ast'
import { parseOne } from '../../../src/sql/parser'
import type { RowWrite } from '../../../src/storage/engine'
import { encodeTuple, type Tuple } from '../../../src/storage/keys'
import type { SplitScanRow } from '../../../src/storage/version-scan'
import { encodeRow } from '../../../src/types/row-codec'
import { nextHlc, testWorkerOptions, vid } from './worker-fixtures'

// The RUN of a shard split on one node (node/split-runner.ts; cluster/split-run.ts): real shard
// workers and LevelDB hold shards 0 and 1 of 2; the runner, driven by a layout carrying
// split: { to: 4 }, derives children 2 and 3 while a writer runs, reports per parent, asks the
// switch half to begin only once every holder reports caught up, starts a child once it switched,
// empties a child a cancelled derive left rows in, restarts a stale derive from empty, and on a
// cancel ends its derives and empties the children. The switch half (node/split-switch.ts) is
// another branch: SplitSwitchHooks is a recording implementation here, in this test file only.

const SELF = asNodeId(3)
const OTHER = asNodeId(4)
let started: ShardWorkers[] = []
afterEach(async () => { for (const w of started) await w.stop(); started = [] })
beforeAll(async () => { await initHashing() })

async function node (nodeId: NodeId = SELF, dir = mkdtempSync(join(tmpdir(), 'sb-splitrun-'))): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(dir, { nodeId, clock: new ManualClock() }), pino({ level: 'silent' }), () => {})
  await w.start([[asShardId(0), asShardId(1)]])
  started.push(w)
  return w
}

let cat = new Catalog()
cat = cat.apply(parseOne('CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT)') as TableDdlStatement, ddlContext(3)).catalog
const CAT = cat
const USERS = tableShape(CAT.tableById(CAT.mustTable('users').id)!)
const userRow = (id: string, name: string): Uint8Array => encodeRow(USERS.types, [id, name])
const putUser = (id: string, name: string): RowWrite => ({ op: 'put', tableId: USERS.info.id, pk: [id], row: userRow(id, name), versionId: vid() })
const delUser = (id: string): RowWrite => ({ op: 'delete', tableId: USERS.info.id, pk: [id], versionId: vid() })

/** Keys whose rows fall in shard `quarter` of 4 (parents 0, 1 of 2; children 2, 3). */
function keysIn (quarter: number, count: number, tag: string): string[] {
  const out: string[] = []
  for (let i = 0; out.length < count; i++) if (shardOfRow(USERS, [`${tag}${i}`, null] as never, 4) === quarter) out.push(`${tag}${i}`)
  return out
}

const SPLITTING: ClusterLayout = { cluster: 't', shards: 2, epoch: 2, members: [SELF, OTHER], split: { to: 4 } }

class RecordingHooks implements SplitSwitchHooks {
  readonly begun: Array<{ parent: ShardId, shards: number }> = []
  readonly startedChildren: ShardId[] = []
  /** What beginSwitch answers, in order (null: not yet); the last one repeats. */
  answers: Array<bigint | null> = [null, 77n]
  readonly switched = new Map<ShardId, bigint>()
  async beginSwitch (parent: ShardId, shards: number): Promise<bigint | null> {
    this.begun.push({ parent, shards })
    return this.answers.length > 1 ? this.answers.shift()! : this.answers[0]!
  }

  async switchedAt (parent: ShardId): Promise<bigint | null> { return this.switched.get(parent) ?? null }
  async startChild (parent: ShardId): Promise<void> { this.startedChildren.push(parent) }
}

interface Harness {
  runner: SplitRunner
  hooks: RecordingHooks
  published: SplitParentReport[][]
  gossip: Map<NodeId, SplitParentReport[]>
  setLayout: (l: ClusterLayout) => void
}

function harness (w: ShardWorkers, holders: (p: ShardId) => NodeId[], opts: { pageRows?: number, stepsPerTick?: number, hooks?: RecordingHooks, caughtUp?: SplitRunnerDeps['caughtUp'], votersSettled?: () => boolean } = {}): Harness {
  let layout = SPLITTING
  const hooks = opts.hooks ?? new RecordingHooks()
  const published: SplitParentReport[][] = []
  const gossip = new Map<NodeId, SplitParentReport[]>()
  const runner = new SplitRunner({
    selfId: SELF,
    derive: { workers: w, catalog: () => CAT, pageRows: opts.pageRows ?? 5 },
    hooks,
    layout: () => layout,
    holdersOf: holders,
    isPrimary: () => true,
    reports: () => gossip,
    publish: r => { published.push(r); gossip.set(SELF, r) },
    ...(opts.caughtUp !== undefined ? { caughtUp: opts.caughtUp } : {}),
    ...(opts.votersSettled !== undefined ? { votersSettled: opts.votersSettled } : {}),
    log: pino({ level: 'silent' }),
    stepsPerTick: opts.stepsPerTick ?? 2
  })
  return { runner, hooks, published, gossip, setLayout: l => { layout = l } }
}

/** Every live version of `shard` (optionally only the parent's child-side rows), comparable. */
async function versions (w: ShardWorkers, shard: ShardId, keep: (pk: Uint8Array, row: Uint8Array) => boolean = () => true): Promise<string[]> {
  const out: string[] = []
  let after: Tuple | null = null
  for (;;) {
    const { rows }: { rows: SplitScanRow[] } = await w.request('SPLIT_SCAN', { shard, tableId: USERS.info.id, after, limit: 100 })
    for (const x of rows) if (x.row !== null && keep(encodeTuple(x.pk), x.row)) out.push(`${String(x.pk[0])} ${Buffer.from(x.versionId).toString('hex')} ${x.commitHlc}`)
    if (rows.length < 100) return out
    after = rows[rows.length - 1]!.pk
  }
}

async function expectChildExact (w: ShardWorkers, parent: ShardId): Promise<void> {
  const side = childSideOf(() => CAT, parent, 2)
  const expected = await versions(w, parent, (pk, row) => side(USERS.info.id, pk, row))
  expect(expected.length).toBeGreaterThan(0)
  expect(await versions(w, asShardId(parent + 2))).toEqual(expected)
}

const own = (h: Harness, parent: number): SplitParentReport | undefined => h.runner.reports().find(r => r.parent === parent)

async function tickUntil (h: Harness, done: () => boolean, max = 200): Promise<void> {
  for (let i = 0; i < max && !done(); i++) await h.runner.tick()
  expect(done()).toBe(true)
}

describe('the split runner on one node', () => {
  it('derives every held parent while a writer runs, empties a leftover child first, begins a switch only once every holder is caught up, starts a child once', async () => {
    const w = await node()
    const q = [0, 1, 2, 3].map(i => keysIn(i, 20, `k${i}-`))
    for (let i = 0; i < 20; i++) {
      await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [putUser(q[0]![i]!, 'a'), putUser(q[2]![i]!, 'b')], commitHlc: nextHlc() })
      await w.request('AUTOCOMMIT', { shard: asShardId(1), writes: [putUser(q[1]![i]!, 'c'), putUser(q[3]![i]!, 'd')], commitHlc: nextHlc() })
    }
    // A cancelled derive left a row in child 2 and no progress: the runner must empty it first.
    await w.openShard(asShardId(2))
    const ghost = keysIn(2, 1, 'ghost-')[0]!
    const start = { parent: asShardId(0), shards: 2, l0: 0n, through: 0n, base: 'done' as const, switchAt: null }
    await w.request('SPLIT_DERIVE_APPLY', { shard: asShardId(2), from: null, to: start, entries: [{ xid: asXid(1n << 20n), commitHlc: nextHlc(), mutations: [{ tableId: USERS.info.id, pkBytes: encodeTuple([ghost]), versionId: vid(), row: userRow(ghost, 'ghost') }] }] })
    await w.request('SPLIT_DERIVE_STATE', { shard: asShardId(2), clear: true })
    expect(await versions(w, asShardId(2))).toHaveLength(1)

    // Parent 0 is held here and (the test says, as gossip would) on node 4; parent 1 only here.
    const h = harness(w, p => p === 0 ? [SELF, OTHER] : [SELF])
    h.gossip.set(OTHER, [{ parent: asShardId(0), phase: 'copying', lagEntries: 9, rowsCopied: 1 }])
    // The writer runs between ticks (during the base copy and the tail).
    for (let i = 0; i < 10; i++) {
      await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [putUser(q[2]![i]!, `b${i}`), delUser(q[2]![i + 10]!), putUser(q[0]![i]!, 'a2')], commitHlc: nextHlc() })
      await w.request('AUTOCOMMIT', { shard: asShardId(1), writes: [delUser(q[3]![i]!), putUser(`new-${q[3]![i]!}`, 'x')], commitHlc: nextHlc() })
      await h.runner.tick()
    }
    await tickUntil(h, () => own(h, 0)?.phase === 'caught_up' && own(h, 1)?.phase === 'caught_up' && own(h, 0)?.lagEntries === 0)
    await expectChildExact(w, asShardId(0))
    await expectChildExact(w, asShardId(1))
    expect(own(h, 0)!.rowsCopied).toBeGreaterThan(0)
    expect(h.published.at(-1)).toEqual(h.runner.reports())

    // Parent 1's only holder is caught up: its switch began (null first, asked again, then an LSN, then not again).
    // Parent 0's switch waits for node 4.
    await h.runner.tick()
    await h.runner.tick()
    expect(h.hooks.begun.filter(b => b.parent === 1).length).toBe(2)
    expect(h.hooks.begun.every(b => b.shards === 2)).toBe(true)
    expect(h.hooks.begun.filter(b => b.parent === 0)).toEqual([])
    h.gossip.set(OTHER, [{ parent: asShardId(0), phase: 'caught_up', lagEntries: 0, rowsCopied: 30 }])
    h.hooks.answers = [88n]
    await h.runner.tick()
    await h.runner.tick()
    expect(h.hooks.begun.filter(b => b.parent === 0).length).toBe(1)
    expect(h.hooks.begun.filter(b => b.parent === 1).length).toBe(2)

    // switchedAt answers: 'switched', the child started once.
    h.hooks.switched.set(asShardId(1), 77n)
    await h.runner.tick()
    await h.runner.tick()
    expect(own(h, 1)).toMatchObject({ phase: 'switched', lagEntries: 0 })
    expect(own(h, 0)!.phase).toBe('caught_up')
    expect(h.hooks.startedChildren).toEqual([1])

    // The layout of 4 shards (the switch done): the runner forgets its state and reports nothing.
    h.setLayout({ cluster: 't', shards: 4, epoch: 3, members: [SELF, OTHER] })
    await h.runner.tick()
    expect(h.runner.reports()).toEqual([])
    expect(h.published.at(-1)).toEqual([])
  })

  it('a cancel ends the derives (the parent log pin released), empties the children and lifts a begun switch\'s fence', async () => {
    const w = await node()
    const q = [keysIn(0, 15, 'c0-'), keysIn(2, 15, 'c2-')]
    for (let i = 0; i < 15; i++) await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [putUser(q[0]![i]!, 'a'), putUser(q[1]![i]!, 'b')], commitHlc: nextHlc() })
    const h = harness(w, p => p === 0 ? [SELF] : [])
    await tickUntil(h, () => own(h, 0)?.phase === 'caught_up')
    expect((await versions(w, asShardId(2))).length).toBe(15)
    // The parent's switch had begun (its fence refuses writes) when the cancel was decided.
    expect((await w.request('SPLIT_SWITCH', { shard: asShardId(0), shards: 2, rule: null })).lsn).not.toBeNull()
    await expect(w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [putUser(q[0]![0]!, 'fenced')], commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_SHARD_SPLITTING' })
    h.setLayout({ cluster: 't', shards: 2, epoch: 3, members: [SELF, OTHER] })
    await h.runner.tick()
    expect((await w.request('SPLIT_FENCE', { shard: asShardId(0), lift: null })).fence).toBeNull()
    await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [putUser(q[0]![0]!, 'after the cancel')], commitHlc: nextHlc() })
    expect(await versions(w, asShardId(2))).toEqual([])
    expect((await w.request('SPLIT_DERIVE_STATE', { shard: asShardId(2), clear: false })).progress).toBeNull()
    expect(h.published.at(-1)).toEqual([])
    // Released: a truncation of the whole log goes through.
    const { lastLsn } = await w.request('REPL_STATE_GET', { shard: asShardId(0) })
    await w.request('SWEEP', { shard: asShardId(0), horizonHlc: nextHlc(), purgeTombstonesOf: [], commitLog: [{ name: 'test', fromLsn: lastLsn + 1n }] })
    expect((await w.request('REPL_STATE_GET', { shard: asShardId(0) })).firstAvailableLsn).toBe(lastLsn + 1n)
  })

  it('a node down during a cancel: back with the cancelled layout, its runner releases the parent\'s log pin, empties the child and lifts the fence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-splitrun-'))
    let w = await node(SELF, dir)
    const q = [keysIn(0, 12, 'd0-'), keysIn(2, 12, 'd2-')]
    for (let i = 0; i < 12; i++) await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [putUser(q[0]![i]!, 'a'), putUser(q[1]![i]!, 'b')], commitHlc: nextHlc() })
    const h = harness(w, p => p === 0 ? [SELF] : [])
    await tickUntil(h, () => own(h, 0)?.phase === 'caught_up')
    expect((await versions(w, asShardId(2))).length).toBe(12)
    expect((await w.request('SPLIT_SWITCH', { shard: asShardId(0), shards: 2, rule: null })).lsn).not.toBeNull()
    // The node goes down; the cluster cancels the split meanwhile; it starts again with the
    // cancelled layout (learnt from gossip before its runner's first round).
    h.runner.stop()
    await w.stop()
    started = started.filter(x => x !== w)
    w = await node(SELF, dir)
    const back = harness(w, p => p === 0 ? [SELF] : [])
    back.setLayout({ cluster: 't', shards: 2, epoch: 3, members: [SELF, OTHER] })
    await back.runner.tick()
    expect((await w.request('SPLIT_FENCE', { shard: asShardId(0), lift: null })).fence).toBeNull()
    await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [putUser(q[0]![0]!, 'after the cancel')], commitHlc: nextHlc() })
    await w.openShard(asShardId(2))
    expect(await versions(w, asShardId(2))).toEqual([])
    expect((await w.request('SPLIT_DERIVE_STATE', { shard: asShardId(2), clear: false })).progress).toBeNull()
    // The pin is gone (nothing left to release), so a truncation of the whole log goes through.
    const { lastLsn } = await w.request('REPL_STATE_GET', { shard: asShardId(0) })
    await w.request('SWEEP', { shard: asShardId(0), horizonHlc: nextHlc(), purgeTombstonesOf: [], commitLog: [{ name: 'test', fromLsn: lastLsn + 1n }] })
    expect((await w.request('REPL_STATE_GET', { shard: asShardId(0) })).firstAvailableLsn).toBe(lastLsn + 1n)
    expect((await w.request('SPLIT_PIN', { shard: asShardId(0), pin: false })).pin).toBeNull()
    // A parent that never derived is left alone: no child engine is opened for it.
    expect(w.serves(asShardId(3))).toBe(false)
  })

  it('a derive whose log was cut back under it starts again from empty; a restarted runner resumes from the child\'s progress', async () => {
    const p = await node(asNodeId(5))
    const dir = mkdtempSync(join(tmpdir(), 'sb-splitrun-'))
    let r = await node(SELF, dir)
    const P0 = asShardId(0)
    await p.request('REPL_STATE_SET', { shard: P0, state: { generation: 2n, votedFor: asNodeId(5), commitLsn: 0n, role: 'primary' } })
    const keys = [keysIn(0, 30, 's0-'), keysIn(2, 30, 's2-')]
    const ship = async (): Promise<void> => {
      const { lastLsn } = await r.request('REPL_STATE_GET', { shard: P0 })
      const { entries } = await p.request('REPL_LOG_READ', { shard: P0, fromLsn: lastLsn + 1n, limit: 10_000, maxBytes: 1 << 24 })
      if (entries.length > 0) await r.request('REPL_APPLY', { shard: P0, entries })
    }
    for (let i = 0; i < 30; i++) await p.request('AUTOCOMMIT', { shard: P0, writes: [putUser(keys[0]![i]!, 'a'), putUser(keys[1]![i]!, 'b')], commitHlc: nextHlc() })
    await ship()
    const h = harness(r, s => s === 0 ? [SELF] : [], { pageRows: 4, stepsPerTick: 1 })
    for (let i = 0; i < 4; i++) await h.runner.tick()
    expect(own(h, 0)!.phase).toBe('copying')
    // A failover cut r's log back: two entries the child may have copied are gone.
    const extra = keysIn(2, 2, 'cut-')
    for (const k of extra) await p.request('AUTOCOMMIT', { shard: P0, writes: [putUser(k, 'cut')], commitHlc: nextHlc() })
    await ship()
    await tickUntil(h, () => own(h, 0)?.phase === 'caught_up')
    const { lastLsn } = await r.request('REPL_STATE_GET', { shard: P0 })
    expect(await r.request('REPL_TRUNCATE', { shard: P0, afterLsn: lastLsn - 2n, committedLsn: 0n })).toMatchObject({ entriesRemoved: 2 })
    await h.runner.tick()
    expect(own(h, 0)).toMatchObject({ phase: 'copying', rowsCopied: 0 })
    await tickUntil(h, () => own(h, 0)?.phase === 'caught_up', 400)
    await expectChildExact(r, P0)
    expect((await versions(r, asShardId(2))).some(v => v.startsWith('cut-'))).toBe(false)

    // A restart of the node in the middle of a derive: the new runner resumes from the progress (it must not empty the child).
    for (let i = 0; i < 10; i++) await p.request('AUTOCOMMIT', { shard: P0, writes: [putUser(keys[1]![i]!, `v${i}`)], commitHlc: nextHlc() })
    await r.stop()
    started = started.filter(x => x !== r)
    r = await node(SELF, dir)
    await ship()
    await r.openShard(asShardId(2))
    const before = (await r.request('SPLIT_DERIVE_STATE', { shard: asShardId(2), clear: false })).progress
    expect(before).not.toBeNull()
    const h2 = harness(r, s => s === 0 ? [SELF] : [], { pageRows: 4, stepsPerTick: 1 })
    await h2.runner.tick()
    const after = (await r.request('SPLIT_DERIVE_STATE', { shard: asShardId(2), clear: false })).progress
    expect(after!.l0).toBe(before!.l0)
    expect(after!.through).toBeGreaterThan(before!.through)
    await tickUntil(h2, () => own(h2, 0)?.phase === 'caught_up')
    await expectChildExact(r, P0)
  })

  it('a restarted node reports the parents it had reported caught up as caught up at once (kept in its data directory), until the split ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-splitrun-'))
    let w = await node(SELF, dir)
    const P0 = asShardId(0)
    const keys = keysIn(2, 20, 'r-')
    for (const k of keys) await w.request('AUTOCOMMIT', { shard: P0, writes: [putUser(k, 'a')], commitHlc: nextHlc() })
    const store = splitCaughtUpStore(dir, pino({ level: 'silent' }))
    const holders = (s: ShardId): NodeId[] => s === 0 ? [SELF, OTHER] : []
    const h = harness(w, holders, { caughtUp: store })
    await tickUntil(h, () => own(h, 0)?.phase === 'caught_up')
    expect(JSON.parse(readFileSync(join(dir, SPLIT_CAUGHT_UP_FILE), 'utf8'))).toEqual({ epoch: 2, shards: 2, to: 4, parents: [0] })
    // The node stops; the parent's log grows beyond one tail step (DERIVE_TAIL_ENTRIES) meanwhile,
    // so the restarted derive is behind at its first round.
    await w.stop()
    started = started.filter(x => x !== w)
    w = await node(SELF, dir)
    for (let i = 0; i < 600; i++) await w.request('AUTOCOMMIT', { shard: P0, writes: [putUser(keys[i % keys.length]!, `b${i}`)], commitHlc: nextHlc() })
    const h2 = harness(w, holders, { caughtUp: store, stepsPerTick: 1, pageRows: 2 })
    await h2.runner.tick()
    const { lastLsn } = await w.request('REPL_STATE_GET', { shard: P0 })
    const progress = (await w.request('SPLIT_DERIVE_STATE', { shard: asShardId(2), clear: false })).progress
    expect(progress!.through).toBeLessThan(lastLsn)
    // Behind, yet reported caught up: a cancel decided now must see that a switch may have begun.
    expect(own(h2, 0)!.phase).toBe('caught_up')
    expect(h2.published.at(-1)).toEqual([expect.objectContaining({ parent: P0, phase: 'caught_up' })])
    // A layout without the split (here: its cancel) removes the record.
    h2.setLayout({ ...SPLITTING, epoch: 3, split: undefined } as unknown as ClusterLayout)
    await h2.runner.tick()
    expect(existsSync(join(dir, SPLIT_CAUGHT_UP_FILE))).toBe(false)
    // A record of another split (another epoch) is not this one's.
    store.write({ epoch: 1, shards: 2, to: 4, parents: [P0] })
    const h3 = harness(w, holders, { caughtUp: store, stepsPerTick: 1, pageRows: 2 })
    h3.setLayout({ ...SPLITTING, epoch: 4 })
    await h3.runner.tick()
    expect(own(h3, 0)!.phase).toBe('copying')
  })

  it('a parent\'s primary does not begin its switch while its group\'s voters are not the holders', async () => {
    const w = await node()
    for (const k of keysIn(2, 5, 'v-')) await w.request('AUTOCOMMIT', { shard: asShardId(0), writes: [putUser(k, 'a')], commitHlc: nextHlc() })
    let settled = false
    const h = harness(w, s => s === 0 ? [SELF] : [], { votersSettled: () => settled })
    await tickUntil(h, () => own(h, 0)?.phase === 'caught_up')
    for (let i = 0; i < 3; i++) await h.runner.tick()
    expect(h.hooks.begun).toEqual([])
    settled = true
    await h.runner.tick()
    expect(h.hooks.begun).toEqual([{ parent: asShardId(0), shards: 2 }])
  })
})
