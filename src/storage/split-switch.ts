// Shard split, SWITCH step (cluster/shard-split.ts "3. SWITCH"): the parent's side. The parent's
// primary (a single copy: its owner) appends the SPLIT-SWITCH control entry (commit-log.ts kind 3)
// at LSN S, and from S on the parent is FENCED: it refuses writes with SB_SHARD_SPLITTING until
// this node adopts the layout of 2n shards (the node lifts it then: liftSplitFence).
//
// WHAT THE FENCE REFUSES, and why all of the parent's writes: the rule is "no child-side row may
// commit on the parent after S" (every holder's child is derived exactly to S, so a child-side row
// committed after it would be in no child: lost). A row's side comes from its partition columns
// decoded with the catalog's shape of its relation (node/split-row-side.ts), which a shard worker
// does not hold, so the worker cannot tell a parent-side write from a child-side one. It refuses
// every row write, autocommit or in a transaction, every COMMIT and PREPARE of a transaction that
// wrote here (whether it wrote before the fence or not: REFUSED rather than waited for, so an idle
// open transaction cannot hold the switch back; the client retries, 40001), and lets through what
// is already decided (2PC decisions, rollbacks) and leaderless 'lww' statements (a split refuses
// leaderless tables anyway). The cost is that parent-side writes also wait, for the window from S
// to the adoption of 2n (every holder derives to S, then the decider records the layout): seconds.
// A refused write changes nothing: it is refused in the writer pass (writer.ts), before any row.
//
// 2PC: a prepared transaction holds the switch back (appendSplitSwitch answers null): its decision
// entry must come before S so the derive applies it; after S a PREPARE is refused, so none appears.
//
// DURABILITY: the fence record s/splitswitch (n, S) is written in the same batch as the entry, on
// the primary here and on every Mode 1 replica applying the entry (replica-apply.ts), and read at
// open (engine.ts): a restarted primary, or a replica promoted by a failover, keeps refusing.
// Idempotent: a second switch of the same n answers the same S.

import { ScratchBirdError } from '../core/errors'
import { encodeControlEntry } from './commit-log'
import { commitKey, metaKey, readU64, writeU64 } from './keys'
import type { KvStore } from './kv'
import type { ReplicaHost } from './replica-host'
import type { SplitFence } from './split-fence'
import { LSN_META } from './writer'

/** s/splitswitch: the fence of a switched split (absent: none). */
export const SPLIT_SWITCH_META = metaKey('splitswitch')

export function encodeSplitFence (f: SplitFence): Uint8Array {
  const b = new Uint8Array(12)
  new DataView(b.buffer).setUint32(0, f.shards)
  writeU64(b, 4, f.lsn)
  return b
}

export function decodeSplitFence (b: Uint8Array): SplitFence {
  if (b.length !== 12) throw new ScratchBirdError('SB_STORAGE_CORRUPT', 'split switch record: bad length', { length: b.length })
  return { shards: new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0), lsn: readU64(b, 4) }
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
 * Append the switch entry of the split of `shards` into 2n and fence the shard, as one exclusive
 * writer job (every pass queued before landed, so S is after every write accepted before it).
 * Answers S; the held S when switched already for the same n; null while a prepared transaction
 * waits for its decision. SB_NOT_PRIMARY on a Mode 1 replica (only the primary appends).
 */
export function appendSplitSwitch (h: SplitSwitchHost, shards: number): Promise<bigint | null> {
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
    const fence: SplitFence = { shards, lsn }
    const mark = new Uint8Array(8)
    writeU64(mark, 0, lsn)
    await h.kv.batch([
      { type: 'put', key: commitKey(lsn), value: encodeControlEntry(h.st.generation, { kind: 'split_switch', shards }) },
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
