import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { asNodeId } from '../../../src/core/ids'
import { BACKENDS, del, ins, logOf, nextHlc, replicas, rows, ship, T, upd, type Replica, useBackend } from './replica-fixtures'

// Suffix truncation (src/storage/replica-truncate.ts): a returning old primary drops the entries
// the new primary lacks — rows as they were at the cut, transactions dead, log cut (a group split)
// — refuses to drop committed entries, keeps it across a restart, and then catches up.

let open: Replica[] = []
afterEach(async () => { for (const r of open) await r.destroy(); open = [] })
async function start (...nodeIds: number[]): Promise<Replica[]> { open = await replicas(...nodeIds); return open }

for (const backend of BACKENDS) {
  describe(backend, () => {
    beforeAll(() => { useBackend(backend) })

    describe('commit-log suffix truncation', () => {
      it('rows written above the cut are gone, earlier versions visible again, transactions dead; kept across a restart', async () => {
        const [p] = await start(1)
        const e = p!.engine
        await p!.auto(ins('a', 'a1'), ins('b', 'b1')) // 1
        await p!.auto(upd('a', 'a2')) // 2
        const atCut = { rows: await rows(e), log: await logOf(e), hlc: e.hlcHighWater() }
        const xids: bigint[] = []
        xids.push((await e.autocommit({ writes: [upd('a', 'a3'), del('b'), ins('c', 'c1')], commitHlc: nextHlc() })).xid) // 3
        const t = await e.begin({ startHlc: nextHlc() })
        await t.write([upd('a', 'a4'), ins('d', 'd1')])
        xids.push((await t.commit(nextHlc())).xid) // 4
        // Written in one pass: ONE stored group holding LSNs 5..7.
        const group = await e.commitMany([{ writes: [ins('e', 'e1')], commitHlc: nextHlc() }, { writes: [upd('c', 'c2')], commitHlc: nextHlc() }, { writes: [ins('b', 'b2')], commitHlc: nextHlc() }])
        expect(group.map(o => o.ok && o.result.lsn)).toEqual([5n, 6n, 7n])
        expect(await rows(e)).toEqual(['a=a4', 'b=b2', 'c=c2', 'd=d1', 'e=e1'])
        // Cut inside the group first: LSN 5 stays.
        expect(await e.replTruncate(5n, 0n)).toMatchObject({ entriesRemoved: 2, lastLsn: 5n })
        expect(await rows(e)).toEqual(['a=a4', 'c=c1', 'd=d1', 'e=e1'])
        expect((await logOf(e)).map(x => (x as { lsn: bigint }).lsn)).toEqual([1n, 2n, 3n, 4n, 5n])
        for (const o of group.slice(1)) expect((await e.tipState(o.ok ? o.result.xid : 0n as never)).state).toBe('dead')
        expect(await e.replTruncate(2n, 2n)).toEqual({ entriesRemoved: 3, versionsRemoved: 6, rowsWithoutEarlierVersion: 0, lastLsn: 2n })
        for (let round = 0; round < 2; round++) {
          const eng = round === 0 ? e : await p!.restart()
          expect(eng.lastLsn()).toBe(2n)
          expect(await rows(eng)).toEqual(atCut.rows)
          expect(await logOf(eng)).toEqual(atCut.log)
          expect(await eng.getVersioned(T, ['b'])).not.toBeUndefined()
          expect(await eng.getVersioned(T, ['c'])).toBeUndefined()
          for (const x of xids) expect((await eng.tipState(x as never)).state).toBe('dead')
        }
        // The log numbers on from the cut, and the restored chains take new writes.
        expect(await p!.auto(upd('a', 'a5'), ins('c', 'c9'))).toBe(3n)
        expect(await rows(p!.engine)).toEqual(['a=a5', 'b=b1', 'c=c9'])
      })

      it('refuses to drop committed entries or entries below the log floor, changing nothing', async () => {
        const [p] = await start(1)
        const e = p!.engine
        for (let i = 0; i < 6; i++) await p!.auto(ins(`k${i}`, `v${i}`))
        const before = { rows: await rows(e), log: await logOf(e) }
        await expect(e.replTruncate(3n, 4n)).rejects.toMatchObject({ code: 'SB_REPL_TRUNCATE_REFUSED', details: { lsn: '3', commit_lsn: '4' } })
        await e.setReplState({ generation: 1n, votedFor: null, commitLsn: 5n, role: 'replica' })
        await expect(e.replTruncate(4n, 0n)).rejects.toMatchObject({ code: 'SB_REPL_TRUNCATE_REFUSED', details: { commit_lsn: '5' } })
        expect(await e.replTruncate(6n, 0n)).toMatchObject({ entriesRemoved: 0, lastLsn: 6n })
        expect(await e.replTruncate(9n, 0n)).toMatchObject({ entriesRemoved: 0, lastLsn: 6n })
        expect({ rows: await rows(e), log: await logOf(e) }).toEqual(before)
        // Below the floor: the entries to undo are gone.
        const [q] = await replicas(2)
        open.push(q!)
        for (let i = 0; i < 4; i++) await q!.auto(ins(`k${i}`, `v${i}`))
        await q!.engine.sweep(nextHlc(), { commitLog: [{ name: 'test', fromLsn: 3n }] })
        expect(q!.engine.firstAvailableLsn()).toBe(3n)
        await expect(q!.engine.replTruncate(1n, 0n)).rejects.toMatchObject({ code: 'SB_REPL_TRUNCATE_REFUSED', details: { first_available_lsn: '3' } })
        expect(await q!.engine.replTruncate(2n, 0n)).toMatchObject({ entriesRemoved: 2, lastLsn: 2n })
        expect(await rows(q!.engine)).toEqual(['k0=v0', 'k1=v1'])
      })

      it('an old primary truncates what the new one lacks and then holds exactly the new primary\'s history', async () => {
        const [a, b] = await start(1, 2)
        await a!.engine.setReplState({ generation: 1n, votedFor: asNodeId(1), commitLsn: 0n, role: 'primary' })
        await a!.auto(ins('x', 'x1'), ins('y', 'y1'))
        await a!.auto(upd('x', 'x2'))
        await ship(a!.engine, b!.engine)
        // a (generation 1) commits on alone; b becomes primary in generation 2 and commits others.
        await a!.auto(del('y'))
        await a!.auto(ins('z', 'z-lost'))
        await b!.engine.setReplState({ generation: 2n, votedFor: asNodeId(2), commitLsn: 2n, role: 'primary' })
        await b!.auto(upd('y', 'y2'))
        await b!.auto(ins('w', 'w1'))
        await b!.auto(upd('x', 'x3'))
        await expect(ship(b!.engine, a!.engine, 3n)).rejects.toMatchObject({ code: 'SB_REPL_LOG_CONFLICT' })
        expect(await a!.engine.replTruncate(2n, 2n)).toMatchObject({ entriesRemoved: 2, lastLsn: 2n })
        await a!.engine.setReplState({ generation: 2n, votedFor: null, commitLsn: 2n, role: 'replica' })
        await ship(b!.engine, a!.engine)
        expect(await rows(a!.engine)).toEqual(await rows(b!.engine))
        expect(await rows(a!.engine)).toEqual(['w=w1', 'x=x3', 'y=y2'])
        expect(await logOf(a!.engine)).toEqual(await logOf(b!.engine))
        expect((await logOf(a!.engine)).map(x => (x as { generation: bigint }).generation)).toEqual([1n, 1n, 2n, 2n, 2n])
      })
    })
  })
}
