import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { BackupChunk } from '../backup/chunk'
import { restoreTargetDecision, type TargetState } from '../backup/restore-rules'
import { scanBackup, type ScanReport } from '../backup/scan'
import type { Clock } from '../core/clock'
import type { Config } from '../core/config/load'
import { ScratchBirdError } from '../core/errors'
import { asShardId } from '../core/ids'
import { lockDataDir } from '../node/data-dir-lock'
import { startToolWorkers } from '../node/restore-workers'
import type { ShardWorkers } from '../node/shard-workers'
import { backupFileBytes, stderr } from './backup-stream'

// Installing a checked full backup as a data directory (scratchbird_restore, of one node's backup
// or of a node's part of a cluster backup): steps 2-4 of restore-program.ts.

function targetState (dir: string): TargetState {
  if (!existsSync(dir)) return { entries: 0, identity: null }
  const entries = readdirSync(dir).length
  let identity: TargetState['identity'] = null
  try {
    const v = JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')) as { nodeId?: unknown, cluster?: unknown }
    if (v !== null && typeof v === 'object') identity = { nodeId: v.nodeId, cluster: v.cluster }
  } catch { /* no identity: not a data directory (or a damaged one) */ }
  return { entries, identity }
}

function stamp (ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\..*$/, 'Z')
}

export interface FullRestore {
  readonly file: string
  /** The file's first pass (already checked end to end). */
  readonly report: ScanReport
  readonly target: string
  readonly force: boolean
  readonly config: Config
  readonly clock: Clock
  /** Runs on the staged directory's workers once every shard is installed (a cluster backup's log). */
  readonly after?: (workers: ShardWorkers) => Promise<void>
  /** Data-directory files written over the full backup's (a cluster backup's later catalog), and files added. */
  readonly files?: ReadonlyMap<string, Uint8Array>
}

/** Steps 2-4 above for a checked full backup: the staged directory built, then swapped in. */
export async function installFullBackup (o: FullRestore): Promise<{ rows: number, replaced: string | null }> {
  const { file, report, target, config, clock } = o
  const m = report.manifest
  const staging = join(dirname(target), `${basename(target)}.restoring-${process.pid}`)
  let workers: ShardWorkers | null = null
  try {
    const decision = restoreTargetDecision(target, targetState(target), m, o.force)
    // A node running on the target holds its lock: refused before anything is written.
    if (existsSync(target)) lockDataDir(target).release()
    stderr(`restore: ${file} is a full backup of node ${m.nodeId} (cluster "${m.cluster}"), ${report.rows} row(s) in ${m.shardCount} shard(s); building ${staging}`)

    rmSync(staging, { recursive: true, force: true })
    mkdirSync(staging, { recursive: true })
    for (const [name, data] of report.meta) writeFileSync(join(staging, name), data)
    for (const [name, data] of o.files ?? []) writeFileSync(join(staging, name), data)
    const started = await startToolWorkers(staging, m.nodeId, m.shardCount, config, clock)
    workers = started.workers
    const w = workers
    const lastKey = new Map<number, Uint8Array | null>()
    const snapshotId = BigInt(m.createdAtMs)
    let rows = 0
    const install = async (c: BackupChunk, after: Uint8Array | null): Promise<void> => {
      const shard = asShardId(c.shard)
      const r = await w.request('REPL_SNAPSHOT_INSTALL', { shard, snapshotId, lsn: c.lsn, generation: c.generation, hlcHighWater: c.hlcHighWater, after, entries: c.entries, done: c.done })
      if (c.done) {
        // Installed as a bootstrap leaves the role `replica`; the backup was of the node's own copy.
        const st = await w.request('REPL_STATE_GET', { shard })
        await w.request('REPL_STATE_SET', { shard, state: { generation: st.generation, votedFor: st.votedFor, commitLsn: st.commitLsn, role: 'none', config: null } })
        stderr(`restore: shard ${c.shard}: ${r.installedKeys} key(s) at LSN ${c.lsn}`)
      }
    }
    // Pipelined: this thread reads and decodes chunk n+1 while a shard worker installs chunk n
    // (at most one install in flight, so ≤ 2 chunks in memory besides the tar reader's buffer).
    // Chunk n+1 follows n's last key, known here; the worker refuses it otherwise.
    let inFlight: Promise<void> = Promise.resolve()
    try {
      // This pass only installs: the first pass checked every entry, and the worker checks each
      // again as it installs; checksums are recomputed (the file must not have changed since),
      // and a mismatch fails this scan before the staged directory is swapped in.
      await scanBackup(backupFileBytes(file), {
        checkEntries: false,
        onChunk: async (c: BackupChunk) => {
          await inFlight
          if (started.fatal() !== null) throw new ScratchBirdError('SB_WORKER_DIED', `restore: shard worker failed: ${String(started.fatal())}`)
          const after = lastKey.get(c.shard) ?? null
          if (c.entries.length > 0) lastKey.set(c.shard, c.entries[c.entries.length - 1]!.key)
          inFlight = install(c, after)
          // Awaited before the next chunk or after the scan; never an unhandled rejection meanwhile.
          inFlight.catch(() => {})
        },
        onMember: (_name, _bytes, memberRows) => { rows += memberRows }
      })
    } finally {
      await inFlight.catch(() => {})
    }
    await inFlight
    if (o.after !== undefined) await o.after(w)
    if (started.fatal() !== null) throw new ScratchBirdError('SB_WORKER_DIED', `restore: shard worker failed: ${String(started.fatal())}`)
    await workers.stop()
    workers = null
    let replaced: string | null = null
    if (decision === 'replace') {
      replaced = `${target}.replaced-${stamp(clock.now())}`
      renameSync(target, replaced)
    } else if (existsSync(target)) {
      rmdirSync(target)
    }
    renameSync(staging, target)
    return { rows, replaced }
  } catch (e) {
    if (workers !== null) await workers.stop().catch(() => {})
    rmSync(staging, { recursive: true, force: true })
    throw e
  }
}
