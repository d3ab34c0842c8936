import { uuidv8Timestamp } from '../../core/hlc'
import { compareVersionIds } from '../../storage/lww'
import { rowImageHash, type LeafDiff, type MerkleLeaf } from '../../storage/merkle/tree'
import type { LwwOutcome } from '../../storage/row-write'
import type { VersionId } from '../../storage/types'
import type { Side } from './types'

// What a repair round does with one key whose leaves differ between the two replicas of a window
// (DESIGN §6 "Anti-entropy"), as a table of pure functions; round.ts carries them out.
//
// A window's leaf of a key is the highest version of that key WRITTEN in that window (history, not
// the row's current state). A side whose leaf is lower than the other's, or absent, never received
// the other's version; it may still hold a newer version of the key from a later window.
//
//   leaves compared (diffLeaves)                 action
//   same version id, different row hash          'conflict': one copy is damaged and LWW cannot
//                                                say which; counted and logged, not repaired
//   the newer leaf's version is younger than     'in-flight': the write may still be on its way
//   the round's start − in-flight tolerance      (quorum fan-out, hint); left to a later round
//   otherwise                                    'repair': the side with the lower or no leaf
//                                                (the lagging side) is brought up to the leaf
//
// Repairing one key, both directions in the same round:
//
//   step          on                  outcome                          next
//   1 ADOPT leaf  lagging side        recorded (it holds ≥ the leaf)   done: only history was missing
//                                     needsData                        2
//   2 READ key    holding side        no version, an older one, or     'unrepairable' (purged,
//                                     the leaf's version with another  damaged): counted, left
//                                     row hash
//                                     the leaf's version               3, the write adds the leaf
//                                     a newer version                  3, then 4
//   3 APPLY       lagging side        newer                            a row repaired
//                                     same / older                     it got the version meanwhile
//   4 ADOPT leaf  lagging side        recorded                         done (it now holds ≥ the leaf)
//                                     needsData                        'unrepairable' (cannot happen
//                                                                      unless its data went back)
//
// Why the in-flight rule is by version timestamp: every replica's active window differs while
// writes are in flight, so its root is useless as a signal; a leaf older than the tolerance is a
// write the quorum fan-out and hinted handoff had time to deliver. The tolerance only saves work:
// repairing an in-flight write early is harmless (LWW, idempotent), so it need not be exact.

export type KeyAction =
  | { readonly kind: 'conflict' }
  | { readonly kind: 'in-flight' }
  | { readonly kind: 'repair', readonly lagging: Side, readonly holder: Side, readonly leaf: MerkleLeaf }

/**
 * The action for one differing key. `diff.mine` is the local replica's leaf, `diff.theirs` the
 * peer's; `youngerThanMs` is round start − tolerance: newer leaves with a timestamp at or above it
 * are in flight.
 */
export function keyAction (diff: LeafDiff, youngerThanMs: number): KeyAction {
  if (diff.newer === 'neither') return { kind: 'conflict' }
  const leaf = diff.newer === 'mine' ? diff.mine! : diff.theirs!
  if (uuidv8Timestamp(leaf.version) >= youngerThanMs) return { kind: 'in-flight' }
  return diff.newer === 'mine'
    ? { kind: 'repair', lagging: 'peer', holder: 'local', leaf }
    : { kind: 'repair', lagging: 'local', holder: 'peer', leaf }
}

export type ReadDecision =
  | { readonly kind: 'unrepairable' }
  /** Ship this version; adoptAfter: it is newer than the leaf, so the leaf must be adopted after the apply. */
  | { readonly kind: 'apply', readonly versionId: VersionId, readonly row: Uint8Array | null, readonly adoptAfter: boolean }

/** Step 2: what the holder's latest version of the key (REPLICA_READ) allows. */
export function afterRead (leaf: MerkleLeaf, read: { readonly versionId: VersionId, readonly row: Uint8Array | null } | null): ReadDecision {
  if (read === null) return { kind: 'unrepairable' }
  const order = compareVersionIds(read.versionId, leaf.version)
  if (order < 0) return { kind: 'unrepairable' }
  if (order === 0 && rowImageHash(read.row) !== leaf.rowHash) return { kind: 'unrepairable' }
  return { kind: 'apply', versionId: read.versionId, row: read.row, adoptAfter: order > 0 }
}

/** Step 3: whether REPLICA_APPLY's outcome counts as a repaired row. */
export function isRowRepaired (outcome: LwwOutcome): boolean {
  return outcome === 'newer'
}
