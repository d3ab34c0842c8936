import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { encodeChunk, chunkMemberName, isRowKey } from '../backup/chunk'
import { encodeLogChunk, logMemberName } from '../backup/log-chunk'
import { BACKUP_FORMAT, BACKUP_KIND, META_MEMBERS, type BackupType, type ShardSnapshotInfo } from '../backup/manifest'
import { ArchiveWriter, type Sink } from '../backup/writer'
import type { ShardCountSource } from '../cluster/shard-count'
import { writeFileAtomic } from '../core/atomic-file'
import { Hlc } from '../core/hlc'
import { HlcPersistence } from '../core/hlc-persist'
import type { Clock } from '../core/clock'
import { describe, messageOf, ScratchBirdError } from '../core/errors'
import { shardIds, type ShardId } from '../core/ids'
import { readBody } from '../net/body'
import { sendError, sendJson } from '../net/http-server'
import type { RawLogEntry } from '../storage/commit-log'
import type { Xid } from '../storage/types'
import type { SnapshotChunk } from '../storage/replica-snapshot'
import { VERSION } from '../version'
import type { ShardWorkers } from './shard-workers'

// The node's side of scratchbird_backup (issue 17): GET /v1/admin/backup[?type=incremental]
// streams a backup of this node as a tar archive (src/backup/).
//
// Full: each of the node's shard stores is read through one consistent snapshot
// (REPL_SNAPSHOT_READ: opened as an exclusive writer job, so it holds exactly the shard's state at
// its last LSN while writes go on), chunk by chunk — one chunk in memory at a time, the response's
// backpressure pacing the reads. Every node opens every shard of the layout (open-engines.ts), so
// a node's backup is every shard 0 .. storage.shards − 1 as this node holds it.
// Incremental: each shard's commit log from the last backup's LSN + 1 to the LSN it has now
// (REPL_LOG_READ, the entries as a replica receives them: restore applies them the same way), or a
// refusal naming the gap when the log no longer reaches back that far.
// Both end with the data-directory files (identity, layout, catalog, HLC mark) and the manifest.
//
// Which backup was last is the node's to remember: <data_dir>/last-backup.json, written when the
// backup program reports the file written and checked (POST /v1/admin/backup/done) — a backup
// streamed but never completed does not become the base of the next incremental.
// A failure half-way cuts the response: the archive then lacks its manifest and end marker, which
// the backup program and verify both report.

/** Bytes one chunk holds at most (one larger entry still goes alone). */
export const BACKUP_CHUNK_BYTES = 4 * 1024 * 1024
/** Keys (or log entries) one chunk holds at most. */
export const BACKUP_CHUNK_KEYS = 10_000
export const BACKUP_PATH = '/v1/admin/backup'
export const BACKUP_DONE_PATH = '/v1/admin/backup/done'
export const LAST_BACKUP_FILE = 'last-backup.json'
/** GET: the node's HLC now (scratchbird_backup --cluster chooses its cut from every node's). */
export const BACKUP_CLOCK_PATH = '/v1/admin/backup/clock'
/** POST {"cutHlc": "…"}: push the cut into this node and wait for the transactions in limbo then. */
export const BACKUP_CUT_PATH = '/v1/admin/backup/cut'
/** How long a cut waits for the transactions in limbo when it was pushed to be decided. */
export const CUT_LIMBO_WAIT_MS = 10_000
const CUT_POLL_MS = 20
/** Backups streamed and not yet reported done that the node remembers. */
const MAX_PENDING = 8

export interface BackupSourceDeps {
  readonly workers: Pick<ShardWorkers, 'request'>
  /** The node's shard count: a number, or the live count (cluster/shard-count.ts) read at each backup — a split adds shards while the node runs. */
  readonly shards: number | ShardCountSource
  readonly dataDir: string
  /** storage.max_message_bytes: a chunk is a worker's reply, bounded by the rings' message limit. */
  readonly maxMessageBytes: number
  readonly nodeId: number
  readonly cluster: string
  readonly clock: Clock
  /** The node's HLC now (a timestamp as a u64). */
  readonly hlcNow: () => bigint
  /** Move the node's HLC to at least `hlc` (a cluster backup's cut; SB_CLOCK_OFFSET_EXCEEDED when too far ahead). */
  readonly observeHlc?: (hlc: bigint) => void
  readonly log: Logger
}

/** What the node records of a completed backup: the base of the next incremental. */
export interface LastBackup { readonly backupId: string, readonly type: BackupType, readonly lsns: readonly string[] }

function refused (message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_BACKUP_REFUSED', message, details)
}

export function readLastBackup (dataDir: string, shards: number): LastBackup | null {
  let text: string
  try { text = readFileSync(join(dataDir, LAST_BACKUP_FILE), 'utf8') } catch { return null }
  try {
    const v = JSON.parse(text) as LastBackup
    if (typeof v.backupId !== 'string' || !Array.isArray(v.lsns) || v.lsns.length !== shards || !v.lsns.every(l => /^\d+$/.test(l))) return null
    return v
  } catch { return null }
}

/** The shard count the recorded last backup was taken at (its LSN list), or null when none is readable. */
export function readLastBackupShards (dataDir: string): number | null {
  try {
    const v = JSON.parse(readFileSync(join(dataDir, LAST_BACKUP_FILE), 'utf8')) as { lsns?: unknown }
    return Array.isArray(v.lsns) ? v.lsns.length : null
  } catch { return null }
}

export class BackupSource {
  private readonly pending = new Map<string, LastBackup>()

  constructor (private readonly d: BackupSourceDeps) {}

  private get shards (): number { return typeof this.d.shards === 'number' ? this.d.shards : this.d.shards.shards }

  /** Write a backup of the node to `sink`, after every check that can refuse it. */
  async write (type: BackupType, sink: Sink, checked: (base: LastBackup | null) => void): Promise<ShardSnapshotInfo[]> {
    const d = this.d
    const base = type === 'incremental' ? await this.incrementalBase() : null
    checked(base)
    const createdAtMs = d.clock.now()
    const backupId = String(d.hlcNow())
    const w = new ArchiveWriter(sink, createdAtMs)
    const infos = base === null ? await this.snapshots(w) : await this.logs(w, base)
    for (const name of META_MEMBERS) {
      let data: Uint8Array
      try {
        // The HLC mark is the higher of hlc.hwm and its .sync companion (core/hlc-persist.ts).
        if (name === 'hlc.hwm') {
          const mark = new HlcPersistence(join(d.dataDir, name)).read()
          if (mark === undefined) continue
          await w.add(name, Hlc.encodeState(mark))
          continue
        }
        data = readFileSync(join(d.dataDir, name))
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && (name === 'catalog.json' || name === 'hlc.hwm')) continue
        throw new ScratchBirdError('SB_STORAGE_CORRUPT', `backup: cannot read ${join(d.dataDir, name)}: ${messageOf(e)}`, { path: join(d.dataDir, name) })
      }
      await w.add(name, data)
    }
    await w.finish({
      kind: BACKUP_KIND,
      format: BACKUP_FORMAT,
      type,
      backupId,
      parentId: base?.backupId ?? null,
      version: VERSION,
      cluster: d.cluster,
      nodeId: d.nodeId,
      shardCount: this.shards,
      createdAtMs,
      hlc: backupId,
      shards: infos
    })
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value!)
    this.pending.set(backupId, { backupId, type, lsns: infos.map(s => s.lsn) })
    return infos
  }

  /**
   * A cluster backup's cut at HLC `cut` (scratchbird_backup --cluster; backup/cluster-cut.ts):
   * after this answers, every commit of this node's shards with commit HLC ≤ cut is in their logs.
   * The node's HLC is moved past the cut first, so every commit it stamps from then on lands
   * above it; a request already in a shard worker's ring (stamped before) is ahead of this
   * node's LIST_LIMBO in that ring (rings are FIFO), so it is logged before the answer. What is
   * left is a two-phase transaction whose commit HLC was chosen before: it is in limbo on its
   * participants now, so the cut waits until every transaction then in limbo here is decided
   * (at most CUT_LIMBO_WAIT_MS, else SB_BACKUP_REFUSED naming it).
   */
  async cut (cut: bigint): Promise<{ nodeId: number, hlc: string }> {
    const d = this.d
    if (d.observeHlc === undefined) throw new ScratchBirdError('SB_BAD_ARGUMENT', 'this backup source takes no cluster cut (not a running node)')
    d.observeHlc(cut)
    const pending = new Map<number, Set<Xid>>()
    for (const shard of shardIds(this.shards)) {
      const { limbo } = await d.workers.request('LIST_LIMBO', { shard })
      if (limbo.length > 0) pending.set(shard, new Set(limbo.map(l => l.xid)))
    }
    const deadline = d.clock.now() + CUT_LIMBO_WAIT_MS
    while (pending.size > 0) {
      if (d.clock.now() >= deadline) {
        const [shard, xids] = pending.entries().next().value!
        throw refused(`cluster backup cut ${cut}: transaction ${String([...xids][0])} of shard ${shard} is still in limbo after ${CUT_LIMBO_WAIT_MS} ms (its coordinator has not decided it); resolve it and run the backup again`, { shard, xid: String([...xids][0]) })
      }
      await sleep(CUT_POLL_MS)
      for (const [shard, xids] of pending) {
        const { limbo } = await d.workers.request('LIST_LIMBO', { shard: shard as ShardId })
        const still = new Set(limbo.map(l => l.xid))
        for (const x of xids) if (!still.has(x)) xids.delete(x)
        if (xids.size === 0) pending.delete(shard)
      }
    }
    return { nodeId: d.nodeId, hlc: String(d.hlcNow()) }
  }

  /** The backup program wrote and checked backup `backupId`: the next incremental continues it. */
  done (backupId: string): LastBackup {
    const b = this.pending.get(backupId)
    if (b === undefined) throw new ScratchBirdError('SB_NOT_FOUND', `no backup ${backupId} was streamed by this node since it started`, { backupId })
    writeFileAtomic(join(this.d.dataDir, LAST_BACKUP_FILE), JSON.stringify(b) + '\n')
    this.pending.delete(backupId)
    return b
  }

  private async incrementalBase (): Promise<LastBackup> {
    const d = this.d
    const base = readLastBackup(d.dataDir, this.shards)
    const taken = base === null ? readLastBackupShards(d.dataDir) : null
    if (taken !== null && taken !== this.shards) {
      // Each shard's log starts again at a split (the children's at LSN 1): no incremental continues across one.
      throw refused(`the last backup of node ${d.nodeId} was taken at ${taken} shards; the node has ${this.shards} since a shard split: take a full backup (--type=full) first, incremental backups continue from it`,
        { backupShards: taken, shards: this.shards })
    }
    if (base === null) throw refused(`no completed backup of node ${d.nodeId} is recorded in ${join(d.dataDir, LAST_BACKUP_FILE)}: take a full backup first (--type=full)`)
    for (const shard of shardIds(this.shards)) {
      const st = await d.workers.request('REPL_STATE_GET', { shard })
      const from = BigInt(base.lsns[shard]!) + 1n
      if (from > st.lastLsn + 1n) {
        throw refused(`shard ${shard} is at LSN ${st.lastLsn}, below the last backup's ${from - 1n}: this data directory is not the one backed up (restored?); take a full backup`, { shard })
      }
      if (from < st.firstAvailableLsn) {
        throw refused(`the commit log of shard ${shard} starts at LSN ${st.firstAvailableLsn}, but the last backup (${base.backupId}) ended at LSN ${from - 1n}: ` +
          `entries ${from}..${st.firstAvailableLsn - 1n} were truncated; take a full backup`, { shard, fromLsn: String(from), firstAvailableLsn: String(st.firstAvailableLsn) })
      }
    }
    return base
  }

  private async snapshots (w: ArchiveWriter): Promise<ShardSnapshotInfo[]> {
    const d = this.d
    const infos: ShardSnapshotInfo[] = []
    // Half the message limit leaves room for the reply's framing (lengths, identity) of up to BACKUP_CHUNK_KEYS entries.
    const maxBytes = Math.min(BACKUP_CHUNK_BYTES, Math.floor(d.maxMessageBytes / 2))
    for (const shard of shardIds(this.shards)) {
      let seq = 0
      let keys = 0
      let rows = 0
      const read = (snapshotId: bigint, after: Uint8Array | null): Promise<SnapshotChunk> =>
        d.workers.request('REPL_SNAPSHOT_READ', { shard, snapshotId, after, maxKeys: BACKUP_CHUNK_KEYS, maxBytes })
      let after: Uint8Array | null = null
      let c: SnapshotChunk = await read(0n, null)
      for (;;) {
        // Pipelined: the worker reads chunk n+1 while this thread encodes and writes chunk n (the
        // snapshot's reads run in order, so the next starts after this one's last key). At most
        // two chunks are in memory: ≤ 2 × BACKUP_CHUNK_BYTES of entries plus their encoding.
        if (c.entries.length > 0) after = c.entries[c.entries.length - 1]!.key
        const next = c.done ? null : read(c.snapshotId, after)
        // A read failing while this chunk is written is reported by the await below, not as unhandled.
        next?.catch(() => {})
        seq++
        await w.add(chunkMemberName(shard, seq), await encodeChunk({ shard, lsn: c.lsn, generation: c.generation, hlcHighWater: c.hlcHighWater, done: c.done, entries: c.entries }))
        keys += c.entries.length
        for (const e of c.entries) if (isRowKey(e.key)) rows++
        if (next === null) {
          infos.push({ shard, lsn: String(c.lsn), generation: String(c.generation), hlcHighWater: String(c.hlcHighWater), keys, rows, chunks: seq })
          break
        }
        c = await next
      }
    }
    return infos
  }

  private async logs (w: ArchiveWriter, base: LastBackup): Promise<ShardSnapshotInfo[]> {
    const d = this.d
    const infos: ShardSnapshotInfo[] = []
    const maxBytes = Math.min(BACKUP_CHUNK_BYTES, Math.floor(d.maxMessageBytes / 2))
    for (const shard of shardIds(this.shards)) {
      const fromLsn = BigInt(base.lsns[shard]!) + 1n
      // The log as far as it reaches now; later commits go to the next incremental.
      const st = await d.workers.request('REPL_STATE_GET', { shard })
      const toLsn = st.lastLsn
      let next = fromLsn
      let seq = 0
      let rows = 0
      let generation = 0n
      let hlcHigh = 0n
      while (next <= toLsn) {
        const { entries } = await d.workers.request('REPL_LOG_READ', { shard, fromLsn: next, limit: BACKUP_CHUNK_KEYS, maxBytes })
        const take: RawLogEntry[] = entries.filter(e => e.lsn <= toLsn)
        if (take.length === 0 || take[0]!.lsn !== next) {
          throw new ScratchBirdError('SB_COMMIT_LOG_TRUNCATED', `backup: the commit log of shard ${shard} has no entry at LSN ${next}`, { shard, lsn: String(next) })
        }
        seq++
        await w.add(logMemberName(shard, seq), encodeLogChunk(shard, take))
        for (const e of take) {
          rows += e.mutations.length
          generation = e.generation
          if (e.commitHlc > hlcHigh) hlcHigh = e.commitHlc
        }
        next = take[take.length - 1]!.lsn + 1n
      }
      infos.push({ shard, fromLsn: String(fromLsn), lsn: String(next - 1n), generation: String(generation), hlcHighWater: String(hlcHigh), keys: Number(next - fromLsn), rows, chunks: seq })
    }
    return infos
  }
}

/** GET /v1/admin/backup[?type=full|incremental]: streams the archive, paced by the socket's backpressure. */
export function backupHandler (source: BackupSource, log: Logger): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const type = new URL(req.url ?? '/', 'http://x').searchParams.get('type') ?? 'full'
    if (type !== 'full' && type !== 'incremental') { sendError(res, new ScratchBirdError('SB_BAD_ARGUMENT', `type must be full or incremental, got "${type}"`)); return }
    const sink: Sink = async (bytes) => {
      if (res.destroyed) throw new ScratchBirdError('SB_SHUTTING_DOWN', 'backup client went away')
      if (!res.write(bytes)) {
        await new Promise<void>((resolve, reject) => {
          const done = (): void => { res.off('drain', done); res.off('close', gone); resolve() }
          const gone = (): void => { res.off('drain', done); res.off('close', gone); reject(new ScratchBirdError('SB_SHUTTING_DOWN', 'backup client went away')) }
          res.on('drain', done)
          res.on('close', gone)
        })
      }
    }
    try {
      const infos = await source.write(type, sink, () => { res.writeHead(200, { 'content-type': 'application/x-tar', 'cache-control': 'no-store' }) })
      res.end()
      log.info({ type, shards: infos.length, rows: infos.reduce((n, s) => n + s.rows, 0) }, `backup: ${type} backup of ${infos.length} shard(s) streamed`)
    } catch (e) {
      log.error({ err: describe(e) }, `backup failed: ${messageOf(e)}`)
      if (!res.headersSent && e instanceof ScratchBirdError) sendError(res, e)
      else res.destroy()
    }
  }
}

/** GET /v1/admin/backup/clock: this node's identity and HLC now. */
export function backupClockHandler (deps: Pick<BackupSourceDeps, 'nodeId' | 'cluster' | 'hlcNow'>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (_req, res) => { sendJson(res, 200, { nodeId: deps.nodeId, cluster: deps.cluster, hlc: String(deps.hlcNow()) }) }
}

/** POST /v1/admin/backup/cut {"cutHlc": "…"}: BackupSource.cut. */
export function backupCutHandler (source: BackupSource): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const body = await readBody(req, 4096)
    let v: unknown
    try { v = (JSON.parse(body.toString('utf8')) as { cutHlc?: unknown }).cutHlc } catch { v = undefined }
    if (typeof v !== 'string' || !/^\d{1,20}$/.test(v) || BigInt(v) >= 1n << 64n) throw new ScratchBirdError('SB_MALFORMED_REQUEST', 'expected {"cutHlc": "<u64>"}')
    sendJson(res, 200, await source.cut(BigInt(v)))
  }
}

/** POST /v1/admin/backup/done {"backupId": "…"}: the backup program finished the file. */
export function backupDoneHandler (source: BackupSource): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const body = await readBody(req, 4096)
    let id: unknown
    try { id = (JSON.parse(body.toString('utf8')) as { backupId?: unknown }).backupId } catch { id = undefined }
    if (typeof id !== 'string') throw new ScratchBirdError('SB_MALFORMED_REQUEST', 'expected {"backupId": "…"}')
    sendJson(res, 200, source.done(id))
  }
}
