import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { asNodeId, type NodeId } from '../../../src/core/ids'
import type { ShardEngine, SnapshotChunk } from '../../../src/storage/engine'
import { commitKey, compareBytes, encodeTuple, metaKey } from '../../../src/storage/keys'
import type { KvStore } from '../../../src/storage/kv'
import { LevelKv } from '../../../src/storage/kv-level'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { SNAPSHOT_IDLE_MS } from '../../../src/storage/replica-snapshot'
import { BACKENDS, del, enc, ins, logOf, nextHlc, replicas, rows, ship, T, T2, upd, type Replica, useBackend } from './replica-fixtures'

// Snapshot streaming for bootstrap (src/storage/replica-snapshot.ts) and the frozen view under it
// (KvSnapshot, on both backends): a replica bootstrapped from a snapshot taken while the primary
// keeps committing, then caught up from the log, holds exactly the primary's state; a restart
// mid-bootstrap resumes; a lost source snapshot restarts; nothing half-installed is ever served.

let open: Replica[] = []
afterEach(async () => { for (const r of open) await r.destroy(); open = [] })
async function start (...nodeIds: number[]): Promise<Replica[]> { const rs = await replicas(...nodeIds); open.push(...rs); return rs }

const k = (s: string): Uint8Array => enc(s)
const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('KvSnapshot (both backends)', () => {
  const backends: Array<[string, () => Promise<KvStore>]> = [
    ['classic-level', async () => { const d = mkdtempSync(join(tmpdir(), 'sb-snap-')); dirs.push(d); return await LevelKv.open(d) }],
    ['memory', async () => MemoryKv.open()]
  ]
  for (const [name, make] of backends) {
    it(`${name}: sees the store as it was when taken, whatever is written after; seek positions it`, async () => {
      const kv = await make()
      const key = (i: number): Uint8Array => k(`key${String(i).padStart(5, '0')}`)
      // Enough keys for several memory chunks, so writes after the snapshot split and copy them.
      await kv.batch(Array.from({ length: 3000 }, (_, i) => ({ type: 'put' as const, key: key(i * 2), value: k(`v${i * 2}`) })), { sync: false })
      const snap = kv.snapshot()
      await kv.batch([
        ...Array.from({ length: 3000 }, (_, i) => ({ type: 'put' as const, key: key(i * 2 + 1), value: k('new') })),
        { type: 'put', key: key(10), value: k('changed') },
        { type: 'del', key: key(12) }
      ], { sync: false })
      const seen: string[] = []
      snap.seek(key(9))
      for (let e = await snap.next(); e !== undefined && seen.length < 4; e = await snap.next()) seen.push(`${new TextDecoder().decode(e[0])}=${new TextDecoder().decode(e[1])}`)
      expect(seen).toEqual(['key00010=v10', 'key00012=v12', 'key00014=v14', 'key00016=v16'])
      snap.seek(key(5998))
      expect((await snap.next())?.[0]).toEqual(key(5998))
      expect(await snap.next()).toBeUndefined()
      let n = 0
      snap.seek(new Uint8Array(0))
      while (await snap.next() !== undefined) n++
      expect(n).toBe(3000)
      // nextMany: the same frozen entries, in batches; short only at the end, then empty.
      snap.seek(key(9))
      const many = await snap.nextMany(3)
      expect(many.map(e => `${new TextDecoder().decode(e[0])}=${new TextDecoder().decode(e[1])}`)).toEqual(['key00010=v10', 'key00012=v12', 'key00014=v14'])
      expect((await snap.next())?.[0]).toEqual(key(16))
      snap.seek(new Uint8Array(0))
      const all: Uint8Array[] = []
      for (let b = await snap.nextMany(1000); b.length > 0; b = await snap.nextMany(1000)) for (const [key] of b) all.push(key)
      expect(all).toHaveLength(3000)
      expect(all[2999]).toEqual(key(5998))
      // Entries stay intact across later calls (a chunk keeps them while reading on).
      expect(new TextDecoder().decode(many[0]![1])).toBe('v10')
      await snap.close()
      expect(new TextDecoder().decode(await kv.get(key(10)))).toBe('changed')
      expect(await kv.get(key(12))).toBeUndefined()
      const live: Uint8Array[] = []
      for await (const [key] of kv.iterate({})) live.push(key)
      expect(live).toHaveLength(5999)
      await kv.close()
    })
  }
})

/** Everything of a primary's state a replica must hold equal. */
async function stateOf (e: ShardEngine): Promise<unknown> {
  return { t1: await rows(e), t2: await rows(e, T2), lsn: e.lastLsn() }
}

/** Read the whole snapshot in chunks of `maxKeys`, calling `between` after each read. */
async function readAll (src: ShardEngine, maxKeys: number, between: () => Promise<void> = async () => {}): Promise<SnapshotChunk[]> {
  const chunks: SnapshotChunk[] = []
  let id = 0n
  let after: Uint8Array | null = null
  for (;;) {
    const c = await src.snapshotRead({ snapshotId: id, after, maxKeys, maxBytes: 1 << 20 })
    chunks.push(c)
    id = c.snapshotId
    if (c.entries.length > 0) after = c.entries[c.entries.length - 1]!.key
    await between()
    if (c.done) return chunks
  }
}

async function installAll (dst: ShardEngine, chunks: readonly SnapshotChunk[], voters?: NodeId[]): Promise<void> {
  let after: Uint8Array | null = null
  for (const c of chunks) {
    await dst.snapshotInstall({ ...c, after, ...(c.done && voters !== undefined ? { voters } : {}) })
    if (c.entries.length > 0) after = c.entries[c.entries.length - 1]!.key
  }
}

async function history (p: Replica): Promise<void> {
  await p.engine.setReplState({ generation: 2n, votedFor: null, commitLsn: 0n, role: 'primary' })
  for (let i = 0; i < 12; i++) await p.auto(ins(`r${i}`, `v${i}`))
  await p.auto(ins('x', 'x1', T2), upd('r1', 'v1b'), del('r2'))
  await p.engine.commitMany([{ writes: [upd('r3', 'v3b')], commitHlc: nextHlc() }, { writes: [upd('r3', 'v3c')], commitHlc: nextHlc() }])
}

for (const backend of BACKENDS) {
  describe(backend, () => {
    beforeAll(() => { useBackend(backend) })

    describe('snapshot bootstrap', () => {
      it('bootstraps from a snapshot taken while the primary keeps committing, catches up from the log, then holds the same state', async () => {
        const [p, r] = await start(1, 2)
        // A prepared transaction and a running one at the snapshot (prepared before the shard is
        // replicated: a replicated shard refuses PREPARE until 2PC decisions are log entries).
        const prepared = await p!.engine.begin({ startHlc: nextHlc() })
        await prepared.write([ins('limbo', 'l')])
        await prepared.prepare()
        await history(p!)
        const running = await p!.engine.begin({ startHlc: nextHlc() })
        await running.write([upd('r4', 'uncommitted')])
        let n = 0
        const chunks = await readAll(p!.engine, 5, async () => { await p!.auto(upd(`r${5 + (n % 6)}`, `later${n}`), ins(`new${n}`, `n${n}`)); n++ })
        const snapLsn = chunks[0]!.lsn
        expect(chunks.every(c => c.lsn === snapLsn && c.snapshotId === chunks[0]!.snapshotId && c.generation === 2n)).toBe(true)
        expect(chunks.length).toBeGreaterThan(4)
        expect(p!.engine.lastLsn()).toBeGreaterThan(snapLsn + 3n)
        // Only the shard's data: no log, hints, metadata or replication state.
        for (const c of chunks) {
          for (const e of c.entries) expect(['b/', 'g/', 'r/', 's/o/', 't/'].some(pre => Buffer.from(e.key).toString('latin1').startsWith(pre))).toBe(true)
          expect(c.entries.length).toBeLessThanOrEqual(5)
        }
        // Install: the first chunk makes the replica refuse reads until the last one.
        await r!.engine.snapshotInstall({ ...chunks[0]!, after: null })
        await expect(rows(r!.engine)).rejects.toMatchObject({ code: 'SB_REPL_BOOTSTRAPPING' })
        await expect(r!.engine.autocommit({ writes: [ins('no', 'no')], commitHlc: nextHlc() })).rejects.toMatchObject({ code: 'SB_REPL_BOOTSTRAPPING' })
        await expect(r!.engine.replApply([])).rejects.toMatchObject({ code: 'SB_REPL_BOOTSTRAPPING' })
        expect((await r!.engine.replState()).role).toBe('bootstrapping')
        await installAll(r!.engine, chunks)
        expect(await r!.engine.replState()).toMatchObject({ role: 'replica', lastLsn: snapLsn, lastGeneration: 2n, firstAvailableLsn: snapLsn + 1n, bootstrap: null, generation: 2n })
        expect(r!.engine.listLimbo()).toEqual([{ xid: prepared.xid, rows: 1 }])
        // Catch up from the log after the snapshot's LSN.
        await ship(p!.engine, r!.engine, snapLsn + 1n)
        await running.commit(nextHlc())
        await prepared.commit(nextHlc())
        await ship(p!.engine, r!.engine)
        for (let round = 0; round < 2; round++) {
          const e = round === 0 ? r!.engine : await r!.restart()
          expect(await stateOf(e)).toEqual(await stateOf(p!.engine))
          expect(await rows(e)).toContain('limbo=l')
          expect(await rows(e)).toContain('r4=uncommitted')
          expect((await logOf(e))).toEqual((await logOf(p!.engine)).filter(x => (x as { lsn: bigint }).lsn > snapLsn))
          expect(e.listLimbo()).toEqual([])
        }
      })

      it('records the voters the last chunk names as the config at the snapshot LSN, replacing the config of the contents it wiped', async () => {
        const [p, r] = await start(1, 2)
        await history(p!)
        await r!.engine.setReplState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'replica', config: { lsn: 0n, voters: [asNodeId(1), asNodeId(2)] } })
        const chunks = await readAll(p!.engine, 4)
        const voters = [asNodeId(1), asNodeId(2), asNodeId(3)]
        await installAll(r!.engine, chunks, voters)
        for (let round = 0; round < 2; round++) {
          const e = round === 0 ? r!.engine : await r!.restart()
          expect(await e.replState()).toMatchObject({ role: 'replica', lastLsn: chunks[0]!.lsn, config: { lsn: chunks[0]!.lsn, voters } })
        }
        // From a source that names none (the previous release): not known, not the wiped contents' config.
        const again = await readAll(p!.engine, 4)
        await installAll(r!.engine, again)
        expect((await r!.engine.replState()).config).toBeNull()
      })

      it('a restart mid-bootstrap keeps the replica closed to reads and resumes from the last key installed', async () => {
        const [p, r] = await start(1, 2)
        await history(p!)
        await r!.auto(ins('stale', 'old data of this replica'))
        const chunks = await readAll(p!.engine, 4)
        await installAll(r!.engine, chunks.slice(0, 3))
        const e = await r!.restart()
        await expect(e.get(T, ['r0'])).rejects.toMatchObject({ code: 'SB_REPL_BOOTSTRAPPING' })
        const st = await e.replState()
        expect(st.role).toBe('bootstrapping')
        expect(st.bootstrap).toMatchObject({ snapshotId: chunks[0]!.snapshotId, lsn: chunks[0]!.lsn, installedKeys: 12, wiped: true })
        expect(st.bootstrap!.lastKey).toEqual(chunks[2]!.entries[3]!.key)
        await expect(e.setReplState({ generation: 3n, votedFor: null, commitLsn: 0n, role: 'replica' })).rejects.toMatchObject({ code: 'SB_REPL_BOOTSTRAPPING' })
        // The source still has the snapshot: continue from the recorded key.
        const rest = await p!.engine.snapshotRead({ snapshotId: st.bootstrap!.snapshotId, after: st.bootstrap!.lastKey, maxKeys: 1000, maxBytes: 1 << 20 })
        expect(rest.done).toBe(true)
        expect(rest.entries[0]!.key).toEqual(chunks[3]!.entries[0]!.key)
        // Not right after the last key, or another snapshot: refused, nothing installed.
        await expect(e.snapshotInstall({ ...rest, entries: rest.entries.slice(1), after: rest.entries[0]!.key })).rejects.toMatchObject({ code: 'SB_REPL_SNAPSHOT_MISMATCH' })
        await expect(e.snapshotInstall({ ...rest, snapshotId: rest.snapshotId + 1n, after: st.bootstrap!.lastKey })).rejects.toMatchObject({ code: 'SB_REPL_SNAPSHOT_MISMATCH' })
        expect((await e.replState()).bootstrap!.installedKeys).toBe(12)
        expect(await e.snapshotInstall({ ...rest, after: st.bootstrap!.lastKey })).toMatchObject({ complete: true })
        expect(await stateOf(e)).toEqual(await stateOf(p!.engine))
        expect(await rows(e)).not.toContain('stale=old data of this replica')
      })

      it('a prepared transaction in the snapshot stays prepared, also when the replica restarts between its index entry and its TIP entry', async () => {
        const [p, r] = await start(1, 2)
        const prepared = await p!.engine.begin({ startHlc: nextHlc() })
        await prepared.write([ins('limbo', 'l')])
        await prepared.prepare()
        await history(p!)
        const chunks = await readAll(p!.engine, 1)
        const at = chunks.findIndex(c => c.entries.length > 0 && Buffer.from(c.entries[0]!.key).toString('latin1').startsWith('s/o/'))
        expect(at).toBeGreaterThan(0)
        await installAll(r!.engine, chunks.slice(0, at + 1))
        const e = await r!.restart()
        const st = await e.replState()
        let after = st.bootstrap!.lastKey
        for (const c of chunks.slice(at + 1)) {
          await e.snapshotInstall({ ...c, after })
          if (c.entries.length > 0) after = c.entries[c.entries.length - 1]!.key
        }
        expect(e.listLimbo()).toEqual([{ xid: prepared.xid, rows: 1 }])
        await prepared.commit(nextHlc())
        await ship(p!.engine, e)
        expect(await stateOf(e)).toEqual(await stateOf(p!.engine))
        expect(e.listLimbo()).toEqual([])
      })

      it('a snapshot the source lost restarts the bootstrap from a new one, wiping what the first attempt installed', async () => {
        const [p, r] = await start(1, 2)
        await history(p!)
        const first = await readAll(p!.engine, 6)
        await installAll(r!.engine, first.slice(0, 2))
        await p!.auto(del('r0'), ins('after-first', 'a'))
        p!.clock.advance(SNAPSHOT_IDLE_MS + 1)
        await expect(p!.engine.snapshotRead({ snapshotId: first[0]!.snapshotId, after: first[1]!.entries[5]!.key, maxKeys: 10, maxBytes: 1 << 20 }))
          .rejects.toMatchObject({ code: 'SB_REPL_SNAPSHOT_GONE' })
        const second = await readAll(p!.engine, 7)
        expect(second[0]!.snapshotId).not.toBe(first[0]!.snapshotId)
        expect(second[0]!.lsn).toBe(p!.engine.lastLsn())
        // Continuing the old attempt with the new snapshot's chunks is refused; restarting works.
        await expect(r!.engine.snapshotInstall({ ...second[1]!, after: second[0]!.entries[6]!.key })).rejects.toMatchObject({ code: 'SB_REPL_SNAPSHOT_MISMATCH' })
        await installAll(r!.engine, second)
        expect(await stateOf(r!.engine)).toEqual(await stateOf(p!.engine))
        expect(await rows(r!.engine)).not.toContain('r0=v0')
      })

      it('refuses malformed chunks with a coded error and installs nothing of them', async () => {
        const [p, r] = await start(1, 2)
        await history(p!)
        const chunks = await readAll(p!.engine, 1000)
        const c = chunks[0]!
        await r!.engine.snapshotInstall({ ...c, entries: c.entries.slice(0, 2), done: false, after: null })
        const after = c.entries[1]!.key
        const good = c.entries[2]!
        const bad: Array<[string, Array<{ key: Uint8Array, value: Uint8Array }>]> = [
          ['a log key', [{ key: commitKey(1n), value: good.value }]],
          ['metadata', [{ key: metaKey('xid'), value: new Uint8Array(8) }]],
          ['a hint key', [{ key: Uint8Array.of(0x68, 0, 1), value: new Uint8Array(4) }]],
          ['an undecodable version', [{ key: good.key, value: Uint8Array.of(9, 9, 9) }]],
          ['out of order', [c.entries[3]!, good]],
          ['a row key with a bad pk', [{ key: Uint8Array.of(0x72, 0x2f, 0x15, 0x01, 0x15, 0x00), value: good.value }]]
        ]
        for (const [why, entries] of bad) {
          const err = await r!.engine.snapshotInstall({ ...c, entries, done: false, after }).catch((e: unknown) => e)
          expect(['SB_BAD_ARGUMENT', 'SB_REPL_SNAPSHOT_MISMATCH'], why).toContain((err as { code?: string }).code)
        }
        expect((await r!.engine.replState()).bootstrap).toMatchObject({ installedKeys: 2 })
        expect((await r!.engine.replState()).bootstrap!.lastKey).toEqual(after)
        await r!.engine.snapshotInstall({ ...c, entries: c.entries.slice(2), after })
        expect(await stateOf(r!.engine)).toEqual(await stateOf(p!.engine))
        // Bounds on the read side.
        await expect(p!.engine.snapshotRead({ snapshotId: 0n, after: null, maxKeys: 0, maxBytes: 10 })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        const one = await p!.engine.snapshotRead({ snapshotId: 0n, after: null, maxKeys: 100, maxBytes: 1 })
        expect(one.entries).toHaveLength(1)
        expect(compareBytes(one.entries[0]!.key, encodeTuple([]))).toBeGreaterThan(0)
      })
    })
  })
}
