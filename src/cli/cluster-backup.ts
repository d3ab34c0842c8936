import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { cutTimeMs, CLUSTER_BACKUP_FORMAT, CLUSTER_BACKUP_KIND, CLUSTER_MANIFEST_NAME, checkNodeArchives, fullArchiveName, logArchiveName, parseClusterManifest, type ClusterArchive, type ClusterManifest, type ClusterNodeEntry } from '../backup/cluster-manifest'
import { scanBackup, type ScanReport } from '../backup/scan'
import { ScratchBirdError, messageOf } from '../core/errors'
import { VERSION } from '../version'
import type { ParsedFlags } from './args'
import { backupFileBytes, mb, nodeCall, printError, stderr, streamBackup } from './backup-stream'
import { baseUrl } from './client'
import { authHeaders } from './credentials'
import { trustCa } from './tls-client'

// scratchbird_backup --cluster --url=URL[,URL…] --output=DIR (issue 17 item 5): a backup of every
// node's shards cut at ONE cluster-wide HLC T, so that the restored cluster holds every
// transaction with commit HLC ≤ T and none above — a cross-shard (two-phase) transaction whole or
// not at all, on every shard of every node. How:
//   1. every node streams a full backup (its shards' snapshots, each at its own LSN, writes going on);
//   2. the tool reads every node's HLC and takes the highest as T: every commit in any snapshot
//      was stamped by some node before that reading, so at or below T;
//   3. every node is told the cut (POST /v1/admin/backup/cut, backup-source.ts): its HLC moves past
//      T (every later commit lands above it) and it waits until the transactions then in limbo
//      are decided — after that every commit at or below T is in its shards' logs;
//   4. every node streams its commit log since the snapshot (an incremental backup);
//   5. cluster-manifest.json binds the 2 × nodes archives (ids, sizes, SHA-256) and T.
// scratchbird_restore --file=DIR --node=N --target=DIR installs node N's snapshot and applies its
// log cut at T (backup/cluster-cut.ts); cluster-restore.ts.
// Every node of the cluster must be listed (SHOW CLUSTER MEMBERS on the first one says which exist):
// gossip knows the nodes' cluster-RPC addresses, not their client URLs.

/** Is `path` a cluster backup (its directory, or its cluster-manifest.json)? */
export function isClusterBackup (path: string): boolean {
  if (basename(path) === CLUSTER_MANIFEST_NAME) return true
  try { return statSync(path).isDirectory() } catch { return false }
}

/** The directory of a cluster backup named by its directory or its manifest. */
export function clusterBackupDir (path: string): string {
  return basename(path) === CLUSTER_MANIFEST_NAME ? dirname(path) : path
}

async function fileDigest (path: string): Promise<{ bytes: number, sha256: string }> {
  const h = createHash('sha256')
  let bytes = 0
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) { h.update(c as Buffer); bytes += (c as Buffer).length }
  return { bytes, sha256: h.digest('hex') }
}

interface NodeRef { readonly url: string, readonly nodeId: number, readonly cluster: string }

function nodeUrls (flags: ParsedFlags): string[] {
  if (typeof flags.url !== 'string') return [baseUrl(flags)]
  return flags.url.split(',').map(u => u.trim()).filter(u => u !== '').map(u => baseUrl({ ...flags, url: u }))
}

/** The node ids SHOW CLUSTER MEMBERS lists on `url` (every member that has not left). */
async function memberIds (url: string, headers: Record<string, string>): Promise<number[]> {
  const r = await nodeCall(`${url}/v1/sql`, { ...headers, 'content-type': 'application/json' }, 'POST', { sql: 'SHOW CLUSTER MEMBERS' })
  const cols = (r.columns as Array<string | { name: string }> | undefined ?? []).map(c => typeof c === 'string' ? c : c.name)
  const idCol = cols.indexOf('node_id')
  const stateCol = cols.indexOf('state')
  const rows = r.rows as unknown[][] | undefined
  if (idCol < 0 || !Array.isArray(rows)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `SHOW CLUSTER MEMBERS on ${url} did not answer node ids`)
  return rows.filter(row => stateCol < 0 || !/^(left|removed)$/i.test(String(row[stateCol]))).map(row => Number(row[idCol]))
}

export async function runClusterBackup (flags: ParsedFlags): Promise<number> {
  const program = 'scratchbird_backup --cluster'
  const output = flags.output
  if (typeof output !== 'string' || output === '') throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: --output=DIR is required (a new directory: one archive per node and cluster-manifest.json)`)
  if (existsSync(output)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: ${output} exists; give a new directory name (a backup never overwrites one)`, { output })
  if (flags.type !== undefined && flags.type !== 'full') throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: a cluster backup is a full backup (--type=full)`)
  const headers = authHeaders(flags, process.env)
  trustCa(flags)
  const partial = `${output}.partial`
  try {
    const nodes: NodeRef[] = []
    for (const url of nodeUrls(flags)) {
      const c = await nodeCall(`${url}/v1/admin/backup/clock`, headers, 'GET')
      nodes.push({ url, nodeId: Number(c.nodeId), cluster: String(c.cluster) })
    }
    const cluster = nodes[0]!.cluster
    const other = nodes.find(n => n.cluster !== cluster)
    if (other !== undefined) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: ${other.url} is a node of cluster "${other.cluster}", ${nodes[0]!.url} of "${cluster}"`)
    const ids = new Set(nodes.map(n => n.nodeId))
    if (ids.size !== nodes.length) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: a node is listed twice in --url (node ids ${nodes.map(n => n.nodeId).join(', ')})`)
    const missing = (await memberIds(nodes[0]!.url, headers)).filter(id => !ids.has(id))
    if (missing.length > 0) throw new ScratchBirdError('SB_BAD_ARGUMENT', `${program}: node(s) ${missing.join(', ')} of cluster "${cluster}" are not in --url; a cluster backup holds every node (give each node's URL, comma-separated)`, { missing })

    rmSync(partial, { recursive: true, force: true })
    mkdirSync(partial, { recursive: true })
    const fulls = new Map<number, ScanReport>()
    for (const n of nodes) {
      stderr(`backup: node ${n.nodeId}: full backup from ${n.url}`)
      fulls.set(n.nodeId, (await streamBackup(n.url, headers, 'full', join(partial, fullArchiveName(n.nodeId)))).report)
    }
    // T: the highest HLC any node has now; every snapshot above was stamped below it.
    let cut = 0n
    for (const n of nodes) {
      const h = BigInt(String((await nodeCall(`${n.url}/v1/admin/backup/clock`, headers, 'GET')).hlc))
      if (h > cut) cut = h
    }
    stderr(`backup: cut at HLC ${cut} (${new Date(cutTimeMs(cut)).toISOString()}); pushing it into every node`)
    await Promise.all(nodes.map(async n => await nodeCall(`${n.url}/v1/admin/backup/cut`, headers, 'POST', { cutHlc: String(cut) })))
    const entries: ClusterNodeEntry[] = []
    let rows = 0
    let bytes = 0
    for (const n of nodes) {
      stderr(`backup: node ${n.nodeId}: commit log since its snapshot`)
      const log = (await streamBackup(n.url, headers, 'incremental', join(partial, logArchiveName(n.nodeId)))).report
      const full = fulls.get(n.nodeId)!
      const archive = async (file: string, backupId: string): Promise<ClusterArchive> => ({ file, backupId, ...await fileDigest(join(partial, file)) })
      entries.push({ nodeId: n.nodeId, full: await archive(fullArchiveName(n.nodeId), full.manifest.backupId), log: await archive(logArchiveName(n.nodeId), log.manifest.backupId) })
      rows += full.rows
      bytes += full.bytes + log.bytes
    }
    const manifest: ClusterManifest = {
      kind: CLUSTER_BACKUP_KIND,
      format: CLUSTER_BACKUP_FORMAT,
      clusterBackupId: String(cut),
      cutHlc: String(cut),
      cluster,
      version: VERSION,
      createdAtMs: cutTimeMs(cut),
      nodes: entries
    }
    writeFileSync(join(partial, CLUSTER_MANIFEST_NAME), JSON.stringify(manifest, null, 1) + '\n')
    renameSync(partial, output)
    stderr(`backup: wrote ${output}: cluster backup ${manifest.clusterBackupId} of cluster "${cluster}", nodes ${entries.map(e => e.nodeId).join(', ')}, cut at HLC ${cut}; ${rows} row version(s) in the snapshots, ${mb(bytes)}`)
    return 0
  } catch (e) {
    rmSync(partial, { recursive: true, force: true })
    printError(program, e)
    return 1
  }
}

/** A node's part of a cluster backup, every check passed: its archives and their reports. */
export interface ClusterNodeBackup {
  readonly manifest: ClusterManifest
  readonly entry: ClusterNodeEntry
  readonly fullPath: string
  readonly logPath: string
  readonly full: ScanReport
  readonly log: ScanReport
}

export function readClusterManifest (dir: string): ClusterManifest {
  let bytes: Buffer
  try { bytes = readFileSync(join(dir, CLUSTER_MANIFEST_NAME)) } catch (e) {
    throw new ScratchBirdError('SB_BACKUP_INVALID', `${dir} is not a cluster backup: ${CLUSTER_MANIFEST_NAME} cannot be read (${messageOf(e)})`, { dir })
  }
  return parseClusterManifest(bytes)
}

/** Check node `nodeId`'s archives of the cluster backup in `dir`: sizes and SHA-256 as the cluster manifest says, each archive end to end, and that they are the pair it names. */
export async function checkClusterNode (dir: string, cm: ClusterManifest, nodeId: number): Promise<ClusterNodeBackup> {
  const entry = cm.nodes.find(n => n.nodeId === nodeId)
  if (entry === undefined) throw new ScratchBirdError('SB_BACKUP_REFUSED', `cluster backup ${cm.clusterBackupId} holds no backup of node ${nodeId} (nodes ${cm.nodes.map(n => n.nodeId).join(', ')})`, { nodeId })
  for (const a of [entry.full, entry.log]) {
    const path = join(dir, a.file)
    let d
    try { d = await fileDigest(path) } catch (e) { throw new ScratchBirdError('SB_BACKUP_INVALID', `cluster backup ${cm.clusterBackupId}: ${path} cannot be read (${messageOf(e)})`, { path }) }
    if (d.bytes !== a.bytes || d.sha256 !== a.sha256) {
      throw new ScratchBirdError('SB_BACKUP_INVALID', `cluster backup ${cm.clusterBackupId}: ${path} is not the archive its manifest names (${d.bytes} bytes, SHA-256 ${d.sha256.slice(0, 12)}…; expected ${a.bytes} bytes, ${a.sha256.slice(0, 12)}…): damaged, or of another cluster backup`, { path })
    }
  }
  const fullPath = join(dir, entry.full.file)
  const logPath = join(dir, entry.log.file)
  const full = await scanBackup(backupFileBytes(fullPath))
  const log = await scanBackup(backupFileBytes(logPath))
  checkNodeArchives(cm, nodeId, full.manifest, log.manifest)
  return { manifest: cm, entry, fullPath, logPath, full, log }
}

/** scratchbird_verify_backup --file=DIR (or DIR/cluster-manifest.json). */
export async function verifyClusterBackup (path: string): Promise<number> {
  const dir = clusterBackupDir(path)
  try {
    const cm = readClusterManifest(dir)
    const lines = [`${dir}: cluster backup ${cm.clusterBackupId} of cluster "${cm.cluster}", nodes ${cm.nodes.map(n => n.nodeId).join(', ')}, cut at HLC ${cm.cutHlc} (${new Date(cm.createdAtMs).toISOString()}), by ScratchBird ${cm.version} (format ${cm.format})`]
    let rows = 0
    for (const n of cm.nodes) {
      const b = await checkClusterNode(dir, cm, n.nodeId)
      rows += b.full.rows
      lines.push(`  ok: node ${n.nodeId}: ${n.full.file} (full backup ${n.full.backupId}, ${b.full.rows} row(s), ${b.full.checked.length} check(s)) and ${n.log.file} (commit log ${n.log.backupId}, ${b.log.keys} entries) match the cluster manifest and continue each other`)
    }
    lines.push(`${dir}: OK (${cm.nodes.length} node(s), ${rows} row version(s) in the snapshots)`)
    process.stdout.write(lines.join('\n') + '\n')
    return 0
  } catch (e) {
    printError(`scratchbird_verify_backup: ${dir}`, e)
    return 1
  }
}
