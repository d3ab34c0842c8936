import { isScratchBirdError, type ScratchBirdError } from '../core/errors'
import type { Hlc, HlcState } from '../core/hlc'
import { uuidVersion } from '../core/uuid'

// Observing a peer's clock (DESIGN §3): every message from another node that carries an HLC
// reading or UUIDv8-HLC versions moves this node's HLC up to it before anything in the message is
// used. One reading more than max_clock_offset_ms ahead of our wall clock refuses the whole
// message (Hlc.update throws SB_CLOCK_OFFSET_EXCEEDED and changes nothing): a peer with a bad
// clock must not drag every later version of this node into its future. The shells count and log
// the refusal; this module only decides.

/**
 * What a peer may send: an HLC reading as text ("ts.counter", gossip), a version id (only
 * UUIDv8-HLC ones carry a clock: v7 or other versions are skipped), a decoded state, or nothing.
 */
export type RemoteStamp = string | Uint8Array | HlcState | null | undefined

/** The gossip text form of an HLC reading: `${ts}.${counter}`. */
export function encodeHlcText (s: HlcState): string {
  return `${s.ts}.${s.counter}`
}

/** The reading in gossip text, or null for '' or anything else (a peer that sent no reading). */
export function decodeHlcText (text: string): HlcState | null {
  const m = /^(\d{1,15})\.(\d{1,4})$/.exec(text)
  return m ? { ts: Number(m[1]), counter: Number(m[2]) } : null
}

/**
 * Feeds every stamp to `hlc` in order. Returns null when all were accepted (or carried no clock),
 * else the refusal of the first one too far ahead; stamps after it are not observed. Errors other
 * than ScratchBirdErrors are bugs and propagate.
 */
export function observeRemoteHlc (hlc: Hlc, stamps: Iterable<RemoteStamp>): ScratchBirdError | null {
  for (const stamp of stamps) {
    const reading = clockOf(stamp)
    if (reading === null) continue
    try {
      hlc.update(reading)
    } catch (e) {
      if (!isScratchBirdError(e)) throw e
      return e
    }
  }
  return null
}

function clockOf (stamp: RemoteStamp): Uint8Array | HlcState | null {
  if (stamp === null || stamp === undefined) return null
  if (typeof stamp === 'string') return decodeHlcText(stamp)
  if (stamp instanceof Uint8Array) return uuidVersion(stamp) === 8 ? stamp : null
  return stamp
}
