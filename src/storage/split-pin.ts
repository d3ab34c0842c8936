// Shard split, COPY step a (cluster/shard-split.ts "2. COPY"): the pin on the PARENT's commit log.
// A derive of child s + n reads parent s's committed rows (the base copy) and then its log from
// L0 + 1 (the tail), where L0 is the parent's last applied LSN when the derive began; the tail
// converges only if every entry after L0 is still there when the derive reads it. The pin is a
// commit-log consumer "split" needing LSN ≥ L0 + 1 (commit-log.ts commitLogNeed), stored in the
// parent's own store (s/splitpin) so it holds across restarts of the worker and the node: the
// sweep's truncation (engine.sweep → log-truncate.ts) adds it to the consumers the node passes.
// Taken inside one exclusive writer job, so L0 is exactly the last entry landed before it; taking
// it again while held answers the same L0 (a resumed derive); released when the derive is done
// or cancelled.
// CUT: a Mode 1 replica applies entries before its group commits them, so a failover can cut its
// log back (replica-truncate.ts) or replace it by a snapshot (replica-snapshot.ts); a derive that
// already copied rows of the entries removed would keep them. So a cut while the pin is held
// records s/splitcut in the same batch as the cut, and the pin's answer carries it: the derive
// then stops with SB_SPLIT_COPY_STALE (the child must be derived again from empty). Releasing the
// pin clears it.

import { metaKey, readU64 } from './keys'
import type { CommitLogConsumer } from './commit-log'
import type { KvOp, KvStore } from './kv'
import { u64 } from './replica-apply'
import type { ReplicaHost } from './replica-host'

/** s/splitpin: the first parent LSN a running derive still needs (absent: no pin). */
export const SPLIT_PIN_META = metaKey('splitpin')
/** s/splitcut: the log was cut back while the pin was held (see CUT). */
export const SPLIT_CUT_META = metaKey('splitcut')

/** What a held pin says: L0, and whether the log was cut back since it was taken. */
export interface SplitPin { readonly l0: bigint, readonly cut: boolean }

/** Pin the log after the last applied LSN (or keep the pin held); answers L0 and CUT. */
export function pinSplitLog (h: Pick<ReplicaHost, 'kv' | 'st' | 'exclusive' | 'durability'>): Promise<SplitPin> {
  return h.exclusive(async () => {
    const held = await splitPinFrom(h.kv)
    if (held !== undefined) return { l0: held - 1n, cut: await h.kv.get(SPLIT_CUT_META) !== undefined }
    const l0 = h.st.lsn
    await h.kv.batch([{ type: 'put', key: SPLIT_PIN_META, value: u64(l0 + 1n) }, { type: 'del', key: SPLIT_CUT_META }], { sync: h.durability === 'sync' })
    return { l0, cut: false }
  })
}

/**
 * Release the pin; answers the pin released (null: none was held, and nothing is written). The
 * answer lets a node that missed a split's cancel tell a left-over derive from none
 * (node/split-runner.ts leftovers) without taking a pin to find out.
 */
export function unpinSplitLog (h: Pick<ReplicaHost, 'kv' | 'exclusive' | 'durability'>): Promise<SplitPin | null> {
  return h.exclusive(async () => {
    const held = await splitPinFrom(h.kv)
    if (held === undefined) return null
    const cut = await h.kv.get(SPLIT_CUT_META) !== undefined
    await h.kv.batch([{ type: 'del', key: SPLIT_PIN_META }, { type: 'del', key: SPLIT_CUT_META }], { sync: h.durability === 'sync' })
    return { l0: held - 1n, cut }
  })
}

/** The op a batch cutting the log back adds (CUT), when a pin is held. */
export async function splitCutOp (kv: KvStore): Promise<KvOp | undefined> {
  return await splitPinFrom(kv) === undefined ? undefined : { type: 'put', key: SPLIT_CUT_META, value: new Uint8Array(0) }
}

/** The first LSN the pin keeps, or undefined. */
export async function splitPinFrom (kv: KvStore): Promise<bigint | undefined> {
  const v = await kv.get(SPLIT_PIN_META)
  return v === undefined ? undefined : readU64(v, 0)
}

/** The consumers of a truncation, with the split pin's when one is held. */
export async function withSplitPin (kv: KvStore, consumers: readonly CommitLogConsumer[]): Promise<CommitLogConsumer[]> {
  const fromLsn = await splitPinFrom(kv)
  return fromLsn === undefined ? [...consumers] : [...consumers, { name: 'split', fromLsn }]
}
