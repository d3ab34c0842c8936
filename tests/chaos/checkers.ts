import { anomalies, type Anomalies, type Op } from './history'

// Checkers over a recorded history (issue 21 item 2), pure: they take the operations and the final
// state read from every node after healing, and name every anomaly.

/**
 * Set workload on a leaderless table (unique keys inserted once; some acknowledged ones deleted):
 *  - lost: an acknowledged insert of a key no delete was ever attempted on, missing on a node;
 *  - resurrected: a key whose delete was acknowledged, present on a node;
 *  - phantom: a key present that no insert ever attempted;
 *  - divergent: the nodes' final reads differ (replicas not identical after healing and repair).
 */
export function checkSet (history: readonly Op[], finalByNode: ReadonlyMap<number, ReadonlySet<number>>): Anomalies {
  const a = anomalies()
  const inserted = new Map<number, Op[]>()
  const deletes = new Map<number, Op[]>()
  for (const op of history) {
    if (op.f === 'insert') inserted.set(op.key, [...(inserted.get(op.key) ?? []), op])
    if (op.f === 'delete') deletes.set(op.key, [...(deletes.get(op.key) ?? []), op])
  }
  for (const [node, keys] of finalByNode) {
    for (const [key, ops] of inserted) {
      const acked = ops.some(o => o.outcome === 'ok')
      const delAttempted = (deletes.get(key) ?? []).some(o => o.outcome !== 'fail')
      if (acked && !delAttempted && !keys.has(key)) a.add('lost', `key ${key} acknowledged at ${ops.find(o => o.outcome === 'ok')!.end} ms, missing on node ${node}`)
    }
    for (const [key, ops] of deletes) {
      const del = ops.find(o => o.outcome === 'ok')
      // Keys are inserted once, and only acknowledged ones are deleted: an acknowledged delete is final.
      if (del !== undefined && keys.has(key)) a.add('resurrected', `key ${key} deleted (acknowledged at ${del.end} ms) is present on node ${node}`)
    }
    for (const key of keys) if (!inserted.has(key)) a.add('phantom', `key ${key} on node ${node} was never inserted`)
  }
  const views = [...finalByNode.entries()]
  for (let i = 1; i < views.length; i++) {
    const [n0, k0] = views[0]!
    const [ni, ki] = views[i]!
    const onlyFirst = [...k0].filter(k => !ki.has(k))
    const onlyOther = [...ki].filter(k => !k0.has(k))
    if (onlyFirst.length + onlyOther.length > 0) {
      a.add('divergent', `node ${n0} and node ${ni} differ: only on ${n0}: [${onlyFirst.slice(0, 5).join(', ')}${onlyFirst.length > 5 ? ', …' : ''}], only on ${ni}: [${onlyOther.slice(0, 5).join(', ')}${onlyOther.length > 5 ? ', …' : ''}]`)
    }
  }
  return a
}

/**
 * Register workload on a leaderless table with R + W > N: writes of globally unique values to a
 * few keys, quorum reads. Last-writer-wins orders writes by their HLC versions, which follow real
 * time only up to the nodes' clock offsets, so "before" below means before by more than
 * `toleranceMs` (twice the largest offset in play, plus scheduling slack).
 *  - future-read: a read returned a value no write had been started for before the read ended;
 *  - stale-read: a read returned a value (or no row) although a write acknowledged before the read
 *    began was itself begun after the write that produced that value had ended (so it must win).
 */
export function checkRegister (history: readonly Op[], toleranceMs: number): Anomalies {
  const a = anomalies()
  const writesByKey = new Map<number, Op[]>()
  for (const op of history) if (op.f === 'write' && op.outcome !== 'fail') writesByKey.set(op.key, [...(writesByKey.get(op.key) ?? []), op])
  for (const r of history) {
    if (r.f !== 'read' || r.outcome !== 'ok') continue
    const writes = writesByKey.get(r.key) ?? []
    const source = r.value === null ? null : writes.find(w => w.value === r.value)
    if (r.value !== null && (source === undefined || source!.start > r.end)) {
      a.add('future-read', `read of key ${r.key} at ${r.start}–${r.end} ms returned ${r.value}, which no write started before then`)
      continue
    }
    const sourceEnd = source?.end ?? -Infinity
    const newer = writes.find(w => w.outcome === 'ok' && w.end + toleranceMs < r.start && w.start > sourceEnd + toleranceMs)
    if (newer !== undefined) {
      a.add('stale-read', `read of key ${r.key} at ${r.start}–${r.end} ms returned ${r.value === null ? 'no row' : r.value}, but ${newer.value} was acknowledged at ${newer.end} ms after a write begun at ${newer.start} ms`)
    }
  }
  return a
}

/**
 * Bank workload (primary/replica tables, transfers by two-phase commit): every total read that
 * succeeded equals the sum the accounts started with — a transfer is never half seen, whatever
 * failed or was cut off around it.
 */
export function checkBank (history: readonly Op[], total: number): Anomalies {
  const a = anomalies()
  for (const op of history) {
    if (op.f === 'read' && op.outcome === 'ok' && op.value !== total) a.add('bank-total', `total ${String(op.value)} read on node ${op.node} at [${op.start}, ${op.end}] ms, expected ${total}`)
  }
  return a
}
