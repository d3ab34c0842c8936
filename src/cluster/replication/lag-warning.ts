import type { NodeId } from '../../core/ids'

// replication.log lag warnings (issue 14 item 7): a replica whose lag passes
// replication.lag_warning_ms is warned about once, when it crosses the threshold, and reported
// again when it is back under it — not at every tick while it stays behind. Pure: the caller
// keeps `over` (the replicas over the threshold at the last check) and logs what this returns.

export interface LagSample { readonly replica: NodeId, readonly lagMs: number, readonly lagLsns: bigint }

export interface LagWarnings {
  /** Crossed the threshold since the last check. */
  readonly warn: LagSample[]
  /** Back under it. */
  readonly recovered: LagSample[]
  /** The replicas over the threshold now (pass to the next check). */
  readonly over: ReadonlySet<NodeId>
}

export function lagWarnings (samples: readonly LagSample[], over: ReadonlySet<NodeId>, thresholdMs: number): LagWarnings {
  const now = new Set<NodeId>()
  const warn: LagSample[] = []
  const recovered: LagSample[] = []
  for (const s of samples) {
    if (s.lagMs > thresholdMs) {
      now.add(s.replica)
      if (!over.has(s.replica)) warn.push(s)
    } else if (over.has(s.replica)) {
      recovered.push(s)
    }
  }
  return { warn, recovered, over: now }
}
