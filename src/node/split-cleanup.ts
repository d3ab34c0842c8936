import type { Logger } from 'pino'
import type { Catalog, TableInfo } from '../catalog/catalog'
import type { ShardCountSource } from '../cluster/shard-count'
import { DECISION_TABLE_ID } from '../cluster/twopc'
import { describe, messageOf } from '../core/errors'
import { asShardId, type ShardId } from '../core/ids'
import { tableShape } from '../plan/table-types'
import { decodeTuple } from '../storage/keys'
import { shardOfKey, type CleanupPartKind, type CleanupRelation, type CleanupRule } from '../storage/split-cleanup'
import { isIntegerKind, isTextKind, type SqlType } from '../types/sql-types'
import type { ShardRequester } from './shard-router'

// The CLEANUP of a shard split on this node (cluster/shard-split.ts "4. CLEANUP";
// storage/split-cleanup.ts does the deleting). Once the node follows a layout of N shards after a
// split — at start when cluster.json records one, and at each change of the shard count — every
// former parent s < N/2 this node holds deletes the keys whose partition hash mod N is not s, a
// few chunks per request to its worker, one shard after another, in the background. The rule comes
// from the catalog (where each relation's partition columns sit in its key), read at each pass.
// Each node cleans its own copies; nothing is logged or sent. A failed pass (a worker restarting,
// the node stopping) is retried at the next kick: the shard records where it was, and a shard
// already cleaned for N answers done at once, so a kick costs a request per parent.

/** Chunks one SPLIT_CLEANUP request runs (each CLEANUP_CHUNK_KEYS keys looked at) before the next is queued. */
const CHUNKS_PER_REQUEST = 4

/** How a partition column of `type` is hashed (plan/table-types.ts partitionValue, seen from its key element). */
function kindOf (type: SqlType): CleanupPartKind {
  if (isTextKind(type.kind)) return 'text'
  if (isIntegerKind(type.kind)) return 'int'
  if (type.kind === 'uuid') return 'uuid'
  return 'bytes'
}

/**
 * The cleanup rule at `shards` shards: every relation of the catalog that a split copies (not
 * temporary, not leaderless — those refuse a split, so no split left rows of theirs behind) whose
 * partition columns are all in its key, and the 2PC decision records by xid.
 */
export function cleanupRule (catalog: Catalog, shards: number): CleanupRule {
  const relations: CleanupRelation[] = [{ tableId: DECISION_TABLE_ID, parts: [{ pos: 0, kind: 'xid' }] }]
  for (const t of catalog.tables) {
    if (t.temporary !== undefined || t.replication.replication_mode === 'leaderless_quorum') continue
    const placed = keyPlacement(t)
    // A partition column outside the key means a global primary-key index, which refuses a split.
    if (placed !== null) relations.push(placed)
  }
  return { shards, relations: relations.sort((a, b) => a.tableId - b.tableId) }
}

/** Where `t`'s partition columns sit in its key and how each is hashed; null when one is not in the key. */
function keyPlacement (t: TableInfo): CleanupRelation | null {
  const shape = tableShape(t)
  const parts = shape.partition.map(col => ({ pos: shape.pk.indexOf(col), kind: kindOf(shape.types[col]!) }))
  return parts.some(p => p.pos < 0) ? null : { tableId: t.id, parts }
}

/**
 * The shard among `shards` that the row of relation `tableId` with encoded primary key `key`
 * belongs in — as the router places it (plan/table-types.ts shardOfRow), from the key alone; undefined
 * when the catalog does not know the relation or its partition columns are not all in its key.
 * What re-routes a hint stored before a split (cluster/hints/batches.ts deliveryBatches).
 */
export function homeShardOf (catalog: Catalog, shards: number): (tableId: number, key: Uint8Array) => ShardId | undefined {
  const placements = new Map<number, CleanupRelation | null>()
  return (tableId, key) => {
    let placed = placements.get(tableId)
    if (placed === undefined) {
      const t = catalog.tableById(tableId)
      placed = t === undefined ? null : keyPlacement(t)
      placements.set(tableId, placed)
    }
    return placed === null ? undefined : asShardId(shardOfKey(placed, decodeTuple(key), shards))
  }
}

export interface SplitCleanupDeps {
  readonly workers: ShardRequester
  readonly shardCount: ShardCountSource
  readonly catalog: () => Catalog
  readonly log: Logger
  /** Told what each request deleted (the metric). */
  readonly onDeleted?: ((rows: number, backVersions: number) => void) | undefined
}

export class SplitCleanup {
  private running: Promise<void> | null = null
  private again = false
  private stopped = false

  constructor (private readonly d: SplitCleanupDeps) {}

  /**
   * Arms the scan filter of every former parent s < N/2 for the count N now (SPLIT_CLEANUP with 0
   * chunks, storage/split-cleanup.ts armCleanup), deleting nothing. Every request is handed to its
   * worker before this returns its promise (the requests' synchronous part), so called in the
   * listener of the count change, the filters are set before any request routed by N reaches a
   * worker; resolves once each shard recorded the rule (a restart then filters from its open).
   * Failures are logged: the next pass writes the record with its first chunk.
   */
  async arm (): Promise<void> {
    const shards = this.d.shardCount.shards
    if (shards < 2 || shards % 2 !== 0) return
    const rule = cleanupRule(this.d.catalog(), shards)
    const armed = Array.from({ length: shards / 2 }, (_, s) => this.d.workers.request('SPLIT_CLEANUP', { shard: asShardId(s), rule, maxChunks: 0 }).then(
      () => true,
      (e: unknown) => { this.d.log.warn({ shard: s, shards, err: describe(e) }, `Split cleanup: the scan filter of shard ${s} was not recorded (set again by its next pass): ${messageOf(e)}`); return false }))
    await Promise.all(armed)
  }

  /** Run a pass now, or once more after the one running. */
  kick (): Promise<void> {
    if (this.running !== null) { this.again = true; return this.running }
    this.running = (async () => {
      do {
        this.again = false
        await this.pass()
      } while (this.again && !this.stopped)
    })().finally(() => { this.running = null })
    return this.running
  }

  private async pass (): Promise<void> {
    const shards = this.d.shardCount.shards
    if (shards < 2 || shards % 2 !== 0) return
    const rule = cleanupRule(this.d.catalog(), shards)
    for (let s = 0; s < shards / 2 && !this.stopped; s++) {
      const shard = asShardId(s)
      try {
        await this.cleanShard(shard, rule)
      } catch (e) {
        this.d.log.warn({ shard, shards, err: describe(e) }, `Split cleanup of shard ${shard} failed (retried at the next pass): ${messageOf(e)}`)
      }
    }
  }

  private async cleanShard (shard: ShardId, rule: CleanupRule): Promise<void> {
    let rows = 0
    let backVersions = 0
    for (;;) {
      if (this.stopped) return
      const r = await this.d.workers.request('SPLIT_CLEANUP', { shard, rule, maxChunks: CHUNKS_PER_REQUEST })
      rows += r.rows
      backVersions += r.backVersions
      if (r.rows + r.backVersions > 0) this.d.onDeleted?.(r.rows, r.backVersions)
      if (r.done) break
    }
    if (rows + backVersions > 0) {
      this.d.log.info({ shard, shards: rule.shards, rows, backVersions },
        `Split cleanup of shard ${shard}: deleted ${rows} rows and ${backVersions} back versions that moved to other shards of ${rule.shards}`)
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.running?.catch(() => {})
  }
}
