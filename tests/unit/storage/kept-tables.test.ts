import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { asNodeId } from '../../../src/core/ids'
import { ScratchBirdError } from '../../../src/core/errors'
import type { ReplicaWrite, ShardEngine, SnapshotChunk } from '../../../src/storage/engine'
import { BACK_SPACE, ROW_SPACE, rowPrefix } from '../../../src/storage/keys'
import { KeptTables, keptTablesOf } from '../../../src/storage/kept-tables'
import { BACKENDS, enc, ins, logOf, nextHlc, replicas, rows, ship, T, T2, upd, vid, type Replica, useBackend } from './replica-fixtures'

// Tables a Mode 1 group's snapshot and truncation leave alone (src/storage/kept-tables.ts): a
// shard holds a leaderless table's rows (T2 here) next to its Mode 1 tables' (T). A node that
// wrote leaderless applies into its log while the shard was not replicated there (role none), then
// joins the shard's group as a new replica, must keep those rows through the truncation of its log
// ("entries the new primary lacks") and through a snapshot bootstrap (session 15: an acknowledged
// leaderless row was lost so, tests/cluster/membership-remove-mixed-n2.test.ts with LQ3).

let open: Replica[] = []
afterEach(async () => { for (const r of open) await r.destroy(); open = [] })
async function start (...nodeIds: number[]): Promise<Replica[]> { const rs = await replicas(...nodeIds); open.push(...rs); return rs }

/** Leaderless versions as a coordinator ships them (stamped, last writer wins). */
async function lww (e: ShardEngine, ...kv: Array<[string, string | null]>): Promise<void> {
  const writes: ReplicaWrite[] = kv.map(([k, v]) => ({ tableId: T2, pk: [k], versionId: vid(), row: v === null ? null : enc(v) }))
  await e.applyVersions({ writes, commitHlc: nextHlc() })
}

async function readAll (src: ShardEngine, skipTables: number[] | null): Promise<SnapshotChunk[]> {
  const out: SnapshotChunk[] = []
  let id = 0n
  let after: Uint8Array | null = null
  for (;;) {
    const c = await src.snapshotRead({ snapshotId: id, after, maxKeys: 3, maxBytes: 1 << 20, skipTables })
    out.push(c)
    id = c.snapshotId
    if (c.done) return out
    after = c.entries[c.entries.length - 1]!.key
  }
}

async function installAll (dst: ShardEngine, chunks: readonly SnapshotChunk[], keepTables: number[] | null): Promise<void> {
  let after: Uint8Array | null = null
  for (const c of chunks) {
    await dst.snapshotInstall({ ...c, after, keepTables })
    if (c.entries.length > 0) after = c.entries[c.entries.length - 1]!.key
  }
}

describe('KeptTables ranges', () => {
  it('splits the row and back spaces around the kept tables, and knows their keys', () => {
    const kept = new KeptTables([7, 3])
    expect(kept.has(3) && kept.has(7) && !kept.has(5)).toBe(true)
    const inRow = (t: number): Uint8Array => { const p = rowPrefix(t); const k = new Uint8Array(p.length + 2); k.set(p); k[p.length] = 1; return k }
    const inBack = (t: number): Uint8Array => { const k = inRow(t); k[0] = BACK_SPACE.gte[0]!; return k }
    for (const t of [3, 7]) expect(kept.holds(inRow(t)) && kept.holds(inBack(t))).toBe(true)
    for (const t of [0, 4, 6, 8, 70]) expect(kept.holds(inRow(t)) || kept.holds(inBack(t))).toBe(false)
    const parts = kept.without(ROW_SPACE)
    expect(parts).toHaveLength(3)
    for (const t of [0, 4, 6, 8, 70]) expect(parts.some(r => Buffer.compare(inRow(t), r.gte) >= 0 && Buffer.compare(inRow(t), r.lt) < 0)).toBe(true)
    for (const t of [3, 7]) expect(parts.some(r => Buffer.compare(inRow(t), r.gte) >= 0 && Buffer.compare(inRow(t), r.lt) < 0)).toBe(false)
    expect(new KeptTables([]).without(ROW_SPACE)).toEqual([ROW_SPACE])
  })

  it('refuses a request field that is not a list of table ids', () => {
    for (const bad of ['1', [1.5], [-1], [2 ** 32]]) expect(() => keptTablesOf(bad)).toThrow(ScratchBirdError)
    expect(keptTablesOf(null).size).toBe(0)
    expect(keptTablesOf([4, 4]).size).toBe(1)
  })
})

for (const backend of BACKENDS) {
  describe(backend, () => {
    beforeAll(() => { useBackend(backend) })

    it('a truncation of a log holding leaderless applies keeps their rows (and only undoes the Mode 1 ones)', async () => {
      const [n] = await start(2)
      const e = n!.engine
      // Role none: leaderless applies are logged (LSNs 1, 2); a Mode 1 write at 3.
      await lww(e, ['a', 'a1'], ['b', 'b1'])
      await lww(e, ['a', 'a2'])
      await n!.auto(ins('m', 'm1'))
      expect(e.lastLsn()).toBe(3n)
      const leaderlessBefore = await rows(e, T2)
      // Without the kept table (the old rule) a copy loses them: the control.
      const [c] = await start(3)
      await lww(c!.engine, ['a', 'a1'], ['b', 'b1'])
      await c!.engine.replTruncate(0n, 0n)
      expect(await rows(c!.engine, T2)).toEqual([])
      // With it: the log is cut, the Mode 1 row undone, the leaderless rows stay, visible.
      const r = await e.replTruncate(0n, 0n, [T2])
      expect(r).toMatchObject({ entriesRemoved: 3, lastLsn: 0n })
      expect(e.lastLsn()).toBe(0n)
      expect(await rows(e, T)).toEqual([])
      expect(await rows(e, T2)).toEqual(leaderlessBefore)
      expect(leaderlessBefore).toEqual(['a=a2', 'b=b1'])
      // Still there after a restart; a primary's entries then apply from LSN 1.
      const e2 = await n!.restart()
      expect(await rows(e2, T2)).toEqual(['a=a2', 'b=b1'])
      const [p] = await start(1)
      await p!.engine.setReplState({ generation: 1n, votedFor: asNodeId(1), commitLsn: 0n, role: 'primary' })
      await p!.auto(ins('x', 'x1'))
      await e2.setReplState({ generation: 1n, votedFor: asNodeId(1), commitLsn: 0n, role: 'replica' })
      await ship(p!.engine, e2, 1n)
      expect(await rows(e2, T)).toEqual(['x=x1'])
      expect(await rows(e2, T2)).toEqual(['a=a2', 'b=b1'])
      // A hint re-delivering an applied leaderless transaction is still acknowledged.
      await lww(e2, ['b', 'b2'])
      expect(await rows(e2, T2)).toEqual(['a=a2', 'b=b2'])
    })

    it('a replica logs a primary\'s leaderless entries without applying them (its own newer version stays)', async () => {
      const [p, r, c] = await start(1, 2, 3)
      // The primary logged leaderless applies while the shard was not replicated (LSNs 1, 2).
      await lww(p!.engine, ['a', 'old'])
      await lww(p!.engine, ['b', 'b1'])
      await p!.auto(ins('m', 'm1'))
      // The replicas got a newer version of 'a' by the leaderless path.
      for (const x of [r!, c!]) await lww(x.engine, ['a', 'new'])
      const primaryLog = await p!.engine.replLogRead(1n, 100, Infinity)
      for (const x of [r!, c!]) await x.engine.replTruncate(0n, 0n, [T2])
      await r!.engine.replApply(primaryLog, [T2])
      await c!.engine.replApply(primaryLog)
      // Kept: the Mode 1 row applied, the leaderless rows as the replica had them; the log is the primary's.
      expect(await rows(r!.engine, T)).toEqual(['m=m1'])
      expect(await rows(r!.engine, T2)).toEqual(['a=new'])
      expect(await logOf(r!.engine)).toEqual(await logOf(p!.engine))
      // The control (no kept tables): the primary's older version is put over the newer one.
      expect(await rows(c!.engine, T2)).not.toEqual(['a=new'])
    })

    it('a snapshot bootstrap keeps the target\'s leaderless rows: the source leaves its own out, the wipe leaves them', async () => {
      const [p, r] = await start(1, 2)
      // The primary: Mode 1 rows, and leaderless rows of its own (not the target's business).
      await p!.auto(ins('m1', 'v1'), ins('m2', 'v1'))
      await p!.auto(upd('m1', 'v2'))
      await lww(p!.engine, ['pk', 'primary-only'])
      // The target: leaderless rows (one updated: a back version), and a stale Mode 1 row.
      await lww(r!.engine, ['a', 'a1'], ['b', 'b1'])
      await lww(r!.engine, ['a', 'a2'])
      await r!.auto(ins('stale', 'x'))
      const chunks = await readAll(p!.engine, [T2])
      const keys = chunks.flatMap(c => c.entries.map(x => x.key))
      const t2 = new KeptTables([T2])
      expect(keys.some(k => t2.holds(k))).toBe(false)
      await installAll(r!.engine, chunks, [T2])
      for (let round = 0; round < 2; round++) {
        const e = round === 0 ? r!.engine : await r!.restart()
        expect(await rows(e, T)).toEqual(['m1=v2', 'm2=v1'])
        expect(await rows(e, T2)).toEqual(['a=a2', 'b=b1'])
        expect(e.lastLsn()).toBe(p!.engine.lastLsn())
      }
      // The log continues from the snapshot: the target follows the primary.
      await p!.auto(ins('m3', 'v1'))
      await ship(p!.engine, r!.engine)
      expect(await rows(r!.engine, T)).toEqual(['m1=v2', 'm2=v1', 'm3=v1'])
    })

    it('an install keeps them also against a source that sends its leaderless rows (a previous release)', async () => {
      const [p, r] = await start(1, 2)
      await p!.auto(ins('m1', 'v1'))
      await lww(p!.engine, ['a', 'from-primary'], ['z', 'z1'])
      await lww(r!.engine, ['a', 'mine'])
      const chunks = await readAll(p!.engine, null)
      expect(chunks.flatMap(c => c.entries).some(x => new KeptTables([T2]).holds(x.key))).toBe(true)
      await installAll(r!.engine, chunks, [T2])
      expect(await rows(r!.engine, T)).toEqual(['m1=v1'])
      expect(await rows(r!.engine, T2)).toEqual(['a=mine'])
      // Without keepTables (a full restore): the source's copy, as before.
      const [q] = await start(3)
      await lww(q!.engine, ['a', 'mine'])
      await installAll(q!.engine, chunks, null)
      expect(await rows(q!.engine, T2)).toEqual(['a=from-primary', 'z=z1'])
    })
  })
}
