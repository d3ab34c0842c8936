import { ScratchBirdError } from '../../core/errors'
import { uuidv8Timestamp } from '../../core/hlc'
import { bucketOf, checkLeaf, MERKLE_BUCKETS, type MerkleLeaf } from '../../storage/merkle/tree'
import type { AeReply, AeRequestBody, RepairVersion, WindowRoot } from './types'

// Checks of the replies a repair round consumes, and the byte estimates it budgets with. A reply
// comes from a peer (over cluster RPC) or from a shard worker; either way nothing of a malformed
// one is used: the check throws SB_RPC_MALFORMED before the round acts on any part of it, and the
// round aborts ('bad-reply'), having changed nothing for that step.

/** Most windows one MERKLE_ROOTS reply may list (30 years of 1-hour windows). */
export const MAX_ROOTS_WINDOWS = 262_144
const U64_MAX = 0xffff_ffff_ffff_ffffn
const LWW_OUTCOMES = new Set(['newer', 'same', 'older'])

function malformed (what: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_RPC_MALFORMED', `anti-entropy: malformed ${what}`, details)
}

/** A version id the round can order and window: a UUIDv8-HLC (or v7), 16 bytes. */
function isVersionId (v: unknown): boolean {
  if (!(v instanceof Uint8Array) || v.length !== 16) return false
  try { uuidv8Timestamp(v); return true } catch { return false }
}

function isU64 (v: unknown): v is bigint {
  return typeof v === 'bigint' && v >= 0n && v <= U64_MAX
}

function list (v: unknown, what: string, length?: number): unknown[] {
  if (!Array.isArray(v)) throw malformed(what, { reason: 'not a list' })
  if (length !== undefined && v.length !== length) throw malformed(what, { reason: `${v.length} entries, expected ${length}` })
  return v
}

/** MERKLE_ROOTS: windows as a map (window → root); duplicate or bad windows are malformed. */
export function checkRoots (reply: Extract<AeReply, { op: 'roots' }>): Map<number, bigint> {
  const windows = list(reply.windows, 'roots reply')
  if (windows.length > MAX_ROOTS_WINDOWS) throw malformed('roots reply', { reason: `${windows.length} windows, at most ${MAX_ROOTS_WINDOWS}` })
  const out = new Map<number, bigint>()
  for (const w of windows as WindowRoot[]) {
    if (typeof w !== 'object' || w === null || !Number.isSafeInteger(w.window) || typeof w.sealed !== 'boolean' ||
      !isU64(w.root) || !Number.isSafeInteger(w.leaves) || w.leaves < 0) throw malformed('roots reply', { reason: 'bad window entry' })
    if (out.has(w.window)) throw malformed('roots reply', { reason: `window ${w.window} listed twice` })
    out.set(w.window, w.root)
  }
  return out
}

/** MERKLE_BUCKETS: exactly MERKLE_BUCKETS u64 hashes. */
export function checkBuckets (reply: Extract<AeReply, { op: 'buckets' }>): readonly bigint[] {
  const hashes = list(reply.hashes, 'buckets reply', MERKLE_BUCKETS)
  if (!hashes.every(isU64)) throw malformed('buckets reply', { reason: 'a hash is not an unsigned 64-bit integer' })
  return hashes as bigint[]
}

/**
 * MERKLE_LEAVES for `asked` (ascending buckets): the buckets the reply covers completely (all of
 * them unless `more`; with `more`, those below the last bucket present) and their leaves. A leaf
 * of a bucket not asked for, or a key listed twice, is malformed.
 */
export function checkLeaves (reply: Extract<AeReply, { op: 'leaves' }>, asked: readonly number[]): { complete: Set<number>, leaves: MerkleLeaf[] } {
  const leaves = list(reply.leaves, 'leaves reply') as MerkleLeaf[]
  if (typeof reply.more !== 'boolean') throw malformed('leaves reply', { reason: '`more` is not a boolean' })
  const askedSet = new Set(asked)
  let last = -1
  const bucketOfLeaf: number[] = []
  const seen = new Set<string>()
  for (const l of leaves) {
    if (typeof l !== 'object' || l === null) throw malformed('leaves reply', { reason: 'a leaf is not an object' })
    try { checkLeaf(l.key, l.version, l.rowHash) } catch (e) { throw malformed('leaves reply', { reason: (e as Error).message }) }
    if (!isVersionId(l.version)) throw malformed('leaves reply', { reason: 'a version id is not a UUIDv8-HLC' })
    const b = bucketOf(l.key)
    if (!askedSet.has(b)) throw malformed('leaves reply', { reason: `leaf of bucket ${b}, which was not asked for` })
    const id = Buffer.from(l.key).toString('latin1')
    if (seen.has(id)) throw malformed('leaves reply', { reason: 'a key is listed twice' })
    seen.add(id)
    bucketOfLeaf.push(b)
    if (b > last) last = b
  }
  const complete = new Set(reply.more ? asked.filter(b => b < last) : asked)
  return { complete, leaves: leaves.filter((_, i) => complete.has(bucketOfLeaf[i]!)) }
}

/** MERKLE_ADOPT: one boolean per leaf sent. */
export function checkAdopt (reply: Extract<AeReply, { op: 'adopt' }>, sent: number): readonly boolean[] {
  const flags = list(reply.needsData, 'adopt reply', sent)
  if (!flags.every(f => typeof f === 'boolean')) throw malformed('adopt reply', { reason: 'a flag is not a boolean' })
  return flags as boolean[]
}

/** REPLICA_READ: one entry per key asked, each null or a 16-byte version id with a row or null. */
export function checkRead (reply: Extract<AeReply, { op: 'read' }>, asked: number): Extract<AeReply, { op: 'read' }>['versions'] {
  const versions = list(reply.versions, 'read reply', asked)
  for (const v of versions) {
    if (v === null) continue
    const r = v as { versionId: unknown, row: unknown }
    if (typeof r !== 'object' || !isVersionId(r.versionId) ||
      !(r.row === null || r.row instanceof Uint8Array)) throw malformed('read reply', { reason: 'bad version entry' })
  }
  return versions as Extract<AeReply, { op: 'read' }>['versions']
}

/** REPLICA_APPLY: one LWW outcome per version shipped. */
export function checkApply (reply: Extract<AeReply, { op: 'apply' }>, sent: number): Extract<AeReply, { op: 'apply' }>['applied'] {
  const applied = list(reply.applied, 'apply reply', sent)
  if (!applied.every(a => typeof a === 'string' && LWW_OUTCOMES.has(a))) throw malformed('apply reply', { reason: 'an outcome is not newer, same or older' })
  return applied as Extract<AeReply, { op: 'apply' }>['applied']
}

// Byte estimates (what the payloads carry, not the codecs' exact framing): enough to budget a
// round and to show that its traffic follows the differences, not the data size.

const ID = 16
const HASH = 8
const LEN = 2

function leafBytes (l: MerkleLeaf): number { return LEN + l.key.length + ID + HASH }
function versionBytes (v: RepairVersion): number { return LEN + v.key.length + ID + 1 + (v.row?.length ?? 0) }

export function requestBytes (req: AeRequestBody): number {
  switch (req.op) {
    case 'roots': return 8
    case 'buckets': return 16
    case 'leaves': return 16 + LEN * req.buckets.length
    case 'adopt': return 8 + req.leaves.reduce((n, l) => n + leafBytes(l), 0)
    case 'read': return 8 + req.keys.reduce((n, k) => n + LEN + k.length, 0)
    case 'apply': return 8 + req.versions.reduce((n, v) => n + versionBytes(v), 0)
  }
}

export function replyBytes (reply: AeReply): number {
  switch (reply.op) {
    case 'roots': return 8 + reply.windows.length * (8 + 1 + HASH + 4)
    case 'buckets': return 8 + reply.hashes.length * HASH
    case 'leaves': return 8 + reply.leaves.reduce((n, l) => n + leafBytes(l), 0)
    case 'adopt': return 8 + Math.ceil(reply.needsData.length / 8)
    case 'read': return 8 + reply.versions.reduce((n, v) => n + 1 + (v === null ? 0 : ID + 1 + (v.row?.length ?? 0)), 0)
    case 'apply': return 8 + reply.applied.length
  }
}
