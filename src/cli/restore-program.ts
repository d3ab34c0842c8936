import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import type { BackupChunk } from '../backup/chunk'
import { restoreTargetDecision, type TargetState } from '../backup/restore-rules'
import { scanBackup } from '../backup/scan'
import type { Clock } from '../core/clock'
import { loadConfig } from '../core/config/load'
import { ScratchBirdError, isScratchBirdError, messageOf } from '../core/errors'
import { asShardId } from '../core/ids'
import { lockDataDir } from '../node/data-dir-lock'
import { startToolWorkers } from '../node/restore-workers'
import type { ShardWorkers } from '../node/shard-workers'
import type { ParsedFlags } from './args'
import { backupFileBytes, backupFileFlag } from './backup-programs'
import { restoreIncremental } from './incremental-restore'

// scratchbird_restore --file=FILE [--target=DIR] [--force] (issue 17 item 3; --backup=FILE is the
// seeds' rollback spelling of --file; without --target the data directory is node.data_dir of
// --config, else of the defaults). A restore is built beside the target and swapped in whole:
//   1. the backup is read end to end and checked (scan.ts) — nothing is written from a backup
//      that fails verification;
//   2. the target is judged (restore-rules.ts): refused when it is another cluster's, or not
//      empty and not this node's without --force; refused while a node runs on it (its lock);
//   3. <target>.restoring-<pid> gets the identity, layout, catalog and HLC mark, and every shard
//      is installed through the shard workers — this program starts them as a node does — with
//      the replica-bootstrap install (REPL_SNAPSHOT_INSTALL: the shard's log continues after the
//      snapshot's LSN, its transaction ids are kept behind the node's counter), each chunk as the
//      second read of the file passes it, then the shard's role is set back to a single copy;
//   4. an existing target is renamed to <target>.replaced-<time> (kept, never deleted) and the
//      new directory renamed into its place. A failure before that removes the half-built
//      directory and leaves the target as it was.

function stderr (line: string): void { process.stderr.write(line + '\n') }

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

export async function runRestore (flags: ParsedFlags, clock: Clock): Promise<number> {
  const program = 'scratchbird_restore'
  const file = backupFileFlag(program, flags)
  const config = loadConfig({ file: typeof flags.config === 'string' ? flags.config : undefined })
  const target = resolve(typeof flags.target === 'string' && flags.target !== '' ? flags.target : config.node.data_dir)
  const staging = join(dirname(target), `${basename(target)}.restoring-${process.pid}`)
  let workers: ShardWorkers | null = null
  try {
    stderr(`restore: checking ${file}`)
    const report = await scanBackup(backupFileBytes(file))
    const m = report.manifest
    if (m.type === 'incremental') return await restoreIncremental(file, report, target, flags['replay-commit-log'] === true, config, clock)
    if (flags['replay-commit-log'] === true) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: --replay-commit-log stages an incremental backup; ${file} is a full one`)
    const decision = restoreTargetDecision(target, targetState(target), m, flags.force === true)
    // A node running on the target holds its lock: refused before anything is written.
    if (existsSync(target)) lockDataDir(target).release()
    stderr(`restore: ${file} is a full backup of node ${m.nodeId} (cluster "${m.cluster}"), ${report.rows} row(s) in ${m.shardCount} shard(s); building ${staging}`)

    rmSync(staging, { recursive: true, force: true })
    mkdirSync(staging, { recursive: true })
    for (const [name, data] of report.meta) writeFileSync(join(staging, name), data)
    const started = await startToolWorkers(staging, m.nodeId, m.shardCount, config, clock)
    workers = started.workers
    const w = workers
    const lastKey = new Map<number, Uint8Array | null>()
    const snapshotId = BigInt(m.createdAtMs)
    let rows = 0
    await scanBackup(backupFileBytes(file), {
      onChunk: async (c: BackupChunk) => {
        if (started.fatal() !== null) throw new ScratchBirdError('SB_WORKER_DIED', `restore: shard worker failed: ${String(started.fatal())}`)
        const shard = asShardId(c.shard)
        const after = lastKey.has(c.shard) ? lastKey.get(c.shard)! : null
        const entries = c.entries.map(e => ({ key: e.key, value: e.value }))
        const r = await w.request('REPL_SNAPSHOT_INSTALL', { shard, snapshotId, lsn: c.lsn, generation: c.generation, hlcHighWater: c.hlcHighWater, after, entries, done: c.done })
        lastKey.set(c.shard, r.lastKey)
        if (c.done) {
          // Installed as a bootstrap leaves the role `replica`; the backup was of the node's own copy.
          const st = await w.request('REPL_STATE_GET', { shard })
          await w.request('REPL_STATE_SET', { shard, state: { generation: st.generation, votedFor: st.votedFor, commitLsn: st.commitLsn, role: 'none' } })
          stderr(`restore: shard ${c.shard}: ${r.installedKeys} key(s) at LSN ${c.lsn}`)
        }
      },
      onMember: (_name, _bytes, memberRows) => { rows += memberRows }
    })
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
    stderr(`restore: ${target} restored from ${file}: ${rows} row(s), shard LSNs ${m.shards.map(s => `${s.shard}:${s.lsn}`).join(' ')}` +
      (replaced !== null ? `; its previous contents are in ${replaced}` : ''))
    return 0
  } catch (e) {
    if (workers !== null) await workers.stop().catch(() => {})
    rmSync(staging, { recursive: true, force: true })
    stderr(isScratchBirdError(e) ? `${program}: ${e.message} [${e.code}]` : `${program}: ${messageOf(e)}`)
    return 1
  }
}
