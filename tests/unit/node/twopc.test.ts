import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { commitTwoPhase, decisionShard, recoverLimbo } from '../../../src/cluster/twopc'
import { ShardWorkers } from '../../../src/node/shard-workers'
import { shardTwoPhaseIo } from '../../../src/node/twopc-io'
import type { RowWrite } from '../../../src/storage/engine'
import { hlcTs, type HlcTs, type Xid } from '../../../src/storage/types'
import { testWorkerOptions } from './worker-fixtures'
import { makeXid } from '../../../src/storage/xid'
import { asNodeId, asShardId, asXid, type ShardId } from '../../../src/core/ids'

// Two-phase commit over real shard workers and LevelDB, including "node restarted between
// prepare and commit": the workers are killed (as a crash would) and restarted on the same data.

const SHARDS = 4
let open: ShardWorkers[] = []
afterEach(async () => { for (const w of open.splice(0)) await w.stop() })

let seq = 0
let ms = 5_000_000
const vid = (): Uint8Array => { const v = new Uint8Array(16); new DataView(v.buffer).setUint32(12, ++seq); v[6] = 0x80; return v }
const hlc = (): HlcTs => hlcTs(++ms)
const insert = (pk: string): RowWrite => ({ op: 'insert', tableId: 1, pk: [pk], row: new TextEncoder().encode(pk), versionId: vid() })

async function startWorkers (dataDir: string): Promise<ShardWorkers> {
  const w = new ShardWorkers(testWorkerOptions(dataDir, { nodeId: asNodeId(2), durability: 'sync' }), pino({ level: 'silent' }), () => {})
  await w.start([[asShardId(0), asShardId(2)], [asShardId(1), asShardId(3)]])
  open.push(w)
  return w
}

async function crash (w: ShardWorkers): Promise<void> {
  await w.abort()
  open = open.filter(x => x !== w)
}

/** A transaction writing one row on each of `shards`, left open. */
async function openTxn (w: ShardWorkers, shards: ShardId[], tag: string): Promise<Xid> {
  const { xid } = await w.request('BEGIN', { shard: shards[0]!, isolation: 'read_committed', startHlc: hlc() })
  for (const [i, shard] of shards.entries()) {
    if (i > 0) await w.request('BEGIN', { shard, isolation: 'read_committed', startHlc: hlc(), xid })
    await w.request('WRITE', { shard, xid, writes: [insert(`${tag}-${shard}`)] })
  }
  return xid
}

const visible = async (w: ShardWorkers, shard: ShardId, pk: string): Promise<boolean> =>
  (await w.request('GET', { shard, tableId: 1, pk: [pk] })).row !== null

describe('two-phase commit across shards', () => {
  it('commits on every participant atomically and drops its decision record', async () => {
    const w = await startWorkers(mkdtempSync(join(tmpdir(), 'sb-2pc-')))
    const io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    const xid = await openTxn(w, [asShardId(0), asShardId(1), asShardId(3)], 'ok')
    const out = await commitTwoPhase(io, xid, [asShardId(0), asShardId(1), asShardId(3)], hlc)
    expect(out.committed).toBe(true)
    for (const s of [0, 1, 3].map(n => asShardId(n))) expect(await visible(w, s, `ok-${s}`)).toBe(true)
    expect(await io.readDecision(xid)).toBeNull()
    for (const s of [0, 1, 2, 3].map(n => asShardId(n))) expect(await io.listLimbo(s)).toEqual([])
  })

  it('aborts every participant when one cannot prepare', async () => {
    const w = await startWorkers(mkdtempSync(join(tmpdir(), 'sb-2pc-')))
    const io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    const xid = await openTxn(w, [asShardId(0), asShardId(1)], 'bad')
    await w.request('ROLLBACK', { shard: asShardId(1), xid }) // participant 1 is gone: PREPARE will fail
    const out = await commitTwoPhase(io, xid, [asShardId(0), asShardId(1)], hlc)
    expect(out.committed).toBe(false)
    expect(out.committed === false && out.error).toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
    expect(await visible(w, asShardId(0), 'bad-0')).toBe(false)
    expect(await io.listLimbo(asShardId(0))).toEqual([])
  })

  it('a restart after the decision record finishes the commit on every participant', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-2pc-'))
    let w = await startWorkers(dir)
    let io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    const xid = await openTxn(w, [asShardId(1), asShardId(2)], 'decided')
    await io.prepare(asShardId(1), xid)
    await io.prepare(asShardId(2), xid)
    await io.writeDecision(xid, { outcome: 'commit', commitHlc: hlc() })
    await io.commitPrepared(asShardId(1), xid, hlc()) // shard 2 never hears COMMIT PREPARED: crash
    await crash(w)

    w = await startWorkers(dir)
    io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    expect(await io.listLimbo(asShardId(2))).toEqual([xid]) // limbo survived the crash, invisible
    expect(await visible(w, asShardId(2), 'decided-2')).toBe(false)
    const report = await recoverLimbo(io, [asShardId(0), asShardId(1), asShardId(2), asShardId(3)], { alone: true })
    expect(report).toEqual({ committed: 1, aborted: 0, failed: 0, pending: 0 })
    expect(await visible(w, asShardId(1), 'decided-1')).toBe(true)
    expect(await visible(w, asShardId(2), 'decided-2')).toBe(true)
    expect(await io.readDecision(xid)).toBeNull()
  })

  it('a restart before the decision record aborts every participant (presumed abort)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-2pc-'))
    let w = await startWorkers(dir)
    let io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    const xid = await openTxn(w, [asShardId(0), asShardId(3)], 'undecided')
    await io.prepare(asShardId(0), xid)
    await io.prepare(asShardId(3), xid)
    await crash(w)

    w = await startWorkers(dir)
    io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    expect(await recoverLimbo(io, [asShardId(0), asShardId(1), asShardId(2), asShardId(3)], { alone: true })).toEqual({ committed: 0, aborted: 2, failed: 0, pending: 0 })
    expect(await visible(w, asShardId(0), 'undecided-0')).toBe(false)
    expect(await visible(w, asShardId(3), 'undecided-3')).toBe(false)
    for (const s of [0, 3].map(n => asShardId(n))) expect(await io.listLimbo(s)).toEqual([])
  })

  it('in a cluster, a limbo transaction without a record is aborted behind an abort fence its coordinator cannot pass', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-2pc-'))
    let w = await startWorkers(dir)
    let io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    const xid = await openTxn(w, [asShardId(0), asShardId(1)], 'fenced')
    await io.prepare(asShardId(0), xid)
    await io.prepare(asShardId(1), xid)
    await crash(w)

    w = await startWorkers(dir)
    io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    // Only shard 0 is ours; the coordinator may be alive on another node, about to decide.
    expect(await recoverLimbo(io, [asShardId(0)], { alone: false })).toEqual({ committed: 0, aborted: 1, failed: 0, pending: 0 })
    expect(await io.readDecision(xid)).toEqual({ outcome: 'abort' })
    // The coordinator's commit record is refused now: it can only abort.
    await expect(io.writeDecision(xid, { outcome: 'commit', commitHlc: hlc() })).rejects.toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })
    // The other participant's owner recovers it the same way, by the fence.
    expect(await recoverLimbo(io, [asShardId(1)], { alone: false })).toEqual({ committed: 0, aborted: 1, failed: 0, pending: 0 })
    expect(await visible(w, asShardId(1), 'fenced-1')).toBe(false)
  })

  it('a coordinator that finds its slot fenced aborts every participant', async () => {
    const w = await startWorkers(mkdtempSync(join(tmpdir(), 'sb-2pc-')))
    const io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    const xid = await openTxn(w, [asShardId(2), asShardId(3)], 'late')
    await io.writeDecision(xid, { outcome: 'abort' }) // recovery elsewhere fenced it first
    const out = await commitTwoPhase(io, xid, [asShardId(2), asShardId(3)], hlc)
    expect(out).toMatchObject({ committed: false, unknown: false, error: { code: 'SB_TXN_NOT_ACTIVE' } })
    for (const s of [2, 3].map(n => asShardId(n))) {
      expect(await visible(w, s, `late-${s}`)).toBe(false)
      expect(await io.listLimbo(s)).toEqual([])
    }
  })

  it('recovery running beside a coordinator leaves its transaction to it (pending), in a cluster and alone', async () => {
    const w = await startWorkers(mkdtempSync(join(tmpdir(), 'sb-2pc-')))
    const io = shardTwoPhaseIo(w, { shards: SHARDS }, vid, hlc)
    const xid = await openTxn(w, [asShardId(0), asShardId(1)], 'busy')
    // Hold the coordinator between "all prepared" and its commit record.
    let prepared!: () => void
    const allPrepared = new Promise<void>(resolve => { prepared = resolve })
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const held = {
      ...io,
      writeDecision: async (x: Xid, d: Parameters<typeof io.writeDecision>[1]) => { prepared(); await gate; await io.writeDecision(x, d) }
    }
    const committing = commitTwoPhase(held, xid, [asShardId(0), asShardId(1)], hlc)
    await allPrepared
    expect(await io.listLimbo(asShardId(0))).toEqual([xid])
    for (const alone of [false, true]) {
      expect(await recoverLimbo(io, [asShardId(0), asShardId(1), asShardId(2), asShardId(3)], { alone })).toEqual({ committed: 0, aborted: 0, failed: 0, pending: 2 })
    }
    expect(await io.readDecision(xid)).toBeNull() // no fence: the coordinator can still commit
    release()
    expect(await committing).toMatchObject({ committed: true })
    for (const s of [0, 1].map(n => asShardId(n))) expect(await visible(w, s, `busy-${s}`)).toBe(true)
    // Finished: nothing of it is left for recovery.
    expect(await recoverLimbo(io, [asShardId(0), asShardId(1), asShardId(2), asShardId(3)], { alone: false })).toEqual({ committed: 0, aborted: 0, failed: 0, pending: 0 })
  })

  it('places decision records by xid alone', () => {
    expect(decisionShard(asXid(10n), 4)).toBe(2)
    expect(decisionShard(makeXid(asNodeId(7), 5n), 16)).toBe(5)
  })
})
