import { compareVersionIds } from '../lww'
import type { VersionId } from '../types'
import { checkLeaf, MerkleTree } from './tree'
import { firstUnsealable, windowOf } from './window'

// The windows of one shard replica's Merkle forest (DESIGN §6), in memory and pure: which window
// a write lands in, the highest version per key within a window, which windows are sealed, and
// how often a sealed window changed afterwards (a reseal: a hint, repair or healed partition
// delivering an old write). Persistence — writing a sealed tree out and keeping only its root —
// is the next step (the shard engine's write batch); here every window keeps its tree.
//
// Sealing is a time boundary, not a per-window flag: seal(now) advances `sealedBelow`, and every
// window below it is sealed, including one that first receives a leaf afterwards — from a peer's
// view that window's sealed root changed (absent = empty = root 0), so that is a reseal too.
// The boundary never moves back, so a clock stepping backwards does not unseal anything.

export interface ForestOptions {
  /** Window length in ms (windowLengthMs of `anti_entropy.merkle_tree_window_hours`). */
  readonly windowMs: number
  /** Sealing grace in ms (sealingGraceMs of `anti_entropy.sealing_grace_period_minutes`). */
  readonly graceMs: number
}

export interface WindowSummary {
  readonly window: number
  readonly root: bigint
  readonly sealed: boolean
  readonly leafCount: number
  /** Changes to this window after it was sealed. */
  readonly reseals: number
}

/** What apply() did: a new key in the window, a newer version replacing the key's leaf, or nothing (not newer). */
export type ApplyOutcome = 'added' | 'replaced' | 'kept'

interface WindowState { readonly tree: MerkleTree, reseals: number }

export class ForestIndex {
  private readonly windows = new Map<number, WindowState>()
  private sealedBelow = -Infinity
  private resealCount = 0

  constructor (private readonly opts: ForestOptions) {
    firstUnsealable(opts.windowMs, opts.graceMs, 0) // validates both (SB_BAD_ARGUMENT)
  }

  /** Reseals over all windows since this index was made. */
  get reseals (): number { return this.resealCount }

  /** Every window below this one is sealed (-Infinity before the first seal()). */
  get sealedBefore (): number { return this.sealedBelow }

  isSealed (w: number): boolean { return w < this.sealedBelow }

  /**
   * Put a write's leaf into its version's window, keeping the highest version per key there
   * (the production LWW order). Equal or older versions change nothing: replays, hints and
   * repairs of a write already counted are idempotent.
   */
  apply (key: Uint8Array, version: VersionId, rowHash: bigint): ApplyOutcome {
    checkLeaf(key, version, rowHash) // before anything changes: a bad leaf leaves no empty window behind
    const w = windowOf(version, this.opts.windowMs)
    let state = this.windows.get(w)
    const prev = state?.tree.get(key)
    if (prev !== undefined && compareVersionIds(version, prev.version) <= 0) return 'kept'
    if (state === undefined) {
      state = { tree: new MerkleTree(), reseals: 0 }
      this.windows.set(w, state)
    }
    state.tree.set(key, version, rowHash)
    if (this.isSealed(w)) { state.reseals++; this.resealCount++ }
    return prev === undefined ? 'added' : 'replaced'
  }

  /** Seal every window sealable at `nowMs`; returns the windows that hold leaves and became sealed now, ascending. */
  seal (nowMs: number): number[] {
    const next = firstUnsealable(this.opts.windowMs, this.opts.graceMs, nowMs)
    if (next <= this.sealedBelow) return []
    const from = this.sealedBelow
    this.sealedBelow = next
    return [...this.windows.keys()].filter(w => w >= from && w < next).sort((a, b) => a - b)
  }

  /** One window's summary; an unknown window is empty (root 0). */
  window (w: number): WindowSummary {
    const state = this.windows.get(w)
    return {
      window: w,
      root: state?.tree.root() ?? 0n,
      sealed: this.isSealed(w),
      leafCount: state?.tree.size ?? 0,
      reseals: state?.reseals ?? 0
    }
  }

  /** The windows holding leaves, ascending. */
  list (): WindowSummary[] {
    return [...this.windows.keys()].sort((a, b) => a - b).map(w => this.window(w))
  }

  /** Sealed windows' roots (what replicas exchange first in a round). */
  sealedRoots (): Map<number, bigint> {
    const out = new Map<number, bigint>()
    for (const [w, s] of this.windows) if (this.isSealed(w)) out.set(w, s.tree.root())
    return out
  }

  /** A window's tree for drill-down (bucketHashes, leavesOf); undefined when it holds no leaves. */
  tree (w: number): MerkleTree | undefined {
    return this.windows.get(w)?.tree
  }
}

/**
 * The windows whose roots differ between two replicas' sealed roots, ascending. A window only one
 * side lists counts as root 0 on the other (an empty window), so it differs unless it is empty.
 */
export function divergentWindows (mine: ReadonlyMap<number, bigint>, theirs: ReadonlyMap<number, bigint>): number[] {
  const out: number[] = []
  for (const [w, root] of mine) if ((theirs.get(w) ?? 0n) !== root) out.push(w)
  for (const [w, root] of theirs) if (!mine.has(w) && root !== 0n) out.push(w)
  return out.sort((a, b) => a - b)
}
