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

import { metaKey, readU64 } from './keys'
import type { CommitLogConsumer } from './commit-log'
import type { KvStore } from './kv'
import { u64 } from './replica-apply'
import type { ReplicaHost } from './replica-host'

/** s/splitpin: the first parent LSN a running derive still needs (absent: no pin). */
export const SPLIT_PIN_META = metaKey('splitpin')

/** Pin the log after the last applied LSN (or keep the pin held); answers L0. */
export function pinSplitLog (h: Pick<ReplicaHost, 'kv' | 'st' | 'exclusive' | 'durability'>): Promise<bigint> {
  return h.exclusive(async () => {
    const held = await splitPinFrom(h.kv)
    if (held !== undefined) return held - 1n
    const l0 = h.st.lsn
    await h.kv.batch([{ type: 'put', key: SPLIT_PIN_META, value: u64(l0 + 1n) }], { sync: h.durability === 'sync' })
    return l0
  })
}

/** Release the pin (no-op when none is held). */
export function unpinSplitLog (h: Pick<ReplicaHost, 'kv' | 'exclusive' | 'durability'>): Promise<void> {
  return h.exclusive(async () => { await h.kv.batch([{ type: 'del', key: SPLIT_PIN_META }], { sync: h.durability === 'sync' }) })
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
