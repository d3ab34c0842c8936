import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../core/atomic-file'
import { asNodeId, asShardId, NODE_ID_MAX, NODE_ID_MIN, type NodeId, type ShardId } from '../core/ids'

// <data_dir>/anti-entropy.json: what this node's repair rounds verified, per shard and peer — the
// verified-through time the leaderless tombstone purge reads (cluster/anti-entropy/purge-rules.ts)
// — so a restart does not block every purge until a round with every peer has run again. Written
// (atomically) after every completed round; read once at start. An unreadable or malformed file
// is ignored with a warning: forgetting records only delays purges, it never allows one.
//
// `sinceMs`: when this node's records began (written at the first start of the data directory).
// Until a round completes, a shard replica counts as current since then (purge-rules.ts
// serveVerdict): a node restarted after a short stop serves at once, one stopped for longer than
// tombstone_gc_grace_days does not. A damaged file, or one written before the field existed,
// gives 0 (stale until repaired: forgetting may only cost availability, never serve stale data).

export const REPAIR_RECORDS_FILE = 'anti-entropy.json'
const FORMAT = 1

/** Per shard, per peer: the highest verifiedThroughMs of this node's completed rounds with it. */
export type RepairRecords = Map<ShardId, Map<NodeId, number>>

export interface LoadedRepairRecords {
  readonly records: RepairRecords
  /** Why the file was not used; null when it was, or when there is none. */
  readonly problem: string | null
  /** When the records began (see the top); null when there is no file yet (a first start). */
  readonly sinceMs: number | null
}

export function loadRepairRecords (dataDir: string, shards: number): LoadedRepairRecords {
  const records: RepairRecords = new Map()
  let text: string
  try {
    text = readFileSync(join(dataDir, REPAIR_RECORDS_FILE), 'utf8')
  } catch (e) {
    const absent = (e as NodeJS.ErrnoException).code === 'ENOENT'
    return { records, problem: absent ? null : `cannot read ${REPAIR_RECORDS_FILE}: ${(e as Error).message}`, sinceMs: absent ? null : 0 }
  }
  let doc: unknown
  try { doc = JSON.parse(text) } catch { return { records, problem: `${REPAIR_RECORDS_FILE} is not JSON`, sinceMs: 0 } }
  const d = doc as { format?: unknown, shards?: unknown, sinceMs?: unknown }
  if (typeof d !== 'object' || d === null || d.format !== FORMAT || typeof d.shards !== 'object' || d.shards === null) {
    return { records, problem: `${REPAIR_RECORDS_FILE} is not a format ${FORMAT} repair record`, sinceMs: 0 }
  }
  const sinceMs = typeof d.sinceMs === 'number' && Number.isFinite(d.sinceMs) && d.sinceMs >= 0 ? d.sinceMs : 0
  for (const [s, peers] of Object.entries(d.shards as Record<string, unknown>)) {
    const shard = Number(s)
    if (!Number.isInteger(shard) || shard < 0 || shard >= shards || typeof peers !== 'object' || peers === null) continue
    const m = new Map<NodeId, number>()
    for (const [p, v] of Object.entries(peers as Record<string, unknown>)) {
      const peer = Number(p)
      if (!Number.isInteger(peer) || peer < NODE_ID_MIN || peer > NODE_ID_MAX || typeof v !== 'number' || !Number.isFinite(v) || v < 0) continue
      m.set(asNodeId(peer), v)
    }
    if (m.size > 0) records.set(asShardId(shard), m)
  }
  return { records, problem: null, sinceMs }
}

export function saveRepairRecords (dataDir: string, records: RepairRecords, sinceMs: number): void {
  const shards: Record<string, Record<string, number>> = {}
  for (const [shard, peers] of records) shards[String(shard)] = Object.fromEntries([...peers].map(([p, v]) => [String(p), v]))
  writeFileAtomic(join(dataDir, REPAIR_RECORDS_FILE), JSON.stringify({ format: FORMAT, sinceMs, shards }) + '\n')
}
