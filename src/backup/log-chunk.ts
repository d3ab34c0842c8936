import { ScratchBirdError, messageOf } from '../core/errors'
import { decodeCommitValueRaw, encodeCommitGroup, encodeControlEntry, encodeTwoPhaseEntry, type RawLogEntry } from '../storage/commit-log'
import { readU64, writeU64 } from '../storage/keys'

// A piece of a shard's commit log as an incremental backup member `log/<shard>/<seq>.log` (seq
// from 1, six digits): entries in LSN order, each run of one generation stored exactly as the
// shard stores a write pass (commit-log.ts encodeCommitGroup) and read back through its decoder
// (decodeCommitValueRaw), so a backup speaks the log's own format and its checks.
//
//   logchunk := magic "SBLG" · format=1 u8 · shard u32 · values u32 · (firstLsn u64 · len u32 · value)^values

export const LOG_MAGIC = Buffer.from('SBLG')
export const LOG_CHUNK_FORMAT = 1
const HEADER = 4 + 1 + 4 + 4

export function logMemberName (shard: number, seq: number): string {
  return `log/${shard}/${String(seq).padStart(6, '0')}.log`
}

export function parseLogMemberName (name: string): { shard: number, seq: number } | null {
  const m = /^log\/(\d{1,10})\/(\d{6})\.log$/.exec(name)
  return m === null ? null : { shard: Number(m[1]), seq: Number(m[2]) }
}

/** Encode consecutive entries of one shard (runs of equal generation become one stored value each). */
export function encodeLogChunk (shard: number, entries: readonly RawLogEntry[]): Uint8Array {
  const values: Array<[bigint, Uint8Array]> = []
  let i = 0
  // Control and two-phase entries are stored one per value, as in the shard's own log (commit-log.ts).
  const plain = (e: RawLogEntry): boolean => e.control === undefined && e.phase === undefined
  while (i < entries.length) {
    const head = entries[i]!
    if (head.control !== undefined) { values.push([head.lsn, encodeControlEntry(head.generation, head.control)]); i++; continue }
    if (head.phase !== undefined) { values.push([head.lsn, encodeTwoPhaseEntry(head.generation, head.phase, head.xid, head.commitHlc, head.mutations)]); i++; continue }
    let j = i + 1
    while (j < entries.length && plain(entries[j]!) && entries[j]!.generation === head.generation) j++
    const run = entries.slice(i, j)
    values.push([run[0]!.lsn, encodeCommitGroup(run.map(e => ({ xid: e.xid, commitHlc: e.commitHlc, mutations: e.mutations })), undefined, run[0]!.generation)])
    i = j
  }
  let size = HEADER
  for (const [, v] of values) size += 12 + v.length
  const out = new Uint8Array(size)
  const dv = new DataView(out.buffer)
  out.set(LOG_MAGIC, 0)
  out[4] = LOG_CHUNK_FORMAT
  dv.setUint32(5, shard)
  dv.setUint32(9, values.length)
  let pos = HEADER
  for (const [lsn, v] of values) {
    writeU64(out, pos, lsn); pos += 8
    dv.setUint32(pos, v.length); pos += 4
    out.set(v, pos); pos += v.length
  }
  return out
}

export interface LogChunk { readonly shard: number, readonly entries: RawLogEntry[] }

/** Decode a log member: its entries, consecutive LSNs, through the commit log's own decoder. */
export function decodeLogChunk (name: string, b: Uint8Array): LogChunk {
  const bad = (why: string): ScratchBirdError => new ScratchBirdError('SB_BACKUP_INVALID', `backup member ${name}: ${why}`, { member: name })
  if (b.length < HEADER || !Buffer.from(b.subarray(0, 4)).equals(LOG_MAGIC)) throw bad('not a commit-log chunk (bad magic)')
  if (b[4] !== LOG_CHUNK_FORMAT) throw bad(`log chunk format ${b[4]!} is not one this release reads (${LOG_CHUNK_FORMAT})`)
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const count = dv.getUint32(9)
  if (count * 12 > b.length - HEADER) throw bad('value count exceeds the data')
  const entries: RawLogEntry[] = []
  let pos = HEADER
  for (let i = 0; i < count; i++) {
    if (pos + 12 > b.length) throw bad('truncated value')
    const first = readU64(b, pos); pos += 8
    const len = dv.getUint32(pos); pos += 4
    if (pos + len > b.length) throw bad('truncated value')
    let decoded: RawLogEntry[]
    try { decoded = decodeCommitValueRaw(first, b.subarray(pos, pos + len)) } catch (e) { throw bad(`entries at LSN ${first} do not decode: ${messageOf(e)}`) }
    pos += len
    for (const e of decoded) {
      const prev = entries.at(-1)
      if (prev !== undefined && e.lsn !== prev.lsn + 1n) throw bad(`LSN ${e.lsn} does not follow ${prev.lsn}`)
      entries.push(e)
    }
  }
  if (pos !== b.length) throw bad('trailing bytes after the last value')
  return { shard: dv.getUint32(5), entries }
}
