import { assert, ScratchBirdError } from '../../core/errors'
import {
  decodeHint, encodeHintValue, HINT_KEY_LENGTH, MAX_HINT_BYTES_PER_TARGET, MAX_HINTS_PER_TARGET,
  type Hint, type HintListOptions, type HintTargetStats, type StoredHint
} from '../../storage/hint-store'
import type { HintOpReply, HintTargetRow, ShardReplies, ShardRequests } from '../../shard/protocol/messages'
import type { HintLog } from './hint-log'
import { type NodeId, type ShardId, shardIds } from '../../core/ids'
import type { ShardCountSource } from '../shard-count'

// The node's hint log as the main thread sees it (DESIGN §2: the main thread never touches
// LevelDB): the hints live in the shard workers, each in the store of the shard its row belongs to
// (src/shard/hint-ops.ts; every node opens every shard, so that store is always here), and every
// operation here is hint shard ops sent through the rings. Nothing is stored on the main thread
// but figures.
//
// Figures: each shard op answers with its store's per-target {count, bytes}; this keeps the latest
// answer per shard and sums them per target (load() asks every shard at start, so a restart
// reports correct sizes; expire() asks every shard again, hourly, which also corrects the figures
// after a worker restart lost unsynced deletions).
//
// Caps (per target node over all shards, as before the move): the main thread is the only writer
// of hints, so it enforces them itself before sending: a batch whose hints would take a target's
// count or bytes — summed over the shards, plus the batches already sent and not yet answered —
// past its cap is refused whole with SB_HINT_LOG_FULL and nothing is sent. The byte figure of a
// hint is known here exactly (its key is HINT_KEY_LENGTH bytes, its value encodeHintValue()). The
// shard stores keep their own default caps only as a backstop (one shard can never hold more than
// the whole node may).
//
// Delivery reads a target's hints shard after shard (ascending shard id), so across shards they
// are not strictly oldest first: harmless, as applying a version is idempotent and the highest
// version wins (the same argument as a wall clock stepping back, src/storage/hint-store.ts).

type HintOp = 'HINT_ADD' | 'HINT_LIST' | 'HINT_REMOVE' | 'HINT_EXPIRE' | 'HINT_DROP' | 'HINT_STATS'

/** Sends one hint op to the worker of `req.shard` (ShardWorkers.request in the node). */
export type HintRequester = <K extends HintOp>(op: K, req: ShardRequests[K]) => Promise<ShardReplies[K]>

export interface ShardedHintLogOptions {
  /** The shard count, read at each use (a split raises it while the node runs: shard-count.ts); the shard ids are 0..shards-1. */
  readonly shardCount: ShardCountSource
  readonly request: HintRequester
  /** storage.max_message_bytes: one request or reply on a ring (batches are split to fit). */
  readonly maxMessageBytes: number
  /** Per-target caps over all shards; default MAX_HINTS_PER_TARGET / MAX_HINT_BYTES_PER_TARGET. */
  readonly maxHintsPerTarget?: number | undefined
  readonly maxBytesPerTarget?: number | undefined
}

/** Bytes a request or reply spends on its own fields, and per hint beyond key and value. */
const MESSAGE_OVERHEAD_BYTES = 64
const PER_HINT_OVERHEAD_BYTES = 32
/** Smallest stored hint (key + value with an empty key and no row), and what a listed one adds (two lengths). */
const MIN_HINT_BYTES = HINT_KEY_LENGTH + 35
const LISTED_HINT_OVERHEAD_BYTES = 10

interface Figures { count: number, bytes: number }

export class ShardedHintLog implements HintLog {
  readonly maxHintsPerTarget: number
  readonly maxBytesPerTarget: number
  /** The latest per-target figures each shard answered. */
  private readonly perShard = new Map<ShardId, ReadonlyMap<NodeId, HintTargetStats>>()
  /** Hints of adds sent and not answered yet, per target (counted against the caps). */
  private readonly reserved = new Map<NodeId, Figures>()

  constructor (private readonly o: ShardedHintLogOptions) {
    assert(Number.isInteger(o.shardCount.shards) && o.shardCount.shards >= 1, 'a hint log needs at least one shard')
    this.maxHintsPerTarget = o.maxHintsPerTarget ?? MAX_HINTS_PER_TARGET
    this.maxBytesPerTarget = o.maxBytesPerTarget ?? MAX_HINT_BYTES_PER_TARGET
  }

  /** Asks every shard for its figures (at start, and to correct them). */
  async load (): Promise<void> {
    await Promise.all(this.allShards().map(async shard => this.note(shard, await this.o.request('HINT_STATS', { shard }))))
  }

  stats (): Map<NodeId, HintTargetStats> {
    const out = new Map<NodeId, Figures>()
    for (const figures of this.perShard.values()) {
      for (const [target, s] of figures) add(out, target, s.count, s.bytes)
    }
    return new Map([...out].sort((a, b) => a[0] - b[0]))
  }

  async add (hints: readonly Hint[]): Promise<number> {
    const byShard = new Map<ShardId, Array<{ hint: Hint, bytes: number }>>()
    const delta = new Map<NodeId, Figures>()
    for (const h of hints) {
      const shard = h.shard
      const shards = this.o.shardCount.shards
      if (!(Number.isInteger(shard) && shard >= 0 && shard < shards)) {
        throw new ScratchBirdError('SB_BAD_ARGUMENT', `hint for shard ${shard}: this node has shards 0..${shards - 1}`, { shard })
      }
      const bytes = HINT_KEY_LENGTH + encodeHintValue(h).length
      add(delta, h.target, 1, bytes)
      const list = byShard.get(shard) ?? []
      list.push({ hint: h, bytes })
      byShard.set(shard, list)
    }
    this.checkCaps(delta)
    for (const [t, d] of delta) add(this.reserved, t, d.count, d.bytes)
    try {
      const stored = await Promise.all([...byShard].flatMap(([shard, list]) => this.chunks(list).map(async chunk => {
        const r = await this.o.request('HINT_ADD', { shard, hints: chunk })
        this.note(shard, r)
        return r.n
      })))
      return stored.reduce((a, b) => a + b, 0)
    } finally {
      for (const [t, d] of delta) add(this.reserved, t, -d.count, -d.bytes)
    }
  }

  async list (target: NodeId, limit: number, options: HintListOptions = {}): Promise<StoredHint[]> {
    assert(Number.isInteger(limit) && limit >= 0, 'list limit must be a non-negative integer')
    const out: StoredHint[] = []
    let budget = options.maxBytes ?? Infinity
    for (const shard of this.shardsHolding(target)) {
      const left = limit - out.length
      if (left <= 0) break
      // A reply must fit one ring message: keys and values plus their lengths (at most
      // LISTED_HINT_OVERHEAD_BYTES a hint, so at most that share of the smallest hint).
      const replyRoom = Math.max(1, Math.floor((this.o.maxMessageBytes - MESSAGE_OVERHEAD_BYTES) * MIN_HINT_BYTES / (MIN_HINT_BYTES + LISTED_HINT_OVERHEAD_BYTES)))
      const maxBytes = Math.min(budget, replyRoom)
      const r = await this.o.request('HINT_LIST', { shard, target, limit: left, maxBytes: Number.isFinite(maxBytes) ? Math.floor(maxBytes) : Number.MAX_SAFE_INTEGER, atLeastOne: out.length === 0 })
      for (const e of r.hints) {
        const h = decodeHint(e.id, e.value)
        out.push(h)
        budget -= h.bytes
      }
      // Fewer than asked while the shard holds more: it stopped on bytes. On the batch's budget,
      // the batch is full; on one message's room, the other shards may still fill it (the rest of
      // this shard comes in the next batch).
      const held = this.perShard.get(shard)?.get(target)?.count ?? 0
      if (budget <= 0 || (maxBytes === budget && r.hints.length < Math.min(left, held))) break
    }
    return out
  }

  async remove (hints: readonly StoredHint[]): Promise<number> {
    const byShard = new Map<ShardId, Uint8Array[]>()
    for (const h of hints) {
      const ids = byShard.get(h.shard) ?? []
      ids.push(h.id)
      byShard.set(h.shard, ids)
    }
    return this.sum([...byShard].flatMap(([shard, ids]) => this.idChunks(ids).map(chunk => ({ shard, run: () => this.o.request('HINT_REMOVE', { shard, ids: chunk }) }))))
  }

  expire (nowMs: number, maxAgeMs: number): Promise<number> {
    const now = Math.floor(nowMs)
    const age = Math.max(0, Math.floor(maxAgeMs))
    return this.sum(this.allShards().map(shard => ({ shard, run: () => this.o.request('HINT_EXPIRE', { shard, nowMs: now, maxAgeMs: age }) })))
  }

  dropCorrupt (target: NodeId): Promise<number> {
    return this.sum(this.allShards().map(shard => ({ shard, run: () => this.o.request('HINT_DROP', { shard, target, corruptOnly: true }) })))
  }

  /** Delete every hint of `target` (a node that left the cluster for good). */
  dropTarget (target: NodeId): Promise<number> {
    return this.sum(this.allShards().map(shard => ({ shard, run: () => this.o.request('HINT_DROP', { shard, target, corruptOnly: false }) })))
  }

  // -------------------------------------------------------------------------------------------

  private allShards (): ShardId[] { return shardIds(this.o.shardCount.shards) }

  private shardsHolding (target: NodeId): ShardId[] {
    return [...this.perShard].filter(([, f]) => (f.get(target)?.count ?? 0) > 0).map(([s]) => s).sort((a, b) => a - b)
  }

  private note (shard: ShardId, r: HintOpReply): void {
    this.perShard.set(shard, new Map(r.stats.map((t: HintTargetRow) => [t.target, { count: t.count, bytes: t.bytes }])))
  }

  private async sum (calls: Array<{ shard: ShardId, run: () => Promise<HintOpReply> }>): Promise<number> {
    const ns = await Promise.all(calls.map(async c => { const r = await c.run(); this.note(c.shard, r); return r.n }))
    return ns.reduce((a, b) => a + b, 0)
  }

  private checkCaps (delta: ReadonlyMap<NodeId, Figures>): void {
    const totals = this.stats()
    const full: NodeId[] = []
    for (const [target, d] of delta) {
      const cur = totals.get(target) ?? { count: 0, bytes: 0 }
      const res = this.reserved.get(target) ?? { count: 0, bytes: 0 }
      if (cur.count + res.count + d.count > this.maxHintsPerTarget || cur.bytes + res.bytes + d.bytes > this.maxBytesPerTarget) full.push(target)
    }
    if (full.length === 0) return
    full.sort((a, b) => a - b)
    const cur = totals.get(full[0]!) ?? { count: 0, bytes: 0 }
    throw new ScratchBirdError('SB_HINT_LOG_FULL', `hint log for node ${full.join(', ')} is full (${cur.count} hints, ${cur.bytes} bytes; at most ${this.maxHintsPerTarget} hints and ${this.maxBytesPerTarget} bytes per node); the write stays missing on that replica until a quorum read of the key or an anti-entropy round repairs it`, {
      target_nodes: full, hints: cur.count, bytes: cur.bytes, max_hints: this.maxHintsPerTarget, max_bytes: this.maxBytesPerTarget
    })
  }

  /** `list` split into HINT_ADD requests that each fit one ring message (a hint too large alone goes alone). */
  private chunks (list: ReadonlyArray<{ hint: Hint, bytes: number }>): Hint[][] {
    const room = this.o.maxMessageBytes - MESSAGE_OVERHEAD_BYTES
    const out: Hint[][] = []
    let cur: Hint[] = []
    let bytes = 0
    for (const { hint, bytes: b } of list) {
      const size = b + PER_HINT_OVERHEAD_BYTES
      if (cur.length > 0 && bytes + size > room) { out.push(cur); cur = []; bytes = 0 }
      cur.push(hint)
      bytes += size
    }
    if (cur.length > 0) out.push(cur)
    return out
  }

  private idChunks (ids: readonly Uint8Array[]): Uint8Array[][] {
    const per = Math.max(1, Math.floor((this.o.maxMessageBytes - MESSAGE_OVERHEAD_BYTES) / (HINT_KEY_LENGTH + 1)))
    const out: Uint8Array[][] = []
    for (let i = 0; i < ids.length; i += per) out.push(ids.slice(i, i + per))
    return out
  }
}

function add (m: Map<NodeId, Figures>, target: NodeId, count: number, bytes: number): void {
  const f = m.get(target) ?? { count: 0, bytes: 0 }
  f.count += count
  f.bytes += bytes
  if (f.count <= 0) m.delete(target)
  else m.set(target, f)
}
