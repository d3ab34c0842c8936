// Control entries of the replicated log (DESIGN §6 Mode 1, issue 14): the replication machine's
// log and the shard's commit log are one log (machine LSN = commit-log LSN), so the entries the
// machine itself adds — a new primary's noop, a membership change's config entry — are appended
// here, at the next LSN, like a commit. The ENGINE allocates the LSN (a commit landing between the
// machine's request and this job simply comes first); the machine learns it from the reply and
// from reading the log tail, in LSN order.
//
// As one exclusive writer job (every write pass queued before has landed, none interleaves):
// refused with SB_REPL_CONTROL_REFUSED, appending nothing, unless `generation` is the shard's
// current one (the hard state's, set by REPL_STATE_SET before the machine asks: a request from a
// generation this replica has left is stale) and not below the generation of the log's last entry.

import { ScratchBirdError } from '../core/errors'
import { encodeControlEntry, type ControlEntry } from './commit-log'
import { commitKey, writeU64 } from './keys'
import type { ReplicaHost } from './replica-host'
import { lastLogGeneration } from './replica-apply'
import { LSN_META } from './writer'

export interface ControlAppendReport {
  /** The LSN the entry was logged at. */
  readonly lsn: bigint
}

export function appendControl (h: ReplicaHost, generation: bigint, c: ControlEntry): Promise<ControlAppendReport> {
  return h.exclusive(async () => {
    const last = await lastLogGeneration(h) ?? 0n
    if (generation !== h.st.generation || generation < last) {
      throw new ScratchBirdError('SB_REPL_CONTROL_REFUSED',
        `replication ${c.kind} entry for shard ${h.shardId} asked at generation ${generation}; the shard is at generation ${h.st.generation}, its last entry at ${last}`,
        { shard: h.shardId, generation: String(h.st.generation), asked_generation: String(generation) })
    }
    const lsn = h.st.lsn + 1n
    const mark = new Uint8Array(8)
    writeU64(mark, 0, lsn)
    await h.kv.batch([
      { type: 'put', key: commitKey(lsn), value: encodeControlEntry(generation, c) },
      { type: 'put', key: LSN_META, value: mark }
    ], { sync: h.durability === 'sync' })
    h.st.lsn = lsn
    return { lsn }
  })
}
