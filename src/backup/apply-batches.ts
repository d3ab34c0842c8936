import { ScratchBirdError } from '../core/errors'
import { mutationsSize, type RawLogEntry } from '../storage/commit-log'
import { MAX_APPLY_ENTRIES, MAX_APPLY_MUTATIONS } from '../storage/replica-apply'
import { hlcMs } from '../storage/types'

// Commit-log entries of an incremental backup as the REPL_APPLY calls that write them (restore and
// point-in-time replay): consecutive runs bounded by the apply op's entry and mutation limits and
// by bytes (one call is one ring message), and the cut of point-in-time recovery.

/** Bytes of entries one apply call carries at most (a single larger entry still goes alone). */
export const APPLY_BATCH_BYTES = 2 * 1024 * 1024

export function applyBatches (entries: readonly RawLogEntry[]): RawLogEntry[][] {
  const out: RawLogEntry[][] = []
  let cur: RawLogEntry[] = []
  let muts = 0
  let bytes = 0
  for (const e of entries) {
    const size = 40 + mutationsSize(e.mutations)
    if (cur.length > 0 && (cur.length >= MAX_APPLY_ENTRIES || muts + e.mutations.length > MAX_APPLY_MUTATIONS || bytes + size > APPLY_BATCH_BYTES)) {
      out.push(cur)
      cur = []
      muts = 0
      bytes = 0
    }
    cur.push(e)
    muts += e.mutations.length
    bytes += size
  }
  if (cur.length > 0) out.push(cur)
  return out
}

/**
 * The entries of a shard's log replayed up to `untilMs` (commit time at or before it, in ms since
 * the epoch): the longest prefix in LSN order — the shard ends in a state it really had, at an
 * LSN, each transaction (one entry) whole or absent. `stopped` says the cut fell in these entries:
 * nothing later in the shard's log may be applied.
 */
export function prefixUntil (entries: readonly RawLogEntry[], untilMs: number): { take: RawLogEntry[], stopped: boolean } {
  const i = entries.findIndex(e => hlcMs(e.commitHlc) > untilMs)
  return i < 0 ? { take: [...entries], stopped: false } : { take: entries.slice(0, i), stopped: true }
}

/**
 * The seeds' --until="2026-01-10 15:30:00": a date and time, UTC unless it carries an offset (Z,
 * +02:00); seconds and fractions optional. ms since the epoch, or SB_BAD_ARGUMENT.
 */
export function parseUntil (text: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?)(Z|[+-]\d{2}:?\d{2})?$/.exec(text.trim())
  const ms = m === null ? NaN : Date.parse(`${m[1]!}T${m[2]!}${m[3] ?? 'Z'}`)
  if (!Number.isFinite(ms)) throw new ScratchBirdError('SB_BAD_ARGUMENT', `--until: expected a time such as "2026-01-10 15:30:00" (UTC unless an offset is given), got "${text}"`)
  return ms
}
