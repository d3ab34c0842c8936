import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { encodeChunk, chunkMemberName, isRowKey } from '../backup/chunk'
import { BACKUP_FORMAT, BACKUP_KIND, META_MEMBERS, type ShardSnapshotInfo } from '../backup/manifest'
import { ArchiveWriter, type Sink } from '../backup/writer'
import type { Clock } from '../core/clock'
import { describe, messageOf, ScratchBirdError } from '../core/errors'
import { shardIds } from '../core/ids'
import { VERSION } from '../version'
import type { SnapshotChunk } from '../storage/replica-snapshot'
import type { ShardWorkers } from './shard-workers'

// The node's side of scratchbird_backup (issue 17): GET /v1/admin/backup streams a full backup
// of this node as a tar archive (src/backup/). Each of the node's shard stores is read through
// one consistent snapshot (REPL_SNAPSHOT_READ: opened as an exclusive writer job, so it holds
// exactly the shard's state at its last LSN while writes go on), chunk by chunk — one chunk in
// memory at a time, the response's backpressure pacing the reads — then the data-directory files
// (identity, layout, catalog, HLC mark) and the manifest. Every node opens every shard of the
// layout (open-engines.ts), so a node's backup is every shard 0 .. storage.shards − 1 as this node
// holds it. A failure half-way cuts the response: the archive then lacks its manifest and end
// marker, which the backup program and verify both report.

/** Bytes one chunk of a shard's snapshot holds at most (one larger entry still goes alone). */
export const BACKUP_CHUNK_BYTES = 4 * 1024 * 1024
/** Keys one chunk holds at most. */
export const BACKUP_CHUNK_KEYS = 10_000
export const BACKUP_PATH = '/v1/admin/backup'

export interface BackupSourceDeps {
  readonly workers: Pick<ShardWorkers, 'request'>
  readonly shards: number
  readonly dataDir: string
  /** storage.max_message_bytes: a chunk is a worker's reply, bounded by the rings' message limit. */
  readonly maxMessageBytes: number
  readonly nodeId: number
  readonly cluster: string
  readonly clock: Clock
  /** The node's HLC now (a timestamp as a u64). */
  readonly hlcNow: () => bigint
  readonly log: Logger
}

/** Write a full backup of the node to `sink`; returns the manifest's shard list. */
export async function writeFullBackup (d: BackupSourceDeps, sink: Sink): Promise<ShardSnapshotInfo[]> {
  const createdAtMs = d.clock.now()
  const hlc = d.hlcNow()
  const w = new ArchiveWriter(sink, createdAtMs)
  const infos: ShardSnapshotInfo[] = []
  // Half the message limit leaves room for the reply's framing (lengths, identity) of up to BACKUP_CHUNK_KEYS entries.
  const maxBytes = Math.min(BACKUP_CHUNK_BYTES, Math.floor(d.maxMessageBytes / 2))
  for (const shard of shardIds(d.shards)) {
    let snapshotId = 0n
    let after: Uint8Array | null = null
    let seq = 0
    let keys = 0
    let rows = 0
    for (;;) {
      const c: SnapshotChunk = await d.workers.request('REPL_SNAPSHOT_READ', { shard, snapshotId, after, maxKeys: BACKUP_CHUNK_KEYS, maxBytes })
      snapshotId = c.snapshotId
      seq++
      await w.add(chunkMemberName(shard, seq), encodeChunk({ shard, lsn: c.lsn, generation: c.generation, hlcHighWater: c.hlcHighWater, done: c.done, entries: c.entries }))
      keys += c.entries.length
      for (const e of c.entries) if (isRowKey(e.key)) rows++
      if (c.entries.length > 0) after = c.entries[c.entries.length - 1]!.key
      if (c.done) {
        infos.push({ shard, lsn: String(c.lsn), generation: String(c.generation), hlcHighWater: String(c.hlcHighWater), keys, rows, chunks: seq })
        break
      }
    }
  }
  for (const name of META_MEMBERS) {
    let data: Uint8Array
    try { data = readFileSync(join(d.dataDir, name)) } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' && (name === 'catalog.json' || name === 'hlc.hwm')) continue
      throw new ScratchBirdError('SB_STORAGE_CORRUPT', `backup: cannot read ${join(d.dataDir, name)}: ${messageOf(e)}`, { path: join(d.dataDir, name) })
    }
    await w.add(name, data)
  }
  await w.finish({
    kind: BACKUP_KIND,
    format: BACKUP_FORMAT,
    type: 'full',
    version: VERSION,
    cluster: d.cluster,
    nodeId: d.nodeId,
    shardCount: d.shards,
    createdAtMs,
    hlc: String(hlc),
    shards: infos
  })
  return infos
}

/** The HTTP handler: streams the archive, pacing the shard reads by the socket's backpressure. */
export function backupHandler (d: BackupSourceDeps): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-tar', 'cache-control': 'no-store' })
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
      const infos = await writeFullBackup(d, sink)
      res.end()
      d.log.info({ shards: infos.length, rows: infos.reduce((n, s) => n + s.rows, 0) }, `backup: full backup of ${infos.length} shard(s) streamed`)
    } catch (e) {
      d.log.error({ err: describe(e) }, `backup failed: ${messageOf(e)}`)
      res.destroy()
    }
  }
}
