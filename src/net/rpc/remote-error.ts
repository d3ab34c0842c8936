import { type Codec, versionedLowest } from '../../core/codec'
import { CODEC_VERSIONS } from '../../core/codec-versions'
import { ERROR_CODES, ScratchBirdError, type ErrorCode } from '../../core/errors'
import { rpcFail } from './payloads'

// Error replies: a failing RPC method's ScratchBirdError travels as {code, message, details} and
// is rethrown on the caller with the same code, so a forwarded SB_UNIQUE_VIOLATION reaches the
// client as itself. Bounded: an error reply is at most RPC_MAX_ERROR_PAYLOAD_BYTES (details are
// dropped and the message cut when bigger), which also lets the server always fit a batch's
// replies in one body by turning oversized results into errors.
//
// v1: version u8 | code str | message str | details str (a JSON object; '' = none). Details are
// free-form operator fields (a document, not a schema), so they stay JSON inside the envelope.

export const RPC_MAX_ERROR_PAYLOAD_BYTES = 4096

export interface ErrorPayload { code: string, message: string, details: string }

// Written in v1, read up to this build's rpcError version (core/codec-versions.ts).
const errorCodec: Codec<ErrorPayload> = versionedLowest('error reply', CODEC_VERSIONS.rpcError, rpcFail, () => 1,
  (w, e) => { w.str(e.code); w.str(e.message); w.str(e.details) },
  r => ({ code: r.str(), message: r.str(), details: r.str() }))

// Details may hold bigints (xids, HLC timestamps); JSON cannot, so they travel as decimal text.
const bigintAsText = (_k: string, v: unknown): unknown => typeof v === 'bigint' ? v.toString() : v

export function encodeErrorPayload (err: ScratchBirdError): Uint8Array {
  try {
    const full = errorCodec.encode({ code: err.code, message: err.message, details: JSON.stringify(err.details, bigintAsText) ?? '' })
    if (full.length <= RPC_MAX_ERROR_PAYLOAD_BYTES) return full
  } catch {
    // Cyclic details: fall through to the short form.
  }
  let message = err.message
  for (;;) {
    const short = errorCodec.encode({ code: err.code, message, details: '' })
    if (short.length <= RPC_MAX_ERROR_PAYLOAD_BYTES) return short
    message = message.slice(0, message.length >> 1)
  }
}

/**
 * The caller-side error of an error reply's bytes: the remote error, or the coded error saying
 * why the bytes are not one (SB_RPC_MALFORMED, SB_CODEC_VERSION) — returned, never thrown.
 * `unreadable` sees the latter kind (this node refused the bytes; a peer's own SB_CODEC_VERSION
 * reply is the remote error and is not passed to it).
 */
export function decodeErrorPayload (bytes: Uint8Array, peer: string, unreadable: (e: ScratchBirdError) => void = () => {}): ScratchBirdError {
  let e: ErrorPayload
  try {
    e = errorCodec.decode(bytes)
  } catch (err) {
    if (err instanceof ScratchBirdError) unreadable(err)
    if (err instanceof ScratchBirdError) return new ScratchBirdError(err.code, `cluster peer ${peer} sent an unreadable error reply: ${err.message}`, { ...err.details, peer })
    throw err
  }
  let details: unknown = {}
  if (e.details !== '') {
    try { details = JSON.parse(e.details) } catch { details = {} }
  }
  return remoteError(e.code, e.message, details, peer)
}

/**
 * The caller-side error of a remote {code, message, details}. A code this release does not know
 * (a newer peer) becomes SB_RPC_REMOTE_ERROR carrying the remote code, never a crash.
 */
export function remoteError (code: unknown, message: unknown, details: unknown, peer: string): ScratchBirdError {
  const cause = new Error(`error reply from cluster peer ${peer}`)
  const text = typeof message === 'string' ? message : 'no message'
  const fields = typeof details === 'object' && details !== null && !Array.isArray(details) ? details as Record<string, unknown> : {}
  if (typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)) {
    return new ScratchBirdError(code as ErrorCode, text, fields, { cause })
  }
  return new ScratchBirdError('SB_RPC_REMOTE_ERROR', `cluster peer ${peer} failed with ${String(code)}: ${text}`, { ...fields, peer, remote_code: String(code) }, { cause })
}
