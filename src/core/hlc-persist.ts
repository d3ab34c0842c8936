// I/O shell for the HLC high-water mark (DESIGN §3: "persisted so a restart never goes backwards").
// Works like a lease: we persist ts + reserveMs and the Hlc may issue ids below that mark without
// touching the disk; it calls reserve() again halfway through. A node reserves 2 × max_clock_offset_ms
// (hlcReserveMs, 1 s by default): one small write per ~0.5 s of clock time, never per id.
//
// The renewal halfway through a lease is written in the background (reserveAhead: libuv's thread
// pool fsyncs, the event loop goes on issuing ids below the current mark); the boot reservation,
// and a renewal whose lease ended before the background write landed, are synchronous (the Hlc is
// synchronous: no id may be issued until the mark is on disk). A synchronous write while a
// background one is in flight goes to a second file, `<path>.sync`: two renames onto one path
// landing out of order could leave the lower mark. read() takes the higher of the two files, so the
// mark after a crash is at least every mark the Hlc was told is durable.
import { readFileSync } from 'node:fs'
import { writeFileAtomic, writeFileAtomicAsync } from './atomic-file'
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
  /** A background write (reserveAhead) is in flight. */
  private writing = false
  private inFlight: Promise<void> = Promise.resolve()

  constructor (path: string, options: HlcPersistenceOptions = {}) {
    const { reserveMs = DEFAULT_HLC_RESERVE_MS } = options
    if (!Number.isInteger(reserveMs) || reserveMs < 1) {
      throw new ScratchBirdError('SB_BAD_ARGUMENT', `HLC reserve must be a positive integer of ms, got ${reserveMs}`, { reserveMs })
    }
    this.path = path
    this.reserveMs = reserveMs
  }

  /** The persisted mark (the higher of the file and its `.sync` companion), or undefined when neither exists yet (a new node). */
  read (): number | undefined {
    const main = readMark(this.path)
    const sync = readMark(this.syncPath)
    const mark = main === undefined ? sync : sync === undefined ? main : Math.max(main, sync)
    if (mark !== undefined) this.lastMark = Math.max(this.lastMark, mark)
    return mark
  }

  /** Where a synchronous write goes while a background one is in flight. */
  get syncPath (): string { return `${this.path}.sync` }

  /**
   * Atomically replace the file (write tmp, fsync, rename, fsync the directory). A failure is a
   * coded error (SB_DISK_FULL on a full disk): callers on the gossip and RPC paths treat coded
   * errors as a refusal of that one message, where a raw one would end the process.
   */
  write (mark: number): void {
    const path = this.writing ? this.syncPath : this.path
    try {
      writeFileAtomic(path, Hlc.encodeState(mark))
    } catch (e) {
      throw this.persistError(path, e)
    }
    this.writes++
    this.lastMark = Math.max(this.lastMark, mark)
  }

  /** HlcMarkSink: persist a mark reserveMs above `ts` (never lower than one already written). */
  reserve (ts: number): number {
    const mark = Math.max(ts + this.reserveMs, this.lastMark)
    this.write(mark)
    return mark
  }

  /** Resolves once no background write is in flight (shutdown, tests). */
  settled (): Promise<void> { return this.inFlight }

  /** HlcMarkSink: as reserve(), written in the background; one at a time (the Hlc's rule). */
  reserveAhead (ts: number, done: (mark: number) => void, failed: (error: unknown) => void): void {
    const mark = Math.max(ts + this.reserveMs, this.lastMark)
    this.writing = true
    this.inFlight = writeFileAtomicAsync(this.path, Hlc.encodeState(mark)).then(() => {
      this.writing = false
      this.writes++
      this.lastMark = Math.max(this.lastMark, mark)
      done(mark)
    }, (e: unknown) => {
      this.writing = false
      failed(this.persistError(this.path, e))
    })
  }

  private persistError (path: string, e: unknown): ScratchBirdError {
    return classifyIoError(e) ?? new ScratchBirdError('SB_HLC_PERSIST_FAILED', `cannot persist the HLC high-water mark to ${path}: ${messageOf(e)}`, { path }, { cause: e })
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

/** One mark file's mark, undefined when it does not exist. */
function readMark (path: string): number | undefined {
  let bytes: Uint8Array
  try {
    bytes = readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ScratchBirdError('SB_HLC_STATE_INVALID', `cannot read HLC high-water mark ${path}: ${(err as Error).message}`,
      { path }, { cause: err })
  }
  try {
    return Hlc.decodeState(bytes)
  } catch (err) {
    if (!isScratchBirdError(err)) throw err
    // Refuse to guess: starting from the wall clock could reissue ids below old ones.
    throw new ScratchBirdError('SB_HLC_STATE_INVALID', `${err.message} (${path}); restore the file from backup or, if no id was issued after the wall clock's current time, delete it`,
      { ...err.details, path }, { cause: err })
  }
}
