import type { HlcTs } from '../storage/types'

// When the storage of a dropped relation may go (issue 17; storage/purge-relations.ts deletes it).
// A relation leaves the catalog at some version, but readers that began before this node installed
// that version may still read its rows: a snapshot transaction on any node (its start HLC holds
// the sweep horizon back, cluster/snapshot-horizon.ts), and a statement planned on the older
// catalog here or on a peer. So the sweeper notes the HLC of the first sweep run that saw an id
// dropped, and purges it only at a later run whose horizon has passed that HLC: every snapshot
// still open began after the drop was known here, and at least one sweep interval
// (storage.sweep_schedule) has gone by for statements planned before it to finish. Not persisted:
// after a restart every dropped id is noted again and waits one run more — later, never earlier.
// Pure data.

export class DroppedRelationGate {
  private readonly seen = new Map<number, HlcTs>()

  /**
   * The ids of `dropped` (the catalog's, now) that may be purged at a run at `now` with sweep
   * horizon `horizon`; ids seen for the first time are noted and wait.
   */
  due (dropped: readonly number[], now: HlcTs, horizon: HlcTs): number[] {
    const current = new Set(dropped)
    // An id no longer dropped (a catalog replaced by an older one, as a restore does) starts over.
    for (const id of this.seen.keys()) if (!current.has(id)) this.seen.delete(id)
    const out: number[] = []
    for (const id of dropped) {
      const at = this.seen.get(id)
      if (at === undefined) this.seen.set(id, now)
      else if (at < horizon) out.push(id)
    }
    return out
  }
}
