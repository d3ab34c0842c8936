import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { systemClock } from '../src/core/clock'
import { ScratchBirdError } from '../src/core/errors'
import { RING_DEFERRED, RingServer, type RingReply } from '../src/rings/channel'
import { SpscRing } from '../src/rings/spsc-ring'
import { decodeAutocommit, decodeReplicaApply, encodeAutocommitReply, encodeReplicaApplyReply } from '../src/shard/protocol/codec'
import { SHARD_OP_BY_CODE, SHARD_OPS, codecOf, type OpCodec, type ShardOpName, type ShardReplies, type ShardRequests } from '../src/shard/protocol/ops'
import type { ShardWorkerData, WorkerToMain } from '../src/shard/protocol/worker-protocol'
import { runJoinQuery } from '../src/shard/drivers/join-driver'
import { runQuery } from '../src/shard/drivers/query-driver'
import { ShardEngine, type AutocommitResult, type AutocommitSink, type Txn } from '../src/storage/engine'
import { LevelKv } from '../src/storage/kv-level'
import { SharedXidCounter, SharedXidSource, readXidMark } from '../src/storage/xid-shared'

// Shard worker (DESIGN §2): a thin shell — ring → engine → ring. It owns the LevelDB databases of
// its shard replicas (the main thread never touches LevelDB), drains every request available in
// one pass (the engine group-commits the writes of a pass into one batch), and stops when the
// main thread closes the request ring.

const data = workerData as ShardWorkerData
const port = parentPort!
const engines = new Map<number, ShardEngine>()
/** An open transaction and its lease: when a request last named it, how many are running now. */
interface OpenTxn { txn: Txn, lastUsed: number, inFlight: number }
/** Open transactions by shard and xid (a 2PC transaction has one xid on several shards). */
const txns = new Map<number, Map<bigint, OpenTxn>>()

function send (msg: WorkerToMain): void { port.postMessage(msg) }

function engineOf (shard: number): ShardEngine {
  const e = engines.get(shard)
  if (!e) throw new ScratchBirdError('SB_BAD_ARGUMENT', `shard ${shard} is not served by worker ${data.workerIndex}`, { shard })
  return e
}

function txnOf (shard: number, xid: bigint): Txn {
  const t = txns.get(shard)?.get(xid)
  if (!t) throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${xid} is not open on shard ${shard}`, { shard, xid: String(xid) })
  return t.txn
}

function forget (shard: number, xid: bigint): void { txns.get(shard)?.delete(xid) }

// Participant lease: a transaction is held here on behalf of a coordinator (often another node).
// When the coordinator dies or loses its session, nobody will ever finish it, and its uncommitted
// versions would block writers of those rows and its snapshot hold back the sweep. So an ACTIVE
// transaction that no request has named for txnIdleTimeoutMs is rolled back and forgotten (a later
// request for it gets SB_TXN_NOT_ACTIVE). Prepared transactions are not in `txns` (PREPARE forgets
// them): they are limbo, and only 2PC recovery decides them. A transaction with a request running
// is never expired (a long scan is not idleness).

/** Marks the transaction a request names as in use until the request ends (see handle()). */
function lease (shard: number, xid: bigint | undefined): (() => void) | undefined {
  if (xid === undefined) return undefined
  const t = txns.get(shard)?.get(xid)
  if (!t) return undefined
  t.inFlight++
  t.lastUsed = systemClock.monotonic()
  return () => { t.inFlight--; t.lastUsed = systemClock.monotonic() }
}

function expireIdleTxns (): void {
  const now = systemClock.monotonic()
  for (const [shard, open] of txns) {
    for (const [xid, t] of open) {
      const idle = now - t.lastUsed
      if (t.inFlight > 0 || idle <= data.txnIdleTimeoutMs) continue
      if (t.txn.state !== 'active' && t.txn.state !== 'failed') continue // committing, preparing...: in hand
      // Forget first: a request arriving while the rollback runs gets SB_TXN_NOT_ACTIVE.
      open.delete(xid)
      t.txn.rollback().then(
        () => send({ type: 'log', worker: data.workerIndex, level: 'warn', message: `transaction ${xid} on shard ${shard} idle for ${Math.round(idle)} ms: rolled back`, details: { shard, xid: String(xid), idleMs: Math.round(idle) } }),
        (e: unknown) => send({ type: 'log', worker: data.workerIndex, level: 'error', message: `transaction ${xid} on shard ${shard} idle for ${Math.round(idle)} ms: rollback failed: ${(e as Error).message}`, details: { shard, xid: String(xid), idleMs: Math.round(idle) } }))
    }
  }
}

type Handlers = { [K in ShardOpName]: (req: ShardRequests[K]) => Promise<ShardReplies[K]> | ShardReplies[K] }

const handlers: Handlers = {
  PING: () => ({ worker: data.workerIndex, shards: [...engines.keys()] }),
  AUTOCOMMIT: async (r) => {
    const res = await engineOf(r.shard).autocommit({ writes: r.writes, commitHlc: r.commitHlc, xid: r.xid })
    return { xid: res.xid, lsn: res.lsn, commitHlc: res.commitHlc, affected: res.affected }
  },
  BEGIN: async (r) => {
    const t = await engineOf(r.shard).begin({ isolation: r.isolation, startHlc: r.startHlc, xid: r.xid })
    txns.get(r.shard)!.set(t.xid, { txn: t, lastUsed: systemClock.monotonic(), inFlight: 0 })
    return { xid: t.xid }
  },
  GET: async (r) => {
    const row = await engineOf(r.shard).get(r.tableId, r.pk, r.xid === undefined ? undefined : txnOf(r.shard, r.xid))
    return { row: row ?? null }
  },
  SCAN: async (r) => {
    const rows: ShardReplies['SCAN']['rows'] = []
    const txn = r.xid === undefined ? undefined : txnOf(r.shard, r.xid)
    for await (const row of engineOf(r.shard).scan(r.tableId, r.options, txn)) rows.push({ pk: row.pk, row: row.row })
    return { rows }
  },
  WRITE: async (r) => ({ affected: await txnOf(r.shard, r.xid).write(r.writes) }),
  COMMIT: async (r) => {
    const res = await txnOf(r.shard, r.xid).commit(r.commitHlc)
    forget(r.shard, r.xid)
    return { lsn: res.lsn, commitHlc: res.commitHlc }
  },
  ROLLBACK: async (r) => {
    await txnOf(r.shard, r.xid).rollback()
    forget(r.shard, r.xid)
    return {}
  },
  PREPARE: async (r) => {
    await txnOf(r.shard, r.xid).prepare()
    forget(r.shard, r.xid)
    return {}
  },
  COMMIT_PREPARED: async (r) => {
    const res = await engineOf(r.shard).commitPrepared(r.xid, r.commitHlc)
    return { lsn: res.lsn, commitHlc: res.commitHlc }
  },
  ABORT_PREPARED: async (r) => { await engineOf(r.shard).abortPrepared(r.xid); return {} },
  LIST_LIMBO: (r) => ({ limbo: engineOf(r.shard).listLimbo().map(l => ({ xid: l.xid, rows: l.rows })) }),
  READ_COMMIT_LOG: async (r) => ({ entries: await engineOf(r.shard).readCommitLog(r.fromLsn, r.limit) }),
  SWEEP: (r) => engineOf(r.shard).sweep(r.horizonHlc, {}),
  QUERY: (r) => {
    const txn = r.xid === undefined ? undefined : txnOf(r.shard, r.xid)
    return runQuery(engineOf(r.shard).scan(r.tableId, r.options, txn), r)
  },
  JOIN_QUERY: (r) => {
    // One visibility for every table of the join: the statement's transaction when it has one.
    const txn = r.xid === undefined ? undefined : txnOf(r.shard, r.xid)
    const engine = engineOf(r.shard)
    return runJoinQuery(side => engine.scan(side.tableId, side.options, txn), r)
  },
  REPLICA_APPLY: (r) => engineOf(r.shard).applyVersions(r),
  REPLICA_READ: async (r) => ({ versions: (await engineOf(r.shard).getVersionedMany(r.tableId, r.pks)).map(v => v ?? null) }),
  STATS: (r) => {
    const e = engineOf(r.shard)
    return { shard: r.shard, lastLsn: e.lastLsn(), hlcHighWater: e.hlcHighWater(), openTxns: txns.get(r.shard)?.size ?? 0, limbo: e.listLimbo().length }
  }
}

const AUTOCOMMIT = SHARD_OPS.AUTOCOMMIT.code
let server: RingServer

/** Where an AUTOCOMMIT's outcome goes: straight into the response ring, no promise chain. */
class AutocommitReply implements AutocommitSink {
  constructor (private readonly requestId: number) {}
  resolve (r: AutocommitResult): void { server.reply(this.requestId, AUTOCOMMIT, encodeAutocommitReply(r)) }
  reject (e: unknown): void { server.replyError(this.requestId, e) }
}

const REPLICA_APPLY = SHARD_OPS.REPLICA_APPLY.code

/** As AutocommitReply, for REPLICA_APPLY (its writes are 'lww' autocommit writes). */
class ReplicaApplyReply implements AutocommitSink {
  constructor (private readonly requestId: number) {}
  resolve (r: AutocommitResult): void {
    server.reply(this.requestId, REPLICA_APPLY, encodeReplicaApplyReply({ xid: r.xid, lsn: r.lsn, commitHlc: r.commitHlc, applied: r.lww ?? [] }))
  }

  reject (e: unknown): void { server.replyError(this.requestId, e) }
}

function handle (type: number, payload: Uint8Array, requestId: number): RingReply | Promise<RingReply> | typeof RING_DEFERRED {
  if (type === AUTOCOMMIT) {
    // The hot path. The decoded writes are views into the ring; the engine copies them before
    // autocommitTo returns.
    const r = decodeAutocommit(payload, false)
    engineOf(r.shard).autocommitTo({ writes: r.writes, commitHlc: r.commitHlc, xid: r.xid }, new AutocommitReply(requestId))
    return RING_DEFERRED
  }
  if (type === REPLICA_APPLY) {
    // The quorum write path, the same way: decoded writes are 'lww' RowWrites (views, copied).
    const r = decodeReplicaApply(payload, false)
    engineOf(r.shard).autocommitTo({ writes: r.writes, commitHlc: r.commitHlc, xid: r.xid }, new ReplicaApplyReply(requestId))
    return RING_DEFERRED
  }
  const op = SHARD_OP_BY_CODE.get(type)
  if (!op) throw new ScratchBirdError('SB_MALFORMED_REQUEST', `unknown shard op ${type}`)
  const codec = codecOf(op) as OpCodec<unknown, unknown>
  // Decode before the first await: the payload is a view into the ring, valid only until then.
  const req = codec.decodeRequest(payload)
  const named = req as { shard?: unknown, xid?: unknown }
  const release = typeof named.shard === 'number' && typeof named.xid === 'bigint' ? lease(named.shard, named.xid) : undefined
  let out: unknown
  try {
    out = (handlers[op] as (r: unknown) => unknown)(req)
  } catch (e) {
    release?.()
    throw e
  }
  if (out instanceof Promise) {
    return out.then(v => ({ type, payload: codec.encodeReply(v) })).finally(release)
  }
  release?.()
  return { type, payload: codec.encodeReply(out) }
}

async function openShards (): Promise<void> {
  const counter = new SharedXidCounter(data.xidCounter)
  for (const shard of data.shards) {
    const dir = join(data.dataDir, 'shards', String(shard))
    mkdirSync(dir, { recursive: true })
    const kv = await LevelKv.open(dir, data.lsm)
    try {
      const mark = await readXidMark(kv)
      counter.raiseTo(mark)
      const engine = await ShardEngine.open(kv, {
        shardId: shard,
        nodeId: data.nodeId,
        durability: data.durability,
        xids: new SharedXidSource(counter, data.nodeId, mark)
      })
      engines.set(shard, engine)
      txns.set(shard, new Map())
    } catch (e) {
      await kv.close()
      throw e
    }
  }
}

async function closeShards (): Promise<void> {
  await Promise.allSettled([...engines.values()].map(e => e.close()))
  engines.clear()
}

async function main (): Promise<void> {
  try {
    await openShards()
  } catch (e) {
    await closeShards()
    const err = e instanceof ScratchBirdError ? e : new ScratchBirdError('SB_INTERNAL', (e as Error).message)
    send({ type: 'failed', worker: data.workerIndex, code: err.code, message: err.message })
    return
  }
  server = new RingServer(SpscRing.attach(data.requestRing), SpscRing.attach(data.responseRing), handle)
  const expiry = setInterval(expireIdleTxns, Math.max(1, Math.min(data.txnIdleTimeoutMs / 4, 10_000)))
  expiry.unref()
  send({ type: 'ready', worker: data.workerIndex, shards: [...engines.keys()] })
  await server.run() // returns once the main thread closed the request ring and replies are out
  clearInterval(expiry)
  await closeShards()
}

void main()
