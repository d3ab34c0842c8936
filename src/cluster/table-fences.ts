import type { ShardId } from '../core/ids'

// The table fences a node holds on its own shard replicas for DDL statements (issue 13: a change
// of a table's layout on a table proven empty; storage/table-fence.ts is the shard side). Pure:
// the node's shell (src/node/table-fences.ts) sends the TABLE_FENCE ops and feeds this registry
// the time and its catalog versions; the registry says which fences to lift.
//
// When a fence may be lifted, as a decision table over how its DDL ended:
//   DDL outcome (release message)      lift when
//   ─────────────────────────────────  ─────────────────────────────────────────────────────────
//   refused / failed before the change  at once ('now'): the layout did not change
//   installed at catalog version V      once this node's catalog is at V or later ('after'):
//                                       before that, this node would place rows by the old layout
//   outcome unknown (coordinator lost)  as 'lost' below
//   no release heard within FENCE_TTL   'lost': once this node's catalog has caught up with every
//                                       version gossip shows a live member holding — then either
//                                       the change reached us or it exists nowhere we can see
// Lifting a fence late costs writes to that table a retryable SB_TABLE_ALTERING; lifting it
// early could place a row by a layout the catalog no longer has — so every doubt keeps it.

/** How long a fence waits for its DDL's release before the 'lost' rule applies. */
export const FENCE_TTL_MS = 60_000
/** Fences one node holds at most (each DDL on one table holds one per node). */
export const MAX_NODE_FENCES = 256

export type FenceRelease = { kind: 'now' } | { kind: 'after', version: number } | { kind: 'unknown' }

export interface HeldFence {
  readonly token: string
  readonly tableId: number
  readonly shards: readonly ShardId[]
  readonly setAtMs: number
  release: FenceRelease | null
}

export class FenceRegistry {
  private readonly fences = new Map<string, HeldFence>()

  get size (): number { return this.fences.size }

  held (): HeldFence[] { return [...this.fences.values()] }

  /** Records a fence set on `shards` (false: the registry is full, nothing recorded). */
  add (token: string, tableId: number, shards: readonly ShardId[], nowMs: number): boolean {
    const had = this.fences.get(token)
    if (had !== undefined) {
      // The same DDL fencing more shards of this node (one call per shard is allowed).
      this.fences.set(token, { ...had, shards: [...new Set([...had.shards, ...shards])] })
      return true
    }
    if (this.fences.size >= MAX_NODE_FENCES) return false
    this.fences.set(token, { token, tableId, shards: [...shards], setAtMs: nowMs, release: null })
    return true
  }

  /** The DDL's outcome arrived; answers the fence to lift now, if any. */
  release (token: string, how: FenceRelease, catalogVersion: number): HeldFence | undefined {
    const f = this.fences.get(token)
    if (f === undefined) return undefined
    f.release = how
    return this.liftable(f, catalogVersion, Infinity, 0) ? this.take(f) : undefined
  }

  /**
   * Fences to lift now. `newestSeen`: the highest catalog version gossip shows a live member
   * holding (this node's own included).
   */
  due (nowMs: number, catalogVersion: number, newestSeen: number): HeldFence[] {
    const out: HeldFence[] = []
    for (const f of this.fences.values()) if (this.liftable(f, catalogVersion, newestSeen, nowMs)) out.push(this.take(f))
    return out
  }

  private liftable (f: HeldFence, catalogVersion: number, newestSeen: number, nowMs: number): boolean {
    const r = f.release
    if (r?.kind === 'now') return true
    if (r?.kind === 'after') return catalogVersion >= r.version
    const lost = r?.kind === 'unknown' || nowMs - f.setAtMs >= FENCE_TTL_MS
    return lost && catalogVersion >= newestSeen
  }

  private take (f: HeldFence): HeldFence {
    this.fences.delete(f.token)
    return f
  }
}
