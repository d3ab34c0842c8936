import { existsSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { decodeHint, LEGACY_HINT_DIR, type StoredHint } from '../storage/hint-store'
import type { ShardReplies, ShardRequests, StoredHintBytes } from '../shard/protocol/messages'
import { asShardId, type ShardId } from '../core/ids'

// Upgrade from a release that kept the hint log in its own LevelDB, `<data_dir>/hints`, opened on
// the main thread (DESIGN §2 now: the main thread never touches LevelDB; hints live in the shard
// stores, src/shard/hint-ops.ts). At start, before the hint log is loaded, the hints are copied
// into the store of their shard through the worker ops — a worker reads the old database
// (HINT_LEGACY_READ, one bounded chunk at a time), the store of each hint's shard takes it with its
// own id (HINT_IMPORT, fsynced whatever the durability setting) — and only then is the directory
// renamed to `hints.migrated` and deleted.
//
// Crash safety: until the rename, the old directory is whole and a restart copies it again; the
// hints already copied are found under the same id and not stored twice (a hint whose id was
// already taken by a different hint got a fresh one, and would be copied once more: a duplicate
// hint is only delivered twice, harmless, since applying a version is idempotent). After the
// rename every hint is durable in the shard stores, so a leftover `hints.migrated` is just deleted.
// Hints that do not decode, or name a shard this node does not have, are dropped and counted
// (anti-entropy repairs what they carried, as for a corrupt hint at delivery).

type UpgradeOp = 'HINT_LEGACY_READ' | 'HINT_IMPORT'
export type UpgradeRequester = <K extends UpgradeOp>(op: K, req: ShardRequests[K]) => Promise<ShardReplies[K]>

export interface HintUpgradeReport {
  /** Hints newly stored in the shard stores. */
  readonly copied: number
  /** Hints read from the old log. */
  readonly read: number
  /** Entries that did not decode or named a shard this node does not have. */
  readonly dropped: number
}

/** Bytes a HINT_LEGACY_READ reply or HINT_IMPORT request spends beyond its entries' bytes. */
const ENVELOPE_BYTES = 1024
const PER_ENTRY_BYTES = 16
/** Any worker reads the legacy store; shard 0 always exists, so its worker answers. */
const LEGACY_READ_SHARD = asShardId(0)

/** `<data_dir>/hints`, the previous release's hint log. */
export function legacyHintsDir (dataDir: string): string { return join(dataDir, LEGACY_HINT_DIR) }

/**
 * Copies `<data_dir>/hints` into the shard stores and deletes it; null when there is none.
 * `maxMessageBytes`: storage.max_message_bytes (each reply and request fits one ring message).
 */
export async function upgradeLegacyHints (dataDir: string, shards: number, maxMessageBytes: number, request: UpgradeRequester): Promise<HintUpgradeReport | null> {
  const dir = legacyHintsDir(dataDir)
  const done = join(dataDir, `${LEGACY_HINT_DIR}.migrated`)
  // Renamed only once every hint was durable in the shard stores: what is left is garbage.
  if (existsSync(done)) rmSync(done, { recursive: true, force: true })
  if (!existsSync(dir)) return null
  const room = Math.max(1, maxMessageBytes - ENVELOPE_BYTES)
  let after: Uint8Array | null = null
  let read = 0
  let copied = 0
  let dropped = 0
  for (;;) {
    const r: ShardReplies['HINT_LEGACY_READ'] = await request('HINT_LEGACY_READ', { shard: LEGACY_READ_SHARD, after, maxBytes: Math.max(1, Math.floor(room / 2)) })
    read += r.entries.length
    const byShard = new Map<ShardId, StoredHintBytes[]>()
    for (const e of r.entries) {
      const h = decodeOrNull(e)
      if (h === null || h.shard >= shards) { dropped++; continue }
      const list = byShard.get(h.shard) ?? []
      list.push(e)
      byShard.set(h.shard, list)
    }
    const ns = await Promise.all([...byShard].flatMap(([shard, entries]) => chunks(entries, room).map(async chunk => (await request('HINT_IMPORT', { shard, entries: chunk })).n)))
    copied += ns.reduce((a, b) => a + b, 0)
    if (r.done || r.entries.length === 0) break
    after = r.entries[r.entries.length - 1]!.id
  }
  renameSync(dir, done)
  rmSync(done, { recursive: true, force: true })
  return { copied, read, dropped }
}

function decodeOrNull (e: StoredHintBytes): StoredHint | null {
  try {
    return decodeHint(e.id, e.value)
  } catch {
    return null
  }
}

function chunks (entries: readonly StoredHintBytes[], room: number): StoredHintBytes[][] {
  const out: StoredHintBytes[][] = []
  let cur: StoredHintBytes[] = []
  let bytes = 0
  for (const e of entries) {
    const size = e.id.length + e.value.length + PER_ENTRY_BYTES
    if (cur.length > 0 && bytes + size > room) { out.push(cur); cur = []; bytes = 0 }
    cur.push(e)
    bytes += size
  }
  if (cur.length > 0) out.push(cur)
  return out
}
