// Shard split, SWITCH step (cluster/shard-split.ts "3. SWITCH"): the parent's side. The parent's
// primary (a single copy: its owner) appends the SPLIT-SWITCH control entry (commit-log.ts kind 3)
// at LSN S, and from S on the parent is FENCED: it refuses child-side writes with SB_SHARD_SPLITTING
// until this node adopts the layout of 2n shards (the node lifts it then: liftSplitFence).
//
// WHAT THE FENCE REFUSES: the rule is "no child-side row may commit on the parent after S" (every
// holder's child is derived exactly to S, so a child-side row committed after it would be in no
// child: lost). It refuses a row write whose key is on the child side (partition hash mod 2n =
// s + n), autocommit or in a transaction, and the COMMIT and PREPARE of a transaction holding such
// a write (whether it wrote before the fence or not: REFUSED rather than waited for, so an idle
// open transaction cannot hold the switch back; the client retries, 40001). Parent-side writes and
// commits of transactions holding only parent-side writes go on as usual; decisions of prepared
// transactions, rollbacks and leaderless 'lww' statements always pass (a split refuses leaderless
// tables anyway). A row's side comes from its key alone by the split cleanup's rule
// (split-cleanup.ts THE RULE), built by the main thread from the catalog (node/split-cleanup.ts
// cleanupRule at 2n) and sent with SPLIT_SWITCH, since a worker holds no catalog; what the rule
// cannot place (a relation it does not name) is refused (split-fence.ts fencedKey). A refused
// write changes nothing: it is refused in the writer pass (writer.ts), before any row.
//
// 2PC: a prepared transaction holds the switch back (appendSplitSwitch answers null): its decision
// entry must come before S so the derive applies it. After S a PREPARE holding a child-side write
// is refused; one holding only parent-side writes goes through, and its decision after S concerns
// no row of the child.
//
// DURABILITY: the fence record s/splitswitch (n, S, the rule) is written in the same batch as the
// entry, on the primary here and on every Mode 1 replica applying the entry (replica-apply.ts: the
// entry carries the rule, commit-log.ts control kind 3), and read at open (engine.ts): a restarted
// primary, or a replica promoted by a failover, keeps refusing the same writes. A record of the
// earlier format (12 bytes: n and S, no rule) reads as a fence without a rule, which refuses every
// write, as that release did. Idempotent: a second switch of the same n answers the same S.

import { ScratchBirdError } from '../core/errors'
import { encodeControlEntry } from './commit-log'
import { CodecReader, CodecWriter } from '../core/codec'
import { commitKey, metaKey, readU64, writeU64 } from './keys'
import type { KvStore } from './kv'
import type { ReplicaHost } from './replica-host'
import { readRule, writeRule, type CleanupRule } from './split-cleanup'
import type { SplitFence } from './split-fence'
import { LSN_META } from './writer'

/** s/splitswitch: the fence of a switched split (absent: none). */
export const SPLIT_SWITCH_META = metaKey('splitswitch')

/** The record's format since the rule travels with it; the earlier record is 12 bytes, no format byte. */
const FENCE_FORMAT = 2
const LEGACY_LENGTH = 12

export function encodeSplitFence (f: SplitFence): Uint8Array {
  const w = new CodecWriter(32)
  w.u8(FENCE_FORMAT)
  w.u32(f.shards)
  w.u64(f.lsn)
  w.opt(f.rule, r => writeRule(w, r))
  return w.take()
}

const corrupt = (why: string): ScratchBirdError => new ScratchBirdError('SB_STORAGE_CORRUPT', `split switch record: ${why}`)

export function decodeSplitFence (b: Uint8Array): SplitFence {
  if (b.length === LEGACY_LENGTH) return { shards: new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0), lsn: readU64(b, 4), rule: null }
  const r = new CodecReader(b, corrupt)
  if (r.u8() !== FENCE_FORMAT) throw new ScratchBirdError('SB_STORAGE_CORRUPT', 'split switch record: unknown format', { length: b.length })
  const shards = r.u32()
  const lsn = r.u64()
  const rule = r.opt(() => readRule(r)) ?? null
  r.finish()
  return { shards, lsn, rule }
}

export type { SplitFence } from './split-fence'

export async function readSplitFence (kv: KvStore): Promise<SplitFence | null> {
  const v = await kv.get(SPLIT_SWITCH_META)
  return v === undefined ? null : decodeSplitFence(v)
}

/** What the engine state holds for the switch (ShardState). */
export interface SplitSwitchHost extends Pick<ReplicaHost, 'kv' | 'tip' | 'durability' | 'exclusive' | 'shardId'> {
  readonly st: ReplicaHost['st'] & { splitFence: SplitFence | null }
}

/**
 * Append the switch entry of the split of `shards` into 2n and fence the shard's child-side writes
 * by `rule` (null: all of its writes), as one exclusive writer job (every pass queued before
 * landed, so S is after every write accepted before it). Answers S; the held S when switched
 * already for the same n; null while a prepared transaction waits for its decision.
 * SB_NOT_PRIMARY on a Mode 1 replica (only the primary appends).
 */
export function appendSplitSwitch (h: SplitSwitchHost, shards: number, rule: CleanupRule | null): Promise<bigint | null> {
  return h.exclusive(async () => {
    const held = h.st.splitFence
    if (held !== null) {
      if (held.shards === shards) return held.lsn
      throw new ScratchBirdError('SB_SPLIT_PROGRESS_MISMATCH', `shard ${h.shardId} switched to a split of ${held.shards} shards, not ${shards}`,
        { shard: h.shardId, recorded: String(held.shards), expected: String(shards) })
    }
    const role = h.st.replRole
    if (role !== 'none' && role !== 'primary') {
      throw new ScratchBirdError('SB_NOT_PRIMARY', `this node holds a ${role} copy of shard ${h.shardId}, not its primary: only the primary appends a split's switch entry`, { role })
    }
    if (h.tip.limbo.size > 0) return null
    const lsn = h.st.lsn + 1n
    const fence: SplitFence = { shards, lsn, rule }
    const mark = new Uint8Array(8)
    writeU64(mark, 0, lsn)
    await h.kv.batch([
      { type: 'put', key: commitKey(lsn), value: encodeControlEntry(h.st.generation, rule === null ? { kind: 'split_switch', shards } : { kind: 'split_switch', shards, rule }) },
      { type: 'put', key: LSN_META, value: mark },
      { type: 'put', key: SPLIT_SWITCH_META, value: encodeSplitFence(fence) }
    ], { sync: h.durability === 'sync' })
    h.st.lsn = lsn
    h.st.splitFence = fence
    return lsn
  })
}

/** Lift the fence of the split of `shards` (this node adopted 2n); false when none was held for it. */
export function liftSplitFence (h: SplitSwitchHost, shards: number): Promise<boolean> {
  return h.exclusive(async () => {
    if (h.st.splitFence?.shards !== shards) return false
    await h.kv.batch([{ type: 'del', key: SPLIT_SWITCH_META }], { sync: h.durability === 'sync' })
    h.st.splitFence = null
    return true
  })
}
