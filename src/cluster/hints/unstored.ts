import { assert } from '../../core/errors'
import type { Hint } from '../../storage/hint-store'

// Hints the hint log refused to store, kept in memory and offered to it again (issue 21), as a
// sans-I/O queue: the quorum shell keep()s a refused batch, asks take() on its delivery timer, tries
// the batches it gets and answers settled(); no timers, no clock, no store here.
//
// Why: a coordinator whose data directory is full still acknowledges a write its other replicas
// took (W of N) — its own replica refused it with SB_DISK_FULL, and the hint for that replica goes
// to the same full disk and is refused too. Dropped, the row was missing on the coordinator's own
// replica until anti-entropy, which leaves keys younger than its in-flight tolerance (60 s) alone:
// chaos seed 7002 (disk-full nemesis) took 63 s to converge after healing, over issue 21's one-minute
// bound. Kept here and stored once space is back (the shard store reopens on the next write that
// finds room: kv-level.ts), the hint is delivered like any other — to this node itself too.
//
// Rules:
//  - keep() appends a batch (all or nothing, as HintLog.add); beyond MAX_UNSTORED_HINTS hints or
//    MAX_UNSTORED_BYTES bytes the OLDEST batches are dropped (counted): memory is bounded, and a
//    dropped hint leaves its replica to read repair and anti-entropy, as a hint log at its cap does.
//  - take() hands out every held batch, oldest first, once the back-off has passed and no try is
//    in flight; settled() takes back the batches that still failed (ahead of any kept meanwhile,
//    so the order stays oldest first) and doubles the back-off, from FIRST_RETRY_MS up to
//    MAX_RETRY_MS; a try where every batch was stored resets it.
//  - A hint refused for being over the log's cap (SB_HINT_LOG_FULL) is not kept: the shell decides.

/** Most hints held (all targets). */
export const MAX_UNSTORED_HINTS = 100_000
/** Most bytes held (keys and rows, estimated: hintBytes). */
export const MAX_UNSTORED_BYTES = 64 * 1024 * 1024
/** First retry after a refusal, then doubling up to MAX_RETRY_MS: space usually comes back at once or not for long. */
export const FIRST_RETRY_MS = 500
export const MAX_RETRY_MS = 4000

/** Estimated bytes of one held hint: its key, row and version, plus the fixed fields. */
export function hintBytes (h: Hint): number {
  return h.key.length + (h.row?.length ?? 0) + h.versionId.length + 48
}

interface Held { readonly hints: readonly Hint[], readonly bytes: number }

export class UnstoredHints {
  private held: Held[] = []
  private heldHints = 0
  private heldBytes = 0
  private retryAtMs = 0
  private backoffMs = FIRST_RETRY_MS
  private trying = false
  /** Hints dropped over the bounds since start (metrics). */
  dropped = 0

  constructor (private readonly maxHints = MAX_UNSTORED_HINTS, private readonly maxBytes = MAX_UNSTORED_BYTES) {
    assert(maxHints > 0 && maxBytes > 0, 'unstored hint bounds must be positive')
  }

  /** Hints held now. */
  get count (): number { return this.heldHints }
  get bytes (): number { return this.heldBytes }

  /** A batch the log refused: held, first retried FIRST_RETRY_MS after `nowMs` unless a retry is already due sooner. Returns how many hints the bounds dropped. */
  keep (hints: readonly Hint[], nowMs: number): number {
    if (hints.length === 0) return 0
    if (this.held.length === 0 && !this.trying) this.retryAtMs = nowMs + this.backoffMs
    this.push([{ hints, bytes: hints.reduce((n, h) => n + hintBytes(h), 0) }], false)
    return this.trim()
  }

  /** Every held batch, oldest first, when a retry is due (none in flight); null otherwise. */
  take (nowMs: number): Array<readonly Hint[]> | null {
    if (this.trying || this.held.length === 0 || nowMs < this.retryAtMs) return null
    this.trying = true
    const out = this.held
    this.held = []
    this.heldHints = 0
    this.heldBytes = 0
    return out.map(h => h.hints)
  }

  /** The try of take()'s batches ended: `failed` are those the log still refused (in take()'s order). Returns how many hints the bounds dropped. */
  settled (failed: ReadonlyArray<readonly Hint[]>, nowMs: number): number {
    this.trying = false
    if (failed.length === 0) {
      this.backoffMs = FIRST_RETRY_MS
      this.retryAtMs = nowMs + this.backoffMs
      return 0
    }
    this.backoffMs = Math.min(MAX_RETRY_MS, this.backoffMs * 2)
    this.retryAtMs = nowMs + this.backoffMs
    this.push(failed.map(hints => ({ hints, bytes: hints.reduce((n, h) => n + hintBytes(h), 0) })), true)
    return this.trim()
  }

  private push (batches: Held[], front: boolean): void {
    this.held = front ? [...batches, ...this.held] : [...this.held, ...batches]
    for (const b of batches) {
      this.heldHints += b.hints.length
      this.heldBytes += b.bytes
    }
  }

  /** Drop the oldest batches until within the bounds (a single batch over them is dropped too). */
  private trim (): number {
    let dropped = 0
    while (this.held.length > 0 && (this.heldHints > this.maxHints || this.heldBytes > this.maxBytes)) {
      const b = this.held.shift()!
      this.heldHints -= b.hints.length
      this.heldBytes -= b.bytes
      dropped += b.hints.length
    }
    this.dropped += dropped
    return dropped
  }
}
