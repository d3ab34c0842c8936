import type { RawLogEntry } from '../storage/commit-log'

// The cluster-wide cut of `scratchbird_backup --cluster` (issue 17 item 5), applied on restore.
//
// A cluster backup holds, per node, a full snapshot of every shard taken first, then the commit
// log from each snapshot's LSN to where it reached after the cut HLC T was chosen and pushed into
// every node (src/node/backup-source.ts cut()). Every commit with commit HLC ≤ T is in snapshot or
// log; the log also holds commits above T. Restore applies the log entry by entry, keeping each
// at its LSN but emptying those that committed above T:
//   - a plain commit above T becomes the same commit with no row mutations (its xid is known,
//     nothing of it is visible);
//   - the COMMIT PREPARED of a two-phase transaction above T becomes its ABORT PREPARED: the
//     versions its PREPARE wrote are dead. A two-phase transaction commits at ONE HLC on every
//     participant (cluster/twopc/coordinator.ts), so it is kept or emptied alike everywhere;
//   - PREPAREs, aborts and control entries stay as they are (a PREPARE left without a decision
//     is resolved after start by limbo recovery from the decision record, itself a commit cut at
//     T: a transaction committed above T has its record above T too, so it is presumed aborted).
// Not a prefix (point-in-time replay's rule): on one shard a two-phase COMMIT at HLC ≤ T can
// follow a local commit above T in LSN order (its HLC was chosen on the coordinator, before the
// cut was pushed into this node). Emptying instead of dropping keeps every LSN: the copies of a
// Mode 1 shard on different nodes, cut alike, stay prefixes of one log and catch up as usual.
// Keeping a later entry while emptying an earlier one is sound: they cannot touch the same row
// (the earlier one committed before the later one's PREPARE, hence below its HLC, hence below T).

/** Entry `e` as a restore cut at HLC `cut` applies it. */
export function cutEntry (e: RawLogEntry, cut: bigint): RawLogEntry {
  if (e.control !== undefined || e.phase === 'prepare' || e.phase === 'abort') return e
  if (e.commitHlc <= cut) return e
  if (e.phase === 'commit') return { lsn: e.lsn, generation: e.generation, xid: e.xid, commitHlc: 0n as RawLogEntry['commitHlc'], mutations: [], phase: 'abort' }
  return { lsn: e.lsn, generation: e.generation, xid: e.xid, commitHlc: e.commitHlc, mutations: [] }
}

/** The entries of one log chunk as a restore cut at `cut` applies them, and how many were emptied. */
export function cutEntries (entries: readonly RawLogEntry[], cut: bigint): { entries: RawLogEntry[], emptied: number } {
  let emptied = 0
  const out = entries.map(e => {
    const c = cutEntry(e, cut)
    if (c !== e) emptied++
    return c
  })
  return { entries: out, emptied }
}
