import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog'
import type { Clock } from '../core/clock'
import { describe, isScratchBirdError, messageOf, ScratchBirdError } from '../core/errors'
import type { Hlc } from '../core/hlc'
import type { NodeId, ShardId } from '../core/ids'
import type { AlterTableStatement } from '../sql/ast'
import type { ReplicaWrite } from '../storage/engine'
import { nextHlcTs } from '../storage/hlc-ts'
import { MAX_SNAPSHOT_CHUNK_BYTES, MAX_SNAPSHOT_CHUNK_KEYS } from '../storage/replica-snapshot'
import type { Tuple } from '../storage/keys'
import type { ShardRequests } from '../shard/protocol/ops'
import { afterChunkFailure } from './replication/snapshot-stream'
import type { ShardRequester } from './shard-router'
import { TickLoop } from './tick-loop'
import { bootstrapJobs, chunkKeys, finishedTables, type BootstrapJob } from './leaderless-bootstrap-plan'

// Bootstrap of new leaderless replicas (issue 14 item 4, DESIGN §6): fills a shard's new replicas
// of leaderless_quorum tables from one live replica that counts, while writes continue, then
// marks them ready so they count toward W and R (catalog/replica-bootstrap.ts keeps who is ready;
// quorum/coordinator.ts counts only those).
//
// How a shard is filled (fillShard, the narrow interface a membership change can call for any
// (shard, tables, new nodes)): this node, holding a full replica, reads a consistent snapshot of
// the shard in bounded chunks — the Mode 1 bootstrap's REPL_SNAPSHOT_READ (storage/replica-snapshot.ts,
// at most MAX_SNAPSHOT_CHUNK_KEYS keys and storage.max_message_bytes / 2 per chunk) — keeps the
// chunk's row keys of the tables (r/<table>/<pk>), reads their latest committed versions with the
// production REPLICA_READ (tombstones included, with their UUIDv8 versions; a version newer than
// the snapshot's is as good: last write wins), and sends them to every target as REPLICA_APPLY,
// which applies them last-writer-wins (a concurrent newer write already there is kept) and keeps
// the target's Merkle leaves on the write path, so its forest then matches the source's.
// Everything the old replicas held when the bootstrap started is in the snapshot: from the
// catalog version that started it every coordinator sends writes to the new replicas too (and
// hints them when they are down), and its layout floor makes replicas refuse writers still on an
// older catalog. Known limit: a version only another old replica held (this source missed it and
// its hint had not arrived) reaches the new replica by read repair or anti-entropy, not here.
//
// Resumable: where a fill stopped (snapshot id, last key sent) is kept per (shard, targets); a
// failed chunk resumes there at the next tick, a snapshot the source lost (restart, expiry:
// SB_REPL_SNAPSHOT_GONE) restarts from the first chunk — applying a version twice is a no-op.
// A source that goes down hands the shard to the next live replica that counts (its tick plans
// it: leaderless-bootstrap-plan.ts), which restarts it; the record in the catalog survives
// restarts of every node. The table stays readable and writable throughout.

/** How often the node looks for shards to fill. */
export const BOOTSTRAP_TICK_MS = 1_000
/** Resume points kept (oldest forgotten first). */
const MAX_RESUME_POINTS = 256
/** Restarts of one fill with a new snapshot before it gives up (the next tick tries again). */
const MAX_RESTARTS = 3
/** Room one chunk leaves of a ring message for its envelope. */
const CHUNK_ENVELOPE_BYTES = 4096
/** Estimated bytes of a REPLICA_APPLY write beyond its key and row (version, ids, framing). */
const WRITE_OVERHEAD_BYTES = 64

export interface LeaderlessBootstrapDeps {
  readonly selfId: NodeId
  readonly shards: number
  /** This node's shard workers. */
  readonly workers: ShardRequester
  readonly catalog: () => Catalog
  /** The first n nodes of the shard's preference list. */
  readonly replicas: (shard: ShardId, n: number) => readonly NodeId[]
  readonly alive: (id: NodeId) => boolean
  /** REPLICA_APPLY on node `to` (a peer over cluster RPC). */
  readonly apply: (to: NodeId, req: ShardRequests['REPLICA_APPLY']) => Promise<void>
  /** A DDL statement through the catalog coordinator (SET REPLICAS READY). */
  readonly ddl: (s: AlterTableStatement) => Promise<unknown>
  readonly hlc: Hlc
  /** storage.max_message_bytes. */
  readonly maxMessageBytes: number
  /** The largest REPLICA_APPLY batch (QuorumShell.maxBatchBytes). */
  readonly maxBatchBytes: number
  /** The replication log stream. */
  readonly log: Logger
  readonly clock: Clock
}

/** A fill's progress so far (SHOW SHARD MAP). */
export interface FillProgress {
  readonly table: string
  readonly shard: ShardId
  readonly targets: readonly NodeId[]
  readonly keys: number
  readonly bytes: number
}

/** What fillShard asks for: the rows of `tableIds` on `shard`, to `targets`. */
export interface FillRequest {
  readonly shard: ShardId
  readonly tableIds: readonly number[]
  readonly targets: readonly NodeId[]
  /** Called after every chunk sent (keys and bytes so far). */
  readonly onProgress?: (keys: number, bytes: number) => void
}

interface ResumePoint { snapshotId: bigint, after: Uint8Array | null, keys: number, bytes: number }

const POS = { line: 1, column: 1, offset: 0 }

export class LeaderlessBootstrap {
  private readonly loop = new TickLoop(BOOTSTRAP_TICK_MS, async () => await this.tick())
  private readonly resume = new Map<string, ResumePoint>()
  private readonly progressRows = new Map<string, FillProgress>()

  constructor (private readonly d: LeaderlessBootstrapDeps) {}

  start (): void { this.loop.start() }

  /** Stops the rounds and waits for the one in flight. */
  async stop (): Promise<void> { await this.loop.stop() }

  /** The fills this node runs or last ran as a source, with their progress. */
  progress (): FillProgress[] { return [...this.progressRows.values()] }

  /**
   * SHOW SHARD MAP's leaderless_bootstrap column of `shard`: each table whose new replicas of it
   * are still being filled (from the catalog, the same on every node), with the keys and bytes sent
   * so far when this node is the one filling them; undefined: none.
   */
  shardState (shard: ShardId): string | undefined {
    const parts: string[] = []
    for (const t of this.d.catalog().userTables) {
      const b = t.bootstrap
      if (b === undefined || b.readyShards.includes(shard)) continue
      const targets = this.d.replicas(shard, t.replication.replication_factor).slice(b.readyFactor)
      if (targets.length === 0) continue
      const p = this.progressRows.get(`${t.name}:${shard}`)
      const here = p === undefined ? '' : ` (${p.keys} keys, ${p.bytes} bytes from node ${this.d.selfId})`
      parts.push(`${t.name}: ${targets.map(id => `${id}:bootstrapping`).join(',')}${here}`)
    }
    return parts.length === 0 ? undefined : parts.join('; ')
  }

  /** One round: fill the first shard this node is the source of; end bootstraps whose shards are all ready. */
  private async tick (): Promise<void> {
    const catalog = this.d.catalog()
    for (const table of finishedTables(catalog, this.d.shards)) {
      // Every node may see it and end it; the statement is idempotent. A failure waits for the next tick.
      try { await this.markReady(table, null) } catch (e) {
        this.d.log.warn({ table, err: describe(e) }, `Leaderless bootstrap of table ${table}: ending it failed (retried): ${messageOf(e)}`)
      }
    }
    const jobs = bootstrapJobs({ catalog, shards: this.d.shards, selfId: this.d.selfId, replicas: this.d.replicas, alive: this.d.alive })
    const job = jobs[0]
    if (job === undefined || this.loop.stopped) return
    await this.runJob(job)
  }

  private async runJob (job: BootstrapJob): Promise<void> {
    const key = `${job.table}:${job.shard}`
    const row = (keys: number, bytes: number): void => { this.progressRows.set(key, { table: job.table, shard: job.shard, targets: job.targets, keys, bytes }) }
    row(0, 0)
    const who = `shard ${pad(job.shard)} of table ${job.table} on node${job.targets.length > 1 ? 's' : ''} ${job.targets.join(', ')}`
    const details = { table: job.table, shard: job.shard, source: job.source, targets: job.targets }
    this.d.log.info(details, `Leaderless bootstrap of ${who} starts (source node ${job.source})`)
    try {
      const done = await this.fillShard({ shard: job.shard, tableIds: [job.tableId], targets: job.targets, onProgress: row })
      await this.markReady(job.table, job.shard)
      this.progressRows.delete(key)
      this.d.log.info({ ...details, keys: done.keys, bytes: done.bytes }, `Leaderless bootstrap of ${who} done: ${done.keys} keys, ${done.bytes} bytes; the new replica${job.targets.length > 1 ? 's count' : ' counts'} toward W and R`)
    } catch (e) {
      this.d.log.warn({ ...details, err: describe(e) }, `Leaderless bootstrap of ${who} interrupted (resumed at the next try): ${isScratchBirdError(e) ? `${e.code}: ${e.message}` : messageOf(e)}`)
    }
  }

  private async markReady (table: string, shard: ShardId | null): Promise<void> {
    await this.d.ddl({ kind: 'alter_table', pos: POS, table, action: { kind: 'replicas_ready', pos: POS, shard } })
  }

  /**
   * Streams the latest versions of `tableIds`' rows on `shard` from this node's replica to every
   * target (see the top). Resolves with the keys and bytes sent in all (this attempt and the ones
   * it resumed); rejects when a target or this node's replica failed — calling again resumes.
   */
  async fillShard (req: FillRequest): Promise<{ keys: number, bytes: number }> {
    const { shard, tableIds, targets } = req
    const key = `${shard}:${[...tableIds].sort((a, b) => a - b).join(',')}:${[...targets].sort((a, b) => a - b).join(',')}`
    const maxBytes = Math.max(1, Math.min(MAX_SNAPSHOT_CHUNK_BYTES, Math.floor(this.d.maxMessageBytes / 2) - CHUNK_ENVELOPE_BYTES))
    let point: ResumePoint = this.resume.get(key) ?? { snapshotId: 0n, after: null, keys: 0, bytes: 0 }
    let restarts = 0
    for (;;) {
      if (this.loop.stopped) throw new ScratchBirdError('SB_SHUTTING_DOWN', 'the node is shutting down')
      let chunk
      try {
        chunk = await this.d.workers.request('REPL_SNAPSHOT_READ', { shard, snapshotId: point.snapshotId, after: point.after, maxKeys: MAX_SNAPSHOT_CHUNK_KEYS, maxBytes })
      } catch (e) {
        if (afterChunkFailure(e, point.snapshotId).action !== 'restart' || ++restarts > MAX_RESTARTS) throw e
        point = { snapshotId: 0n, after: null, keys: 0, bytes: 0 }
        this.remember(key, point)
        continue
      }
      let { keys, bytes } = point
      for (const tableId of tableIds) {
        const pks = chunkKeys(chunk.entries, tableId)
        if (pks.length === 0) continue
        const sent = await this.send(shard, tableId, pks, targets)
        keys += sent.keys
        bytes += sent.bytes
      }
      const last = chunk.entries[chunk.entries.length - 1]
      point = { snapshotId: chunk.snapshotId, after: last === undefined ? point.after : last.key, keys, bytes }
      this.remember(key, point)
      req.onProgress?.(keys, bytes)
      if (chunk.done) {
        this.resume.delete(key)
        return { keys, bytes }
      }
    }
  }

  /** The latest versions of `pks` here, to every target in REPLICA_APPLY batches of at most maxBatchBytes. */
  private async send (shard: ShardId, tableId: number, pks: Tuple[], targets: readonly NodeId[]): Promise<{ keys: number, bytes: number }> {
    const { versions } = await this.d.workers.request('REPLICA_READ', { shard, tableId, pks })
    let batch: ReplicaWrite[] = []
    let batchBytes = 0
    let keys = 0
    let bytes = 0
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      const writes = batch
      batch = []
      batchBytes = 0
      await Promise.all(targets.map(async to => await this.d.apply(to, { shard, writes, commitHlc: nextHlcTs(this.d.hlc) })))
    }
    for (let i = 0; i < pks.length; i++) {
      const v = versions[i]
      if (v === null || v === undefined) continue // gone since the snapshot (swept): nothing to carry
      const size = JSON.stringify(pks[i], (_, x: unknown) => typeof x === 'bigint' ? String(x) : x instanceof Uint8Array ? x.length : x).length +
        (v.row?.length ?? 0) + WRITE_OVERHEAD_BYTES
      if (batchBytes + size > this.d.maxBatchBytes) await flush()
      batch.push({ tableId, pk: pks[i]!, versionId: v.versionId, row: v.row })
      batchBytes += size
      keys++
      bytes += size
    }
    await flush()
    return { keys, bytes }
  }

  private remember (key: string, point: ResumePoint): void {
    this.resume.delete(key)
    this.resume.set(key, point)
    if (this.resume.size > MAX_RESUME_POINTS) this.resume.delete(this.resume.keys().next().value!)
  }
}

function pad (shard: ShardId): string { return String(shard).padStart(3, '0') }
