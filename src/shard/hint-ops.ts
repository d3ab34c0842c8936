import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ScratchBirdError } from '../core/errors'
import { encodeHintValue, HINT_KEY_PREFIX, LEGACY_HINT_DIR, type HintStore } from '../storage/hint-store'
import { LevelKv } from '../storage/kv-level'
import type { HintOpReply, ShardReplies, ShardRequests, StoredHintBytes } from './protocol/messages'
import type { ShardId } from '../core/ids'

// The hint ops of a shard worker (DESIGN §4 `h/…`, §6 "Hints"): each shard replica's store holds
// the hints this node keeps, as a quorum coordinator, for rows of that shard, in a HintStore over
// the shard's own KvStore (src/storage/hint-store.ts; the engine owns the KvStore, the HintStore
// shares it). Every op that changes or reads the figures answers with the store's per-target
// count and bytes, so the main thread's sums (src/cluster/hints/sharded-log.ts) stay exact.
//
// HINT_LEGACY_READ reads the previous release's hint LevelDB, `<data_dir>/hints` (its main thread
// kept it); the main thread copies what it reads into the shard stores (HINT_IMPORT)
// and deletes the directory once the copy is durable (src/node/hint-upgrade.ts; HINT_IMPORT is therefore always fsynced). Opened per call
// and closed before answering: the main thread deletes it after the last call. A listed hint
// travels as its stored bytes (the value re-encoded: decoding accepts only the canonical form).

export type HintHandlers = {
  [K in 'HINT_ADD' | 'HINT_LIST' | 'HINT_REMOVE' | 'HINT_EXPIRE' | 'HINT_DROP' | 'HINT_STATS' | 'HINT_IMPORT' | 'HINT_LEGACY_READ']:
  (req: ShardRequests[K]) => Promise<ShardReplies[K]> | ShardReplies[K]
}

function legacyHintDir (dataDir: string): string { return join(dataDir, LEGACY_HINT_DIR) }

export class ShardHints {
  constructor (
    private readonly stores: ReadonlyMap<ShardId, HintStore>,
    /** `<data_dir>` (HINT_LEGACY_READ); undefined: this host has none (tests). */
    private readonly dataDir: string | undefined,
    private readonly workerIndex: number
  ) {}

  /** Waits for hint writes in progress (the engines close the KvStores after). */
  async close (): Promise<void> {
    await Promise.allSettled([...this.stores.values()].map(s => s.close()))
  }

  private storeOf (shard: ShardId): HintStore {
    const s = this.stores.get(shard)
    if (!s) throw new ScratchBirdError('SB_BAD_ARGUMENT', `shard ${shard} is not served by worker ${this.workerIndex}`, { shard })
    return s
  }

  private reply (shard: ShardId, n: number): HintOpReply {
    const stats = [...this.storeOf(shard).stats()].map(([target, s]) => ({ target, count: s.count, bytes: s.bytes }))
    return { n, stats }
  }

  readonly handlers: HintHandlers = {
    HINT_ADD: async (r) => this.reply(r.shard, (await this.storeOf(r.shard).add(r.hints)).length),
    HINT_LIST: async (r) => {
      const hints = await this.storeOf(r.shard).list(r.target, r.limit, { maxBytes: r.maxBytes, atLeastOne: r.atLeastOne })
      return { hints: hints.map(h => ({ id: h.id, value: encodeHintValue(h) })) }
    },
    HINT_REMOVE: async (r) => this.reply(r.shard, await this.storeOf(r.shard).remove(r.ids)),
    HINT_EXPIRE: async (r) => this.reply(r.shard, await this.storeOf(r.shard).expire(r.nowMs, r.maxAgeMs)),
    HINT_DROP: async (r) => {
      const store = this.storeOf(r.shard)
      return this.reply(r.shard, await (r.corruptOnly ? store.dropCorrupt(r.target) : store.dropTarget(r.target)))
    },
    HINT_STATS: (r) => this.reply(r.shard, 0),
    HINT_IMPORT: async (r) => this.reply(r.shard, await this.storeOf(r.shard).importStored(r.entries, { sync: true })),
    HINT_LEGACY_READ: (r) => this.readLegacy(r.after, r.maxBytes)
  }

  private async readLegacy (after: Uint8Array | null, maxBytes: number): Promise<ShardReplies['HINT_LEGACY_READ']> {
    if (this.dataDir === undefined || !existsSync(legacyHintDir(this.dataDir))) return { entries: [], done: true }
    const kv = await LevelKv.open(legacyHintDir(this.dataDir))
    try {
      const entries: StoredHintBytes[] = []
      let bytes = 0
      const range = { lt: Uint8Array.of(HINT_KEY_PREFIX + 1), ...(after === null ? { gte: Uint8Array.of(HINT_KEY_PREFIX) } : { gt: after }) }
      for await (const [k, v] of kv.iterate(range)) {
        if (entries.length > 0 && bytes + k.length + v.length > maxBytes) return { entries, done: false }
        bytes += k.length + v.length
        entries.push({ id: plain(k), value: plain(v) })
      }
      return { entries, done: true }
    } finally {
      await kv.close()
    }
  }
}

function plain (b: Uint8Array): Uint8Array { return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice() }
