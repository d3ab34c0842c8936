import { codecVersionError } from '../../core/codec'
import { ScratchBirdError, assert } from '../../core/errors'
import { CODEC_VERSIONS } from '../../core/codec-versions'
import { LIMITS } from '../../core/limits'

// Wire format of cluster RPC (DESIGN §7): one HTTP/1.1 POST body carries a batch of requests, its
// response body the batch of replies. All integers big-endian.
//
//   frame   = magic "SBR1" (4 bytes) | version u8 (= 2) | count u16 (1..RPC_MAX_MESSAGES) | message × count
//   message = kind u8 | opcode u8 | id u32 | length u32 | payload (length bytes)
//   kind    = 0 request, 1 reply ok, 2 reply error (a request frame holds only requests, a reply
//             frame only replies); a reply carries the opcode and id of its request.
//
// Payloads are raw bytes, each in its opcode's versioned binary codec (payloads.ts; error replies:
// remote-error.ts). Not v8.serialize: these bytes come from the network, and v8's deserializer
// builds arbitrary object graphs (typed arrays of any size, Maps, Sets, …) from them, and its
// format changes with the Node major version, which would break a rolling upgrade across Node
// releases. Version 1 of this frame carried JSON payloads; 2 carries binary ones, so a node of
// either kind refuses the other's frames whole instead of misreading them (a newer frame version
// is SB_CODEC_VERSION naming both, an older one SB_RPC_MALFORMED).
//
// Bounded (DESIGN §10): a body is at most RPC_MAX_BODY_BYTES and RPC_MAX_MESSAGES messages. The
// decoder checks every length before reading and never throws anything but SB_RPC_MALFORMED (or
// SB_CODEC_VERSION for a newer frame), whatever the bytes (fuzzed in tests/unit/net/rpc-wire.test.ts).

export const RPC_MAGIC = Uint8Array.of(0x53, 0x42, 0x52, 0x31) // "SBR1"
/** Not under the lowest-version rule (core/codec-versions.ts): the framing changes only in a major release. */
export const RPC_WIRE_VERSION = CODEC_VERSIONS.rpcFrame
/** Largest request or reply body. A forwarded shard query's result must fit in one reply. */
export const RPC_MAX_BODY_BYTES = LIMITS.rpcBodyBytes
/** Most messages in one batch; the client splits larger bursts into several POSTs. */
export const RPC_MAX_MESSAGES = 1024
export const RPC_FRAME_HEADER_BYTES = 7
export const RPC_MESSAGE_HEADER_BYTES = 10
export const RPC_MAX_REQUEST_ID = 0xffff_ffff

export type RpcKind = 'request' | 'ok' | 'error'
const KIND_BYTE: Readonly<Record<RpcKind, number>> = { request: 0, ok: 1, error: 2 }
const KIND_OF_BYTE: readonly RpcKind[] = ['request', 'ok', 'error']

/** One message with its payload still encoded (what sizes and framing work on). */
export interface RpcFrameMessage {
  readonly kind: RpcKind
  readonly opcode: number
  readonly id: number
  readonly body: Uint8Array
}

/** Which side a frame must be: requests to the server, replies back to the client. */
export type RpcFrameSide = 'request' | 'reply'

function malformed (message: string, details: Record<string, unknown> = {}): ScratchBirdError {
  return new ScratchBirdError('SB_RPC_MALFORMED', `malformed cluster RPC frame: ${message}`, details)
}

/** Size of the frame holding messages with these payload sizes. */
export function frameSize (bodyLengths: Iterable<number>): number {
  let n = RPC_FRAME_HEADER_BYTES
  for (const l of bodyLengths) n += RPC_MESSAGE_HEADER_BYTES + l
  return n
}

/** Frame bytes of 1..RPC_MAX_MESSAGES messages. Limits are the caller's job (asserted here). */
export function encodeFrame (messages: readonly RpcFrameMessage[]): Uint8Array {
  assert(messages.length >= 1 && messages.length <= RPC_MAX_MESSAGES, `an RPC frame holds 1..${RPC_MAX_MESSAGES} messages, not ${messages.length}`)
  const out = new Uint8Array(frameSize(messages.map(m => m.body.length)))
  const dv = new DataView(out.buffer)
  out.set(RPC_MAGIC, 0)
  dv.setUint8(4, RPC_WIRE_VERSION)
  dv.setUint16(5, messages.length, false)
  let p = RPC_FRAME_HEADER_BYTES
  for (const m of messages) {
    assert(Number.isInteger(m.opcode) && m.opcode >= 1 && m.opcode <= 0xff, `RPC opcode ${m.opcode} is not 1..255`)
    assert(Number.isInteger(m.id) && m.id >= 0 && m.id <= RPC_MAX_REQUEST_ID, `RPC request id ${m.id} is not a u32`)
    dv.setUint8(p, KIND_BYTE[m.kind])
    dv.setUint8(p + 1, m.opcode)
    dv.setUint32(p + 2, m.id, false)
    dv.setUint32(p + 6, m.body.length, false)
    out.set(m.body, p + RPC_MESSAGE_HEADER_BYTES)
    p += RPC_MESSAGE_HEADER_BYTES + m.body.length
  }
  return out
}

/**
 * Messages of a frame, payloads still encoded (views into `bytes`). Throws SB_RPC_MALFORMED on
 * anything but a whole, well-formed frame of the expected side: wrong magic or version, count out
 * of range, a length past the end, trailing bytes, an unknown kind, a duplicate id.
 */
export function decodeFrame (bytes: Uint8Array, side: RpcFrameSide): RpcFrameMessage[] {
  if (bytes.length > RPC_MAX_BODY_BYTES) throw malformed(`frame of ${bytes.length} bytes exceeds ${RPC_MAX_BODY_BYTES}`)
  if (bytes.length < RPC_FRAME_HEADER_BYTES) throw malformed(`frame of ${bytes.length} bytes is shorter than its header`)
  for (let i = 0; i < RPC_MAGIC.length; i++) {
    if (bytes[i] !== RPC_MAGIC[i]) throw malformed('bad magic (not a ScratchBird RPC frame)')
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = dv.getUint8(4)
  if (version > RPC_WIRE_VERSION) throw codecVersionError('cluster RPC frame', version, RPC_WIRE_VERSION)
  if (version !== RPC_WIRE_VERSION) throw malformed(`unsupported wire version ${version} (this node speaks ${RPC_WIRE_VERSION})`, { version })
  const count = dv.getUint16(5, false)
  if (count < 1 || count > RPC_MAX_MESSAGES) throw malformed(`message count ${count} outside 1..${RPC_MAX_MESSAGES}`)
  const messages: RpcFrameMessage[] = []
  const ids = new Set<number>()
  let p = RPC_FRAME_HEADER_BYTES
  for (let i = 0; i < count; i++) {
    if (bytes.length - p < RPC_MESSAGE_HEADER_BYTES) throw malformed(`message ${i} header runs past the end`)
    const kind = KIND_OF_BYTE[dv.getUint8(p)]
    const opcode = dv.getUint8(p + 1)
    const id = dv.getUint32(p + 2, false)
    const length = dv.getUint32(p + 6, false)
    p += RPC_MESSAGE_HEADER_BYTES
    if (kind === undefined) throw malformed(`message ${i} has unknown kind ${dv.getUint8(p - RPC_MESSAGE_HEADER_BYTES)}`)
    if ((kind === 'request') !== (side === 'request')) throw malformed(`message ${i} is a ${kind} in a ${side} frame`)
    if (opcode === 0) throw malformed(`message ${i} has opcode 0 (reserved)`)
    if (ids.has(id)) throw malformed(`message ${i} repeats request id ${id}`)
    if (length > bytes.length - p) throw malformed(`message ${i} payload of ${length} bytes runs past the end`)
    ids.add(id)
    messages.push({ kind, opcode, id, body: bytes.subarray(p, p + length) })
    p += length
  }
  if (p !== bytes.length) throw malformed(`${bytes.length - p} bytes after the last message`)
  return messages
}
