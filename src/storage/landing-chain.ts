// Which unlanded writes a group-commit pass must read through (writer.ts, loop()).
//
// A pass may be applied on top of the previous one before that batch landed, and that one on top
// of its own predecessor, so several passes can be written but not landed at once; a batch is
// written only after the one below it landed, and fails with it. The store answers a read with
// some state between "what had landed when the read was issued" and "what has landed when it is
// answered" — never a batch that was not yet written. So the bytes a pass must build on for a key
// are those of the NEWEST pass not landed when its read was issued that wrote the key, else what
// the store returned. Only one level (the previous pass) is not enough: a key the pass two back
// wrote and the previous one did not may be read from the store before that batch landed.
//
// Pure functions over the passes' outcomes and overlays: the writer's loop keeps the I/O.

/** What the chain rules need of a pass. */
export interface ChainPass {
  /** Set once its batch landed or failed (failed: nothing of it was written). */
  readonly outcome: 'pending' | 'landed' | 'failed'
  /** The pass it was applied on top of while that one had not landed; dropped once this one
   *  landed or failed (everything below it had landed or failed before), bounding memory to the
   *  passes not landed yet. */
  readonly under: ChainPass | undefined
  /** Bytes it wrote per key (keyString). */
  readonly overlay: ReadonlyMap<string, Uint8Array>
}

/**
 * The passes not landed yet, newest first, from `top` (the last pass applied) down: captured
 * when a read is issued. Landing is in pass order, so the walk stops at the first landed one
 * (the store holds it and everything older). A failed pass ends it too: it had no `under` left,
 * and what lay below it had settled before it failed.
 */
export function unlanded<P extends ChainPass> (top: P | undefined): P[] {
  const out: P[] = []
  for (let q: ChainPass | undefined = top; q !== undefined && q.outcome !== 'landed'; q = q.under) out.push(q as P)
  return out
}

/**
 * Of the passes captured when a read was issued (newest first), those the read must be patched
 * with once it is answered: a pass that failed meanwhile left nothing, and every pass above it
 * fails with it (its batch waits for that one; its own outcome may still read 'pending' for a
 * moment, as the failure reaches it a few turns later). The passes below the oldest failed one had landed when it failed
 * but are kept: the read may have been answered before they landed.
 */
export function survivors<P extends ChainPass> (chain: readonly P[]): readonly P[] {
  for (let i = chain.length - 1; i >= 0; i--) if (chain[i]!.outcome === 'failed') return chain.slice(i + 1)
  return chain
}

/** The bytes the newest pass of `chain` (newest first) wrote for `ks`; undefined: none wrote it. */
export function newestWrite (chain: readonly ChainPass[], ks: string): Uint8Array | undefined {
  for (const q of chain) {
    const v = q.overlay.get(ks)
    if (v !== undefined) return v
  }
  return undefined
}

/** Patch what a read returned with the chain's writes (newest first wins). */
export function patchReads (reads: Map<string, Uint8Array | undefined>, chain: readonly ChainPass[]): void {
  if (chain.length === 0) return
  for (const ks of reads.keys()) {
    const v = newestWrite(chain, ks)
    if (v !== undefined) reads.set(ks, v)
  }
}
