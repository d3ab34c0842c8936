import { ERROR_CODES, ScratchBirdError, type ErrorCode } from '../../core/errors'
import { encodePayload } from './wire'

// Error replies: a failing RPC method's ScratchBirdError travels as {code, message, details} and
// is rethrown on the caller with the same code, so a forwarded SB_UNIQUE_VIOLATION reaches the
// client as itself. Bounded: an error reply is at most RPC_MAX_ERROR_PAYLOAD_BYTES (details are
// dropped and the message cut when bigger), which also lets the server always fit a batch's
// replies in one body by turning oversized results into errors.

export const RPC_MAX_ERROR_PAYLOAD_BYTES = 4096

// Details may hold bigints (xids, HLC timestamps); JSON cannot, so they travel as decimal text.
const bigintAsText = (_k: string, v: unknown): unknown => typeof v === 'bigint' ? v.toString() : v
const utf8 = new TextEncoder()

export function encodeErrorPayload (err: ScratchBirdError): Uint8Array {
  try {
    const full = utf8.encode(JSON.stringify({ code: err.code, message: err.message, details: err.details }, bigintAsText))
    if (full.length <= RPC_MAX_ERROR_PAYLOAD_BYTES) return full
  } catch {
    // Cyclic details: fall through to the short form.
  }
  let message = err.message
  for (;;) {
    const short = encodePayload({ code: err.code, message })
    if (short.length <= RPC_MAX_ERROR_PAYLOAD_BYTES) return short
    message = message.slice(0, message.length >> 1)
  }
}

/**
 * The caller-side error of an error reply. A code this release does not know (a newer peer)
 * becomes SB_RPC_REMOTE_ERROR carrying the remote code, never a crash.
 */
export function decodeErrorPayload (payload: unknown, peer: string): ScratchBirdError {
  const cause = new Error(`error reply from cluster peer ${peer}`)
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return new ScratchBirdError('SB_RPC_MALFORMED', `cluster peer ${peer} sent an error reply without {code, message}`, { peer })
  }
  const { code, message, details } = payload as Record<string, unknown>
  const text = typeof message === 'string' ? message : 'no message'
  const fields = typeof details === 'object' && details !== null && !Array.isArray(details) ? details as Record<string, unknown> : {}
  if (typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)) {
    return new ScratchBirdError(code as ErrorCode, text, fields, { cause })
  }
  return new ScratchBirdError('SB_RPC_REMOTE_ERROR', `cluster peer ${peer} failed with ${String(code)}: ${text}`, { ...fields, peer, remote_code: String(code) }, { cause })
}
