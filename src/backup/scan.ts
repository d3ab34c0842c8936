import { createHash } from 'node:crypto'
import { Catalog } from '../catalog/catalog'
import { ScratchBirdError, messageOf } from '../core/errors'
import { checkChunkEntries, decodeChunk, isRowKey, parseChunkMemberName, type BackupChunk } from './chunk'
import { decodeLogChunk, parseLogMemberName, type LogChunk } from './log-chunk'
import { MANIFEST_NAME, META_MEMBERS, parseManifest, REQUIRED_META, type BackupManifest } from './manifest'
import { readTar } from './tar'

// Reading a backup archive end to end, checking everything it can (scratchbird_verify_backup, and
// the first pass of scratchbird_restore, which installs nothing from a backup that fails it):
//   - the tar framing (header checksums, sizes, the end marker: a truncated file fails);
//   - the SHA-256 and size of every member against the manifest, no member missing or extra;
//   - every snapshot chunk decodes, keys ascending across the chunks of a shard, chunks numbered
//     1..n with only the last marked done, each naming the same snapshot (LSN, generation) as the
//     manifest, key and row counts as the manifest says;
//   - the data-directory files parse (node.json and cluster.json agree with the manifest, the
//     catalog loads).
// Chunks are handed to `onChunk` as they pass (bounded memory: one member at a time), so restore's
// second pass installs them without holding the archive.

export interface ScanReport {
  readonly manifest: BackupManifest
  /** Lines saying what was checked (the verify program prints them). */
  readonly checked: string[]
  readonly members: number
  readonly bytes: number
  readonly rows: number
  readonly keys: number
  /** The data-directory files, as stored (restore writes them). */
  readonly meta: ReadonlyMap<string, Uint8Array>
}

export interface ScanOptions {
  /** Called with each chunk in archive order (after its own checks, before the manifest is read). */
  readonly onChunk?: (chunk: BackupChunk, name: string) => Promise<void>
  /** Called with each commit-log chunk of an incremental backup in archive order (after its own checks). */
  readonly onLogChunk?: (chunk: LogChunk, name: string) => Promise<void>
  /**
   * false: skip decoding every entry of the snapshot chunks (restore's install pass: the archive
   * passed the full check already, and the shard worker installing the chunk checks each entry
   * and the key order itself). Framing, checksums, counts and the manifest are checked always.
   */
  readonly checkEntries?: boolean
  /** Called once per member read, for progress. */
  readonly onMember?: (name: string, bytes: number, rows: number) => void
}

function bad (message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_BACKUP_INVALID', message, details)
}

interface LogSeen { chunks: number, entries: number, rows: number, first: bigint, last: bigint }

interface ShardSeen { chunks: number, keys: number, rows: number, lastKey: Uint8Array | null, done: boolean, lsn: bigint, generation: bigint, hlcHighWater: bigint }

function parseJson (name: string, data: Uint8Array): Record<string, unknown> {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as unknown
    if (v === null || typeof v !== 'object') throw new Error('not an object')
    return v as Record<string, unknown>
  } catch (e) { throw bad(`backup member ${name} is not valid JSON: ${messageOf(e)}`, { member: name }) }
}

export async function scanBackup (source: AsyncIterable<Uint8Array>, opts: ScanOptions = {}): Promise<ScanReport> {
  const seen = new Map<string, { bytes: number, sha256: string }>()
  const shards = new Map<number, ShardSeen>()
  const meta = new Map<string, Uint8Array>()
  const logs = new Map<number, LogSeen>()
  let manifest: BackupManifest | null = null
  let bytes = 0
  let rows = 0
  let keys = 0
  for await (const m of readTar(source)) {
    if (manifest !== null) throw bad(`backup member ${m.name} follows the manifest (the manifest is the last member)`, { member: m.name })
    if (m.name === MANIFEST_NAME) { manifest = parseManifest(m.data); continue }
    if (seen.has(m.name)) throw bad(`backup member ${m.name} appears twice`, { member: m.name })
    seen.set(m.name, { bytes: m.size, sha256: createHash('sha256').update(m.data).digest('hex') })
    bytes += m.size
    let memberRows = 0
    const where = parseChunkMemberName(m.name)
    if (where !== null) {
      const c = await decodeChunk(m.name, m.data)
      if (c.shard !== where.shard) throw bad(`backup member ${m.name} holds a chunk of shard ${c.shard}`, { member: m.name })
      let s = shards.get(c.shard)
      if (s === undefined) {
        if (where.seq !== 1) throw bad(`backup member ${m.name}: shard ${c.shard} starts at chunk ${where.seq}, not 1 (chunks missing)`, { member: m.name })
        s = { chunks: 0, keys: 0, rows: 0, lastKey: null, done: false, lsn: c.lsn, generation: c.generation, hlcHighWater: c.hlcHighWater }
        shards.set(c.shard, s)
      }
      if (s.done) throw bad(`backup member ${m.name}: shard ${c.shard}'s snapshot already ended`, { member: m.name })
      if (where.seq !== s.chunks + 1) throw bad(`backup member ${m.name}: expected chunk ${s.chunks + 1} of shard ${c.shard} (chunks missing or out of order)`, { member: m.name })
      if (c.lsn !== s.lsn || c.generation !== s.generation) throw bad(`backup member ${m.name} belongs to another snapshot of shard ${c.shard}`, { member: m.name })
      if (opts.checkEntries !== false) s.lastKey = checkChunkEntries(m.name, c, s.lastKey)
      s.chunks++
      s.keys += c.entries.length
      for (const e of c.entries) if (isRowKey(e.key)) memberRows++
      s.rows += memberRows
      s.done = c.done
      rows += memberRows
      keys += c.entries.length
      if (opts.onChunk !== undefined) await opts.onChunk(c, m.name)
    } else if (parseLogMemberName(m.name) !== null) {
      const at = parseLogMemberName(m.name)!
      const c = decodeLogChunk(m.name, m.data)
      if (c.shard !== at.shard || c.entries.length === 0) throw bad(`backup member ${m.name} does not hold entries of shard ${at.shard}`, { member: m.name })
      const first = c.entries[0]!.lsn
      let l = logs.get(c.shard)
      if (l === undefined) {
        if (at.seq !== 1) throw bad(`backup member ${m.name}: the log of shard ${c.shard} starts at chunk ${at.seq}, not 1 (chunks missing)`, { member: m.name })
        l = { chunks: 0, entries: 0, rows: 0, first, last: first - 1n }
        logs.set(c.shard, l)
      }
      if (at.seq !== l.chunks + 1) throw bad(`backup member ${m.name}: expected chunk ${l.chunks + 1} of shard ${c.shard}'s log (chunks missing or out of order)`, { member: m.name })
      if (first !== l.last + 1n) throw bad(`backup member ${m.name}: the log of shard ${c.shard} jumps from LSN ${l.last} to ${first} (entries missing)`, { member: m.name })
      l.chunks++
      l.entries += c.entries.length
      l.last = c.entries[c.entries.length - 1]!.lsn
      for (const e of c.entries) memberRows += e.mutations.length
      l.rows += memberRows
      rows += memberRows
      keys += c.entries.length
      if (opts.onLogChunk !== undefined) await opts.onLogChunk(c, m.name)
    } else if ((META_MEMBERS as readonly string[]).includes(m.name)) {
      meta.set(m.name, m.data)
    } else {
      throw bad(`backup member ${m.name} is not one a backup holds`, { member: m.name })
    }
    opts.onMember?.(m.name, m.size, memberRows)
  }
  if (manifest === null) throw bad(`the archive has no ${MANIFEST_NAME} (incomplete backup)`)
  const checked: string[] = []
  // Every member the manifest lists, with its size and checksum; nothing else.
  for (const e of manifest.members) {
    const s = seen.get(e.name)
    if (s === undefined) throw bad(`backup member ${e.name} is missing (the manifest lists it)`, { member: e.name })
    if (s.bytes !== e.bytes) throw bad(`backup member ${e.name} is ${s.bytes} bytes, the manifest says ${e.bytes}`, { member: e.name })
    if (s.sha256 !== e.sha256) throw bad(`backup member ${e.name} fails its SHA-256 checksum (damaged)`, { member: e.name })
  }
  for (const name of seen.keys()) if (!manifest.members.some(e => e.name === name)) throw bad(`backup member ${name} is not in the manifest`, { member: name })
  checked.push(`${manifest.members.length} member(s): size and SHA-256 match the manifest`)
  if (manifest.type === 'full') {
    if (logs.size > 0) throw bad('a full backup holds commit-log members')
    // Every shard's snapshot complete and as the manifest describes it.
    for (const info of manifest.shards) {
      const s = shards.get(info.shard)
      if (s === undefined) throw bad(`the snapshot of shard ${info.shard} is missing`, { shard: info.shard })
      if (!s.done) throw bad(`the snapshot of shard ${info.shard} is incomplete (its last chunk is missing)`, { shard: info.shard })
      if (String(s.lsn) !== info.lsn || String(s.generation) !== info.generation || String(s.hlcHighWater) !== info.hlcHighWater ||
        s.chunks !== info.chunks || s.keys !== info.keys || s.rows !== info.rows) {
        throw bad(`the snapshot of shard ${info.shard} does not match the manifest (LSN, chunks, keys or rows)`, { shard: info.shard })
      }
    }
    for (const shard of shards.keys()) if (shard >= manifest.shardCount) throw bad(`the archive holds shard ${shard}, the manifest only ${manifest.shardCount}`, { shard })
    checked.push(`${manifest.shardCount} shard snapshot(s): every entry decodes, keys in order, chunks complete; ${rows} row(s), ${keys} key(s)`)
    for (const info of manifest.shards) checked.push(`  shard ${info.shard}: LSN ${info.lsn}, ${info.rows} row(s) in ${info.chunks} chunk(s)`)
  } else {
    if (shards.size > 0) throw bad('an incremental backup holds snapshot members')
    for (const info of manifest.shards) {
      const l = logs.get(info.shard)
      const want = { chunks: info.chunks, entries: info.keys, rows: info.rows, first: BigInt(info.fromLsn!), last: BigInt(info.lsn) }
      const have = l ?? { chunks: 0, entries: 0, rows: 0, first: want.first, last: want.first - 1n }
      if (have.chunks !== want.chunks || have.entries !== want.entries || have.rows !== want.rows || have.first !== want.first || have.last !== want.last) {
        throw bad(`the commit log of shard ${info.shard} does not match the manifest (LSNs ${want.first}..${want.last} in ${want.chunks} chunk(s); the archive holds ${have.entries} entries from LSN ${have.first})`, { shard: info.shard })
      }
    }
    for (const shard of logs.keys()) if (shard >= manifest.shardCount) throw bad(`the archive holds shard ${shard}, the manifest only ${manifest.shardCount}`, { shard })
    checked.push(`${manifest.shardCount} shard log(s) since backup ${manifest.parentId ?? ''}: every entry decodes, LSNs contiguous; ${keys} entries, ${rows} row change(s)`)
    for (const info of manifest.shards) checked.push(`  shard ${info.shard}: LSN ${info.fromLsn!}..${info.lsn}, ${info.keys} entries`)
  }
  // The data-directory files.
  for (const name of REQUIRED_META) if (!meta.has(name)) throw bad(`backup member ${name} is missing`, { member: name })
  const identity = parseJson('node.json', meta.get('node.json')!)
  if (identity.nodeId !== manifest.nodeId || identity.cluster !== manifest.cluster) throw bad(`node.json (node ${String(identity.nodeId)}, cluster ${String(identity.cluster)}) disagrees with the manifest`, { member: 'node.json' })
  const layout = parseJson('cluster.json', meta.get('cluster.json')!)
  if (layout.cluster !== manifest.cluster || layout.shards !== manifest.shardCount) throw bad('cluster.json disagrees with the manifest (cluster name or shard count)', { member: 'cluster.json' })
  const catalogBytes = meta.get('catalog.json')
  let tables = 0
  if (catalogBytes !== undefined) {
    const doc = parseJson('catalog.json', catalogBytes)
    try { tables = Catalog.fromJSON(doc.catalog).tables.length } catch (e) { throw bad(`backup member catalog.json does not load: ${messageOf(e)}`, { member: 'catalog.json' }) }
  }
  checked.push(`node identity (node ${manifest.nodeId}, cluster "${manifest.cluster}"), cluster layout and catalog (${tables} table(s)) parse and agree`)
  return { manifest, checked, members: seen.size + 1, bytes, rows, keys, meta }
}
