// The executor's ports over real storage, in process: one ShardEngine over MemoryKv per shard,
// answering the shard ops the executor sends the way the shard worker does (workers/shard-worker.ts
// without the rings and the participant lease), two-phase commit through the node's TwoPhaseIo,
// and — for leaderless tables — a quorum of one replica per shard (N = W = R = 1): the replica
// applies versions with the production LWW rule (applyVersions) and the quorum read is its latest
// version (getVersionedMany). The generators run on a manual clock and seeded RNGs.
import pino from 'pino'
import { transactionsHorizon } from '../../../src/cluster/snapshot-horizon'
import { Catalog, type TableInfo } from '../../../src/catalog/catalog'
import { TableFenceShell } from '../../../src/node/table-fences'
import { CatalogPins } from '../../../src/exec/catalog-pins'
import { SEED_TABLE_DEFAULTS, type TableDefaults } from '../../../src/catalog/replication-options'
import { ManualClock } from '../../../src/core/clock'
import { ScratchBirdError } from '../../../src/core/errors'
import { Hlc } from '../../../src/core/hlc'
import { SeededRng } from '../../../src/core/rng'
import { UuidV7Generator } from '../../../src/core/uuid'
import type { ExecEnv, QuorumBatch, QuorumIo } from '../../../src/exec/env'
import { executeScript } from '../../../src/exec/executor'
import { PlanCache } from '../../../src/exec/plan-cache'
import type { StatementResult } from '../../../src/exec/result'
import { SessionState } from '../../../src/exec/txn'
import { SnapshotRegistry } from '../../../src/exec/snapshots'
import { nextHlcTs } from '../../../src/storage/hlc-ts'
import { shardTwoPhaseIo } from '../../../src/node/twopc-io'
import { runJoinQuery } from '../../../src/shard/drivers/join-driver'
import { runQuery } from '../../../src/shard/drivers/query-driver'
import { runModifyRow, runModifyRowAutocommit } from '../../../src/shard/drivers/modify-driver'
import { ProgramCache } from '../../../src/shard/program-cache'
import type { Program } from '../../../src/sblr/program'
import type { ShardOpName, ShardReplies, ShardRequests } from '../../../src/shard/protocol/ops'
import { ShardEngine, type ReplicaWrite, type Txn } from '../../../src/storage/engine'
import type { Tuple } from '../../../src/storage/keys'
import { MemoryKv } from '../../../src/storage/kv-memory'
import { SharedXidCounter, SharedXidSource } from '../../../src/storage/xid-shared'
import { asNodeId, type ShardId, type Xid, shardIds } from '../../../src/core/ids'
import type { TxnBegin } from '../../../src/shard/protocol/messages'
import type { ShardRequester } from '../../../src/node/shard-router'

const NODE_ID = asNodeId(1)

export class LocalShards {
  private readonly txns = new Map<string, Txn>()
  /** Requests per op, in order (what the executor asked the shards). */
  readonly sent: ShardOpName[] = []
  /** As a worker keeps them (src/shard/program-cache.ts). */
  readonly programs = new ProgramCache()
  private readonly decode = (bytes: Uint8Array): Program => this.programs.program(bytes)

  private constructor (readonly engines: ShardEngine[], private readonly clock: ManualClock) {}

  static async open (shards: number, clock: ManualClock): Promise<LocalShards> {
    const counter = new SharedXidCounter(new SharedArrayBuffer(8))
    const engines = await Promise.all(shardIds(shards).map(shardId =>
      ShardEngine.open(MemoryKv.open(), { shardId, nodeId: NODE_ID, durability: 'none', clock, xids: new SharedXidSource(counter, NODE_ID, 0n) })))
    return new LocalShards(engines, clock)
  }

  async request<K extends ShardOpName> (op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> {
    this.sent.push(op)
    const handler = this.handlers[op] as (r: ShardRequests[K]) => Promise<ShardReplies[K]>
    return await handler(req)
  }

  private engine (shard: ShardId): ShardEngine {
    const e = this.engines[shard]
    if (e === undefined) throw new ScratchBirdError('SB_BAD_ARGUMENT', `no shard ${shard}`, { shard })
    return e
  }

  private txn (shard: ShardId, xid: bigint): Txn {
    const t = this.txns.get(`${shard}/${xid}`)
    if (t === undefined) throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${xid} is not open on shard ${shard}`, { shard })
    return t
  }

  private async begin (shard: ShardId, b: TxnBegin): Promise<Txn> {
    const t = await this.engine(shard).begin({ isolation: b.isolation, startHlc: b.startHlc, xid: b.xid })
    this.txns.set(`${shard}/${t.xid}`, t)
    return t
  }

  /** `run` in the transaction the request names, or — carrying a BEGIN — one begun first (rolled back when `run` fails), as the worker does (src/shard/host.ts begun()). */
  private async inTxn<R extends object> (r: { shard: ShardId, xid?: Xid | undefined, begin?: TxnBegin | undefined }, run: (txn: Txn | undefined) => Promise<R>): Promise<R & { xid?: Xid }> {
    if (r.begin === undefined) return await run(r.xid === undefined ? undefined : this.txn(r.shard, r.xid))
    const t = await this.begin(r.shard, r.begin)
    try {
      return { ...(await run(t)), xid: t.xid }
    } catch (e) {
      this.txns.delete(`${r.shard}/${t.xid}`)
      await t.rollback()
      throw e
    }
  }

  private readonly handlers: Partial<{ [K in ShardOpName]: (req: ShardRequests[K]) => Promise<ShardReplies[K]> }> = {
    AUTOCOMMIT: async r => {
      const res = await this.engine(r.shard).autocommit({ writes: r.writes, commitHlc: r.commitHlc, xid: r.xid })
      return { xid: res.xid, lsn: res.lsn, commitHlc: res.commitHlc, affected: res.affected }
    },
    BEGIN: async r => ({ xid: (await this.begin(r.shard, r)).xid }),
    GET: async r => {
      const row = await this.engine(r.shard).get(r.tableId, r.pk, r.xid === undefined ? undefined : this.txn(r.shard, r.xid))
      return { row: row ?? null }
    },
    WRITE: async r => await this.inTxn(r, async txn => ({ affected: await txn!.write(r.writes) })),
    WRITE_READ: async r => await this.inTxn(r, async txn => ({ affected: await txn!.engine.write(txn!, r.writes, r.readHlc) })),
    COMMIT: async r => {
      const res = await this.txn(r.shard, r.xid).commit(r.commitHlc)
      this.txns.delete(`${r.shard}/${r.xid}`)
      return { lsn: res.lsn, commitHlc: res.commitHlc }
    },
    ROLLBACK: async r => {
      await this.txn(r.shard, r.xid).rollback()
      this.txns.delete(`${r.shard}/${r.xid}`)
      return {}
    },
    PREPARE: async r => {
      const txn = this.txn(r.shard, r.xid)
      const lsn = await txn.prepare()
      this.txns.delete(`${r.shard}/${r.xid}`)
      return { lsn, floor: txn.engine.commitFloor() }
    },
    COMMIT_PREPARED: async r => {
      const res = await this.engine(r.shard).commitPrepared(r.xid, r.commitHlc)
      return { lsn: res.lsn, commitHlc: res.commitHlc }
    },
    ABORT_PREPARED: async r => ({ lsn: await this.engine(r.shard).abortPrepared(r.xid) }),
    // As the worker (src/shard/host.ts): inside the transaction named or begun, else an autocommit statement.
    MODIFY_ROW: async r => {
      const engine = this.engine(r.shard)
      if (r.commitHlc !== undefined) return await runModifyRowAutocommit(engine, r, this.clock, this.decode)
      return await this.inTxn(r, async txn => ({ affected: await runModifyRow(engine, txn!, r, this.clock, this.decode), lsn: null }))
    },
    QUERY: async r => await this.inTxn(r, async txn => await runQuery(this.engine(r.shard).scan(r.tableId, r.options, txn, r.readHlc), r, this.clock, this.decode)),
    SWEEP: async r => await this.engine(r.shard).sweep(r.horizonHlc, { purgeTombstonesOf: r.purgeTombstonesOf, commitLog: r.commitLog, purgeLeaderless: r.purgeLeaderless }),
    TABLE_FENCE: async r => {
      const engine = this.engine(r.shard)
      if (r.fence) return { rows: (await engine.fenceTable(r.tableId, r.token)).rows, held: true }
      return { rows: false, held: await engine.releaseTableFence(r.tableId, r.token) }
    },
    TABLE_FENCE_LIST: async r => ({ fences: this.engine(r.shard).heldTableFences() }),
    VERSION_SCAN: async r => ({ rows: await this.engine(r.shard).scanVersions(r.tableId, r.after, r.limit) }),
    JOIN_QUERY: async r => await this.inTxn(r, async txn => {
      const engine = this.engine(r.shard)
      return await runJoinQuery(side => engine.scan(side.tableId, side.options, txn), r, this.clock, this.decode)
    })
  }

  /** Leaderless replication with one replica per shard (this node's engine). */
  quorum (hlc: Hlc, maxBatchBytes = 1 << 20): QuorumIo {
    const apply = async (shard: ShardId, writes: ReplicaWrite[]): Promise<void> => {
      await this.engine(shard).applyVersions({ writes, commitHlc: nextHlcTs(hlc) })
    }
    return {
      write: async (_t: TableInfo, writes: ReadonlyMap<ShardId, ReplicaWrite[]>) => {
        for (const [shard, list] of writes) await apply(shard, list)
      },
      writeBatches: async (batches: readonly QuorumBatch[]) => {
        for (const b of batches) await apply(b.shard, b.writes)
      },
      maxBatchBytes,
      read: async (t: TableInfo, shard: ShardId, pks: readonly Tuple[]) =>
        (await this.engine(shard).getVersionedMany(t.id, pks)).map(v => v?.row ?? null),
      replicas: () => [NODE_ID],
      // The one replica's page, as REPLICA_VERSION_SCAN answers it.
      scanReplicas: async (t: TableInfo, shard: ShardId, after: Tuple | null, limit: number) => [await this.engine(shard).scanVersions(t.id, after, limit)]
    }
  }
}

export interface TestNode {
  env: ExecEnv
  shards: LocalShards
  clock: ManualClock
  /** Runs a script in `session` (a fresh one when omitted); throws its error, else its results. */
  sql: (sql: string, session?: SessionState) => Promise<StatementResult[]>
}

/** What the node's cluster and config would say: live nodes (bounds N) and the defaults of new tables. */
export interface TestNodeOptions {
  liveNodes?: number
  tableDefaults?: TableDefaults
  planCache?: PlanCache
  /** Where the shard ops go instead of the LocalShards (real worker threads: tests/unit/node/point-modify.test.ts). */
  requester?: ShardRequester
}

/** An executor over `n` local shards; `leaderless` gives it quorum replication (a node in a cluster). */
export async function testNode (n: number, leaderless: boolean, maxBatchBytes?: number, opts: TestNodeOptions = {}): Promise<TestNode> {
  const clock = new ManualClock()
  const shards = await LocalShards.open(n, clock)
  const hlc = new Hlc({ nodeId: NODE_ID, clock, rng: new SeededRng(1) })
  let catalog = new Catalog()
  // The node's own fence shell over these shards, as a single node has it (no cluster).
  const catalogPins = new CatalogPins()
  const port: ShardRequester = opts.requester ?? shards
  const fences = new TableFenceShell({ selfId: NODE_ID, shardCount: { shards: n }, local: port, cluster: null, catalogVersion: () => catalogPins.placing(catalog.version), clock, log: pino({ level: 'silent' }) })
  const snapshots = new SnapshotRegistry()
  const env: ExecEnv = {
    shards: n,
    request: (op, req) => port.request(op, req),
    hlc,
    uuidV7: new UuidV7Generator(clock, new SeededRng(2)),
    clock,
    twoPhase: shardTwoPhaseIo(port, { shards: n }, () => hlc.generate(), () => nextHlcTs(hlc)),
    snapshots,
    fences,
    catalogPins,
    catalog: () => catalog,
    liveNodes: () => opts.liveNodes ?? 1,
    tableDefaults: opts.tableDefaults ?? SEED_TABLE_DEFAULTS,
    setCatalog: c => { catalog = c },
    warn: () => {},
    members: () => [],
    shardMap: () => [],
    transactionsHorizon: () => transactionsHorizon([{ nodeId: NODE_ID, isSelf: true, state: 'normal', oldestActiveHlc: '' }], snapshots.oldest(), nextHlcTs(hlc), 0),
    ...(leaderless ? { quorum: shards.quorum(hlc, maxBatchBytes) } : {}),
    // as the node has one: every executor test also runs its statements through the plan cache
    planCache: opts.planCache ?? new PlanCache()
  }
  const sql = async (text: string, session = new SessionState()): Promise<StatementResult[]> => {
    const out = await executeScript(env, session, text, [])
    if (out.error !== null) throw out.error
    return out.results
  }
  return { env, shards, clock, sql }
}
