// What a table move reads of its source, and the versions it gives the target, when the move
// crosses replication modes or moves a leaderless table in a cluster (the move itself:
// exec/table-move.ts, catalog/table-move.ts). The rest (Mode 1 → Mode 1, any move on a single
// node, where leaderless tables are MGA tables) reads the source through its table access as
// before.
//   · A leaderless source (issue 14 item 8, Mode 3 → Mode 1; a leaderless re-partitioning): a scan
//     of one replica is not enough — a stale replica may lack a key's winner, or still hold a row
//     whose deletion it missed. Each page is read from every replica (QuorumIo.scanReplicas,
//     tombstones included) and merged by version id, the production LWW order: per key the
//     highest version wins, and a key whose winner is a tombstone stays deleted (nothing copied).
//   · A Mode 1 source going leaderless (Mode 1 → Mode 3): each row's committed version becomes a
//     leaderless version whose UUIDv8-HLC carries the row's COMMIT HLC (VERSION_SCAN on the
//     shard's primary gives it: stamped inline, or the TIP's), not "now" — so a write made after
//     the conversion, stamped by a later HLC, always wins over a converted row under LWW.
import { ScratchBirdError } from '../core/errors'
import { encodeUuidV8, HLC_RANDOM_BITS } from '../core/hlc'
import type { ShardId } from '../core/ids'
import type { TableInfo } from '../catalog/catalog'
import { compareBytes, encodeTuple, type Tuple } from '../storage/keys'
import { compareVersionIds } from '../storage/lww'
import { hlcCounter, hlcMs, type HlcTs, type VersionId } from '../storage/types'
import type { VersionScanRow } from '../storage/version-scan'
import type { ExecEnv } from './env'

/** A merged page: each key's winner (tombstones included) in key order, and where the next page starts. */
export interface SourcePage {
  readonly rows: VersionScanRow[]
  /** The next page reads after this key; null: the shard is done. */
  readonly next: Tuple | null
}

/**
 * Merges one page from each replica (each in key order, at most `limit` keys after the same key).
 * A replica whose page is full may hold more keys beyond its last one, so only keys up to the
 * smallest last key of the full pages are decided here (every replica has shown all its keys up to
 * there); the next page starts after it. No full page: every replica is done, all keys decided.
 */
export function mergeReplicaPages (pages: readonly (readonly VersionScanRow[])[], limit: number): SourcePage {
  let bound: Uint8Array | null = null
  let boundPk: Tuple | null = null
  for (const p of pages) {
    if (p.length < limit) continue
    const last = p[p.length - 1]!
    const k = encodeTuple(last.pk)
    if (bound === null || compareBytes(k, bound) < 0) { bound = k; boundPk = last.pk }
  }
  const winners = new Map<string, { key: Uint8Array, row: VersionScanRow }>()
  for (const p of pages) {
    for (const r of p) {
      const key = encodeTuple(r.pk)
      if (bound !== null && compareBytes(key, bound) > 0) continue
      const id = Buffer.from(key).toString('latin1')
      const had = winners.get(id)
      if (had === undefined || compareVersionIds(r.versionId, had.row.versionId) > 0) winners.set(id, { key, row: r })
    }
  }
  const rows = [...winners.values()].sort((a, b) => compareBytes(a.key, b.key)).map(w => w.row)
  return { rows, next: boundPk }
}

/**
 * The leaderless version of a Mode 1 row committed at `commitHlc`: a UUIDv8-HLC whose timestamp and
 * counter are the commit HLC's, and whose node and random bits come from the row's version id (so
 * a copy run again after a crash writes the very same version: LWW applies it as a no-op).
 */
export function leaderlessVersion (commitHlc: HlcTs, source: VersionId): VersionId {
  if (source.length !== 16) throw new ScratchBirdError('SB_STORAGE_CORRUPT', `a row's version id has ${source.length} bytes, 16 expected`)
  const nodeBits = ((source[8]! & 0x3f) << 10) | (source[9]! << 2) | (source[10]! >>> 6)
  const hi = (source[10]! & 0x3f) * 2 ** 40 + source[11]! * 2 ** 32
  const lo = ((source[12]! << 24) | (source[13]! << 16) | (source[14]! << 8) | source[15]!) >>> 0
  const random = (hi + lo) % 2 ** HLC_RANDOM_BITS
  // Node 0 is kept for range bounds (never a generated id): a row whose bits give 0 takes node 1.
  return encodeUuidV8({ ts: hlcMs(commitHlc), counter: hlcCounter(commitHlc), nodeId: nodeBits === 0 ? 1 : nodeBits, random })
}

/** Keys one page of a versioned source read asks each replica (or the primary) for. */
export const SOURCE_PAGE_ROWS = 500

/** One merged page of leaderless table `t`'s keys on `shard` after `after`, from every replica. */
export async function leaderlessPage (env: ExecEnv, t: TableInfo, shard: ShardId, after: Tuple | null): Promise<SourcePage> {
  if (env.quorum === undefined) throw new Error('ScratchBird assertion: a leaderless source read needs the node\'s quorum replication')
  return mergeReplicaPages(await env.quorum.scanReplicas(t, shard, after, SOURCE_PAGE_ROWS), SOURCE_PAGE_ROWS)
}

/** One page of Mode 1 table `t`'s keys on `shard` after `after`, with commit HLCs (the shard's primary answers). */
export async function mode1Page (env: ExecEnv, t: TableInfo, shard: ShardId, after: Tuple | null): Promise<SourcePage> {
  const { rows } = await env.request('VERSION_SCAN', { shard, tableId: t.id, after, limit: SOURCE_PAGE_ROWS })
  return { rows, next: rows.length < SOURCE_PAGE_ROWS ? null : rows[rows.length - 1]!.pk }
}
