import { ScratchBirdError, messageOf } from '../core/errors'
import { checkTuple, compareBytes, decodeRowKey, OPEN_TXN_PREFIX, readU64, ROW_SPACE, TIP_GROUP_PREFIX, TIP_PREFIX, writeU64 } from '../storage/keys'
import { SNAPSHOT_SPACES } from '../storage/replica-snapshot'
import { decodeTipEntry, decodeTipGroup } from '../storage/tip'
import { decodeVersion } from '../storage/versions'

// One snapshot chunk of a shard as a backup member `shards/<shard>/<seq>.kv` (seq from 1, six
// digits): the chunk a shard worker's REPL_SNAPSHOT_READ returned (storage/replica-snapshot.ts:
// record versions, TIP, open-transaction index of ONE consistent snapshot, at the shard's LSN),
// with the snapshot's identity repeated in every chunk so each member says what it belongs to.
//
//   chunk := magic "SBKV" · format=1 u8 · shard u32 · lsn u64 · generation u64 · hlcHighWater u64 ·
//            done u8 · count u32 · (keyLen u32 · key · valueLen u32 · value)^count      (big-endian)

export const CHUNK_MAGIC = Buffer.from('SBKV')
export const CHUNK_FORMAT = 1
const HEADER = 4 + 1 + 4 + 8 + 8 + 8 + 1 + 4

export interface BackupChunk {
  readonly shard: number
  readonly lsn: bigint
  readonly generation: bigint
  readonly hlcHighWater: bigint
  readonly done: boolean
  readonly entries: ReadonlyArray<{ readonly key: Uint8Array, readonly value: Uint8Array }>
}

export function chunkMemberName (shard: number, seq: number): string {
  return `shards/${shard}/${String(seq).padStart(6, '0')}.kv`
}

/** shard and seq of a chunk member's name, or null when the name is not one. */
export function parseChunkMemberName (name: string): { shard: number, seq: number } | null {
  const m = /^shards\/(\d{1,10})\/(\d{6})\.kv$/.exec(name)
  return m === null ? null : { shard: Number(m[1]), seq: Number(m[2]) }
}

export function encodeChunk (c: BackupChunk): Uint8Array {
  let size = HEADER
  for (const e of c.entries) size += 8 + e.key.length + e.value.length
  const out = new Uint8Array(size)
  const dv = new DataView(out.buffer)
  out.set(CHUNK_MAGIC, 0)
  out[4] = CHUNK_FORMAT
  dv.setUint32(5, c.shard)
  writeU64(out, 9, c.lsn)
  writeU64(out, 17, c.generation)
  writeU64(out, 25, c.hlcHighWater)
  out[33] = c.done ? 1 : 0
  dv.setUint32(34, c.entries.length)
  let pos = HEADER
  for (const e of c.entries) {
    dv.setUint32(pos, e.key.length); pos += 4
    out.set(e.key, pos); pos += e.key.length
    dv.setUint32(pos, e.value.length); pos += 4
    out.set(e.value, pos); pos += e.value.length
  }
  return out
}

function bad (name: string, why: string): ScratchBirdError {
  return new ScratchBirdError('SB_BACKUP_INVALID', `backup member ${name}: ${why}`, { member: name })
}

/** Decode a chunk member; SB_BACKUP_INVALID naming the member when it is not one. */
export function decodeChunk (name: string, b: Uint8Array): BackupChunk {
  if (b.length < HEADER || !Buffer.from(b.subarray(0, 4)).equals(CHUNK_MAGIC)) throw bad(name, 'not a snapshot chunk (bad magic)')
  if (b[4] !== CHUNK_FORMAT) throw bad(name, `chunk format ${b[4]!} is not one this release reads (${CHUNK_FORMAT})`)
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const done = b[33]
  if (done !== 0 && done !== 1) throw bad(name, 'bad done flag')
  const count = dv.getUint32(34)
  if (count * 8 > b.length - HEADER) throw bad(name, 'entry count exceeds the data')
  const entries: Array<{ key: Uint8Array, value: Uint8Array }> = []
  let pos = HEADER
  const need = (n: number): void => { if (pos + n > b.length) throw bad(name, 'truncated entry') }
  for (let i = 0; i < count; i++) {
    need(4)
    const kl = dv.getUint32(pos); pos += 4
    need(kl + 4)
    const key = b.slice(pos, pos + kl); pos += kl
    const vl = dv.getUint32(pos); pos += 4
    need(vl)
    const value = b.slice(pos, pos + vl); pos += vl
    entries.push({ key, value })
  }
  if (pos !== b.length) throw bad(name, 'trailing bytes after the last entry')
  return { shard: dv.getUint32(5), lsn: readU64(b, 9), generation: readU64(b, 17), hlcHighWater: readU64(b, 25), done: done === 1, entries }
}

/** Index of the snapshot key space holding `key`, or -1. */
function spaceOf (key: Uint8Array): number {
  for (let i = 0; i < SNAPSHOT_SPACES.length; i++) {
    const s = SNAPSHOT_SPACES[i]!
    if (compareBytes(key, s.gte) >= 0 && compareBytes(key, s.lt) < 0) return i
  }
  return -1
}

/** Is `key` a primary record version (a row: what progress and reports count)? */
export function isRowKey (key: Uint8Array): boolean {
  return compareBytes(key, ROW_SPACE.gte) >= 0 && compareBytes(key, ROW_SPACE.lt) < 0
}

/**
 * Check that every entry of a chunk decodes as what its key space holds (the checks a replica
 * installing the snapshot makes), in ascending key order after `after`. Returns the last key.
 */
export function checkChunkEntries (name: string, c: BackupChunk, after: Uint8Array | null): Uint8Array | null {
  let prev = after
  for (const e of c.entries) {
    const hex = Buffer.from(e.key).toString('hex')
    if (prev !== null && compareBytes(e.key, prev) <= 0) throw bad(name, `keys out of order at ${hex}`)
    prev = e.key
    try {
      switch (spaceOf(e.key)) {
        case 0: { // b/<table><pk><uuid tag><version>
          if (e.key.length < 20 || e.key[e.key.length - 17] !== 0x30) throw new Error('not a back-version key')
          const rowKey = e.key.slice(0, e.key.length - 17)
          rowKey[0] = ROW_SPACE.gte[0]!
          checkTuple(rowKey, decodeRowKey(rowKey).pkOffset)
          decodeVersion(e.value)
          break
        }
        case 1:
          if (e.key.length !== TIP_GROUP_PREFIX.length + 8) throw new Error('not a TIP group key')
          decodeTipGroup(e.value)
          break
        case 2:
          checkTuple(e.key, decodeRowKey(e.key).pkOffset)
          decodeVersion(e.value)
          break
        case 3:
          if (e.key.length !== OPEN_TXN_PREFIX.length + 8 || e.value.length !== 0) throw new Error('not an open-transaction index entry')
          break
        case 4:
          if (e.key.length !== TIP_PREFIX.length + 8) throw new Error('not a TIP key')
          decodeTipEntry(e.value)
          break
        default:
          throw new Error('outside the key spaces a snapshot carries')
      }
    } catch (err) {
      throw bad(name, `entry ${hex} does not decode: ${messageOf(err)}`)
    }
  }
  return prev
}
