import { isScratchBirdError, messageOf, ScratchBirdError } from '../../core/errors'
import type { NodeId, ShardId } from '../../core/ids'
import type { SnapshotChunkReply, SnapshotChunkRequest } from '../../net/rpc/payloads'
import type { ShardRequester } from '../shard-router'
import { MAX_SNAPSHOT_CHUNK_BYTES, MAX_SNAPSHOT_CHUNK_KEYS } from '../../storage/replica-snapshot'
import { paceAfterChunk } from '../../cluster/membership/rebalance-throttle'

// Mode 1 replica bootstrap, the primary's side (issue 14 item 4, DESIGN §6): when a shard's
// machine asks for a snapshot to be sent (Ready.snapshots: the replica needs entries the primary
// no longer keeps, or holds a history the primary's does not continue), stream a consistent
// snapshot of the shard to it — REPL_SNAPSHOT_READ here in chunks bounded by
// storage.max_message_bytes (each chunk is a ring message on both sides and one RPC body), each
// sent as one REPL_SNAPSHOT_CHUNK (RPC 0x41) that the replica installs (REPL_SNAPSHOT_INSTALL)
// before it answers. One chunk in flight per stream, at most MAX_STREAMS streams per node.
//
// Resumable: where a stream stopped (snapshot id and the last key the replica confirmed) is kept
// per (shard, replica), so the machine's next offer continues it instead of starting over. The
// replica's own record decides when in doubt: a chunk refused with SB_REPL_SNAPSHOT_MISMATCH for
// OUR snapshot names the key it installed last (a reply lost on the way) and the stream resumes
// there; for another snapshot, or when the source snapshot is gone (SB_REPL_SNAPSHOT_GONE: this
// node restarted or it expired), a new snapshot starts from its first chunk, which restarts the
// install (chunks of two snapshots are never mixed: replica-snapshot.ts).
//
// Rebalance throttling (issue 20 item 3): at most cluster.rebalance_max_concurrent_shards streams
// at once, and every chunk's bytes are taken from one token bucket for the node
// (cluster.rebalance_rate_bytes_per_s; cluster/membership/rebalance-throttle.ts) before it is sent;
// after each chunk a stream waits in proportion to how long the chunk kept it busy, so it is busy
// at most cluster.rebalance_max_busy_share of the time (paceAfterChunk: a move slows by itself
// while client statements keep the shard workers at either end busy).
// Progress (item 4): each running stream's rows and bytes sent so far, for SHOW SHARD MAP
// (cluster/membership/move-progress.ts gives the rate and the ETA).

/** Streams running at once on this node by default (each holds a LevelDB snapshot open on the source). */
export const MAX_STREAMS = 2
/** Finished streams whose sizes the ETA of a running one is estimated from. */
const SIZE_SAMPLES = 8
/** Resume points kept for interrupted streams (the oldest is forgotten first). */
const MAX_RESUME_POINTS = 256
/** Restarts of one stream with a new snapshot before it gives up (the machine offers again). */
const MAX_RESTARTS = 3
/** After a stream fails, the next offer for that replica waits this long, doubling up to MAX_BACKOFF_MS
 *  (a replica that is down would otherwise cost a new source snapshot at every heartbeat). */
const FIRST_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 8_000
/** What one chunk leaves of an RPC body / ring message for its envelope. */
const CHUNK_ENVELOPE_BYTES = 4096
/**
 * Keys and bytes one chunk holds at most (besides half storage.max_message_bytes). Each chunk is
 * one request on a shard worker at both ends — the read on this node, the install (one batch,
 * fsynced under node.durability sync) on the replica — and a worker serves nothing else
 * meanwhile: here the client writes of every shard it holds, there the appends of the shards the
 * new replica already acknowledges. A whole shard in one chunk (up to 10,000 keys, half a MiB by
 * default) held both for tens of milliseconds on a loaded machine, and every write in flight
 * behind it (issue 20 item 3: bench rebalance). Smaller chunks interleave with that work at the
 * price of a round trip and an install batch each; they also let cluster.rebalance_rate_bytes_per_s
 * pace within a shard, not only between shards.
 */
export const STREAM_CHUNK_KEYS = 512
export const STREAM_CHUNK_BYTES = 64 * 1024

export type StreamLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string, details?: Record<string, unknown>) => void

export interface SnapshotStreamDeps {
  readonly self: NodeId
  readonly workers: ShardRequester
  /** storage.max_message_bytes. */
  readonly maxMessageBytes: number
  /** Sends one chunk to `to` (REPL_SNAPSHOT_CHUNK) and resolves with where its install stands. */
  readonly sendChunk: (to: NodeId, chunk: SnapshotChunkRequest) => Promise<SnapshotChunkReply>
  readonly log: StreamLog
  /** Monotonic milliseconds (the retry backoff, progress). */
  readonly now: () => number
  /** cluster.rebalance_max_concurrent_shards (default MAX_STREAMS). */
  readonly maxStreams?: number
  /** cluster.rebalance_rate_bytes_per_s: how long to wait before sending a chunk of `bytes` (default: never). */
  readonly throttle?: { take: (bytes: number) => number }
  /** Waits `ms` (the throttle's verdict). */
  readonly sleep?: (ms: number) => Promise<void>
  /** cluster.rebalance_max_busy_share: each stream waits after a chunk so it is busy at most this share of the time (default 1: no wait). */
  readonly busyShare?: number
  /** The voters this node's group of `shard` had in effect at `lsn`; null: not known (its log does not reach back there). */
  readonly votersAt?: (shard: ShardId, lsn: bigint) => NodeId[] | null
  /** Tables whose rows a snapshot leaves out (the catalog's leaderless ones: storage/kept-tables.ts). */
  readonly skipTables?: () => readonly number[]
}

/** A stream running now: what it sent so far (this attempt). */
export interface StreamProgress {
  readonly shard: ShardId
  readonly to: NodeId
  readonly rows: number
  readonly bytes: number
  /** Monotonic ms when this attempt started. */
  readonly startedAt: number
}

/** The snapshot a finished stream installed on the replica. */
export interface StreamedSnapshot { readonly lsn: bigint, readonly generation: bigint, readonly bytes: number, readonly keys: number }

interface ResumePoint { snapshotId: bigint, after: Uint8Array | null }

/** What to do after a chunk failed (pure: the decision apart from its I/O). */
export type ChunkFailure =
  | { action: 'resume', after: Uint8Array | null }
  | { action: 'restart' }
  | { action: 'give-up' }

export function afterChunkFailure (e: unknown, snapshotId: bigint): ChunkFailure {
  if (isScratchBirdError(e, 'SB_REPL_SNAPSHOT_GONE')) return { action: 'restart' }
  if (isScratchBirdError(e, 'SB_REPL_SNAPSHOT_MISMATCH')) {
    const d = e.details as { expected_snapshot_id?: unknown, expected_after?: unknown }
    if (d.expected_snapshot_id === String(snapshotId) && typeof d.expected_after === 'string' && /^([0-9a-f]{2})+$/.test(d.expected_after)) {
      return { action: 'resume', after: Uint8Array.from(Buffer.from(d.expected_after, 'hex')) }
    }
    return { action: 'restart' }
  }
  return { action: 'give-up' }
}

export class SnapshotStreams {
  private readonly running = new Set<string>()
  private readonly resume = new Map<string, ResumePoint>()
  /** Per (shard, replica) whose last stream failed: not before when, and the current backoff. */
  private readonly backoff = new Map<string, { until: number, ms: number }>()
  private readonly progressNow = new Map<string, { shard: ShardId, to: NodeId, rows: number, bytes: number, startedAt: number }>()
  /** Bytes of the last streams that finished (newest last): the ETA's size estimate. */
  private readonly finishedBytes: number[] = []

  constructor (private readonly d: SnapshotStreamDeps) {}

  get active (): number { return this.running.size }

  /** The streams of `shard` running now, with what each sent so far. */
  progress (shard: ShardId): StreamProgress[] {
    return [...this.progressNow.values()].filter(p => p.shard === shard).map(p => ({ ...p }))
  }

  /**
   * What a shard's snapshot is expected to weigh, from the last streams that finished here (hash
   * partitioning spreads rows evenly over shards); null before one finished.
   */
  expectedBytes (): number | null {
    if (this.finishedBytes.length === 0) return null
    return Math.round(this.finishedBytes.reduce((a, b) => a + b, 0) / this.finishedBytes.length)
  }

  /**
   * Streams a snapshot of `shard` to `to` as the primary of `generation`. Resolves with what was
   * installed, or null when it did not run to the end (busy, refused, the replica unreachable):
   * the caller reports that to the machine, which offers again.
   */
  /** `paced`: whether cluster.rebalance_max_busy_share applies (rebalance-throttle.ts pacedBootstrap: not to a recovery). */
  async stream (shard: ShardId, to: NodeId, generation: number, paced = true): Promise<StreamedSnapshot | null> {
    const key = `${shard}:${to}`
    if (this.running.has(key) || this.running.size >= (this.d.maxStreams ?? MAX_STREAMS)) return null
    const wait = this.backoff.get(key)
    if (wait !== undefined && this.d.now() < wait.until) return null
    this.running.add(key)
    this.progressNow.set(key, { shard, to, rows: 0, bytes: 0, startedAt: this.d.now() })
    try {
      const done = await this.run(shard, to, generation, key, paced ? this.d.busyShare ?? 1 : 1)
      this.backoff.delete(key)
      this.finishedBytes.push(done.bytes)
      if (this.finishedBytes.length > SIZE_SAMPLES) this.finishedBytes.shift()
      return done
    } catch (e) {
      const ms = wait === undefined ? FIRST_BACKOFF_MS : Math.min(MAX_BACKOFF_MS, wait.ms * 2)
      this.backoff.delete(key)
      this.backoff.set(key, { until: this.d.now() + ms, ms })
      if (this.backoff.size > MAX_RESUME_POINTS) this.backoff.delete(this.backoff.keys().next().value!)
      this.d.log('warn', `Replication: bootstrap of shard ${pad(shard)} on node ${to} interrupted (resumed at the next offer): ${isScratchBirdError(e) ? `${e.code}: ${e.message}` : messageOf(e)}`, { shard, replica: to })
      return null
    } finally {
      this.running.delete(key)
      this.progressNow.delete(key)
    }
  }

  private async run (shard: ShardId, to: NodeId, generation: number, key: string, busyShare: number): Promise<StreamedSnapshot> {
    const maxBytes = Math.max(1, Math.min(STREAM_CHUNK_BYTES, MAX_SNAPSHOT_CHUNK_BYTES, Math.floor(this.d.maxMessageBytes / 2) - CHUNK_ENVELOPE_BYTES))
    // Resumed only once the replica confirmed a chunk of it: a snapshot it never started would only
    // be older than a new one.
    const kept = this.resume.get(key)
    let point: ResumePoint = kept !== undefined && kept.after !== null ? kept : { snapshotId: 0n, after: null }
    let restarts = 0
    let bytes = 0
    let keys = 0
    const restart = (): void => {
      if (++restarts > MAX_RESTARTS) throw new ScratchBirdError('SB_REPL_SNAPSHOT_GONE', `shard ${shard}: ${MAX_RESTARTS} snapshots in a row were lost before node ${to} installed one`, { shard })
      point = { snapshotId: 0n, after: null }
    }
    for (;;) {
      const cycleFrom = this.d.now()
      let chunk
      try {
        chunk = await this.d.workers.request('REPL_SNAPSHOT_READ', { shard, snapshotId: point.snapshotId, after: point.after, maxKeys: Math.min(STREAM_CHUNK_KEYS, MAX_SNAPSHOT_CHUNK_KEYS), maxBytes, skipTables: this.d.skipTables?.() ?? null })
      } catch (e) {
        if (afterChunkFailure(e, point.snapshotId).action !== 'restart') throw e
        restart()
        continue
      }
      point = { snapshotId: chunk.snapshotId, after: point.after }
      this.remember(key, point)
      let chunkBytes = 0
      for (const e of chunk.entries) chunkBytes += e.key.length + e.value.length
      const wait = this.d.throttle?.take(chunkBytes) ?? 0
      const waited = wait > 0 && this.d.sleep !== undefined ? wait : 0
      if (waited > 0) await this.d.sleep!(waited)
      let reply: SnapshotChunkReply
      try {
        reply = await this.d.sendChunk(to, {
          shard,
          generation,
          from: this.d.self,
          snapshotId: chunk.snapshotId,
          lsn: chunk.lsn,
          snapshotGeneration: chunk.generation,
          hlcHighWater: chunk.hlcHighWater,
          after: point.after,
          done: chunk.done,
          entries: chunk.entries,
          // The last chunk names the group's voters at the snapshot's LSN: the replica records them
          // as its config (storage/repl-state.ts), its log holding no entry that says them.
          ...(chunk.done ? { voters: this.d.votersAt?.(shard, chunk.lsn) ?? null } : {}),
          // And the shard's split fence and cleanup state at the snapshot, which describe its rows
          // (storage/snapshot-split.ts); sent only when there is any, as a previous release refuses it.
          ...(chunk.done && chunk.split !== null ? { split: chunk.split } : {})
        })
      } catch (e) {
        const next = afterChunkFailure(e, point.snapshotId)
        if (next.action === 'give-up') throw e
        if (next.action === 'restart') restart()
        else point = { snapshotId: point.snapshotId, after: next.after }
        this.remember(key, point)
        continue
      }
      bytes += chunkBytes
      const p = this.progressNow.get(key)
      if (p !== undefined) { p.bytes = bytes; p.rows += chunk.entries.length }
      if (point.after === null) {
        this.d.log('info', `Replication: bootstrap of shard ${pad(shard)} on node ${to} starts: snapshot at LSN ${chunk.lsn}`, { shard, replica: to, lsn: String(chunk.lsn) })
      }
      keys = reply.installedKeys
      point = { snapshotId: chunk.snapshotId, after: reply.lastKey }
      this.remember(key, point)
      if (reply.complete) {
        this.resume.delete(key)
        this.d.log('info', `Replication: bootstrap of shard ${pad(shard)} on node ${to} done: ${keys} keys, ${bytes} bytes sent this attempt, log continues after LSN ${chunk.lsn}`, { shard, replica: to, lsn: String(chunk.lsn), keys, bytes })
        return { lsn: chunk.lsn, generation: chunk.generation, bytes, keys }
      }
      if (!chunk.done) {
        // Paced (rebalance-throttle.ts paceAfterChunk): busy from the read to the reply, less the rate's wait.
        const pace = paceAfterChunk(this.d.now() - cycleFrom - waited, busyShare)
        if (pace > 0 && this.d.sleep !== undefined) await this.d.sleep(pace)
        continue
      }
      // The source had no more keys yet the replica did not complete: a mismatch it did not report.
      throw new ScratchBirdError('SB_REPL_SNAPSHOT_MISMATCH', `shard ${shard}: node ${to} did not complete the install after the last chunk`, { shard })
    }
  }

  private remember (key: string, point: ResumePoint): void {
    this.resume.delete(key)
    this.resume.set(key, point)
    if (this.resume.size > MAX_RESUME_POINTS) this.resume.delete(this.resume.keys().next().value!)
  }
}

function pad (shard: ShardId): string { return String(shard).padStart(3, '0') }
