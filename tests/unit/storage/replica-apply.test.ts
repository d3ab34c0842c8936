import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { asXid } from '../../../src/core/ids'
import type { RawLogEntry } from '../../../src/storage/commit-log'
import { encodeTuple } from '../../../src/storage/keys'
import { makeXid, xidCounter, xidNodeId } from '../../../src/storage/xid'
import { asNodeId } from '../../../src/core/ids'
import { BACKENDS, del, enc, ins, logOf, nextHlc, replicas, rows, ship, T, T2, upd, vid, type Replica, useBackend } from './replica-fixtures'

// Replica apply (src/storage/replica-apply.ts) on real LevelDB: a replica applying its primary's
// log holds exactly the primary's committed state and the same log, entry for entry.

let open: Replica[] = []
afterEach(async () => { for (const r of open) await r.destroy(); open = [] })
async function start (...nodeIds: number[]): Promise<Replica[]> { open = await replicas(...nodeIds); return open }

/** The primary writes every kind of entry: autocommit inserts/updates/deletes, a group of
 *  concurrent statements, a multi-statement transaction, another table. */
async function writeHistory (p: Replica): Promise<void> {
  await p.auto(ins('a', 'a1'), ins('b', 'b1'))
  await p.auto(ins('c', 'c1', T2))
  await p.auto(upd('a', 'a2'))
  await p.engine.commitMany([{ writes: [ins('d', 'd1')], commitHlc: nextHlc() }, { writes: [ins('e', 'e1')], commitHlc: nextHlc() }, { writes: [del('b')], commitHlc: nextHlc() }])
  const t = await p.engine.begin({ startHlc: nextHlc() })
  await t.write([upd('a', 'a3'), ins('f', 'f1')])
  await t.commit(nextHlc())
  await p.auto(upd('d', 'd2'), del('e'))
}

for (const backend of BACKENDS) {
  describe(backend, () => {
    beforeAll(() => { useBackend(backend) })

    describe('replica apply', () => {
      it('a replica applying the log holds the primary\'s rows, TIP and log, entry for entry, also after a restart', async () => {
        const [p, r] = await start(1, 2)
        await p!.engine.setReplState({ generation: 3n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
        await writeHistory(p!)
        const log = await logOf(p!.engine)
        expect(BigInt(log.length)).toBe(p!.engine.lastLsn())
        expect(new Set(log.map(e => (e as { generation: bigint }).generation))).toEqual(new Set([3n]))
        // In two calls, the second starting inside what the first delivered (re-delivery is fine).
        const all = await p!.engine.replLogRead(1n, 10_000, Infinity)
        expect(await r!.engine.replApply(all.slice(0, 4))).toEqual({ applied: 4, skipped: 0, lastLsn: 4n })
        expect(await r!.engine.replApply(all.slice(2))).toEqual({ applied: all.length - 4, skipped: 2, lastLsn: BigInt(all.length) })
        for (let round = 0; round < 2; round++) {
          const e = round === 0 ? r!.engine : await r!.restart()
          expect(e.lastLsn()).toBe(p!.engine.lastLsn())
          expect(await rows(e)).toEqual(await rows(p!.engine))
          expect(await rows(e)).toEqual(['a=a3', 'd=d2', 'f=f1'])
          expect(await rows(e, T2)).toEqual(await rows(p!.engine, T2))
          expect(await logOf(e)).toEqual(log)
          for (const x of all) expect(await e.tipState(x.xid)).toEqual(await p!.engine.tipState(x.xid))
          for (const k of ['a', 'b', 'd', 'e']) expect(await e.getVersioned(T, [k])).toEqual(await p!.engine.getVersioned(T, [k]))
          expect(e.hlcHighWater()).toBe(all[all.length - 1]!.commitHlc)
        }
        // The replica can serve the log it holds (it may be promoted): a third replica fed from it.
        const [q] = await replicas(4)
        open.push(q!)
        await ship(r!.engine, q!.engine, 1n)
        expect(await logOf(q!.engine)).toEqual(log)
        expect(await rows(q!.engine)).toEqual(await rows(p!.engine))
      })

      it('re-delivery is a no-op, a gap is refused naming both LSNs, and neither changes anything', async () => {
        const [p, r] = await start(1, 2)
        await writeHistory(p!)
        const all = await p!.engine.replLogRead(1n, 10_000, Infinity)
        await r!.engine.replApply(all.slice(0, 3))
        const before = { rows: await rows(r!.engine), log: await logOf(r!.engine), lsn: r!.engine.lastLsn() }
        expect(await r!.engine.replApply(all.slice(0, 3))).toEqual({ applied: 0, skipped: 3, lastLsn: 3n })
        expect(await r!.engine.replApply([])).toEqual({ applied: 0, skipped: 0, lastLsn: 3n })
        const gap = await r!.engine.replApply(all.slice(4)).catch((e: unknown) => e)
        expect(gap).toMatchObject({ code: 'SB_REPL_LOG_GAP', details: { expected_lsn: '4', first_lsn: '5' } })
        expect((gap as Error).message).toMatch(/LSN 5.*ends at 3/)
        expect({ rows: await rows(r!.engine), log: await logOf(r!.engine), lsn: r!.engine.lastLsn() }).toEqual(before)
        await r!.engine.replApply(all.slice(3))
        expect(await rows(r!.engine)).toEqual(await rows(p!.engine))
      })

      it('refuses malformed batches and entries that conflict with the log held, changing nothing', async () => {
        const [p, r] = await start(1, 2)
        await writeHistory(p!)
        const all = await p!.engine.replLogRead(1n, 10_000, Infinity)
        await r!.engine.replApply(all.slice(0, 3))
        const before = { rows: await rows(r!.engine), log: await logOf(r!.engine), lsn: r!.engine.lastLsn() }
        const e4 = all[3]!
        const m = e4.mutations[0]!
        const bad: Array<[string, RawLogEntry[]]> = [
          ['not consecutive', [e4, { ...all[5]! }]],
          ['generation goes down', [{ ...e4, generation: 2n }, { ...all[4]!, generation: 1n }]],
          ['pk not canonical', [{ ...e4, mutations: [{ ...m, pkBytes: Uint8Array.of(0x15, 0x00) }] }]],
          ['version id', [{ ...e4, mutations: [{ ...m, versionId: new Uint8Array(15) }] }]],
          ['table id', [{ ...e4, mutations: [{ ...m, tableId: -1 }] }]],
          ['xid 0', [{ ...e4, xid: asXid(0n) }]],
          ['lsn 0', [{ ...e4, lsn: 0n }]]
        ]
        for (const [why, entries] of bad) {
          await expect(r!.engine.replApply(entries), why).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        }
        // The entry at LSN 2 re-delivered from another generation or transaction: not the one held.
        await expect(r!.engine.replApply([{ ...all[1]!, generation: 5n }])).rejects.toMatchObject({ code: 'SB_REPL_LOG_CONFLICT', details: { lsn: '2', received_generation: '5' } })
        await expect(r!.engine.replApply([{ ...all[1]!, xid: makeXid(asNodeId(9), 1n) }, all[2]!])).rejects.toMatchObject({ code: 'SB_REPL_LOG_CONFLICT' })
        expect({ rows: await rows(r!.engine), log: await logOf(r!.engine), lsn: r!.engine.lastLsn() }).toEqual(before)
      })

      it('an entry of a lower generation than the last one held is refused', async () => {
        const [p, r] = await start(1, 2)
        await p!.engine.setReplState({ generation: 4n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
        await p!.auto(ins('a', 'a1'))
        await ship(p!.engine, r!.engine)
        const stale: RawLogEntry = { lsn: 2n, generation: 3n, xid: makeXid(asNodeId(1), 900n), commitHlc: nextHlc(), mutations: [{ tableId: T, pkBytes: encodeTuple(['z']), versionId: vid(), row: enc('z') }] }
        await expect(r!.engine.replApply([stale])).rejects.toMatchObject({ code: 'SB_REPL_LOG_CONFLICT', details: { lsn: '2', generation: '4', received_generation: '3' } })
        expect(r!.engine.lastLsn()).toBe(1n)
      })

      it('xids applied from another node never collide with local ones; this node\'s own earlier xids are never handed out again', async () => {
        const [p, r] = await start(1, 2)
        await writeHistory(p!)
        await ship(p!.engine, r!.engine)
        const local = (await r!.engine.autocommit({ writes: [ins('local', 'x', T2)], commitHlc: nextHlc() })).xid
        expect(xidNodeId(local)).toBe(2)
        // Entries this node (2) appended as primary in an earlier life, its counter since reset.
        const mine = makeXid(asNodeId(2), 70_000n)
        const e: RawLogEntry = { lsn: r!.engine.lastLsn() + 1n, generation: 0n, xid: mine, commitHlc: nextHlc(), mutations: [{ tableId: T2, pkBytes: encodeTuple(['old']), versionId: vid(), row: enc('o') }] }
        await r!.engine.replApply([e])
        for (let round = 0; round < 2; round++) {
          const eng = round === 0 ? r!.engine : await r!.restart()
          const next = (await eng.autocommit({ writes: [ins(`n${String(eng.lastLsn())}`, 'y', T2)], commitHlc: nextHlc() })).xid
          expect(xidNodeId(next)).toBe(2)
          expect(xidCounter(next)).toBeGreaterThan(70_000n)
        }
      })
    })
  })
}
