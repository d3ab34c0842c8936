import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { DECISION_TABLE_ID, encodeDecision } from '../../../src/cluster/twopc'
import { initHashing } from '../../../src/core/hash'
import { asNodeId, asShardId } from '../../../src/core/ids'
import type { ShardWorkers } from '../../../src/node/shard-workers'
import { deriveStep, deriveUntilCaughtUp, endDerive, type DeriveDeps } from '../../../src/node/split-derive'
import { childSideOf } from '../../../src/node/split-row-side'
import type { RowWrite } from '../../../src/storage/engine'
import type { Xid } from '../../../src/storage/types'
import { CAT, CHILD, delUser, eventRow, EVENTS, ownersOf, PARENT, putEvent, putUser, SHARDS, ship, splitNode, userRow, USERS, versions } from './split-fixtures'
import { nextHlc, vid } from './worker-fixtures'

// The COPY step of a shard split on ONE replica (cluster/shard-split.ts "2. COPY",
// node/split-derive.ts), through real shard workers and LevelDB: two "nodes" hold shard 0 of 2 —
// p its Mode 1 primary (generation 2, so PREPARE and the decisions are log entries), r a replica
// fed p's log by the test playing the replication shell. r derives child shard 2 from its own copy
// of shard 0 while a writer runs on p (inserts, updates — some moving a row between the halves by
// changing its partition column — deletes, a 2PC transaction prepared before the derive and
// committed during it, one prepared and aborted, decision records). Afterwards the child holds
// exactly r's child-side rows of shard 0 at the same version ids and commit HLCs.

let started: ShardWorkers[] = []
afterEach(async () => { for (const w of started) await w.stop(); started = [] })
beforeAll(async () => { await initHashing() })

const node = async (nodeId: number, dir?: string): Promise<ShardWorkers> => await splitNode(started, nodeId, dir)

/** r's child-side rows of shard 0 and the child's rows, per relation. */
async function compare (r: ShardWorkers, relations = [USERS.info.id, EVENTS.info.id, DECISION_TABLE_ID]): Promise<void> {
  const side = childSideOf(() => CAT, PARENT, SHARDS)
  for (const tableId of relations) {
    const expected = await versions(r, PARENT, tableId, (pk, row) => side(tableId, pk, row))
    expect(expected.length, `relation ${tableId}`).toBeGreaterThan(0)
    expect(await versions(r, CHILD, tableId), `relation ${tableId}`).toEqual(expected)
  }
}

describe('deriving child shard s + n from parent s on one replica', () => {
  it('holds exactly the parent\'s child-side rows at the same versions after a writer ran during the derive; the pin keeps the tail', async () => {
    const p = await node(3)
    const r = await node(4)
    await p.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'primary' } })
    const childUsers = ownersOf(USERS, v => [v, null], 2, 40, 'u')
    const parentUsers = ownersOf(USERS, v => [v, null], 0, 40, 'u')
    const childOwners = ownersOf(EVENTS, v => [0n, v, null], 2, 5, 'o')
    const parentOwners = ownersOf(EVENTS, v => [0n, v, null], 0, 5, 'o')
    // Before the derive: rows of both halves, and a transaction prepared (its rows held, uncommitted).
    for (let i = 0; i < 40; i++) {
      await p.request('AUTOCOMMIT', { shard: PARENT, writes: [putUser(childUsers[i]!, `c${i}`), putUser(parentUsers[i]!, `p${i}`)], commitHlc: nextHlc() })
    }
    for (let i = 0; i < 30; i++) await p.request('AUTOCOMMIT', { shard: PARENT, writes: [putEvent(BigInt(i), (i % 2 === 0 ? childOwners : parentOwners)[i % 5]!, `e${i}`)], commitHlc: nextHlc() })
    const early = await prepared(p, [putUser(childUsers[0]!, 'prepared-early'), putUser('zz-new-' + childUsers[1]!, 'x')])
    await ship(p, r)

    const d: DeriveDeps = { workers: r, catalog: () => CAT, pageRows: 7 }
    let step = 0
    // The writer: a change every third derive step (during the base copy and the tail), shipped to r before the step.
    const writes: Array<() => Promise<unknown>> = [
      () => p.request('AUTOCOMMIT', { shard: PARENT, writes: [putUser(childUsers[5]!, 'updated')], commitHlc: nextHlc() }),
      () => p.request('AUTOCOMMIT', { shard: PARENT, writes: [delUser(childUsers[6]!), delUser(parentUsers[6]!)], commitHlc: nextHlc() }),
      // Partition column changed within shard 0: event 0 moves to the parent's half, event 1 to the child's.
      () => p.request('AUTOCOMMIT', { shard: PARENT, writes: [putEvent(0n, parentOwners[0]!, 'moved out'), putEvent(1n, childOwners[1]!, 'moved in')], commitHlc: nextHlc() }),
      () => p.request('COMMIT_PREPARED', { shard: PARENT, xid: early, commitHlc: nextHlc() }),
      async () => { const x = await prepared(p, [putUser(childUsers[7]!, 'aborted')]); await p.request('ABORT_PREPARED', { shard: PARENT, xid: x }) },
      async () => { const x = await prepared(p, [putUser(childUsers[8]!, 'prepared-late')]); await p.request('COMMIT_PREPARED', { shard: PARENT, xid: x, commitHlc: nextHlc() }) },
      () => decisions(p),
      () => p.request('AUTOCOMMIT', { shard: PARENT, writes: [putUser('late-' + childUsers[9]!, 'new'), delUser(childUsers[10]!)], commitHlc: nextHlc() }),
      // Moved back and forth inside one batch of the tail: the last state wins.
      () => p.request('AUTOCOMMIT', { shard: PARENT, writes: [putEvent(2n, parentOwners[2]!, 'out')], commitHlc: nextHlc() }),
      () => p.request('AUTOCOMMIT', { shard: PARENT, writes: [putEvent(2n, childOwners[3]!, 'back in')], commitHlc: nextHlc() })
    ]
    let l0: bigint | undefined
    let truncationTried = false
    let writesInTail = 0
    for (; step < 40; step++) {
      const w = step % 3 === 0 ? writes[step / 3] : undefined
      if (w !== undefined) { await w(); await ship(p, r) }
      const rep = await deriveStep(d, PARENT, SHARDS)
      l0 ??= rep.progress.l0
      if (w !== undefined && rep.progress.base === 'done') writesInTail++
      if (step === 12) {
        // A truncation that would drop the whole log: the pin keeps L0 + 1 on.
        const { lastLsn } = await r.request('REPL_STATE_GET', { shard: PARENT })
        await r.request('SWEEP', { shard: PARENT, horizonHlc: nextHlc(), purgeTombstonesOf: [], commitLog: [{ name: 'test', fromLsn: lastLsn + 1n }] })
        truncationTried = true
        expect((await r.request('REPL_STATE_GET', { shard: PARENT })).firstAvailableLsn).toBeLessThanOrEqual(rep.progress.through + 1n)
      }
    }
    expect(truncationTried).toBe(true)
    expect(writesInTail).toBeGreaterThan(1)
    expect(writesInTail).toBeLessThan(writes.length)
    await ship(p, r)
    const done = await deriveUntilCaughtUp(d, PARENT, SHARDS, 1000)
    expect(done.base).toBe('done')
    expect(done.through).toBe((await r.request('REPL_STATE_GET', { shard: PARENT })).lastLsn)
    expect(l0).toBeLessThan(done.through)
    await compare(r)
    // Spot checks of what the writer did, through normal reads of the child.
    const get = async (pk: string): Promise<Uint8Array | null> => (await r.request('GET', { shard: CHILD, tableId: USERS.info.id, pk: [pk] })).row
    expect(await get(childUsers[5]!)).toEqual(userRow(childUsers[5]!, 'updated'))
    expect(await get(childUsers[6]!)).toBeNull()
    expect(await get(childUsers[0]!)).toEqual(userRow(childUsers[0]!, 'prepared-early'))
    expect(await get(childUsers[7]!)).toEqual(userRow(childUsers[7]!, 'c7'))
    expect(await get(childUsers[8]!)).toEqual(userRow(childUsers[8]!, 'prepared-late'))
    expect(await get(parentUsers[1]!)).toBeNull()
    const ev = async (id: bigint): Promise<Uint8Array | null> => (await r.request('GET', { shard: CHILD, tableId: EVENTS.info.id, pk: [id] })).row
    expect(await ev(0n)).toBeNull()
    expect(await ev(1n)).toEqual(eventRow(1n, childOwners[1]!, 'moved in'))
    expect(await ev(2n)).toEqual(eventRow(2n, childOwners[3]!, 'back in'))
    // Decision records by xid mod 4: 10 and 14 are the child's, 14 was dropped; 12 and 16 stay with the parent.
    const records = (await r.request('SPLIT_SCAN', { shard: CHILD, tableId: DECISION_TABLE_ID, after: null, limit: 100 })).rows
    expect(records.filter(x => x.row !== null).map(x => x.pk[0])).toEqual([10n])
    // The child's log is untouched: it starts at the switch.
    expect((await r.request('REPL_STATE_GET', { shard: CHILD })).lastLsn).toBe(0n)

    // Ending the derive releases the pin: the same truncation now goes through.
    expect(await endDerive(d, PARENT, SHARDS)).toMatchObject({ through: done.through })
    const { lastLsn } = await r.request('REPL_STATE_GET', { shard: PARENT })
    await r.request('SWEEP', { shard: PARENT, horizonHlc: nextHlc(), purgeTombstonesOf: [], commitLog: [{ name: 'test', fromLsn: lastLsn + 1n }] })
    expect((await r.request('REPL_STATE_GET', { shard: PARENT })).firstAvailableLsn).toBeGreaterThan(done.through)
    expect((await r.request('SPLIT_DERIVE_STATE', { shard: CHILD, clear: false })).progress).toBeNull()
  })

  it('stops with SB_SPLIT_COPY_STALE once the replica\'s log is cut back under it (a failover\'s suffix truncation)', async () => {
    const p = await node(3)
    const r = await node(4)
    await p.request('REPL_STATE_SET', { shard: PARENT, state: { generation: 2n, votedFor: asNodeId(3), commitLsn: 0n, role: 'primary' } })
    const childUsers = ownersOf(USERS, v => [v, null], 2, 10, 'c')
    for (const u of childUsers) await p.request('AUTOCOMMIT', { shard: PARENT, writes: [putUser(u, 'v')], commitHlc: nextHlc() })
    await ship(p, r)
    const d: DeriveDeps = { workers: r, catalog: () => CAT, pageRows: 3 }
    for (let i = 0; i < 3; i++) await deriveStep(d, PARENT, SHARDS)
    // A new primary did not have the last two entries: the replica undoes them; the child copied them.
    const { lastLsn } = await r.request('REPL_STATE_GET', { shard: PARENT })
    expect(await r.request('REPL_TRUNCATE', { shard: PARENT, afterLsn: lastLsn - 2n, committedLsn: 0n })).toMatchObject({ entriesRemoved: 2 })
    await expect(deriveStep(d, PARENT, SHARDS)).rejects.toMatchObject({ code: 'SB_SPLIT_COPY_STALE', details: { shard: PARENT, child: CHILD } })
    await expect(deriveStep(d, PARENT, SHARDS)).rejects.toMatchObject({ code: 'SB_SPLIT_COPY_STALE' })
    // Released, the pin is taken again at a fresh L0 by the next derive; this child's progress still names the old one.
    await r.request('SPLIT_PIN', { shard: PARENT, pin: false })
    await expect(deriveStep(d, PARENT, SHARDS)).rejects.toMatchObject({ code: 'SB_SPLIT_COPY_STALE' })
  })

  it('a derive interrupted by worker restarts resumes from the child\'s progress to the same result; re-delivery is a no-op, a stale step is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-derive-'))
    let r = await node(4, dir)
    const childUsers = ownersOf(USERS, v => [v, null], 2, 30, 'k')
    const parentUsers = ownersOf(USERS, v => [v, null], 0, 30, 'k')
    for (let i = 0; i < 30; i++) await r.request('AUTOCOMMIT', { shard: PARENT, writes: [putUser(childUsers[i]!, `c${i}`), putUser(parentUsers[i]!, `p${i}`)], commitHlc: nextHlc() })
    const d = (): DeriveDeps => ({ workers: r, catalog: () => CAT, pageRows: 4 })
    for (let i = 0; i < 25; i++) {
      await r.request('AUTOCOMMIT', { shard: PARENT, writes: [putUser(childUsers[i]!, `c${i}-v2`), delUser(parentUsers[i]!)], commitHlc: nextHlc() })
      if (i % 6 === 5) {
        // A crash of the worker holding both shards; the derive carries on from what the child recorded.
        await r.killWorker(0)
        await expect.poll(async () => (await r.request('PING', { shard: PARENT }).catch(() => null))?.shards.length, { timeout: 30_000 }).toBeGreaterThan(0)
        await expect.poll(async () => (await r.request('PING', { shard: CHILD }).catch(() => null)) !== null, { timeout: 30_000 }).toBe(true)
      }
      if (i === 12) {
        // A restart of the node: a fresh ShardWorkers on the same data directory.
        await r.stop()
        started = started.filter(w => w !== r)
        r = await node(4, dir)
      }
      await deriveStep(d(), PARENT, SHARDS)
    }
    const done = await deriveUntilCaughtUp(d(), PARENT, SHARDS, 1000)
    expect(done.base).toBe('done')
    await compare(r, [USERS.info.id])

    // The last step delivered again changes nothing; a step from a progress the child no longer has is refused.
    const from = { ...done, through: done.through - 1n }
    expect(await r.request('SPLIT_DERIVE_APPLY', { shard: CHILD, from, to: done, entries: [] })).toEqual({ applied: false, written: 0 })
    await expect(r.request('SPLIT_DERIVE_APPLY', { shard: CHILD, from: { ...done, through: done.through - 2n }, to: from, entries: [] }))
      .rejects.toMatchObject({ code: 'SB_SPLIT_PROGRESS_MISMATCH' })
    await expect(r.request('SPLIT_DERIVE_APPLY', { shard: asShardId(1), from: null, to: done, entries: [] })).rejects.toMatchObject({ code: 'SB_BAD_ARGUMENT' })
    await compare(r, [USERS.info.id])
  })
})

/** A transaction writing `writes` on shard 0 of `p`, prepared; its xid. */
async function prepared (p: ShardWorkers, writes: RowWrite[]): Promise<Xid> {
  const { xid } = await p.request('BEGIN', { shard: PARENT, isolation: 'read_committed', startHlc: nextHlc() })
  await p.request('WRITE', { shard: PARENT, xid, writes })
  await p.request('PREPARE', { shard: PARENT, xid })
  return xid
}

/** Decision records of both halves on shard 0 (xid mod 2 = 0), one then dropped. */
async function decisions (p: ShardWorkers): Promise<void> {
  for (const x of [10n, 12n, 14n, 16n]) {
    await p.request('AUTOCOMMIT', { shard: PARENT, writes: [{ op: 'insert', tableId: DECISION_TABLE_ID, pk: [x], row: encodeDecision({ outcome: 'abort' }), versionId: vid() }], commitHlc: nextHlc() })
  }
  await p.request('AUTOCOMMIT', { shard: PARENT, writes: [{ op: 'put', tableId: DECISION_TABLE_ID, pk: [14n], row: null, versionId: vid() }], commitHlc: nextHlc() })
}
