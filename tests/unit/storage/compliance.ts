// One compliance suite, two backends (DESIGN §10): every behaviour of the shard engine, run
// against classic-level (engine-level.test.ts) and the in-memory store (engine-memory.test.ts).
// "Reopen" closes the engine and opens a new one on the same store; "crash" abandons the engine
// (closing only the KV handle, as a dying process would release it) and opens a new one.

import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock'
import { encodeUuidV8 } from '../../../src/core/hlc'
import { isScratchBirdError } from '../../../src/core/errors'
import { ShardEngine, type ReplicaWrite, type ShardEngineOptions, type Txn } from '../../../src/storage/engine'
import { backRangeOfRow, COMMIT_PREFIX, readU64, rowKey, TIP_GROUP_PREFIX, tipKey, writeU64, type Tuple } from '../../../src/storage/keys'
import type { KvBatchOptions, KvIterateOptions, KvOp, KvSnapshot, KvStore } from '../../../src/storage/kv'
import { hlcTs, type Durability, type HlcTs, type Xid } from '../../../src/storage/types'
import { decodeVersion } from '../../../src/storage/versions'
import { makeXid, xidCounter, xidNodeId } from '../../../src/storage/xid'
import { asNodeId, asShardId, asXid } from '../../../src/core/ids'

/** Opens KV handles on one underlying store (directory); a handle may be closed and reopened. */
export interface KvSource {
  open (): Promise<KvStore>
  destroy (): Promise<void>
}

export type KvSourceFactory = () => Promise<KvSource>

const T = 1 // table id
const T2 = 2
const NODE = asNodeId(7)
const BASE = 1_767_225_600_000
const H = (n: number): HlcTs => hlcTs(BASE + n)

let versionSeq = 0
/** Version ids, increasing (as a UUIDv8-HLC source would make them). */
function vid (): Uint8Array {
  const b = new Uint8Array(16)
  writeU64(b, 0, BigInt(++versionSeq))
  b[8] = 0x80
  return b
}
const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : new TextDecoder().decode(b)

/** Counts calls so tests can check group commit (one read, one batch per pass). */
class CountingKv implements KvStore {
  batches = 0
  syncedBatches = 0
  getManys = 0
  gets = 0
  constructor (readonly inner: KvStore) {}
  get (key: Uint8Array): Promise<Uint8Array | undefined> { this.gets++; return this.inner.get(key) }
  getNows = 0
  getNow (key: Uint8Array): Promise<Uint8Array | undefined> {
    this.getNows++
    return this.inner.getNow !== undefined ? this.inner.getNow(key) : this.inner.get(key)
  }

  /** getMany calls answered (the writer applies a pass right after its read is answered). */
  getManysDone = 0
  getMany (keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    this.getManys++
    const read = this.inner.getMany(keys)
    if (!this.holdReads) return read.finally(() => { this.getManysDone++ })
    // Served now (from what has landed so far), answered when the test releases it.
    const held = { served: false, release: () => {} }
    this.heldReads.push(held)
    return new Promise<Array<Uint8Array | undefined>>((resolve, reject) => {
      read.then(values => {
        held.served = true
        held.release = () => resolve(values)
      }, reject)
    }).finally(() => { this.getManysDone++ })
  }

  /** While set, getMany reads the store at once but answers only when the test releases it. */
  holdReads = false
  readonly heldReads: Array<{ served: boolean, release: () => void }> = []

  /** While set, the next batch is held (not written) until the test lands or fails it. */
  holdNext = false
  /** While set, every batch is held like that (reads see exactly what the test landed). */
  holdAll = false
  readonly held: Array<{ ops: readonly KvOp[], land: () => Promise<void>, fail: (e: Error) => void }> = []
  batch (ops: readonly KvOp[], o: KvBatchOptions): Promise<void> {
    this.batches++
    if (o.sync) this.syncedBatches++
    if (!this.holdNext && !this.holdAll) return this.inner.batch(ops, o)
    this.holdNext = false
    return new Promise((resolve, reject) => {
      this.held.push({
        ops,
        land: async () => { await this.inner.batch(ops, o); resolve() },
        fail: reject
      })
    })
  }

  iterate (o: KvIterateOptions): AsyncIterable<[Uint8Array, Uint8Array]> { return this.inner.iterate(o) }
  snapshot (): KvSnapshot { return this.inner.snapshot() }
  close (): Promise<void> { return this.inner.close() }
}

export function registerEngineCompliance (backend: string, makeSource: KvSourceFactory): void {
  describe(`shard engine compliance (${backend})`, () => {
    let source: KvSource
    let kv: CountingKv
    let engine: ShardEngine
    const opts: ShardEngineOptions = { shardId: asShardId(3), nodeId: NODE, durability: 'none', clock: new ManualClock() }

    async function open (o: Partial<ShardEngineOptions> = {}): Promise<ShardEngine> {
      kv = new CountingKv(await source.open())
      engine = await ShardEngine.open(kv, { ...opts, ...o })
      return engine
    }
    async function reopen (o: Partial<ShardEngineOptions> = {}): Promise<ShardEngine> {
      await engine.close()
      return open(o)
    }
    async function crash (): Promise<ShardEngine> {
      await kv.inner.close()
      return open()
    }
    async function backCount (table: number, pk: Tuple): Promise<number> {
      let n = 0
      for await (const entry of kv.iterate(backRangeOfRow(rowKey(table, pk)))) n += entry.length > 0 ? 1 : 0
      return n
    }
    async function rows (table: number, o: Parameters<ShardEngine['scan']>[1] = {}, txn?: Txn, readHlc?: HlcTs): Promise<string[]> {
      const out: string[] = []
      for await (const r of engine.scan(table, o, txn, readHlc)) out.push(`${r.pk.map(String).join(',')}=${dec(r.row)}`)
      return out
    }
    const ins = (pk: Tuple, row: string, hlc: HlcTs, table = T) =>
      engine.autocommit({ writes: [{ op: 'insert', tableId: table, pk, row: enc(row), versionId: vid() }], commitHlc: hlc })
    const upd = (pk: Tuple, row: string, hlc: HlcTs) =>
      engine.autocommit({ writes: [{ op: 'update', tableId: T, pk, row: enc(row), versionId: vid() }], commitHlc: hlc })
    const del = (pk: Tuple, hlc: HlcTs) =>
      engine.autocommit({ writes: [{ op: 'delete', tableId: T, pk, versionId: vid() }], commitHlc: hlc })
    const get = async (pk: Tuple, txn?: Txn) => dec(await engine.get(T, pk, txn))

    beforeEach(async () => {
      source = await makeSource()
      await open()
    })
    afterEach(async () => {
      await engine.close().catch(() => {})
      await kv.inner.close().catch(() => {})
      await source.destroy()
    })

    describe('visibility', () => {
      it('autocommit writes are visible to later readers', async () => {
        const r = await ins([1n], 'a', H(1))
        expect(r.lsn).toBe(1n)
        expect(r.affected).toEqual([true])
        expect(await get([1n])).toBe('a')
        expect(await get([2n])).toBeUndefined()
        const s = await engine.begin({ startHlc: H(2) })
        expect(await s.get(T, [1n]).then(dec)).toBe('a')
      })

      it('point reads (get, exact scan) read the primary through getNow, not get (issue 16)', async () => {
        await ins([1n], 'a', H(1))
        const gets = kv.gets
        const nows = kv.getNows
        expect(await get([1n])).toBe('a')
        expect(await rows(T, { gte: [1n], exact: true })).toEqual(['1=a'])
        expect(await rows(T, { gte: [2n], exact: true })).toEqual([])
        expect(kv.getNows - nows).toBe(3)
        expect(kv.gets - gets).toBe(0)
      })

      it('own writes are visible to the writer only', async () => {
        const t = await engine.begin({ startHlc: H(1) })
        await t.insert(T, [1n], enc('mine'), vid())
        const s = await engine.begin({ startHlc: H(2) })
        const rc = await engine.begin({ isolation: 'read_committed', startHlc: H(2) })
        expect(await get([1n], t)).toBe('mine')
        expect(await get([1n], s)).toBeUndefined()
        expect(await get([1n], rc)).toBeUndefined()
        expect(await get([1n])).toBeUndefined()
        await t.commit(H(3))
        expect(await get([1n], s)).toBeUndefined() // committed after s started
        expect(await get([1n], rc)).toBe('mine')
        expect(await get([1n])).toBe('mine')
      })

      it('snapshot vs read committed: committed-after-snapshot is invisible to the snapshot only', async () => {
        await ins([1n], 'v1', H(1))
        const s = await engine.begin({ isolation: 'snapshot', startHlc: H(10) })
        const rc = await engine.begin({ isolation: 'read_committed', startHlc: H(10) })
        await upd([1n], 'v2', H(20))
        await ins([2n], 'new', H(21))
        expect(await get([1n], s)).toBe('v1')
        expect(await get([2n], s)).toBeUndefined()
        expect(await rows(T, {}, s)).toEqual(['1=v1'])
        expect(await get([1n], rc)).toBe('v2')
        expect(await rows(T, {}, rc)).toEqual(['1=v2', '2=new'])
        const later = await engine.begin({ startHlc: H(30) })
        expect(await get([1n], later)).toBe('v2')
      })

      it('a commit stamped below an open snapshot start is pushed above it (repeatable reads)', async () => {
        await ins([1n], 'v1', H(1))
        const s = await engine.begin({ startHlc: H(10) })
        const r = await upd([1n], 'v2', H(5))
        expect(r.commitHlc).toBe(H(10) + 1n)
        expect(await get([1n], s)).toBe('v1')
        const t = await engine.begin({ startHlc: H(6) }) // a later snapshot with an older stamp
        expect(await get([1n], t)).toBe('v1')
        await s.commit(H(11))
        await t.commit(H(11))
        const u = await engine.begin({ startHlc: H(12) })
        expect(await get([1n], u)).toBe('v2')
      })

      it('rolled back writes are invisible; the previous version shows again', async () => {
        await ins([1n], 'v1', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        expect(await t.update(T, [1n], enc('v2'), vid())).toBe(true)
        await t.insert(T, [2n], enc('x'), vid())
        await t.rollback()
        expect(t.state).toBe('rolled_back')
        expect(await get([1n])).toBe('v1')
        expect(await get([2n])).toBeUndefined()
        expect((await engine.tipState(t.xid)).state).toBe('dead')
        await expect(t.insert(T, [3n], enc('y'), vid())).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
      })

      it('a transaction active at a crash is dead after reopen and its versions invisible', async () => {
        await ins([1n], 'v1', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.update(T, [1n], enc('v2'), vid())
        await t.insert(T, [2n], enc('x'), vid())
        const xid = t.xid
        await crash()
        expect(engine.recovery.markedDead).toBe(1)
        expect((await engine.tipState(xid)).state).toBe('dead')
        expect(await get([1n])).toBe('v1')
        expect(await get([2n])).toBeUndefined()
        expect(await rows(T)).toEqual(['1=v1'])
        // A writer overwrites the dead version and keeps the committed one behind it.
        await upd([1n], 'v3', H(3))
        expect(await get([1n])).toBe('v3')
        expect(await backCount(T, [1n])).toBe(1)
        await ins([2n], 'y', H(4))
        expect(await get([2n])).toBe('y')
      })

      it('limbo versions are invisible and survive reopen as limbo', async () => {
        await ins([1n], 'v1', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.update(T, [1n], enc('v2'), vid())
        await t.prepare()
        expect(t.state).toBe('prepared')
        expect(engine.listLimbo()).toEqual([{ xid: t.xid, rows: 1 }])
        expect(await get([1n])).toBe('v1')
        await reopen()
        expect(engine.recovery.limbo).toBe(1)
        expect(engine.listLimbo()).toEqual([{ xid: t.xid, rows: 1 }])
        expect((await engine.tipState(t.xid)).state).toBe('limbo')
        expect(await get([1n])).toBe('v1')
        // A snapshot reader cannot judge it: its commit HLC (not chosen yet) may fall below H(50).
        const s = await engine.begin({ startHlc: H(50) })
        await expect(get([1n], s)).rejects.toMatchObject({ code: 'SB_TXN_IN_LIMBO', sqlstate: '40001' })
        await expect(rows(T, {}, undefined, H(50))).rejects.toMatchObject({ code: 'SB_TXN_IN_LIMBO' })
      })
    })

    describe('write conflicts and keys', () => {
      it('second of two concurrent writers gets SB_UPDATE_CONFLICT', async () => {
        await ins([1n], 'v1', H(1))
        const a = await engine.begin({ startHlc: H(2) })
        const b = await engine.begin({ startHlc: H(2) })
        await a.update(T, [1n], enc('a'), vid())
        const err = await b.update(T, [1n], enc('b'), vid()).catch(e => e)
        expect(isScratchBirdError(err, 'SB_UPDATE_CONFLICT')).toBe(true)
        expect(err.sqlstate).toBe('40001')
        expect(err.message).toBe('update conflicts with concurrent update')
        expect(err.details.concurrentXid).toBe(String(a.xid))
        // The statement failed, the transaction did not.
        expect(b.state).toBe('active')
        await expect(engine.autocommit({ writes: [{ op: 'delete', tableId: T, pk: [1n], versionId: vid() }], commitHlc: H(3) }))
          .rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT' })
        await a.commit(H(4))
        // Snapshot b started before a committed: still a conflict (first committer wins).
        await expect(b.update(T, [1n], enc('b'), vid())).rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT' })
        await b.rollback()
        expect(await get([1n])).toBe('a')
      })

      it('read committed writers conflict only with uncommitted versions', async () => {
        await ins([1n], 'v1', H(1))
        const rc = await engine.begin({ isolation: 'read_committed', startHlc: H(2) })
        await upd([1n], 'v2', H(3))
        expect(await rc.update(T, [1n], enc('rc'), vid())).toBe(true)
        await rc.commit(H(4))
        expect(await get([1n])).toBe('rc')
      })

      it('a writer after a rolled back writer proceeds against the last committed version', async () => {
        await ins([1n], 'v1', H(1))
        const a = await engine.begin({ startHlc: H(2) })
        await a.delete(T, [1n], vid())
        await a.rollback()
        const b = await engine.begin({ startHlc: H(3) })
        expect(await b.update(T, [1n], enc('b'), vid())).toBe(true)
        await b.commit(H(4))
        expect(await get([1n])).toBe('b')
        expect(await backCount(T, [1n])).toBe(1)
      })

      it('a prepared (limbo) writer blocks others; its decision unblocks them', async () => {
        await ins([1n], 'v1', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.update(T, [1n], enc('v2'), vid())
        await t.prepare()
        await expect(upd([1n], 'x', H(3))).rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT', details: { concurrentState: 'limbo' } })
        await engine.abortPrepared(t.xid)
        expect(t.state).toBe('rolled_back')
        await upd([1n], 'x', H(4))
        expect(await get([1n])).toBe('x')
      })

      it('insert of a visible live key is SB_UNIQUE_VIOLATION (23505); after delete it is allowed', async () => {
        await ins([1n], 'v1', H(1))
        const err = await ins([1n], 'again', H(2)).catch(e => e)
        expect(isScratchBirdError(err, 'SB_UNIQUE_VIOLATION')).toBe(true)
        expect(err.sqlstate).toBe('23505')
        await del([1n], H(3))
        await ins([1n], 'reborn', H(4))
        expect(await get([1n])).toBe('reborn')
        const t = await engine.begin({ startHlc: H(5) })
        await t.insert(T, [2n], enc('x'), vid())
        await expect(t.insert(T, [2n], enc('y'), vid())).rejects.toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })
        await t.delete(T, [2n], vid())
        await t.insert(T, [2n], enc('z'), vid())
        expect(await get([2n], t)).toBe('z')
      })

      it('a statement is atomic: one failing row undoes its other rows', async () => {
        await ins([1n], 'v1', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await expect(t.write([
          { op: 'insert', tableId: T, pk: [5n], row: enc('five'), versionId: vid() },
          { op: 'insert', tableId: T, pk: [1n], row: enc('dup'), versionId: vid() }
        ])).rejects.toMatchObject({ code: 'SB_UNIQUE_VIOLATION' })
        expect(await get([5n], t)).toBeUndefined()
        expect(await t.write([
          { op: 'insert', tableId: T, pk: [5n], row: enc('five'), versionId: vid() },
          { op: 'update', tableId: T, pk: [6n], row: enc('none'), versionId: vid() }
        ])).toEqual([true, false])
        await t.commit(H(3))
        expect(await rows(T)).toEqual(['1=v1', '5=five'])
      })

      it('a transaction writing a row twice replaces its own version (no back version of itself)', async () => {
        const t = await engine.begin({ startHlc: H(1) })
        await t.insert(T, [1n], enc('a'), vid())
        await t.update(T, [1n], enc('b'), vid())
        await t.update(T, [1n], enc('c'), vid())
        expect(await backCount(T, [1n])).toBe(0)
        await t.commit(H(2))
        const u = await engine.begin({ startHlc: H(3) })
        await u.update(T, [1n], enc('d'), vid())
        await u.update(T, [1n], enc('e'), vid())
        await u.commit(H(4))
        expect(await backCount(T, [1n])).toBe(1)
        expect(await get([1n])).toBe('e')
        const log = await engine.readCommitLog(1n)
        expect(log.map(e => e.mutations.map(m => dec(m.row ?? undefined)))).toEqual([['c'], ['e']])
      })

      it('delete writes a tombstone: gone for new readers, still there for older snapshots', async () => {
        await ins([1n], 'v1', H(1))
        await ins([2n], 'v2', H(1))
        const s = await engine.begin({ startHlc: H(5) })
        const r = await del([1n], H(10))
        expect(r.affected).toEqual([true])
        expect(await get([1n])).toBeUndefined()
        expect(await rows(T)).toEqual(['2=v2'])
        expect(await get([1n], s)).toBe('v1')
        expect(await rows(T, {}, s)).toEqual(['1=v1', '2=v2'])
        const primary = decodeVersion((await kv.get(rowKey(T, [1n])))!)
        expect(primary.tombstone).toBe(true)
        expect((await del([1n], H(11))).affected).toEqual([false])
        expect((await del([9n], H(11))).affected).toEqual([false])
        expect((await upd([1n], 'x', H(12))).affected).toEqual([false])
      })

      it('put writes unconditionally and re-applying the same version is a no-op', async () => {
        const v = vid()
        const w = { op: 'put' as const, tableId: T, pk: [1n], row: enc('p'), versionId: v }
        const a = await engine.autocommit({ writes: [w], commitHlc: H(1) })
        const b = await engine.autocommit({ writes: [w], commitHlc: H(2) })
        expect(a.lsn).toBe(1n)
        expect(b.lsn).toBeNull()
        await engine.autocommit({ writes: [{ ...w, row: null, versionId: vid() }], commitHlc: H(3) })
        expect(await get([1n])).toBeUndefined()
      })
    })

    describe('range scans', () => {
      beforeEach(async () => {
        for (const n of [5n, -3n, 12n, 0n, 7n, -100n, 1n << 40n]) await ins([n], `r${n}`, H(1))
        await ins([1n], 'other table', H(1), T2)
      })

      it('in key order, both directions, with bounds and limit', async () => {
        const all = ['-100=r-100', '-3=r-3', '0=r0', '5=r5', '7=r7', '12=r12', '1099511627776=r1099511627776']
        expect(await rows(T)).toEqual(all)
        expect(await rows(T, { reverse: true })).toEqual([...all].reverse())
        expect(await rows(T, { gte: [0n], lt: [12n] })).toEqual(['0=r0', '5=r5', '7=r7'])
        expect(await rows(T, { gt: [0n], lte: [12n] })).toEqual(['5=r5', '7=r7', '12=r12'])
        expect(await rows(T, { gt: [0n], lte: [12n], reverse: true, limit: 2 })).toEqual(['12=r12', '7=r7'])
        expect(await rows(T, { limit: 1 })).toEqual(['-100=r-100'])
        expect(await rows(T, { limit: 0 })).toEqual([])
        expect(await rows(T2)).toEqual(['1=other table'])
        expect(await rows(99)).toEqual([])
      })

      it('apply visibility: others\' uncommitted and deleted rows are skipped, own ones shown', async () => {
        const t = await engine.begin({ startHlc: H(2) })
        await t.insert(T, [6n], enc('mine'), vid())
        await t.delete(T, [7n], vid())
        await del([5n], H(3))
        expect(await rows(T, { gte: [0n], lt: [100n] }, t)).toEqual(['0=r0', '5=r5', '6=mine', '12=r12'])
        expect(await rows(T, { gte: [0n], lt: [100n] })).toEqual(['0=r0', '7=r7', '12=r12'])
        expect(await rows(T, { gte: [0n], limit: 2 })).toEqual(['0=r0', '7=r7'])
        // exact: a complete key read with one get, same visibility as the range
        expect(await rows(T, { gte: [6n], lte: [6n], exact: true }, t)).toEqual(['6=mine'])
        expect(await rows(T, { gte: [6n], lte: [6n], exact: true })).toEqual([])
        expect(await rows(T, { gte: [7n], lte: [7n], exact: true }, t)).toEqual([])
        expect(await rows(T, { gte: [7n], lte: [7n], exact: true })).toEqual(['7=r7'])
        expect(await rows(T, { gte: [5n], lte: [5n], exact: true })).toEqual([])
        expect(await rows(T, { gte: [12n], lte: [12n], exact: true, limit: 0 })).toEqual([])
      })

      it('composite and text keys: prefix bounds and code point order', async () => {
        const data: Array<[Tuple, string]> = [[['b', 2n], 'b2'], [['a', 1n], 'a1'], [['b', 1n], 'b1'], [['a\0', 0n], 'a0'], [['\u{10000}', 0n], 'astral'], [['\uffff', 0n], 'bmp']]
        for (const [pk, r] of data) await engine.autocommit({ writes: [{ op: 'insert', tableId: 9, pk, row: enc(r), versionId: vid() }], commitHlc: H(2) })
        const names = async (o: Parameters<ShardEngine['scan']>[1]): Promise<string[]> => {
          const out: string[] = []
          for await (const r of engine.scan(9, o)) out.push(dec(r.row)!)
          return out
        }
        expect(await names({})).toEqual(['a1', 'a0', 'b1', 'b2', 'bmp', 'astral'])
        expect(await names({ gte: ['b'], lte: ['b'] })).toEqual(['b1', 'b2'])
        expect(await names({ gt: ['a'], lt: ['b'] })).toEqual(['a0'])
        expect(await names({ gte: ['b', 2n] })).toEqual(['b2', 'bmp', 'astral'])
      })
    })

    describe('commit log', () => {
      it('LSNs increase, entries hold the mutations, readable from any LSN, surviving reopen', async () => {
        const a = await ins([1n], 'a', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.insert(T, [2n], enc('b'), vid())
        await t.delete(T, [1n], vid())
        const c = await t.commit(H(3))
        const ro = await engine.begin({ startHlc: H(4) })
        expect((await ro.commit(H(5))).lsn).toBeNull()
        const d = await upd([2n], 'b2', H(6))
        expect([a.lsn, c.lsn, d.lsn]).toEqual([1n, 2n, 3n])
        expect(engine.lastLsn()).toBe(3n)
        const log = await engine.readCommitLog(0n, 100)
        expect(log.map(e => e.lsn)).toEqual([1n, 2n, 3n])
        expect(log[1]!.xid).toBe(t.xid)
        expect(log[1]!.commitHlc).toBe(H(3))
        expect(log[1]!.mutations.map(m => [m.tableId, m.pk, dec(m.row ?? undefined)])).toEqual([[T, [2n], 'b'], [T, [1n], undefined]])
        expect(log[1]!.mutations[1]!.row).toBeNull()
        expect((await engine.readCommitLog(2n, 1)).map(e => e.lsn)).toEqual([2n])
        expect(await engine.readCommitLog(4n)).toEqual([])
        await reopen()
        expect(engine.lastLsn()).toBe(3n)
        expect((await ins([9n], 'z', H(7))).lsn).toBe(4n)
        expect((await engine.readCommitLog(3n)).map(e => e.lsn)).toEqual([3n, 4n])
      })
    })

    describe('pipelined passes (a pass of plain autocommits lets the next apply while it lands)', () => {
      const turn = (): Promise<void> => new Promise(resolve => setImmediate(resolve))
      /** Resolves once the writer has handed a batch to the store (held there). */
      async function heldBatch (n = 1): Promise<void> {
        for (let i = 0; i < 1000 && kv.held.length < n; i++) await turn()
        expect(kv.held.length).toBe(n)
      }
      /** Resolves once the next pass's read was answered and the pass applied (no I/O in it). */
      async function nextPassApplied (readsBefore: number): Promise<void> {
        for (let i = 0; i < 1000 && kv.getManysDone <= readsBefore; i++) await turn()
        expect(kv.getManysDone).toBeGreaterThan(readsBefore)
        for (let i = 0; i < 5; i++) await turn()
      }
      /** a's batch held in the store; b (updating a's row) and c applied on top of it. */
      async function bcOnLandingA (): Promise<[ReturnType<typeof ins>, ReturnType<typeof upd>, ReturnType<typeof ins>]> {
        kv.holdNext = true
        const a = ins([1n], 'a', H(1))
        await heldBatch()
        const reads = kv.getManysDone
        const b = upd([1n], 'b', H(2))
        const c = ins([2n], 'c', H(3))
        await nextPassApplied(reads)
        return [a, b, c]
      }

      it('the next pass builds on the landing one: both land, in order, with consecutive LSNs', async () => {
        const batches = kv.batches
        // b and c are applied on top of a's unlanded writes, but wait for a before their batch.
        const [a, b, c] = await bcOnLandingA()
        expect(kv.batches).toBe(batches + 1)
        await kv.held[0]!.land()
        const [ra, rb, rc] = await Promise.all([a, b, c])
        expect(rb.affected).toEqual([true])
        expect([ra.lsn, rb.lsn, rc.lsn]).toEqual([1n, 2n, 3n])
        expect(await get([1n])).toBe('b')
        expect(await get([2n])).toBe('c')
        expect(await backCount(T, [1n])).toBe(1) // a's version, moved back by b
        expect((await engine.readCommitLog(0n)).map(e => [e.lsn, e.mutations.map(m => dec(m.row ?? undefined))])).toEqual([[1n, ['a']], [2n, ['b']], [3n, ['c']]])
      })

      it('when the landing batch fails, the pass built on it fails with the same error and nothing of either is visible', async () => {
        const [a, b, c] = await bcOnLandingA()
        kv.held[0]!.fail(new Error('disk gone'))
        for (const r of await Promise.allSettled([a, b, c])) expect(r).toMatchObject({ status: 'rejected', reason: { message: 'disk gone' } })
        expect(await get([1n])).toBeUndefined()
        expect(await get([2n])).toBeUndefined()
        // The writer goes on from what landed: LSN 1 is still free.
        expect((await ins([3n], 'd', H(4))).lsn).toBe(1n)
        expect(await rows(T)).toEqual(['3=d'])
        await reopen()
        expect(engine.lastLsn()).toBe(1n)
        expect(await rows(T)).toEqual(['3=d'])
      })

      it('a pass holding a transaction commit lands before the next pass is applied', async () => {
        const t = await engine.begin({ isolation: 'read_committed', startHlc: H(1) })
        await t.insert(T, [1n], enc('t'), vid())
        kv.holdNext = true
        const committed = t.commit(H(2))
        await heldBatch()
        const b = upd([1n], 'b', H(3))
        let settled = false
        void b.finally(() => { settled = true })
        for (let i = 0; i < 20; i++) await turn()
        expect(settled).toBe(false) // b waits for the commit to land, however long that takes
        await kv.held[0]!.land()
        await committed
        // Applied after the commit landed: the row is t's committed version, not a concurrent write.
        expect((await b).affected).toEqual([true])
        expect(await get([1n])).toBe('b')
      })

      /** The row's versions oldest first: back versions (their keys sort by version id, which this
       *  suite hands out increasing), then the primary. */
      async function history (pk: Tuple): Promise<Array<string | undefined>> {
        const out: Array<string | undefined> = []
        for await (const [, v] of kv.iterate(backRangeOfRow(rowKey(T, pk)))) out.push(dec(decodeVersion(v).row))
        out.push(dec(decodeVersion((await kv.get(rowKey(T, pk)))!).row))
        return out
      }
      const updates = (hlc: number, rows: Array<[bigint, string]>) => engine.commitMany(rows.map(([k, row], i) => ({
        writes: [{ op: 'update' as const, tableId: T, pk: [k], row: enc(row), versionId: vid() }], commitHlc: H(hlc + i)
      })))

      it('a pass reads the writes of EVERY pass still landing below it, not just the previous one', async () => {
        for (const k of [1n, 2n, 3n]) await ins([k], 'v0', H(1))
        // Nothing lands until the test says so: a read sees exactly the batches landed.
        kv.holdAll = true
        const a = updates(10, [[1n, 'a1'], [2n, 'a2']])
        await heldBatch(1)
        let reads = kv.getManysDone
        const b = updates(20, [[1n, 'b1'], [3n, 'b3']]) // on top of a
        await nextPassApplied(reads)
        reads = kv.getManysDone
        // Row 2: a (two back) wrote it, b did not; row 3: b (the previous pass) wrote it.
        const c = updates(30, [[2n, 'c2'], [3n, 'c3']])
        await nextPassApplied(reads)
        reads = kv.getManysDone
        // Three passes below it, none landed; row 1 was last written by b, two back.
        const d = updates(40, [[1n, 'd1'], [2n, 'd2'], [3n, 'd3']])
        await nextPassApplied(reads)
        expect(kv.held.length).toBe(1) // b, c and d wait for a before their batches
        const all = Promise.all([a, b, c, d])
        let done = false
        void all.finally(() => { done = true })
        // Land them one by one, in the order the writer hands them over.
        for (let landed = 0; landed < 4; landed++) {
          await heldBatch(landed + 1)
          await kv.held[landed]!.land()
        }
        kv.holdAll = false
        const outs = (await all).flat()
        expect(done).toBe(true)
        expect(outs.map(o => o.ok && o.result.affected)).toEqual(outs.map(() => [true]))
        // No update lost: every version is in its row's history, in order, and logged.
        expect(await history([1n])).toEqual(['v0', 'a1', 'b1', 'd1'])
        expect(await history([2n])).toEqual(['v0', 'a2', 'c2', 'd2'])
        expect(await history([3n])).toEqual(['v0', 'b3', 'c3', 'd3'])
        const log = await engine.readCommitLog(4n, 100)
        expect(log.map(e => [e.lsn, e.mutations.map(m => dec(m.row ?? undefined))])).toEqual(
          ['a1', 'a2', 'b1', 'b3', 'c2', 'c3', 'd1', 'd2', 'd3'].map((r, i) => [BigInt(4 + i), [r]]))
        for (const k of [1n, 2n, 3n]) expect(await get([k])).toBe(`d${k}`)
      })

      it('a read answered before the pass under it landed still takes its writes when the pass above that one failed', async () => {
        for (const k of [1n, 2n]) await ins([k], 'v0', H(1))
        kv.holdAll = true
        const a = updates(10, [[1n, 'a1']])
        await heldBatch(1)
        const reads = kv.getManysDone
        const b = updates(20, [[2n, 'b2']]) // on top of a
        await nextPassApplied(reads)
        // c's read is served now, before a landed (it sees v0 for row 1), and answered later.
        kv.holdReads = true
        const c = updates(30, [[1n, 'c1'], [2n, 'c2']])
        for (let i = 0; i < 1000 && !(kv.heldReads[0]?.served ?? false); i++) await turn()
        expect(kv.heldReads[0]?.served).toBe(true)
        kv.holdReads = false
        await kv.held[0]!.land() // a lands
        await heldBatch(2)
        kv.held[1]!.fail(new Error('disk gone')) // b fails: it wrote nothing
        expect(await b).toMatchObject([{ ok: false, error: { message: 'disk gone' } }])
        kv.holdAll = false
        kv.heldReads[0]!.release()
        const outs = [...await a, ...await c]
        expect(outs.map(o => o.ok && o.result.affected)).toEqual([[true], [true], [true]])
        // c went on top of a's row (not the v0 its read returned) and not of b's, which never landed.
        expect(await history([1n])).toEqual(['v0', 'a1', 'c1'])
        expect(await history([2n])).toEqual(['v0', 'c2'])
        expect((await engine.readCommitLog(3n, 100)).map(e => [e.lsn, e.mutations.map(m => dec(m.row ?? undefined))])).toEqual(
          [[3n, ['a1']], [4n, ['c1']], [5n, ['c2']]])
      })
    })

    describe('group commit records (one commit-log value and one TIP group per pass)', () => {
      const keysUnder = async (prefix: Uint8Array): Promise<number> => {
        let n = 0
        for await (const entry of kv.iterate({ gte: prefix, lt: Uint8Array.of(prefix[0]!, prefix[1]! + 1) })) n += entry.length > 0 ? 1 : 0
        return n
      }
      const many = (keys: bigint[], hlc: number) => engine.commitMany(keys.map((k, i) => ({
        writes: [{ op: 'insert' as const, tableId: T, pk: [k], row: enc(`r${k}`), versionId: vid() }], commitHlc: H(hlc + i)
      })))

      it('readCommitLog returns every LSN in order from anywhere inside a group, across reopen', async () => {
        const a = await ins([100n], 'single', H(1))
        const t = await engine.begin({ startHlc: H(2), isolation: 'read_committed' })
        await t.insert(T, [101n], enc('txn'), vid())
        // The transaction's commit and these statements share one pass when queued together.
        const [c, outs] = await Promise.all([t.commit(H(3)), many([1n, 2n, 3n, 4n, 5n], 10)])
        const dup = await many([6n, 1n, 7n], 20) // the middle one fails: no LSN for it
        expect(dup.map(o => o.ok)).toEqual([true, false, true])
        const lsns = [a.lsn, c.lsn, ...outs.map(o => o.ok ? o.result.lsn : null), ...dup.flatMap(o => o.ok ? [o.result.lsn] : [])]
        expect(lsns).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n])
        // Really grouped: fewer commit-log keys than LSNs.
        expect(await keysUnder(COMMIT_PREFIX)).toBeLessThan(9)
        const check = async (): Promise<void> => {
          expect(engine.lastLsn()).toBe(9n)
          const all = await engine.readCommitLog(0n, 100)
          expect(all.map(e => e.lsn)).toEqual(lsns)
          expect(all[1]!.xid).toBe(t.xid)
          expect(all.slice(2, 7).map(e => e.mutations[0]!.pk)).toEqual([[1n], [2n], [3n], [4n], [5n]])
          expect(all.slice(2, 7).map(e => e.commitHlc)).toEqual([H(10), H(11), H(12), H(13), H(14)])
          for (let from = 0n; from <= 10n; from++) {
            for (const limit of [1, 2, 4, 100]) {
              const got = (await engine.readCommitLog(from, limit)).map(e => e.lsn)
              expect(got).toEqual(lsns.filter(l => l! >= from).slice(0, limit))
            }
          }
        }
        await check()
        await reopen()
        await check()
        await crash()
        await check()
        expect((await ins([200n], 'after', H(40))).lsn).toBe(10n)
        expect((await engine.readCommitLog(9n)).map(e => e.lsn)).toEqual([9n, 10n])
      })

      it('TIP state of every grouped xid is committed at its HLC, others stay dead, explicit reuse is refused', async () => {
        const outs = await many([1n, 2n, 3n, 4n], 10)
        const xids = outs.map(o => o.ok ? o.result.xid : asXid(0n))
        const gap = await engine.begin({ startHlc: H(1) }) // an xid after the group, never writing
        await gap.rollback()
        const later = await many([5n, 6n], 30)
        expect(await keysUnder(TIP_GROUP_PREFIX)).toBeGreaterThanOrEqual(1)
        const check = async (): Promise<void> => {
          for (let i = 0; i < xids.length; i++) expect(await engine.tipState(xids[i]!)).toEqual({ state: 'committed', commitHlc: H(10 + i) })
          for (const o of later) expect((await engine.tipState(o.ok ? o.result.xid : asXid(0n))).state).toBe('committed')
          expect((await engine.tipState(gap.xid)).state).toBe('dead')
          expect((await engine.tipState(asXid(xids[3]! + 1000n))).state).toBe('dead')
          await expect(engine.begin({ startHlc: H(50), xid: xids[2]! })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
          await expect(engine.autocommit({ writes: [{ op: 'put', tableId: T, pk: [9n], row: enc('p'), versionId: vid() }], commitHlc: H(51), xid: xids[1]! }))
            .rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        }
        await check()
        await crash()
        await check()
        expect(await get([3n])).toBe('r3')
      })
    })

    describe('transaction ids', () => {
      it('are node-prefixed, unique, and never reused after a crash or reopen', async () => {
        const seen = new Set<Xid>()
        const take = (x: Xid): void => {
          expect(seen.has(x)).toBe(false)
          expect(xidNodeId(x)).toBe(NODE)
          seen.add(x)
        }
        for (let i = 0; i < 5; i++) take((await engine.begin({ startHlc: H(1) })).xid)
        const w = await engine.begin({ startHlc: H(1) })
        take(w.xid)
        await w.insert(T, [1n], enc('x'), vid())
        take((await ins([2n], 'y', H(2))).xid)
        const maxBefore = [...seen].reduce((a, b) => a > b ? a : b)
        await crash()
        for (let i = 0; i < 5; i++) take((await engine.begin({ startHlc: H(3) })).xid)
        take((await ins([3n], 'z', H(4))).xid)
        await reopen()
        take((await engine.begin({ startHlc: H(5) })).xid)
        for (const x of seen) if (x > maxBefore) expect(xidCounter(x)).toBeGreaterThan(xidCounter(maxBefore))
      })

      it('an explicit (replicated) xid is kept and cannot be reused here', async () => {
        const xid = makeXid(asNodeId(9), 42n)
        const t = await engine.begin({ startHlc: H(1), xid })
        expect(t.xid).toBe(xid)
        await expect(engine.begin({ startHlc: H(1), xid })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        await t.insert(T, [1n], enc('r'), vid())
        await t.commit(H(2))
        expect((await engine.readCommitLog(1n))[0]!.xid).toBe(xid)
        await expect(engine.begin({ startHlc: H(3), xid })).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        const x2 = makeXid(asNodeId(9), 43n)
        const r = await engine.autocommit({ writes: [{ op: 'put', tableId: T, pk: [2n], row: enc('p'), versionId: vid() }], commitHlc: H(4), xid: x2 })
        expect(r.xid).toBe(x2)
        expect((await engine.tipState(x2)).state).toBe('committed')
        await expect(engine.autocommit({ writes: [{ op: 'put', tableId: T, pk: [3n], row: enc('p'), versionId: vid() }], commitHlc: H(5), xid: x2 }))
          .rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
      })
    })

    describe('statement snapshots (scan readHlc) and commit HLCs', () => {
      it('a scan at readHlc sees exactly the commits below it', async () => {
        await ins([1n], 'a', H(1))
        await ins([2n], 'b', H(5))
        expect(await rows(T, {}, undefined, H(3))).toEqual(['1=a'])
        expect(await rows(T, {}, undefined, H(6))).toEqual(['1=a', '2=b'])
      })

      it('a local commit after a statement snapshot lands above it, whatever HLC it asked for', async () => {
        await ins([1n], 'a', H(1))
        expect(await rows(T, {}, undefined, H(20))).toEqual(['1=a'])
        const r = await ins([2n], 'b', H(10))
        expect(r.commitHlc > H(20)).toBe(true)
        // So the statement at H(20), were it to read again, still would not see it.
        expect(await rows(T, {}, undefined, H(20))).toEqual(['1=a'])
      })

      it('PREPARE reports a floor above the snapshots served; COMMIT PREPARED keeps the coordinator\'s HLC', async () => {
        await ins([1n], 'a', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.update(T, [1n], enc('b'), vid())
        expect(await rows(T, {}, undefined, H(30))).toEqual(['1=a'])
        await t.prepare()
        expect(engine.commitFloor() >= H(30)).toBe(true)
        // Not pushed above the snapshot served meanwhile: one HLC on every participant.
        const r = await engine.commitPrepared(t.xid, H(31))
        expect(r.commitHlc).toBe(H(31))
        expect(await rows(T, {}, undefined, H(31))).toEqual(['1=a'])
        expect(await rows(T, {}, undefined, H(32))).toEqual(['1=b'])
      })

      it('a read committed transaction\'s statement at readHlc: that cut plus its own writes; a snapshot transaction keeps its start', async () => {
        await ins([1n], 'a', H(1))
        await ins([2n], 'b', H(5))
        const rc = await engine.begin({ startHlc: H(2), isolation: 'read_committed' })
        await rc.insert(T, [3n], enc('own'), vid())
        expect(await rows(T, {}, rc)).toEqual(['1=a', '2=b', '3=own'])
        expect(await rows(T, {}, rc, H(3))).toEqual(['1=a', '3=own'])
        // Noted as read: a later local commit lands above the statement's HLC.
        const r = await ins([4n], 'c', H(4))
        expect(r.commitHlc > H(3)).toBe(true)
        expect(await rows(T, {}, rc, H(3))).toEqual(['1=a', '3=own'])
        const snap = await engine.begin({ startHlc: H(2) })
        expect(await rows(T, {}, snap, H(40))).toEqual(['1=a'])
      })
    })

    describe('two-phase commit participant', () => {
      it('prepare → reopen → commitPrepared makes the writes visible and logs them', async () => {
        await ins([1n], 'v1', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.update(T, [1n], enc('v2'), vid())
        await t.insert(T, [2n], enc('n'), vid())
        await t.prepare()
        await expect(t.insert(T, [3n], enc('late'), vid())).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        const xid = t.xid
        await reopen()
        const r = await engine.commitPrepared(xid, H(10))
        expect(r.lsn).toBe(2n)
        expect(engine.listLimbo()).toEqual([])
        expect(await get([1n])).toBe('v2')
        expect(await get([2n])).toBe('n')
        const e = (await engine.readCommitLog(2n))[0]!
        expect(e.xid).toBe(xid)
        expect(e.mutations.length).toBe(2)
        await expect(engine.commitPrepared(xid, H(11))).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
      })

      it('prepare → crash → abortPrepared discards the writes', async () => {
        await ins([1n], 'v1', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.update(T, [1n], enc('v2'), vid())
        await t.prepare()
        const xid = t.xid
        await crash()
        expect(engine.recovery).toEqual({ markedDead: 0, limbo: 1 })
        await engine.abortPrepared(xid)
        expect(engine.listLimbo()).toEqual([])
        expect((await engine.tipState(xid)).state).toBe('dead')
        expect(await get([1n])).toBe('v1')
        await reopen()
        expect(engine.listLimbo()).toEqual([])
        expect(await get([1n])).toBe('v1')
      })

      it('commit(txn) of a prepared transaction commits it; unknown xids are refused', async () => {
        const t = await engine.begin({ startHlc: H(1) })
        await t.insert(T, [1n], enc('x'), vid())
        await t.prepare()
        const r = await t.commit(H(2))
        expect(r.lsn).toBe(1n)
        expect(t.state).toBe('committed')
        expect(await get([1n])).toBe('x')
        await expect(engine.abortPrepared(asXid(12345n))).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
      })
    })

    describe('last-writer-wins writes and versioned reads (leaderless_quorum replicas)', () => {
      /** A version id whose HLC order is `n` (as a UUIDv8-HLC's leading bytes would order it). */
      const lid = (n: number): Uint8Array => {
        const b = new Uint8Array(16)
        writeU64(b, 0, BigInt(n))
        b[8] = 0x80
        return b
      }
      const idOf = (v: Uint8Array): number => Number(readU64(v, 0))
      const rw = (pk: Tuple, row: string | null, id: number, table = T): ReplicaWrite =>
        ({ tableId: table, pk, versionId: lid(id), row: row === null ? null : enc(row) })
      const apply = (writes: ReplicaWrite[], hlc: HlcTs, xid?: Xid) => engine.applyVersions({ writes, commitHlc: hlc, xid })
      const lww = (pk: Tuple, row: string | null, id: number, hlc: HlcTs, xid?: Xid) => apply([rw(pk, row, id)], hlc, xid)
      /** [version number, row text | null] of the latest committed version, undefined: none. */
      const vget = async (pk: Tuple, table = T): Promise<[number, string | null] | undefined> => {
        const v = await engine.getVersioned(table, pk)
        return v === undefined ? undefined : [idOf(v.versionId), v.row === null ? null : dec(v.row)!]
      }
      const remote = (counter: bigint): Xid => makeXid(asNodeId(9), counter) // an xid of a coordinator, node 9

      it('a higher version wins, a lower one is ignored, the same one is an idempotent no-op', async () => {
        const a = await lww([1n], 'v10', 10, H(1))
        expect([a.applied, a.lsn]).toEqual([['newer'], 1n])
        const older = await lww([1n], 'v5', 5, H(2))
        expect([older.applied, older.lsn]).toEqual([['older'], null])
        const same = await lww([1n], 'v10', 10, H(3))
        expect([same.applied, same.lsn]).toEqual([['same'], null])
        expect(await vget([1n])).toEqual([10, 'v10'])
        const s = await engine.begin({ startHlc: H(4) })
        const b = await lww([1n], 'v20', 20, H(5))
        expect([b.applied, b.lsn]).toEqual([['newer'], 2n])
        expect(await get([1n])).toBe('v20')
        expect(await get([1n], s)).toBe('v10') // the old version moved back, as 'put' does
        expect(await backCount(T, [1n])).toBe(1)
        expect((await engine.readCommitLog(0n)).map(e => e.mutations.map(m => idOf(m.versionId)))).toEqual([[10], [20]])
        // through autocommit directly: affected is true only for 'newer'
        const r = await engine.autocommit({ writes: [{ op: 'lww', tableId: T, pk: [1n], row: enc('x'), versionId: lid(15) }], commitHlc: H(6) })
        expect([r.affected, r.lww]).toEqual([[false], ['older']])
        expect((await ins([2n], 'plain', H(7))).lww).toBeUndefined()
      })

      it('tombstones win over older rows and lose to newer ones; versioned reads return them', async () => {
        await lww([1n], 'row', 10, H(1))
        expect((await lww([1n], null, 20, H(2))).applied).toEqual(['newer'])
        expect(await get([1n])).toBeUndefined()
        expect(await vget([1n])).toEqual([20, null])
        expect((await lww([1n], 'late', 15, H(3))).applied).toEqual(['older']) // a deleted row never comes back
        expect(await vget([1n])).toEqual([20, null])
        expect((await lww([1n], 'again', 30, H(4))).applied).toEqual(['newer'])
        expect(await get([1n])).toBe('again')
        // the other order: the tombstone arrives after a newer row
        await lww([2n], 'new', 50, H(5))
        expect((await lww([2n], null, 40, H(6))).applied).toEqual(['older'])
        expect(await vget([2n])).toEqual([50, 'new'])
        // a tombstone for a row never seen is stored (it must win against the row arriving later)
        expect((await lww([3n], null, 60, H(7))).applied).toEqual(['newer'])
        expect((await lww([3n], 'resurrected?', 55, H(8))).applied).toEqual(['older'])
        expect(await rows(T)).toEqual(['1=again', '2=new'])
        const many = await engine.getVersionedMany(T, [[3n], [9n], [2n], [1n]])
        expect(many.map(v => v === undefined ? undefined : [idOf(v.versionId), v.row === null ? null : dec(v.row)])).toEqual([[60, null], undefined, [50, 'new'], [30, 'again']])
        expect(await engine.getVersionedMany(T, [])).toEqual([])
        const log = await engine.readCommitLog(0n)
        expect(log.find(e => e.mutations[0]!.versionId[7] === 60)!.mutations[0]!.row).toBeNull()
      })

      it('versioned reads skip uncommitted and dead versions; a transaction cannot see its own through them', async () => {
        await lww([1n], 'committed', 10, H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.update(T, [1n], enc('mine'), lid(99))
        await t.insert(T, [2n], enc('mine too'), lid(98))
        expect(await vget([1n])).toEqual([10, 'committed'])
        expect(await vget([2n])).toBeUndefined()
        await t.rollback()
        expect(await vget([1n])).toEqual([10, 'committed'])
      })

      it('never conflicts with committed versions; an uncommitted local writer is SB_UPDATE_CONFLICT (no wait)', async () => {
        await ins([1n], 'v1', H(1))
        const s = await engine.begin({ startHlc: H(2) }) // a snapshot older than what follows
        expect((await lww([1n], 'lww', Number(versionSeq) + 1000, H(3))).applied).toEqual(['newer'])
        expect(await get([1n], s)).toBe('v1')
        await s.rollback()
        const t = await engine.begin({ startHlc: H(4) })
        await t.update(T, [1n], enc('local'), vid())
        await expect(lww([1n], 'x', 1_000_000, H(5))).rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT' })
        await t.prepare()
        await expect(lww([1n], 'x', 1_000_000, H(6))).rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT' })
        await engine.abortPrepared(t.xid)
        // dead primary: compared with the committed version behind it, and overwritten
        const behind = (await vget([1n]))![0]
        expect((await lww([1n], 'lower', behind - 1, H(7))).applied).toEqual(['older'])
        expect((await lww([1n], 'same', behind, H(8))).applied).toEqual(['same'])
        expect((await lww([1n], 'higher', behind + 1, H(9))).applied).toEqual(['newer'])
        expect(await vget([1n])).toEqual([behind + 1, 'higher'])
        expect(await backCount(T, [1n])).toBe(2) // v1 and the first lww version; the dead one is gone
      })

      it("keeps the coordinator's xid; re-delivery under a committed xid acknowledges, a running or dead xid is refused", async () => {
        const x = remote(1n)
        const r = await apply([rw([1n], 'a', 10), rw([2n], 'b', 11)], H(1), x)
        expect([r.xid, r.applied, r.lsn]).toEqual([x, ['newer', 'newer'], 1n])
        expect(await engine.tipState(x)).toEqual({ state: 'committed', commitHlc: H(1) })
        expect((await engine.readCommitLog(0n))[0]!.xid).toBe(x)
        // the coordinator retries (its ack was lost): acknowledged, nothing logged
        const retry = await apply([rw([1n], 'a', 10), rw([2n], 'b', 11)], H(2), x)
        expect([retry.applied, retry.lsn]).toEqual([['same', 'same'], null])
        // a hint delivering another part of the same transaction later
        expect((await apply([rw([3n], 'c', 12)], H(3), x)).applied).toEqual(['newer'])
        expect(engine.lastLsn()).toBe(2n)
        const t = await engine.begin({ startHlc: H(4), xid: remote(2n) })
        await expect(apply([rw([4n], 'd', 13)], H(5), remote(2n))).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        await t.insert(T, [5n], enc('e'), vid())
        await t.rollback()
        await expect(apply([rw([4n], 'd', 13)], H(6), remote(2n))).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        // an xid of an lww statement is not free for a plain explicit-xid statement
        await expect(engine.autocommit({ writes: [{ op: 'put', tableId: T, pk: [6n], row: enc('p'), versionId: vid() }], commitHlc: H(7), xid: x }))
          .rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        // same-xid deliveries racing in one pass
        const both = await Promise.all([apply([rw([7n], 'f', 14)], H(8), remote(3n)), apply([rw([7n], 'f', 14)], H(8), remote(3n))])
        expect(both.map(b => b.applied)).toEqual([['newer'], ['same']])
        await crash()
        expect((await apply([rw([1n], 'a', 10)], H(9), x)).applied).toEqual(['same'])
        expect(await engine.tipState(remote(3n))).toMatchObject({ state: 'committed' })
      })

      it("bad arguments: 'lww' only in autocommit statements of nothing else", async () => {
        const t = await engine.begin({ startHlc: H(1) })
        await expect(t.write([{ op: 'lww', tableId: T, pk: [1n], row: enc('x'), versionId: lid(1) }])).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        await expect(engine.autocommit({
          writes: [{ op: 'lww', tableId: T, pk: [1n], row: enc('x'), versionId: lid(1) }, { op: 'put', tableId: T, pk: [2n], row: enc('y'), versionId: lid(2) }],
          commitHlc: H(2)
        })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        await expect(apply([{ ...rw([1n], 'x', 1), versionId: new Uint8Array(15) }], H(3))).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        await expect(apply([{ ...rw([1n], 'x', 1), row: 'x' as never }], H(3))).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        await expect(engine.getVersioned(T, 'x' as never)).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        expect((await apply([], H(4))).applied).toEqual([])
        expect(engine.lastLsn()).toBe(0n)
      })

      it('the same set of versions applied in any order, batching and repetition ends in the same state', async () => {
        let table = 100
        const entry = fc.record({ key: fc.integer({ min: 0, max: 3 }), tomb: fc.boolean(), order: fc.nat(), group: fc.nat(3), again: fc.boolean() })
        await fc.assert(fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: 1 << 30 }), { minLength: 1, maxLength: 10 }), fc.array(entry, { minLength: 10, maxLength: 10 }),
          async (ids, es) => {
            const tid = table++
            const versions = ids.map((id, i) => ({ ...es[i]!, id, row: es[i]!.tomb ? null : `r${id}` }))
            const expected = new Map<number, [number, string | null]>()
            for (const v of versions) if ((expected.get(v.key)?.[0] ?? 0) < v.id) expected.set(v.key, [v.id, v.row])
            // arrival order, cut into statements (several share a pass), some delivered twice
            const arrival = [...versions].sort((a, b) => a.order - b.order)
            arrival.push(...versions.filter(v => v.again))
            const stmts: ReplicaWrite[][] = [[]]
            for (const v of arrival) {
              if (v.group === 0 && stmts[stmts.length - 1]!.length > 0) stmts.push([])
              stmts[stmts.length - 1]!.push(rw([BigInt(v.key)], v.row, v.id, tid))
            }
            const outs = await engine.commitMany(stmts.map((writes, i) => ({ writes: writes.map(w => ({ ...w, op: 'lww' as const })), commitHlc: H(i + 1) })))
            expect(outs.every(o => o.ok)).toBe(true)
            for (let k = 0; k < 4; k++) expect(await vget([BigInt(k)], tid)).toEqual(expected.get(k))
            const live = [...expected].filter(([, v]) => v[1] !== null).sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}=${v[1]}`)
            expect(await rows(tid)).toEqual(live)
            // exactly the versions that won on arrival were logged (newer than everything before)
            const newer = outs.flatMap(o => o.ok ? o.result.lww! : []).filter(o => o === 'newer').length
            let wins = 0
            const seen = new Map<number, number>()
            for (const v of arrival) if ((seen.get(v.key) ?? 0) < v.id) { wins++; seen.set(v.key, v.id) }
            expect(newer).toBe(wins)
          }), { numRuns: 30 })
      })

      it('survives a crash and a reopen; sweep removes superseded back versions and keeps tombstones', async () => {
        await lww([1n], 'v10', 10, H(1))
        await lww([1n], 'v20', 20, H(2))
        await lww([1n], 'v30', 30, H(3))
        await lww([2n], 'w10', 10, H(4))
        await lww([2n], null, 20, H(5))
        await crash()
        expect(await vget([1n])).toEqual([30, 'v30'])
        expect(await vget([2n])).toEqual([20, null])
        expect((await lww([1n], 'v20', 20, H(6))).applied).toEqual(['older'])
        expect(await backCount(T, [1n])).toBe(2)
        const r = await engine.sweep(H(100))
        expect(r.backVersionsRemoved).toBe(3)
        expect(r.tombstonesKept).toBe(1)
        expect(await backCount(T, [1n])).toBe(0)
        await reopen()
        expect(await vget([1n])).toEqual([30, 'v30'])
        expect(await vget([2n])).toEqual([20, null]) // kept: a late w10 must still lose
        expect((await lww([2n], 'w10', 10, H(7))).applied).toEqual(['older'])
        // a late version whose commit HLC is below the one it supersedes (a hint): the chain is
        // in version order, and the sweep keeps what a reader at the horizon sees
        await lww([3n], 'x10', 10, H(50))
        await lww([3n], 'x20', 20, H(8))
        expect((await engine.sweep(H(20))).backVersionsRemoved).toBe(1)
        expect(await vget([3n])).toEqual([20, 'x20'])
        expect(await backCount(T, [3n])).toBe(0)
      })
    })

    describe('sweep', () => {
      it('keeps the version an open snapshot sees, removes it once the snapshot ended', async () => {
        await ins([1n], 'v1', H(1))
        const s = await engine.begin({ startHlc: H(10) })
        await upd([1n], 'v2', H(20))
        let r = await engine.sweep(H(100))
        expect(r.horizonHlc).toBe(H(10))
        expect(r.backVersionsRemoved).toBe(0)
        expect(await get([1n], s)).toBe('v1')
        await s.commit(H(30))
        // A snapshot open elsewhere (another node's oldest transaction) holds it too.
        r = await engine.sweep(H(100), { openSnapshots: [H(10)] })
        expect(r.backVersionsRemoved).toBe(0)
        expect(await backCount(T, [1n])).toBe(1)
        r = await engine.sweep(H(100))
        expect(r.backVersionsRemoved).toBe(1)
        expect(await backCount(T, [1n])).toBe(0)
        expect(await get([1n])).toBe('v2')
        // The surviving version lost its link to the removed one.
        expect(decodeVersion((await kv.get(rowKey(T, [1n])))!).prev).toBeUndefined()
        expect((await engine.sweep(H(100))).backVersionsRemoved).toBe(0)
      })

      it('removes only versions superseded below the horizon', async () => {
        await ins([1n], 'v1', H(1))
        await upd([1n], 'v2', H(2))
        await upd([1n], 'v3', H(50))
        await upd([1n], 'v4', H(60))
        const r = await engine.sweep(H(55))
        // v3 (committed at H(50) < 55) is what a reader at the horizon sees: v1 and v2 go.
        expect(r.backVersionsRemoved).toBe(2)
        expect(await backCount(T, [1n])).toBe(1)
        const s = await engine.begin({ startHlc: H(55) })
        expect(await get([1n], s)).toBe('v3')
        await s.rollback()
        expect((await engine.sweep(H(1000))).backVersionsRemoved).toBe(1)
        expect(await get([1n])).toBe('v4')
      })

      it('removes versions of dead transactions, restoring the committed version as primary', async () => {
        await ins([1n], 'v1', H(1))
        const t = await engine.begin({ startHlc: H(2) })
        await t.update(T, [1n], enc('v2'), vid())
        await t.insert(T, [2n], enc('x'), vid())
        await t.rollback()
        const c = await engine.begin({ startHlc: H(3) })
        await c.update(T, [3n], enc('nothing'), vid())
        await c.insert(T, [4n], enc('crashed'), vid())
        await crash()
        const r = await engine.sweep(H(100))
        expect(r.deadVersionsRemoved).toBe(3)
        expect(r.rowsRemoved).toBe(2)
        expect(await kv.get(rowKey(T, [2n]))).toBeUndefined()
        expect(await kv.get(rowKey(T, [4n]))).toBeUndefined()
        const p = decodeVersion((await kv.get(rowKey(T, [1n])))!)
        expect(dec(p.row)).toBe('v1')
        expect(await backCount(T, [1n])).toBe(0)
        expect(await rows(T)).toEqual(['1=v1'])
      })

      it('keeps tombstones and skips rows in limbo', async () => {
        await ins([1n], 'v1', H(1))
        await del([1n], H(2))
        await ins([2n], 'w1', H(1))
        await engine.autocommit({ writes: [{ op: 'update', tableId: T, pk: [2n], row: enc('w2'), versionId: vid() }], commitHlc: H(3) })
        const t = await engine.begin({ startHlc: H(4) })
        await t.update(T, [2n], enc('w3'), vid())
        await t.prepare()
        const r = await engine.sweep(H(100))
        expect(r.tombstonesKept).toBe(1)
        expect(r.backVersionsRemoved).toBe(1) // v1 behind the tombstone
        expect(r.limboRowsSkipped).toBe(1)
        expect(decodeVersion((await kv.get(rowKey(T, [1n])))!).tombstone).toBe(true)
        expect(await backCount(T, [2n])).toBe(2)
        await engine.commitPrepared(t.xid, H(5))
        expect((await engine.sweep(H(100))).backVersionsRemoved).toBe(2)
        expect(await get([2n])).toBe('w3')
      })

      it('purges committed deletes of the listed (MGA) tables below the horizon; keeps the others', async () => {
        await ins([1n], 'v1', H(1))
        await del([1n], H(2)) // deleted below the horizon: goes, with v1 behind it
        await engine.autocommit({ writes: [{ op: 'put', tableId: T, pk: [4n], row: null, versionId: vid() }], commitHlc: H(3) }) // a lone tombstone
        await ins([2n], 'x', H(1), T2)
        await engine.autocommit({ writes: [{ op: 'delete', tableId: T2, pk: [2n], versionId: vid() }], commitHlc: H(3) }) // T2 not listed: kept
        await ins([3n], 'y', H(1))
        await del([3n], H(200)) // deleted above the horizon: the delete stays, and y behind it
        await ins([5n], 'z', H(1))
        await del([5n], H(4))
        const re = await engine.begin({ startHlc: H(5), isolation: 'read_committed' })
        await re.insert(T, [5n], enc('again'), vid()) // an uncommitted version above the delete: kept
        const snap = await engine.begin({ startHlc: H(50) })
        const r = await engine.sweep(H(100), { purgeTombstonesOf: [T] })
        expect(r.horizonHlc).toBe(H(50))
        expect(r.tombstonesPurged).toBe(2)
        expect(r.tombstonesKept).toBe(2)
        expect(await kv.get(rowKey(T, [1n]))).toBeUndefined()
        expect(await backCount(T, [1n])).toBe(0)
        expect(await kv.get(rowKey(T, [4n]))).toBeUndefined()
        expect(decodeVersion((await kv.get(rowKey(T2, [2n])))!).tombstone).toBe(true)
        expect(decodeVersion((await kv.get(rowKey(T, [3n])))!).tombstone).toBe(true)
        expect(await backCount(T, [3n])).toBe(1)
        // Readers cannot tell: the snapshot and a read-committed reader see the same rows as before.
        expect(await rows(T, {}, snap)).toEqual(['3=y'])
        expect(await rows(T)).toEqual([])
        await snap.commit(H(60))
        await re.rollback()
        // The re-insert died: now nothing but a dead version is above the delete, and the row goes.
        const again = await engine.sweep(H(100), { purgeTombstonesOf: [T] })
        expect(again.tombstonesPurged).toBe(1)
        expect(again.deadVersionsRemoved).toBe(1)
        expect(await kv.get(rowKey(T, [5n]))).toBeUndefined()
        // A purged key takes a new insert like a key never used.
        await ins([1n], 'v2', H(300))
        expect(await get([1n])).toBe('v2')
      })

      it('purges a leaderless tombstone only when both its version time and its arrival here are before the cutoff (issue 15 item 5)', async () => {
        const v8 = (ms: number): Uint8Array => encodeUuidV8({ ts: BASE + ms, counter: 0, nodeId: 2, random: 1 })
        await engine.applyVersions({ writes: [{ tableId: T, pk: [1n], versionId: v8(1), row: enc('a') }], commitHlc: H(2) })
        await engine.applyVersions({ writes: [{ tableId: T, pk: [1n], versionId: v8(10), row: null }], commitHlc: H(20) })
        await engine.applyVersions({ writes: [{ tableId: T, pk: [2n], versionId: v8(10), row: enc('kept') }], commitHlc: H(20) })
        // Not listed, or written (arrived at H(20)) after the cutoff: kept.
        expect((await engine.sweep(H(100), {})).tombstonesPurged).toBe(0)
        expect((await engine.sweep(H(100), { purgeLeaderless: { tables: [T], cutoffMs: BASE + 15 } })).tombstonesPurged).toBe(0)
        expect((await engine.getVersioned(T, [1n]))?.row).toBeNull()
        // Before the cutoff: the row goes entirely; the live row next to it stays.
        expect((await engine.sweep(H(100), { purgeLeaderless: { tables: [T], cutoffMs: BASE + 21 } })).tombstonesPurged).toBe(1)
        expect(await engine.getVersioned(T, [1n])).toBeUndefined()
        expect(await get([2n])).toBe('kept')
      })

      it('truncates the commit log below what every consumer needs, a group straddling the cut kept whole', async () => {
        await ins([1n], 'a', H(1))
        await ins([2n], 'b', H(2))
        const group = await engine.commitMany([3n, 4n, 5n].map((k, i) => ({ writes: [{ op: 'insert' as const, tableId: T, pk: [k], row: enc('g'), versionId: vid() }], commitHlc: H(10 + i) })))
        expect(group.map(o => o.ok ? o.result.lsn : null)).toEqual([3n, 4n, 5n])
        await ins([6n], 'c', H(20))
        const logKeys = async (): Promise<bigint[]> => {
          const out: bigint[] = []
          for await (const [k] of kv.iterate({ gte: COMMIT_PREFIX, lt: Uint8Array.of(COMMIT_PREFIX[0]!, COMMIT_PREFIX[1]! + 1) })) out.push(readU64(k, COMMIT_PREFIX.length))
          return out
        }
        expect(await logKeys()).toEqual([1n, 2n, 3n, 6n]) // LSNs 3-5 are one group under c/3
        const truncated = async (from: bigint): Promise<unknown> => await engine.readCommitLog(from).then(() => 'read', (e: unknown) => e)

        // No consumer: nothing goes (an empty list is not "nobody needs anything").
        expect((await engine.sweep(H(100), { commitLog: [] })).logEntriesTruncated).toBe(0)
        // The lowest need wins: LSN 4 is needed, so the group holding it stays whole (from LSN 3).
        let r = await engine.sweep(H(100), { commitLog: [{ name: 'replica', fromLsn: 6n }, { name: 'backup', fromLsn: 4n }] })
        expect(r).toMatchObject({ logEntriesTruncated: 2, firstAvailableLsn: 3n })
        expect(await logKeys()).toEqual([3n, 6n])
        expect(await truncated(2n)).toMatchObject({ code: 'SB_COMMIT_LOG_TRUNCATED', details: { shard: 3, requested_lsn: '2', first_available_lsn: '3' } })
        expect(await truncated(0n)).toMatchObject({ code: 'SB_COMMIT_LOG_TRUNCATED' })
        expect((await engine.readCommitLog(3n)).map(e => e.lsn)).toEqual([3n, 4n, 5n, 6n])
        // A time window: the group's newest commit (H(12)) is still inside one starting at H(12).
        expect((await engine.sweep(H(100), { commitLog: [{ name: 'retention', sinceHlc: H(12) }] })).logEntriesTruncated).toBe(0)
        r = await engine.sweep(H(100), { commitLog: [{ name: 'retention', sinceHlc: H(13) }] })
        expect(r).toMatchObject({ logEntriesTruncated: 3, firstAvailableLsn: 6n })
        // The floor survives a restart; numbering goes on.
        await reopen()
        expect(engine.firstAvailableLsn()).toBe(6n)
        expect(await truncated(5n)).toMatchObject({ details: { first_available_lsn: '6' } })
        expect((await engine.readCommitLog(6n)).map(e => e.lsn)).toEqual([6n])
        // Truncated to empty: the next commit still takes the next LSN, after a crash too.
        expect((await engine.sweep(H(100), { commitLog: [{ name: 'retention', sinceHlc: H(1000) }] })).firstAvailableLsn).toBe(7n)
        expect(await logKeys()).toEqual([])
        await crash()
        expect(engine.lastLsn()).toBe(6n)
        expect((await ins([7n], 'd', H(30))).lsn).toBe(7n)
        expect((await engine.readCommitLog(7n)).map(e => e.lsn)).toEqual([7n])
      })

      it('truncates the commit log across chunks while commits continue', async () => {
        const n = 600
        for (let i = 0; i < n; i++) await ins([BigInt(i)], 'x', H(i))
        const truncating = engine.sweep(H(10_000), { commitLog: [{ name: 'replica', fromLsn: 551n }] })
        const more = ins([BigInt(n)], 'y', H(n))
        const [r, m] = await Promise.all([truncating, more])
        expect(m.lsn).toBe(BigInt(n + 1))
        expect(r).toMatchObject({ logEntriesTruncated: 550, firstAvailableLsn: 551n })
        expect((await engine.readCommitLog(0n, 10_000).catch((e: { code: string }) => e.code))).toBe('SB_COMMIT_LOG_TRUNCATED')
        expect((await engine.readCommitLog(551n, 10_000)).map(e => e.lsn)).toEqual([...Array(51).keys()].map(i => BigInt(551 + i)))
      })

      it('sweeps across chunks and while writes continue', async () => {
        const n = 1300
        await engine.commitMany(Array.from({ length: n }, (_, i) => ({
          writes: [{ op: 'insert' as const, tableId: T, pk: [BigInt(i)], row: enc('a'), versionId: vid() }], commitHlc: H(1)
        })))
        await engine.commitMany(Array.from({ length: n }, (_, i) => ({
          writes: [{ op: 'update' as const, tableId: T, pk: [BigInt(i)], row: enc('b'), versionId: vid() }], commitHlc: H(2)
        })))
        const sweeping = engine.sweep(H(100))
        const writes = engine.commitMany(Array.from({ length: 50 }, (_, i) => ({
          writes: [{ op: 'update' as const, tableId: T, pk: [BigInt(i * 20)], row: enc('c'), versionId: vid() }], commitHlc: H(3)
        })))
        const [r, w] = await Promise.all([sweeping, writes])
        expect(w.every(o => o.ok)).toBe(true)
        expect(r.rowsExamined).toBe(n)
        expect(r.backVersionsRemoved).toBeGreaterThanOrEqual(n - 50)
        const final = await engine.sweep(H(100))
        expect(r.backVersionsRemoved + final.backVersionsRemoved).toBe(n + 50)
        expect(await get([20n])).toBe('c')
        expect(await get([21n])).toBe('b')
      })
    })

    describe('group commit', () => {
      it('commitMany: one read and one batch for the whole group; failures stay per statement', async () => {
        await ins([0n], 'zero', H(1))
        const b0 = kv.batches
        const g0 = kv.getManys
        const reqs = Array.from({ length: 200 }, (_, i) => ({
          writes: [{ op: 'insert' as const, tableId: T, pk: [BigInt(i)], row: enc(`r${i}`), versionId: vid() }],
          commitHlc: H(10 + i)
        }))
        reqs.push({ writes: [{ op: 'update', tableId: T, pk: [5n], row: enc('five again'), versionId: vid() }] as never, commitHlc: H(500) })
        const out = await engine.commitMany(reqs)
        expect(kv.batches - b0).toBe(1)
        expect(kv.getManys - g0).toBe(1)
        expect(out[0]!.ok).toBe(false) // key 0 exists
        expect(isScratchBirdError((out[0] as { error: unknown }).error, 'SB_UNIQUE_VIOLATION')).toBe(true)
        const lsns = out.filter(o => o.ok).map(o => (o as { result: { lsn: bigint } }).result.lsn)
        expect(lsns).toEqual(Array.from({ length: 200 }, (_, i) => BigInt(i + 2)))
        expect(await get([5n])).toBe('five again')
        expect(await get([199n])).toBe('r199')
      })

      it('overlapping passes: a pass sees the writes of the pass still landing before it', async () => {
        const keys = [1n, 2n, 3n]
        for (const k of keys) await ins([k], 'v0', H(1))
        const last = new Map<bigint, string>()
        const pending: Array<Promise<unknown>> = []
        let hlc = 10
        for (let round = 0; round < 30; round++) {
          const group = keys.filter((_, i) => (round + i) % 2 === 0).map(k => {
            last.set(k, `r${round}`)
            return { writes: [{ op: 'update' as const, tableId: T, pk: [k], row: enc(`r${round}`), versionId: vid() }], commitHlc: H(++hlc) }
          })
          pending.push(engine.commitMany(group).then(out => expect(out.every(o => o.ok)).toBe(true)))
          // Let the writer start a pass (read or write in flight) before the next group arrives.
          if (round % 3 === 0) await new Promise(resolve => setImmediate(resolve))
          else if (round % 3 === 1) await Promise.resolve()
        }
        await Promise.all(pending)
        for (const k of keys) expect(await get([k])).toBe(last.get(k))
        const updates = (await engine.readCommitLog(4n, 1000)).length
        expect(updates).toBe(45)
        let backs = 0
        for (const k of keys) backs += await backCount(T, [k])
        expect(backs).toBe(45)
      })

      it('a write queued before commit (not awaited) belongs to the transaction', async () => {
        const t = await engine.begin({ startHlc: H(1) })
        const w = t.insert(T, [1n], enc('x'), vid())
        const c = t.commit(H(2))
        await w
        expect((await c).lsn).toBe(1n)
        expect(await get([1n])).toBe('x')
        const u = await engine.begin({ startHlc: H(3) })
        const late = u.rollback()
        await expect(u.insert(T, [2n], enc('y'), vid())).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        await late
      })

      it('concurrent transaction commits share a batch', async () => {
        const txns = await Promise.all(Array.from({ length: 20 }, () => engine.begin({ startHlc: H(1) })))
        await Promise.all(txns.map((t, i) => t.insert(T, [BigInt(i)], enc('x'), vid())))
        const b0 = kv.batches
        const res = await Promise.all(txns.map(t => t.commit(H(2))))
        expect(kv.batches - b0).toBe(1)
        expect(res.map(r => r.lsn)).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(i + 1)))
      })
    })

    describe('write fences (a DDL that needs an empty table, issue 13)', () => {
      const refused = { code: 'SB_TABLE_ALTERING' }

      it('a fenced table refuses every kind of row write and changes nothing; other tables and a released fence write again', async () => {
        await ins([1n], 'other', H(1), T2)
        expect(await engine.fenceTable(T, 'ddl-1')).toEqual({ rows: false })
        const lsn = engine.lastLsn()
        await expect(ins([1n], 'a', H(2))).rejects.toMatchObject(refused)
        const t = await engine.begin({ startHlc: H(3) })
        await expect(t.insert(T, [1n], enc('a'), vid())).rejects.toMatchObject(refused)
        await expect(engine.applyVersions({ writes: [{ tableId: T, pk: [2n], versionId: vid(), row: enc('r') }], commitHlc: H(4) })).rejects.toMatchObject(refused)
        // The transaction itself goes on: its next statement on another table works.
        await t.insert(T2, [2n], enc('b'), vid())
        await t.commit(H(5))
        expect(await rows(T)).toEqual([])
        expect(engine.lastLsn()).toBe(lsn + 1n)
        // Two DDLs, two tokens: the table opens when the last one is released.
        await engine.fenceTable(T, 'ddl-2')
        expect(await engine.releaseTableFence(T, 'ddl-1')).toBe(true)
        expect(await engine.releaseTableFence(T, 'ddl-1')).toBe(false)
        await expect(ins([1n], 'a', H(6))).rejects.toMatchObject(refused)
        expect(await engine.releaseTableFence(T, 'ddl-2')).toBe(true)
        await ins([1n], 'a', H(7))
        expect(await rows(T)).toEqual(['1=a'])
      })

      it('a fence survives a restart (a DDL may still be running); a release ends it for good', async () => {
        await engine.fenceTable(T, 'ddl')
        await reopen()
        expect(engine.heldTableFences()).toEqual([{ tableId: T, token: 'ddl' }])
        await expect(ins([1n], 'a', H(1))).rejects.toMatchObject(refused)
        expect(await engine.releaseTableFence(T, 'ddl')).toBe(true)
        await reopen()
        expect(engine.heldTableFences()).toEqual([])
        await ins([1n], 'a', H(2))
      })

      it('the probe sees a write queued before the fence, even while its batch is still landing', async () => {
        kv.holdNext = true
        const racing = ins([1n], 'raced', H(1))
        for (let i = 0; i < 1000 && kv.held.length < 1; i++) await new Promise(resolve => setImmediate(resolve))
        expect(kv.held.length).toBe(1)
        let answered = false
        const probe = engine.fenceTable(T, 'ddl').then(r => { answered = true; return r })
        for (let i = 0; i < 20; i++) await new Promise(resolve => setImmediate(resolve))
        expect(answered).toBe(false) // the probe waits for the write in flight
        await kv.held[0]!.land()
        await racing
        expect(await probe).toEqual({ rows: true })
      })

      it('a transaction that wrote the table before the fence cannot commit or prepare; a prepared one counts as rows and is still decided', async () => {
        const open = await engine.begin({ startHlc: H(1) })
        await open.insert(T, [1n], enc('pending'), vid())
        const prepared = await engine.begin({ startHlc: H(1) })
        await prepared.insert(T2, [1n], enc('p'), vid())
        await prepared.prepare()
        // Uncommitted versions are not rows yet: the commit is what the fence refuses.
        expect(await engine.fenceTable(T, 'a')).toEqual({ rows: false })
        await expect(open.commit(H(2))).rejects.toMatchObject(refused)
        await expect(open.prepare()).rejects.toMatchObject(refused)
        await open.rollback()
        expect(await rows(T)).toEqual([])
        // A prepared transaction's decision cannot be refused: the probe reports its rows instead.
        expect(await engine.fenceTable(T2, 'b')).toEqual({ rows: true })
        await engine.commitPrepared(prepared.xid, H(3))
        expect(await rows(T2)).toEqual(['1=p'])
      })
    })

    describe('durability, marks, errors', () => {
      for (const durability of ['sync', 'none'] as Durability[]) {
        it(`durability '${durability}' commits and survives reopen`, async () => {
          await reopen({ durability })
          expect(engine.durability).toBe(durability)
          const s0 = kv.syncedBatches
          await ins([1n], 'd', H(1))
          expect(kv.syncedBatches - s0).toBe(durability === 'sync' ? 1 : 0)
          await reopen({ durability })
          expect(await get([1n])).toBe('d')
        })
      }

      it('HLC high-water mark persists with commits and flush', async () => {
        engine.noteHlc(H(500))
        await ins([1n], 'x', H(2))
        await crash()
        expect(engine.hlcHighWater()).toBe(H(500))
        engine.noteHlc(H(900))
        await engine.flush()
        await crash()
        expect(engine.hlcHighWater()).toBe(H(900))
        await ins([2n], 'y', H(1000))
        await reopen()
        expect(engine.hlcHighWater()).toBe(H(1000))
      })

      it('garbage in a record version is SB_STORAGE_CORRUPT, not a crash', async () => {
        await kv.batch([{ type: 'put', key: rowKey(T, [1n]), value: Uint8Array.of(1, 2, 3) }], { sync: false })
        await expect(engine.get(T, [1n])).rejects.toMatchObject({ code: 'SB_STORAGE_CORRUPT' })
        await kv.batch([{ type: 'put', key: tipKey(asXid(77n)), value: Uint8Array.of(9) }], { sync: false })
        await expect(engine.tipState(asXid(77n))).rejects.toMatchObject({ code: 'SB_STORAGE_CORRUPT' })
      })

      it('a store of another shard is refused; bad arguments are coded errors', async () => {
        await engine.close()
        kv = new CountingKv(await source.open())
        await expect(ShardEngine.open(kv, { ...opts, shardId: asShardId(4) })).rejects.toMatchObject({ code: 'SB_STORAGE_CORRUPT' })
        engine = await ShardEngine.open(kv, opts)
        await expect(engine.autocommit({ writes: [{ op: 'insert', tableId: T, pk: [1n], row: enc('x'), versionId: new Uint8Array(3) }], commitHlc: H(1) }))
          .rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        await expect(engine.autocommit({ writes: [{ op: 'insert', tableId: -1, pk: [1n], row: enc('x'), versionId: vid() }], commitHlc: H(1) }))
          .rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        await expect(engine.begin({ startHlc: 5 as unknown as HlcTs })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        const t = await engine.begin({ startHlc: H(1) })
        await t.commit(H(2))
        await expect(t.commit(H(3))).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        await expect(t.get(T, [1n])).rejects.toMatchObject({ code: 'SB_TXN_NOT_ACTIVE' })
        await engine.close()
        await expect(engine.get(T, [1n])).rejects.toMatchObject({ code: 'SB_SHUTTING_DOWN' })
      })
    })
  })
}
