// I/O shell for the HLC high-water mark (DESIGN §3: "persisted so a restart never goes backwards").
// Works like a lease: we persist ts + reserveMs and the Hlc may issue ids below that mark without
// touching the disk; it calls reserve() again halfway through. A node reserves 2 × max_clock_offset_ms
// (hlcReserveMs, 1 s by default): one small synchronous write per ~0.5 s of clock time, never per id. Synchronous node:fs on purpose:
// the Hlc is synchronous and this runs rarely (and once at boot).
import { readFileSync } from 'node:fs'
import { writeFileAtomic } from './atomic-file'
import { classifyIoError, isScratchBirdError, messageOf, ScratchBirdError } from './errors'
import { Hlc, type HlcMarkSink, type HlcOptions } from './hlc'

export const DEFAULT_HLC_RESERVE_MS = 10_000

/**
 * The reserve a node uses: twice max_clock_offset_ms (1 s by default), capped at the default.
 * A restarted node resumes at its mark, up to one reserve ahead of the wall clock, and peers
 * refuse timestamps more than max_clock_offset_ms ahead — so the reserve must stay close to that
 * bound, and the node waits out the part of the lead above half of it (restartWaitMs) before it
 * talks to anyone. At 1 s the mark is rewritten about twice a second while ids are issued.
 */
export function hlcReserveMs (maxClockOffsetMs: number): number {
  return Math.max(1, Math.min(DEFAULT_HLC_RESERVE_MS, 2 * maxClockOffsetMs))
}

/** How long to wait at boot before resuming at `mark`, so the HLC leads the wall clock by at most max_clock_offset_ms / 2. */
export function restartWaitMs (mark: number | undefined, wallMs: number, maxClockOffsetMs: number): number {
  return mark === undefined ? 0 : Math.max(0, Math.ceil(mark - wallMs - maxClockOffsetMs / 2))
}

export interface HlcPersistenceOptions {
  /** How far ahead of the current timestamp each persisted mark reaches. Default 10 s. */
  reserveMs?: number
}

export class HlcPersistence implements HlcMarkSink {
  readonly path: string
  readonly reserveMs: number
  /** Marks written (for tests and metrics: about one per reserveMs/2 of clock time). */
  writes = 0
  private lastMark = 0

  constructor (path: string, options: HlcPersistenceOptions = {}) {
    const { reserveMs = DEFAULT_HLC_RESERVE_MS } = options
    if (!Number.isInteger(reserveMs) || reserveMs < 1) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `HLC reserve must be a positive integer of ms, got ${reserveMs}`, { reserveMs })
    }
    this.path = path
    this.reserveMs = reserveMs
  }

  /** The persisted mark, or undefined when the file does not exist yet (a new node). */
  read (): number | undefined {
    let bytes: Uint8Array
    try {
      bytes = readFileSync(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new ScratchBirdError('SB_HLC_STATE_INVALID', `cannot read HLC high-water mark ${this.path}: ${(err as Error).message}`,
        { path: this.path }, { cause: err })
    }
    let mark: number
    try {
      mark = Hlc.decodeState(bytes)
    } catch (err) {
      if (!isScratchBirdError(err)) throw err
      // Refuse to guess: starting from the wall clock could reissue ids below old ones.
      throw new ScratchBirdError('SB_HLC_STATE_INVALID', `${err.message} (${this.path}); restore the file from backup or, if no id was issued after the wall clock's current time, delete it`,
        { ...err.details, path: this.path }, { cause: err })
    }
    this.lastMark = Math.max(this.lastMark, mark)
    return mark
  }

  /**
   * Atomically replace the file (write tmp, fsync, rename, fsync the directory). A failure is a
   * coded error (SB_DISK_FULL on a full disk): callers on the gossip and RPC paths treat coded
   * errors as a refusal of that one message, where a raw one would end the process.
   */
  write (mark: number): void {
    try {
      writeFileAtomic(this.path, Hlc.encodeState(mark))
    } catch (e) {
      throw classifyIoError(e) ?? new ScratchBirdError('SB_HLC_PERSIST_FAILED', `cannot persist the HLC high-water mark to ${this.path}: ${messageOf(e)}`, { path: this.path }, { cause: e })
    }
    this.writes++
    this.lastMark = mark
  }

  /** HlcMarkSink: persist a mark reserveMs above `ts` (never lower than one already written). */
  reserve (ts: number): number {
    const mark = Math.max(ts + this.reserveMs, this.lastMark)
    this.write(mark)
    return mark
  }

  /**
   * Boot: read the mark (if any), start an Hlc above it and wired to this file. Writes the first
   * reservation before returning, so an unwritable data dir fails here, not on the first insert.
   */
  startHlc (options: Omit<HlcOptions, 'restoreFrom' | 'markSink'>): Hlc {
    const restoreFrom = this.read()
    return new Hlc({ ...options, restoreFrom, markSink: this })
  }
}
