import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { applyBatches, parseUntil, prefixUntil } from '../backup/apply-batches'
import type { LogChunk } from '../backup/log-chunk'
import type { BackupManifest } from '../backup/manifest'
import { scanBackup, type ScanReport } from '../backup/scan'
import { writeFileAtomic } from '../core/atomic-file'
import type { Clock } from '../core/clock'
import type { Config } from '../core/config/load'
import { loadConfig } from '../core/config/load'
import { ScratchBirdError, isScratchBirdError, messageOf } from '../core/errors'
import { asShardId } from '../core/ids'
import { lockDataDir } from '../node/data-dir-lock'
import { startToolWorkers } from '../node/restore-workers'
import type { ShardWorkers } from '../node/shard-workers'
import type { ParsedFlags } from './args'
import { backupFileBytes } from './backup-programs'

// Incremental backups on the restore side (issue 17 item 4), and point-in-time recovery:
//
//   scratchbird_restore --file=INC [--target=DIR]
// applies an incremental backup's commit log to a data directory restored from its chain, in
// place, through the shard workers' replica apply (REPL_APPLY: same xids, versions, commit HLCs
// and LSNs as on the node that wrote them). The chain must be contiguous: every shard of the
// target must be exactly at the LSN before the incremental's first, else it is refused naming the
// shard and both LSNs (an incremental missing in between, or applied twice).
//
//   scratchbird_restore --file=INC --replay-commit-log [--target=DIR]
// checks the same and stages the incremental (a copy under <target>/replay/, listed in
// replay/staged.json) instead of applying it, for
//
//   scratchbird_replay_commit_log --until="2026-01-10 15:30:00" [--target=DIR]
// which applies the staged logs in order up to that commit time (UTC unless an offset is given):
// per shard the longest prefix of its log committed at or before it, so each transaction is whole
// or absent and each shard ends in a state it really had. The catalog becomes that of the first
// staged backup taken at or after the time (it holds every DDL before it). The staged copies are
// removed afterwards: what lay after the time is not applied.

const REPLAY_DIR = 'replay'
const STAGED_INDEX = 'staged.json'

interface Staged { readonly file: string, readonly backupId: string, readonly createdAtMs: number, readonly fromLsns: string[], readonly lsns: string[] }

function stderr (line: string): void { process.stderr.write(line + '\n') }

function refused (message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_BACKUP_REFUSED', message, details)
}

function readStaged (target: string): Staged[] {
  const path = join(target, REPLAY_DIR, STAGED_INDEX)
  if (!existsSync(path)) return []
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as { staged?: Staged[] }
    if (!Array.isArray(v.staged)) throw new Error('no list')
    return v.staged
  } catch (e) {
    throw new ScratchBirdError('SB_STORAGE_CORRUPT', `${path} is damaged (${messageOf(e)}); remove ${join(target, REPLAY_DIR)} and stage the incrementals again`, { path })
  }
}

/** The target must be a data directory of the backup's node and cluster. */
function checkOwnDirectory (target: string, m: BackupManifest): void {
  const id = ((): { nodeId?: unknown, cluster?: unknown } | null => {
    try { return JSON.parse(readFileSync(join(target, 'node.json'), 'utf8')) as { nodeId?: unknown, cluster?: unknown } } catch { return null }
  })()
  if (id === null) throw refused(`${target} is not a data directory: restore the full backup of this chain first`, { target })
  if (id.cluster !== m.cluster) throw refused(`${target} is a data directory of cluster "${String(id.cluster)}"; this backup is of cluster "${m.cluster}": a backup is never restored into another cluster`, { target })
  if (id.nodeId !== m.nodeId) throw refused(`${target} is the data directory of node ${String(id.nodeId)}; this incremental backup is of node ${m.nodeId}`, { target })
  // A shard split restarts each shard's log (the children's at LSN 1): entries of one count never continue a data directory of another.
  const layout = ((): { shards?: unknown } | null => {
    try { return JSON.parse(readFileSync(join(target, 'cluster.json'), 'utf8')) as { shards?: unknown } } catch { return null }
  })()
  if (layout !== null && typeof layout.shards === 'number' && layout.shards !== m.shardCount) {
    throw refused(`${target} has ${layout.shards} shards; incremental backup ${m.backupId} was taken at ${m.shardCount}: an incremental backup or point-in-time replay does not cross a shard split — restore a full backup taken at ${layout.shards} shards`,
      { target, shards: layout.shards, backupShards: m.shardCount })
  }
}

/** Each shard's last LSN in the target. */
async function shardLsns (w: ShardWorkers, shards: number): Promise<bigint[]> {
  const out: bigint[] = []
  for (let s = 0; s < shards; s++) out.push((await w.request('REPL_STATE_GET', { shard: asShardId(s) })).lastLsn)
  return out
}

/** The chain rule: the incremental starts right after where each shard is (or after the last staged one). */
function checkContinues (m: BackupManifest, at: readonly bigint[], where: string): void {
  for (const info of m.shards) {
    const have = at[info.shard]
    const from = BigInt(info.fromLsn!)
    if (have === undefined || have + 1n !== from) {
      throw refused(`incremental backup ${m.backupId} does not continue ${where}: shard ${info.shard} is at LSN ${String(have)}, the backup starts at LSN ${from}` +
        (have !== undefined && have + 1n < from ? ' (an incremental backup in between is missing)' : ' (already applied, or of another chain)'),
      { shard: info.shard, at: String(have), fromLsn: String(from) })
    }
  }
}

async function applyChunk (w: ShardWorkers, c: LogChunk, entries = c.entries): Promise<void> {
  for (const batch of applyBatches(entries)) await w.request('REPL_APPLY', { shard: asShardId(c.shard), entries: batch })
}

/** Copy the data-directory files an incremental carries that change over time (the catalog; the HLC mark). */
function writeMeta (target: string, report: ScanReport): void {
  const catalog = report.meta.get('catalog.json')
  if (catalog !== undefined) writeFileAtomic(join(target, 'catalog.json'), catalog)
  const hwm = report.meta.get('hlc.hwm')
  if (hwm !== undefined) writeFileAtomic(join(target, 'hlc.hwm'), hwm)
}

/** scratchbird_restore of an incremental backup (already checked end to end: `report`). */
export async function restoreIncremental (file: string, report: ScanReport, target: string, stage: boolean, config: Config, clock: Clock): Promise<number> {
  const m = report.manifest
  checkOwnDirectory(target, m)
  const lock = lockDataDir(target)
  let workers: ShardWorkers | null = null
  try {
    const staged = readStaged(target)
    let at: bigint[]
    if (staged.length > 0) {
      if (!stage) throw refused(`${target} has incremental backups staged for scratchbird_replay_commit_log (${join(target, REPLAY_DIR)}): replay them, or remove that directory, first`)
      at = staged.at(-1)!.lsns.map(l => BigInt(l))
    } else {
      const started = await startToolWorkers(target, m.nodeId, m.shardCount, config, clock)
      workers = started.workers
      at = await shardLsns(workers, m.shardCount)
    }
    checkContinues(m, at, staged.length > 0 ? `the last staged backup ${staged.at(-1)!.backupId}` : target)
    if (stage) {
      if (workers !== null) { await workers.stop(); workers = null }
      const dir = join(target, REPLAY_DIR)
      mkdirSync(dir, { recursive: true })
      const name = `${String(staged.length + 1).padStart(6, '0')}.backup`
      copyFileSync(file, join(dir, name))
      const next: Staged[] = [...staged, { file: name, backupId: m.backupId, createdAtMs: m.createdAtMs, fromLsns: m.shards.map(s => s.fromLsn!), lsns: m.shards.map(s => s.lsn) }]
      writeFileAtomic(join(dir, STAGED_INDEX), JSON.stringify({ staged: next }, null, 1) + '\n')
      stderr(`restore: staged incremental backup ${m.backupId} (${report.keys} log entries) in ${join(dir, name)} for scratchbird_replay_commit_log --until=…`)
      return 0
    }
    const w = workers!
    await scanBackup(backupFileBytes(file), { onLogChunk: async (c) => { await applyChunk(w, c) } })
    writeMeta(target, report)
    await w.stop()
    workers = null
    stderr(`restore: applied incremental backup ${m.backupId} to ${target}: ${report.keys} log entries, ${report.rows} row change(s); shard LSNs ${m.shards.map(s => `${s.shard}:${s.lsn}`).join(' ')}`)
    return 0
  } finally {
    if (workers !== null) await workers.stop().catch(() => {})
    lock.release()
  }
}

export async function runReplayCommitLog (flags: ParsedFlags, clock: Clock): Promise<number> {
  const program = 'scratchbird_replay_commit_log'
  if (typeof flags.until !== 'string') throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: --until="YYYY-MM-DD HH:MM:SS" is required`)
  const untilMs = parseUntil(flags.until)
  const config = loadConfig({ file: typeof flags.config === 'string' ? flags.config : undefined })
  const target = resolve(typeof flags.target === 'string' && flags.target !== '' ? flags.target : config.node.data_dir)
  let workers: ShardWorkers | null = null
  let lock: ReturnType<typeof lockDataDir> | null = null
  try {
    const staged = readStaged(target)
    if (staged.length === 0) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: no commit log is staged in ${target}: run scratchbird_restore --file=INCREMENTAL --replay-commit-log first`)
    lock = lockDataDir(target)
    // Check every staged file before the first entry is applied.
    const reports: ScanReport[] = []
    for (const s of staged) reports.push(await scanBackup(backupFileBytes(join(target, REPLAY_DIR, s.file))))
    const m0 = reports[0]!.manifest
    const started = await startToolWorkers(target, m0.nodeId, m0.shardCount, config, clock)
    workers = started.workers
    const w = workers
    checkContinues(m0, await shardLsns(w, m0.shardCount), target)
    const stopped = new Set<number>()
    const applied = new Map<number, { entries: number, lastLsn: bigint | null }>()
    for (const s of staged) {
      await scanBackup(backupFileBytes(join(target, REPLAY_DIR, s.file)), {
        onLogChunk: async (c) => {
          if (stopped.has(c.shard)) return
          const { take, stopped: cut } = prefixUntil(c.entries, untilMs)
          if (take.length > 0) await applyChunk(w, c, take)
          if (cut) stopped.add(c.shard)
          const a = applied.get(c.shard) ?? { entries: 0, lastLsn: null }
          applied.set(c.shard, { entries: a.entries + take.length, lastLsn: take.at(-1)?.lsn ?? a.lastLsn })
        }
      })
    }
    // The catalog of the first backup taken at or after the time holds every DDL before it.
    const catalogFrom = reports.find(r => r.manifest.createdAtMs >= untilMs) ?? reports.at(-1)!
    writeMeta(target, catalogFrom)
    await w.stop()
    workers = null
    rmSync(join(target, REPLAY_DIR), { recursive: true, force: true })
    const total = [...applied.values()].reduce((n, a) => n + a.entries, 0)
    stderr(`replay: ${target} replayed up to ${new Date(untilMs).toISOString()}: ${total} transaction(s) applied from ${staged.length} staged backup(s); ` +
      `shards ${[...applied].filter(([, a]) => a.lastLsn !== null).map(([s, a]) => `${s}:${String(a.lastLsn)}`).join(' ') || '(none)'}`)
    return 0
  } catch (e) {
    stderr(isScratchBirdError(e) ? `${program}: ${e.message} [${e.code}]` : `${program}: ${messageOf(e)}`)
    return 1
  } finally {
    if (workers !== null) await workers.stop().catch(() => {})
    lock?.release()
  }
}
