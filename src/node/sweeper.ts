import cron, { type ScheduledTask } from 'node-cron'
import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog'
import type { Config } from '../core/config/load'
import { DECISION_TABLE_ID } from '../cluster/twopc'
import type { Clock } from '../core/clock'
import { describe, messageOf, ScratchBirdError } from '../core/errors'
import type { Hlc } from '../core/hlc'
import { laggedNow, sweepHorizon } from '../cluster/snapshot-horizon'
import { nextHlcTs } from '../storage/hlc-ts'
import type { CommitLogConsumer } from '../storage/commit-log'
import { shardIds, type ShardId } from '../core/ids'
import { hlcMs, hlcTs, type HlcTs } from '../storage/types'
import type { ShardRequester } from './shard-router'
import { DroppedRelationGate } from './dropped-relation-gate'
import type { ShardCountSource } from '../cluster/shard-count'

// Scheduled sweep (Firebird's sweep, DESIGN §6 "Visibility and garbage collection"): on the
// storage.sweep_schedule cron expression, every shard removes the versions no transaction can
// see any more. The horizon is this node's HLC now, lowered to the start of the oldest snapshot
// transaction open on this node — whether or not it has reached the shard yet — and, in a
// cluster, to the oldest one a live peer gossips (cluster/snapshot-horizon.ts). Each engine
// lowers it further to the snapshots it holds itself.
//
// The same pass purges the deleted rows of the tables the catalog says are MGA-only
// (primary_replica; storage/sweep.ts says why leaderless tombstones stay) and truncates each
// shard's commit log below what its consumers still need (storage/commit-log.ts). The consumer
// list is built here: the storage.commit_log_retention_hours window, the last completed backup
// (the next incremental starts after it) and Mode 1 replication (what each shard's group still
// holds for its replicas — on a primary from the slowest in-sync replica's next entry, bounded by
// replication.log_retention_bytes: a replica behind that is re-bootstrapped by snapshot instead).
//
// It also deletes the storage of relations dropped from the catalog (issue 17), on every replica
// this node holds, once no reader can still see them (dropped-relation-gate.ts says when). Each
// node purges its own replicas — Mode 1 ones too, not through the log: the primary and its
// replicas hold the same rows of a dropped relation and purge all of them, and Mode 1
// anti-entropy compares only the catalog's tables, so replicas purged at different times are never
// flagged as diverged; leaderless rounds ignore the leaves of dropped relations (anti-entropy.ts).
// The same purge releases the leaderless copies of the shards placement took away from this node
// in a join or drain (issue 20; cluster/membership/leaderless-release.ts says when and why).

export interface SweepTotals {
  shards: number
  backVersionsRemoved: number
  deadVersionsRemoved: number
  rowsRemoved: number
  /** Deleted rows removed with their tombstone. */
  tombstonesPurged: number
  /** Commit-log entries truncated. */
  logEntriesTruncated: number
  /** Storage of dropped relations deleted (purge-relations.ts): primary versions, back versions, forest leaves. */
  droppedRows: number
  droppedBackVersions: number
  droppedLeaves: number
  /** Leaderless copies this node no longer replicates, deleted (releasedRelations): primary versions, back versions, forest leaves. */
  releasedRows: number
  releasedBackVersions: number
  releasedLeaves: number
  horizonHlc: HlcTs
  durationMs: number
}

const HOUR_MS = 3_600_000

export interface SweeperDeps {
  /** This node's own shard workers (a sweep is of local replicas, never routed). */
  readonly workers: ShardRequester
  /** Read at each run: a split's new shards are swept from its switch on (cluster/shard-count.ts). */
  readonly shardCount: ShardCountSource
  readonly hlc: Hlc
  /** For the duration figure only. */
  readonly clock: Clock
  readonly log: Logger
  /** Oldest snapshot start the sweep must keep versions for (this node's registry, and the live
   *  peers' announcements in a cluster); undefined: none. Read at the start of every run. */
  readonly oldestSnapshot: () => HlcTs | undefined
  /**
   * How far behind now a snapshot may have started without this node having heard of it yet (0
   * on a single node). In a cluster a peer's new snapshot reaches us with its next gossip, so the
   * horizon never comes closer to now than this: gossip.heartbeat_timeout_ms (a peer silent that
   * long is suspected and keeps holding the horizon with what it said last) plus
   * node.max_clock_offset_ms (its HLC may trail ours).
   */
  readonly announceLagMs: number
  /** Ids of the tables whose deletes below the horizon may be purged (MGA tables). Read at every run. */
  readonly tombstonePurgeTables: () => number[]
  /**
   * The leaderless tables whose tombstones this shard's sweep may purge and the wall-clock ms
   * before which one must have been written (tombstone_gc_grace_days and the repair rounds with
   * every other replica: cluster/anti-entropy/purge-rules.ts); undefined: none may go. Per shard, at every run.
   */
  readonly leaderlessTombstonePurge?: ((shard: ShardId, nowMs: number) => { tables: number[], cutoffMs: number } | undefined) | undefined
  /** storage.commit_log_retention_hours. */
  readonly commitLogRetentionHours: number
  /** Per shard, the first LSN the next incremental backup needs (after the last completed backup:
   *  backup-source.ts), a consumer of the log; read at every run. Undefined: no backup taken. */
  readonly backupNeeds?: (() => ReadonlyMap<ShardId, bigint> | undefined) | undefined
  /** Per replicated shard, the first LSN its Mode 1 group still needs (node/replication/manager.ts
   *  logNeeds); read at every run. Undefined or absent: no group, no need. */
  readonly replicationNeeds?: (() => ReadonlyMap<ShardId, bigint> | undefined) | undefined
  readonly onSwept?: ((t: SweepTotals) => void) | undefined
  /** Relation ids the catalog has dropped (catalog/dropped-relations.ts); read at every run. Absent: none purged. */
  readonly droppedRelations?: (() => number[]) | undefined
  /**
   * Per shard, the leaderless relations whose copies this node no longer replicates after a join
   * or drain ended (ClusterShell.releasableRelations; cluster/membership/leaderless-release.ts
   * says when): deleted like a dropped relation's. Read per shard at every run. Absent: none.
   */
  readonly releasedRelations?: ((shard: ShardId) => number[]) | undefined
}

/** Tables whose committed deletes the sweep may purge: primary_replica tables (one copy, MGA) and
 *  the 2PC decision records (dropped once every participant is decided; nothing reads a dropped
 *  one). Leaderless tables — and any table this node's catalog does not know — keep theirs. */
export function tombstonePurgeTables (catalog: Catalog): number[] {
  return [DECISION_TABLE_ID, ...catalog.tables.filter(t => t.replication.replication_mode === 'primary_replica').map(t => t.id)]
}

/** The consumers of every shard's commit log, as of `now` (one list, so each need is counted once). */
export function commitLogConsumers (now: HlcTs, retentionHours: number): CommitLogConsumer[] {
  const sinceMs = Math.max(0, hlcMs(now) - retentionHours * HOUR_MS)
  return [{ name: 'storage.commit_log_retention_hours', sinceHlc: hlcTs(sinceMs) }]
}

/** SweeperDeps.announceLagMs for this node: 0 alone; in a cluster, a peer's gossip silence before it is suspected plus the clock offset allowed. */
export function announceLagMs (config: Config, clustered: boolean): number {
  return clustered ? config.gossip.heartbeat_timeout_ms + config.node.max_clock_offset_ms : 0
}

export class Sweeper {
  private task: ScheduledTask | null = null
  private running: Promise<SweepTotals> | null = null
  private readonly dropGate = new DroppedRelationGate()
  runs = 0

  constructor (private readonly d: SweeperDeps) {}

  /** Runs runOnce() on the node-cron `schedule`; a schedule node-cron rejects is SB_CONFIG_INVALID. */
  start (schedule: string): void {
    if (!cron.validate(schedule)) {
      throw new ScratchBirdError('SB_CONFIG_INVALID', `storage.sweep_schedule is not a valid cron expression: ${JSON.stringify(schedule)}`, { key: 'storage.sweep_schedule', value: schedule })
    }
    this.task = cron.schedule(schedule, () => { void this.runOnce().catch(() => {}) }, { name: 'sweep', noOverlap: true })
  }

  /** One sweep of every shard, in order (one at a time keeps the workers responsive). */
  runOnce (): Promise<SweepTotals> {
    this.running ??= this.sweepAll().finally(() => { this.running = null })
    return this.running
  }

  private async sweepAll (): Promise<SweepTotals> {
    const { clock, log } = this.d
    const t0 = clock.monotonic()
    const now = nextHlcTs(this.d.hlc)
    const horizonHlc = sweepHorizon(laggedNow(now, this.d.announceLagMs), this.d.oldestSnapshot())
    const purgeTombstonesOf = this.d.tombstonePurgeTables()
    const commitLog = commitLogConsumers(now, this.d.commitLogRetentionHours)
    const backup = this.d.backupNeeds?.()
    const replication = this.d.replicationNeeds?.()
    const purgeRelations = this.dropGate.due(this.d.droppedRelations?.() ?? [], now, horizonHlc)
    const totals: SweepTotals = { shards: 0, backVersionsRemoved: 0, deadVersionsRemoved: 0, rowsRemoved: 0, tombstonesPurged: 0, logEntriesTruncated: 0, droppedRows: 0, droppedBackVersions: 0, droppedLeaves: 0, releasedRows: 0, releasedBackVersions: 0, releasedLeaves: 0, horizonHlc, durationMs: 0 }
    for (const shard of shardIds(this.d.shardCount.shards)) {
      try {
        const purgeLeaderless = this.d.leaderlessTombstonePurge?.(shard, clock.now())
        const fromLsn = backup?.get(shard)
        const replicasFrom = replication?.get(shard)
        const consumers: CommitLogConsumer[] = [...commitLog]
        if (fromLsn !== undefined) consumers.push({ name: 'last backup', fromLsn })
        if (replicasFrom !== undefined) consumers.push({ name: 'replication', fromLsn: replicasFrom })
        const released = new Set(this.d.releasedRelations?.(shard) ?? [])
        const purge = released.size === 0 ? purgeRelations : [...new Set([...purgeRelations, ...released])]
        const r = await this.d.workers.request('SWEEP', { shard, horizonHlc, purgeTombstonesOf, commitLog: consumers, purgeLeaderless, purgeRelations: purge })
        totals.shards++
        totals.backVersionsRemoved += r.backVersionsRemoved
        totals.deadVersionsRemoved += r.deadVersionsRemoved
        totals.rowsRemoved += r.rowsRemoved
        totals.tombstonesPurged += r.tombstonesPurged
        totals.logEntriesTruncated += r.logEntriesTruncated
        for (const p of r.relationsPurged) {
          if (released.has(p.tableId) && !purgeRelations.includes(p.tableId)) {
            totals.releasedRows += p.rows
            totals.releasedBackVersions += p.backVersions
            totals.releasedLeaves += p.leaves
            log.info({ shard, relation: p.tableId, rows: p.rows, backVersions: p.backVersions, leaves: p.leaves },
              `Released leaderless relation ${p.tableId} on shard ${shard} (this node no longer replicates the shard): ${p.rows} rows, ${p.backVersions} back versions, ${p.leaves} Merkle leaves`)
            continue
          }
          totals.droppedRows += p.rows
          totals.droppedBackVersions += p.backVersions
          totals.droppedLeaves += p.leaves
          log.info({ shard, relation: p.tableId, rows: p.rows, backVersions: p.backVersions, leaves: p.leaves },
            `Purged dropped relation ${p.tableId} on shard ${shard}: ${p.rows} rows, ${p.backVersions} back versions, ${p.leaves} Merkle leaves`)
        }
      } catch (e) {
        log.warn({ shard, err: describe(e) }, `Sweep of shard ${shard} failed: ${messageOf(e)}`)
      }
    }
    totals.durationMs = Math.round(clock.monotonic() - t0)
    this.runs++
    this.d.onSwept?.(totals)
    const removed = totals.backVersionsRemoved + totals.deadVersionsRemoved + totals.tombstonesPurged + totals.logEntriesTruncated + totals.droppedRows + totals.droppedBackVersions + totals.droppedLeaves +
      totals.releasedRows + totals.releasedBackVersions + totals.releasedLeaves
    log[removed > 0 ? 'info' : 'debug']({ ...totals, horizonHlc: String(horizonHlc) },
      `Sweep: removed ${totals.backVersionsRemoved} back versions, ${totals.deadVersionsRemoved} dead versions and ${totals.tombstonesPurged} deleted rows, truncated ${totals.logEntriesTruncated} commit-log entries in ${totals.shards} shards (${totals.durationMs} ms)`)
    return totals
  }

  async stop (): Promise<void> {
    await this.task?.stop()
    this.task = null
    await this.running?.catch(() => {})
  }
}
