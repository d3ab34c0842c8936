// The catalog versions this node's running writes were planned with (issue 13, the DDL write
// fence). A statement that places rows — INSERT, UPDATE, DELETE — plans against the catalog it
// reads at its start and may still be sending those rows to shards after a newer catalog was
// installed. Until it ends, this node must keep behaving as if it were at that older version: it
// keeps its write fences (node/table-fences.ts) and tells peers the older version with its shard
// writes (Catalog.layoutFloor refuses them when a table's layout changed since). placing() is
// that version.
//
// Pure data: no clock, no I/O. Bounded by the sessions (each runs one statement at a time).

export class CatalogPins {
  private readonly counts = new Map<number, number>()

  /** A write planned against catalog `version` runs until the returned function is called (once). */
  pin (version: number): () => void {
    this.counts.set(version, (this.counts.get(version) ?? 0) + 1)
    let done = false
    return () => {
      if (done) return
      done = true
      const n = this.counts.get(version)! - 1
      if (n === 0) this.counts.delete(version)
      else this.counts.set(version, n)
    }
  }

  /** The oldest version a running write was planned with; undefined when none runs. */
  oldest (): number | undefined {
    let min: number | undefined
    for (const v of this.counts.keys()) if (min === undefined || v < min) min = v
    return min
  }

  /** The catalog version this node places rows by: `current`, or an older one a running write still uses. */
  placing (current: number): number {
    const o = this.oldest()
    return o !== undefined && o < current ? o : current
  }
}
