import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { asHlcTs, asNodeId, asXid } from '../../../src/core/ids'
import { CodecReader, CodecWriter } from '../../../src/core/codec'
import { decodeCommitValue, decodeCommitValueRaw, encodeTwoPhaseEntry, type Mutation, type RawLogEntry } from '../../../src/storage/commit-log'
import { encodeTuple } from '../../../src/storage/keys'
import { checkEntries } from '../../../src/storage/replica-apply'
import { entryPayloadCodec, toRawEntry, toReplEntry } from '../../../src/node/replication/entry-payload'
import { readEntry, writeEntry } from '../../../src/shard/protocol/repl-codecs'
import { BACKENDS, ins, logOf, nextHlc, replicas, rows, ship, upd, type Replica, useBackend } from './replica-fixtures'

// Two-phase commit on a shard replicated in Mode 1 (issue 14): on the primary, PREPARE and the
// decision are entries of the one replicated log (commit-log.ts format 6); a replica applying them
// holds the transaction prepared (limbo, rows locked and invisible) and then decided exactly as
// the primary; a replica promoted holds it prepared and decides it; truncating a decision returns
// the transaction to limbo, truncating a prepare undoes it. A replica never decides limbo itself.

let open: Replica[] = []
afterEach(async () => { for (const r of open) await r.destroy(); open = [] })
async function start (...nodeIds: number[]): Promise<Replica[]> { open = await replicas(...nodeIds); return open }

const primary = { votedFor: null, commitLsn: 0n, role: 'primary' as const }
const replica = { votedFor: null, commitLsn: 0n, role: 'replica' as const }

for (const backend of BACKENDS) {
  describe(backend, () => {
    beforeAll(() => { useBackend(backend) })

    it('PREPARE and COMMIT PREPARED are log entries; a replica holds the transaction prepared, then committed, as the primary', async () => {
      const [p, r] = await start(1, 2)
      await p!.engine.setReplState({ generation: 1n, ...primary })
      await r!.engine.setReplState({ generation: 1n, ...replica })
      expect(await p!.auto(ins('a', 'a1'))).toBe(1n)
      const t = await p!.engine.begin({ startHlc: nextHlc() })
      await t.write([upd('a', 'a2'), ins('b', 'b1')])
      expect(await t.prepare()).toBe(2n)
      // Transaction readers see no commit at the prepare; the replication readers see its step.
      expect((await p!.engine.readCommitLog(0n, 10)).map(x => x.lsn)).toEqual([1n])
      const raw = await p!.engine.replLogRead(2n, 10, Infinity)
      expect(raw.map(x => [x.lsn, x.xid, x.phase, x.mutations.length])).toEqual([[2n, t.xid, 'prepare', 2]])
      await ship(p!.engine, r!.engine)
      expect(r!.engine.listLimbo()).toEqual([{ xid: t.xid, rows: 2 }])
      expect(await rows(r!.engine)).toEqual(['a=a1'])
      // Its rows are locked on the replica too (a promoted replica must keep them so).
      await r!.engine.setReplState({ generation: 2n, ...primary })
      await expect(r!.auto(upd('a', 'x'))).rejects.toMatchObject({ code: 'SB_UPDATE_CONFLICT' })
      await r!.engine.setReplState({ generation: 2n, ...replica })

      const c = await p!.engine.commitPrepared(t.xid, nextHlc())
      expect(c.lsn).toBe(3n)
      // The commit of a prepared transaction is a commit to transaction readers (backup, PITR).
      const commits = await p!.engine.readCommitLog(0n, 10)
      expect(commits.map(x => x.lsn)).toEqual([1n, 3n])
      expect(commits[1]!.xid).toBe(t.xid)
      expect(commits[1]!.mutations).toHaveLength(2)
      await ship(p!.engine, r!.engine)
      expect(r!.engine.listLimbo()).toEqual([])
      expect(await rows(r!.engine)).toEqual(['a=a2', 'b=b1'])
      expect(await rows(p!.engine)).toEqual(['a=a2', 'b=b1'])
      expect(await logOf(r!.engine)).toEqual(await logOf(p!.engine))
      expect((await r!.engine.tipState(t.xid)).state).toBe('committed')
      // After a restart the replica holds the same.
      await r!.restart()
      expect(await rows(r!.engine)).toEqual(['a=a2', 'b=b1'])
      expect(r!.engine.listLimbo()).toEqual([])
    })

    it('ABORT PREPARED is a log entry; the replica drops the transaction and later writes back its versions out', async () => {
      const [p, r] = await start(1, 2)
      await p!.engine.setReplState({ generation: 1n, ...primary })
      await r!.engine.setReplState({ generation: 1n, ...replica })
      await p!.auto(ins('a', 'a1'))
      const t = await p!.engine.begin({ startHlc: nextHlc() })
      await t.write([upd('a', 'a2'), ins('b', 'b1')])
      await t.prepare()
      expect(await p!.engine.abortPrepared(t.xid)).toBe(3n)
      // One batch: the prepare, its abort and a write over the aborted version.
      await p!.auto(upd('a', 'a3'))
      await ship(p!.engine, r!.engine, 1n)
      expect(r!.engine.listLimbo()).toEqual([])
      expect(await rows(r!.engine)).toEqual(['a=a3'])
      expect(await rows(p!.engine)).toEqual(['a=a3'])
      expect((await r!.engine.tipState(t.xid)).state).toBe('dead')
      expect(await logOf(r!.engine)).toEqual(await logOf(p!.engine))
    })

    it('a replica promoted after the PREPARE holds it prepared and decides it; the old primary truncating the decision it alone held returns it to limbo', async () => {
      const [p, r] = await start(1, 2)
      await p!.engine.setReplState({ generation: 1n, ...primary })
      await r!.engine.setReplState({ generation: 1n, ...replica })
      const t = await p!.engine.begin({ startHlc: nextHlc() })
      await t.write([ins('k', 'v')])
      await t.prepare()
      await ship(p!.engine, r!.engine)
      // The old primary commits it, but the entry never reaches the replica.
      await p!.engine.commitPrepared(t.xid, nextHlc())
      expect(await rows(p!.engine)).toEqual(['k=v'])
      // Failover: the replica is primary of generation 2 and is told the decision again.
      await r!.engine.setReplState({ generation: 2n, ...primary })
      await r!.engine.replAppendControl(2n, { kind: 'noop' })
      // The old primary steps down and drops the entry the new primary lacks: back in limbo.
      await p!.engine.setReplState({ generation: 2n, votedFor: asNodeId(2), commitLsn: 0n, role: 'replica' })
      const cut = await p!.engine.replTruncate(1n, 0n)
      expect(cut.entriesRemoved).toBe(1)
      expect(p!.engine.listLimbo()).toEqual([{ xid: t.xid, rows: 1 }])
      expect(await rows(p!.engine)).toEqual([])
      // A replica does not decide limbo itself (recovery asks the primary).
      await expect(p!.engine.abortPrepared(t.xid)).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
      await expect(p!.engine.commitPrepared(t.xid, nextHlc())).rejects.toMatchObject({ code: 'SB_NOT_PRIMARY' })
      // The new primary decides; the old one follows its log.
      const c = await r!.engine.commitPrepared(t.xid, nextHlc())
      expect(c.lsn).toBe(3n)
      await ship(r!.engine, p!.engine)
      for (const e of [p!.engine, r!.engine]) {
        expect(await rows(e)).toEqual(['k=v'])
        expect(e.listLimbo()).toEqual([])
      }
      expect(await logOf(p!.engine)).toEqual(await logOf(r!.engine))
      await p!.restart()
      expect(await rows(p!.engine)).toEqual(['k=v'])
    })

    it('a truncated PREPARE undoes the prepared transaction: no limbo, its rows as before', async () => {
      const [p] = await start(1)
      await p!.engine.setReplState({ generation: 1n, ...primary })
      await p!.auto(ins('a', 'a1'))
      const t = await p!.engine.begin({ startHlc: nextHlc() })
      await t.write([upd('a', 'a2'), ins('b', 'b1')])
      await t.prepare()
      await p!.engine.setReplState({ generation: 2n, ...replica })
      await p!.engine.replTruncate(1n, 0n)
      expect(p!.engine.listLimbo()).toEqual([])
      expect(await rows(p!.engine)).toEqual(['a=a1'])
      await p!.restart()
      expect(p!.engine.listLimbo()).toEqual([])
      // The row is free again for the next primary's writes.
      await p!.engine.setReplState({ generation: 3n, ...primary })
      await p!.auto(upd('a', 'a9'))
      expect(await rows(p!.engine)).toEqual(['a=a9'])
    })

    it('a single copy keeps its 2PC out of the log, as before', async () => {
      const [p] = await start(1)
      const t = await p!.engine.begin({ startHlc: nextHlc() })
      await t.write([ins('a', 'a1')])
      expect(await t.prepare()).toBeNull()
      expect(p!.engine.lastLsn()).toBe(0n)
      expect((await p!.engine.commitPrepared(t.xid, nextHlc())).lsn).toBe(1n)
      expect((await p!.engine.replLogRead(1n, 10, Infinity))[0]!.phase).toBeUndefined()
      expect(await rows(p!.engine)).toEqual(['a=a1'])
    })
  })
}

describe('two-phase entries on the wire and on disk: malformed ones are refused, changing nothing', () => {
  const m: Mutation = { tableId: 1, pkBytes: encodeTuple(['k']), versionId: new Uint8Array(16).fill(1), row: new Uint8Array([1, 2]) }
  const raw: RawLogEntry = { lsn: 5n, generation: 2n, xid: asXid(9n), commitHlc: asHlcTs(0n), mutations: [m], phase: 'prepare' }

  it('round-trips through the stored value, the machine payload and the shard-op codec with its step', () => {
    for (const phase of ['prepare', 'commit', 'abort'] as const) {
      const e = { ...raw, phase, commitHlc: asHlcTs(phase === 'commit' ? 77n : 0n) }
      const stored = decodeCommitValueRaw(5n, encodeTwoPhaseEntry(2n, phase, e.xid, e.commitHlc, [m]))
      expect(stored).toEqual([e])
      // Transaction readers see only the commit.
      expect(decodeCommitValue(5n, encodeTwoPhaseEntry(2n, phase, e.xid, e.commitHlc, [m])).length).toBe(phase === 'commit' ? 1 : 0)
      expect(toRawEntry(toReplEntry(e))).toEqual(e)
      const w = new CodecWriter(64)
      writeEntry(w, e)
      expect(readEntry(new CodecReader(w.take(), (why) => new Error(why)))).toEqual(e)
    }
  })

  it('an unknown step is SB_STORAGE_CORRUPT on disk and SB_RPC_MALFORMED in a peer\'s payload', () => {
    const b = encodeTwoPhaseEntry(2n, 'prepare', asXid(9n), asHlcTs(0n), [m])
    b[9] = 7
    expect(() => decodeCommitValueRaw(5n, b)).toThrow(expect.objectContaining({ code: 'SB_STORAGE_CORRUPT' }))
    const payload = (toReplEntry(raw) as { payload: Uint8Array }).payload
    const bad = payload.slice()
    bad[bad.length - 1] = 9
    expect(() => entryPayloadCodec.decode(bad)).toThrow(expect.objectContaining({ code: 'SB_RPC_MALFORMED' }))
  })

  it('REPL_APPLY refuses a prepare or abort carrying a commit HLC, and a control entry with a step', () => {
    expect(() => checkEntries([{ ...raw, commitHlc: asHlcTs(3n) }])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => checkEntries([{ ...raw, phase: 'nope' as never }])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => checkEntries([{ lsn: 5n, generation: 2n, xid: asXid(0n), commitHlc: asHlcTs(0n), mutations: [], control: { kind: 'noop' }, phase: 'abort' }])).toThrow(expect.objectContaining({ code: 'SB_BAD_ARGUMENT' }))
    expect(() => checkEntries([raw])).not.toThrow()
  })
})
