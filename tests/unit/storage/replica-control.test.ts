import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { asNodeId } from '../../../src/core/ids'
import type { ControlEntry } from '../../../src/storage/commit-log'
import { BACKENDS, del, enc, ins, logOf, nextHlc, replicas, rows, ship, T, upd, type Replica, useBackend } from './replica-fixtures'
import { encodeUuidV8 } from '../../../src/core/hlc'

// Control entries of the one replicated log (src/storage/replica-control.ts, commit-log.ts format
// 5): the replication machine's noop and config entries take LSNs in the shard's commit log like
// commits; transaction readers skip them, the replication readers, apply and truncation carry
// them, and a replica fed the log holds the same log, control entries included.

let open: Replica[] = []
afterEach(async () => { for (const r of open) await r.destroy(); open = [] })
async function start (...nodeIds: number[]): Promise<Replica[]> { open = await replicas(...nodeIds); return open }

const noop: ControlEntry = { kind: 'noop' }
const config = (...ids: number[]): ControlEntry => ({ kind: 'config', voters: ids.map(asNodeId) })
const lsns = (log: unknown[]): bigint[] => log.map(x => (x as { lsn: bigint }).lsn)

for (const backend of BACKENDS) {
  describe(backend, () => {
    beforeAll(() => { useBackend(backend) })

    describe('control entries in the commit log', () => {
      it('take the next LSN between commits; READ_COMMIT_LOG skips them, REPL_LOG_READ and a replica carry them, across a restart', async () => {
        const [p, r] = await start(1, 2)
        const e = p!.engine
        await e.setReplState({ generation: 2n, votedFor: asNodeId(1), commitLsn: 0n, role: 'primary', config: null })
        expect(await e.replAppendControl(2n, noop)).toEqual({ lsn: 1n })
        expect(await p!.auto(ins('a', 'a1'))).toBe(2n)
        expect(await e.replAppendControl(2n, config(1, 2, 3))).toEqual({ lsn: 3n })
        expect(await p!.auto(upd('a', 'a2'), ins('b', 'b1'))).toBe(4n)
        expect(await e.replAppendControl(2n, config(1, 2))).toEqual({ lsn: 5n })
        // Transactions only, at their own LSNs.
        expect((await e.readCommitLog(0n, 100)).map(x => x.lsn)).toEqual([2n, 4n])
        const raw = await e.replLogRead(1n, 100, Infinity)
        expect(raw.map(x => [x.lsn, x.generation, x.control ?? null])).toEqual([
          [1n, 2n, noop], [2n, 2n, null], [3n, 2n, config(1, 2, 3)], [4n, 2n, null], [5n, 2n, config(1, 2)]])
        expect(raw.filter(x => x.control !== undefined).every(x => x.xid === 0n && x.mutations.length === 0)).toBe(true)
        // Read from inside: the control entry at 3 first.
        expect(lsns(await logOf(e)).slice(2)).toEqual([3n, 4n, 5n])
        expect((await e.replLogRead(3n, 1, Infinity))[0]!.control).toEqual(config(1, 2, 3))
        // A replica applies them in two calls (control entries at both edges) and holds the same log.
        expect(await r!.engine.replApply(raw.slice(0, 3))).toEqual({ applied: 3, skipped: 0, lastLsn: 3n })
        expect(await r!.engine.replApply(raw)).toEqual({ applied: 2, skipped: 3, lastLsn: 5n })
        const log = await logOf(e)
        for (const next of [async () => r!.engine, async () => await r!.restart(), async () => await p!.restart()]) {
          const eng = await next()
          expect(eng.lastLsn()).toBe(5n)
          expect(await logOf(eng)).toEqual(log)
          expect(await rows(eng)).toEqual(['a=a2', 'b=b1'])
          expect((await eng.replState()).lastGeneration).toBe(2n)
        }
        // The next commit on the restarted primary continues after the control entry.
        expect(await p!.auto(del('b'))).toBe(6n)
        await ship(p!.engine, r!.engine)
        expect(await logOf(r!.engine)).toEqual(await logOf(p!.engine))
      })

      it('is refused at a generation other than the shard\'s, or malformed, appending nothing', async () => {
        const [p] = await start(1)
        const e = p!.engine
        await e.setReplState({ generation: 3n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
        await p!.auto(ins('a', 'a1'))
        for (const g of [2n, 4n]) {
          await expect(e.replAppendControl(g, noop)).rejects.toMatchObject({ code: 'SB_REPL_CONTROL_REFUSED', details: { generation: '3', asked_generation: String(g) } })
        }
        for (const bad of [{ kind: 'config', voters: [] }, { kind: 'config', voters: [1, 1] }, { kind: 'config', voters: [0] }, { kind: 'other' }]) {
          await expect(e.replAppendControl(3n, bad as unknown as ControlEntry)).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        }
        expect(e.lastLsn()).toBe(1n)
        expect(lsns(await logOf(e))).toEqual([1n])
      })

      it('re-delivery of a held control entry is skipped; a different entry at its LSN is a conflict; malformed ones are refused', async () => {
        const [p, r] = await start(1, 2)
        await p!.engine.setReplState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
        await p!.engine.replAppendControl(1n, noop)
        await p!.auto(ins('a', 'a1'))
        const raw = await p!.engine.replLogRead(1n, 10, Infinity)
        await r!.engine.replApply(raw)
        expect(await r!.engine.replApply(raw)).toEqual({ applied: 0, skipped: 2, lastLsn: 2n })
        const other = { ...raw[0]!, control: config(1, 2) }
        await expect(r!.engine.replApply([other])).rejects.toMatchObject({ code: 'SB_REPL_LOG_CONFLICT' })
        const withRows = { ...raw[0]!, lsn: 3n, mutations: raw[1]!.mutations }
        await expect(r!.engine.replApply([withRows])).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        const badVoters = { ...raw[0]!, lsn: 3n, control: { kind: 'config', voters: [] } as unknown as ControlEntry }
        await expect(r!.engine.replApply([badVoters])).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
        expect(r!.engine.lastLsn()).toBe(2n)
      })

      it('suffix truncation drops control entries with the commits around them; the rows are as at the cut', async () => {
        const [p] = await start(1)
        const e = p!.engine
        await e.setReplState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
        await p!.auto(ins('a', 'a1')) // 1
        await e.replAppendControl(1n, noop) // 2
        const x3 = (await e.autocommit({ writes: [upd('a', 'a2')], commitHlc: nextHlc() })).xid // 3
        await e.replAppendControl(1n, config(1, 2)) // 4
        expect(await e.replTruncate(1n, 0n)).toMatchObject({ entriesRemoved: 3, versionsRemoved: 1, lastLsn: 1n })
        expect(await rows(e)).toEqual(['a=a1'])
        expect((await e.tipState(x3)).state).toBe('dead')
        expect(lsns(await logOf(await p!.restart()))).toEqual([1n])
        // Appending goes on from the cut.
        expect(await p!.engine.replAppendControl(1n, noop)).toEqual({ lsn: 2n })
      })
    })
  })
}

// Only the primary of a replicated shard commits locally (src/storage/writer.ts replRefusal):
// a replica's log holds its primary's entries only.
for (const backend of BACKENDS) {
  describe(`${backend}: local commits on a replicated shard`, () => {
    beforeAll(() => { useBackend(backend) })

    it('a replica refuses local writes and commits with SB_NOT_PRIMARY, changing nothing, and still applies its primary\'s entries', async () => {
      const [p, r] = await start(1, 2)
      await p!.engine.setReplState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
      await r!.engine.setReplState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'replica', config: null })
      await p!.auto(ins('a', 'a1'))
      await expect(r!.auto(ins('b', 'b1'))).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
      const t = await r!.engine.begin({ startHlc: nextHlc() })
      await expect(t.write([ins('b', 'b1')])).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
      await t.rollback()
      expect(r!.engine.lastLsn()).toBe(0n)
      await ship(p!.engine, r!.engine)
      expect(await rows(r!.engine)).toEqual(['a=a1'])
      // After a restart too (the role is the hard state's).
      await expect((async () => { await r!.restart(); return await r!.auto(ins('c', 'c1')) })()).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
    })

    it('a transaction begun on the primary cannot commit once the shard steps down to replica', async () => {
      const [p] = await start(1)
      const e = p!.engine
      await e.setReplState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
      const t = await e.begin({ startHlc: nextHlc() })
      await t.write([ins('a', 'a1')])
      await e.setReplState({ generation: 2n, votedFor: null, commitLsn: 0n, role: 'replica', config: null })
      await expect(t.commit(nextHlc())).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
      expect(e.lastLsn()).toBe(0n)
      expect(await rows(e)).toEqual([])
    })

    it('the primary commits at its generation; its PREPARE is a log entry at that generation (replica-twopc.test.ts)', async () => {
      const [p] = await start(1)
      const e = p!.engine
      await e.setReplState({ generation: 4n, votedFor: null, commitLsn: 0n, role: 'primary', config: null })
      expect(await p!.auto(ins('a', 'a1'))).toBe(1n)
      expect((await e.replLogRead(1n, 1, Infinity))[0]!.generation).toBe(4n)
      const t = await e.begin({ startHlc: nextHlc() })
      await t.write([ins('b', 'b1')])
      expect(await t.prepare()).toBe(2n)
      expect((await e.replLogRead(2n, 1, Infinity))[0]).toMatchObject({ generation: 4n, xid: t.xid, phase: 'prepare' })
      expect(e.listLimbo()).toEqual([{ xid: t.xid, rows: 1 }])
    })

    it('leaderless versions are applied on any replica of a replicated shard but not logged in its replicated log', async () => {
      const [p, r] = await start(1, 2)
      const v = (ms: number): Uint8Array => encodeUuidV8({ ts: 1_767_225_600_000 + ms, counter: 0, nodeId: 2, random: 1 })
      await r!.engine.setReplState({ generation: 1n, votedFor: null, commitLsn: 0n, role: 'replica', config: null })
      const got = await r!.engine.applyVersions({ writes: [{ tableId: T, pk: ['x'], versionId: v(1), row: enc('x1') }], commitHlc: nextHlc() })
      expect(got.lsn).toBeNull()
      expect(r!.engine.lastLsn()).toBe(0n)
      expect(await rows(r!.engine)).toEqual(['x=x1'])
      // A single copy logs them as before.
      expect((await p!.engine.applyVersions({ writes: [{ tableId: T, pk: ['x'], versionId: v(1), row: enc('x1') }], commitHlc: nextHlc() })).lsn).toBe(1n)
    })
  })
}
