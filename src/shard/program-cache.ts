// The programs a shard worker has decoded and verified, by their bytes (issue 16 item 3): a
// statement from the plan cache ships the same program bytes on every execution, and the worker
// decodes and verifies them once, not once per request. The bytes themselves are the key, so
// nothing can run a program the worker did not verify from exactly these bytes; a worker that
// restarted or evicted a program simply decodes it again. Bounded (least recently used go first,
// kept from the second arrival on); large programs are decoded every time rather than kept.
import { Buffer } from 'node:buffer'
import { deserialize } from '../sblr/program'
import type { Program } from '../sblr/program'

export const WORKER_PROGRAMS = 512
export const MAX_KEPT_PROGRAM_BYTES = 4096

export class ProgramCache {
  private readonly programs = new Map<string, Program>()
  // Bytes seen once and not kept yet: a program is kept from its second arrival on, as the plan
  // cache keeps a script (programs with their values written in as constants seldom come twice).
  private readonly seenOnce = new Set<string>()
  hits = 0
  misses = 0

  constructor (readonly capacity = WORKER_PROGRAMS) {}

  get size (): number { return this.programs.size }

  /** The verified program of `bytes`; SB_SBLR_INVALID (and nothing kept) when they are not one. */
  program (bytes: Uint8Array): Program {
    if (bytes.length > MAX_KEPT_PROGRAM_BYTES || this.capacity <= 0) return deserialize(bytes)
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
    const known = this.programs.get(key)
    if (known !== undefined) {
      this.hits++
      this.programs.delete(key)
      this.programs.set(key, known)
      return known
    }
    this.misses++
    const p = deserialize(bytes) // invalid bytes throw here: neither kept nor remembered
    if (!this.seenOnce.has(key)) {
      if (this.seenOnce.size >= this.capacity) this.seenOnce.clear()
      this.seenOnce.add(key)
      return p
    }
    this.seenOnce.delete(key)
    this.programs.set(key, p)
    if (this.programs.size > this.capacity) this.programs.delete(this.programs.keys().next().value!)
    return p
  }
}

/** Without a cache (tests, one-off runs): decode every time. */
export const decodeProgram = (bytes: Uint8Array): Program => deserialize(bytes)
