import { ScratchBirdError } from '../core/errors'
import { decodeTuple } from './keys'
import { shardOfKey, type CleanupRelation, type CleanupRule } from './split-cleanup'

// The fence of a switched shard split on its parent (storage/split-switch.ts has the rules): the
// value the writer checks in every pass (writer.ts splitRefusal), kept apart from split-switch.ts
// so that the writer does not import the module that appends through it.
//
// WHICH WRITES IT REFUSES: those on the CHILD side — a key whose partition hash mod 2n is s + n,
// decided from the key alone by the split cleanup's rule (split-cleanup.ts THE RULE: per relation,
// where its partition columns sit in its key and how each is hashed; decision records by xid; a
// local index relation by its own key's partition columns). Workers hold no catalog, so the rule
// travels with the switch (SPLIT_SWITCH, the switch entry a replica applies) and is kept in the
// fence record. What the rule cannot place is refused: a relation it does not name (created after
// the rule was built, or with a partition column outside its key), a key that does not decode as
// the rule says, and every write under a fence without a rule (a record of the earlier format).

/** A split of `shards` = n shards into 2n switched at LSN `lsn` on this (parent) shard. */
export interface SplitFence {
  readonly shards: number
  readonly lsn: bigint
  /**
   * Where each relation's keys go at 2n (rule.shards = 2n): only child-side writes are refused.
   * null: every write is (a fence recorded before the rule travelled with it).
   */
  readonly rule: CleanupRule | null
}

/** The error a fenced parent answers a write or a commit with; `what` says what was refused. */
export function splitFenceRefusal (shard: number, f: SplitFence, what: string): ScratchBirdError {
  return new ScratchBirdError('SB_SHARD_SPLITTING',
    `shard ${shard} is switching to its split into ${f.shards * 2} shards (since LSN ${f.lsn}); ${what} was refused and changed nothing — retry: it is routed to the new shard once the new layout is in place`,
    { shard, shards: f.shards, switch_lsn: String(f.lsn) })
}

/** SB_BAD_ARGUMENT unless `rule` places keys among the 2n shards of the split of `shards` = n. */
export function checkFenceRule (rule: CleanupRule, shards: number): void {
  if (rule.shards !== shards * 2) {
    throw new ScratchBirdError('SB_BAD_ARGUMENT', `a split fence of ${shards} shards places keys among ${shards * 2}, not ${rule.shards}`, { shards, rule_shards: rule.shards })
  }
}

const relationsOf = new WeakMap<CleanupRule, ReadonlyMap<number, CleanupRelation>>()

/**
 * Whether parent `shard` under `fence` refuses a write of relation `tableId` at encoded primary
 * key `pkBytes`: true for a child-side key and for anything the rule cannot place (see the top).
 */
export function fencedKey (fence: SplitFence, shard: number, tableId: number, pkBytes: Uint8Array): boolean {
  const rule = fence.rule
  if (rule === null) return true
  let byTable = relationsOf.get(rule)
  if (byTable === undefined) {
    byTable = new Map(rule.relations.map(r => [r.tableId, r]))
    relationsOf.set(rule, byTable)
  }
  const rel = byTable.get(tableId)
  if (rel === undefined) return true
  try {
    return shardOfKey(rel, decodeTuple(pkBytes), rule.shards) !== shard
  } catch {
    // A key the rule cannot hash is one it cannot place: refused (the fence's default).
    return true
  }
}
