// Tiny payload helpers. The rings and the channel move bytes only; real messages get their own
// codecs elsewhere. These serve tests, benchmarks and the channel's error replies.
import { classifyIoError, ERROR_CODES, ScratchBirdError, type ErrorCode } from '../core/errors'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeJson (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

/** Works on views of shared memory too (Node's TextDecoder accepts them). */
export function decodeJson (bytes: Uint8Array): unknown {
  return JSON.parse(decoder.decode(bytes))
}

/** Error reply body: the stable code and message, never a stack (it crosses a trust boundary later). */
export function encodeError (err: unknown): Uint8Array {
  if (err instanceof ScratchBirdError) return encodeJson({ code: err.code, message: err.message, details: err.details })
  const io = classifyIoError(err)
  if (io !== null) return encodeJson({ code: io.code, message: io.message, details: io.details })
  return encodeJson({ code: 'SB_INTERNAL', message: err instanceof Error ? err.message : String(err) })
}

export function decodeError (bytes: Uint8Array): ScratchBirdError {
  let body: { code?: unknown, message?: unknown, details?: unknown } = {}
  try {
    body = decodeJson(bytes) as typeof body
  } catch {
    // fall through to SB_INTERNAL: a garbled error reply is itself a bug
  }
  const code: ErrorCode = typeof body.code === 'string' && Object.hasOwn(ERROR_CODES, body.code)
    ? body.code as ErrorCode
    : 'SB_INTERNAL'
  const details = typeof body.details === 'object' && body.details !== null ? body.details as Record<string, unknown> : {}
  return new ScratchBirdError(code, typeof body.message === 'string' ? body.message : 'shard worker error', details)
}
