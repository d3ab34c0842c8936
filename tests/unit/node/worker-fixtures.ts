import { hlcTs } from '../../../src/storage/types'

// Values the real-worker tests write: distinct version ids, text row images, increasing HLCs.

let seq = 0
/** A distinct 16-byte version id (version nibble 8). */
export const vid = (): Uint8Array => { const v = new Uint8Array(16); new DataView(v.buffer).setUint32(12, ++seq); v[6] = 0x80; return v }
export const row = (s: string): Uint8Array => new TextEncoder().encode(s)
export const text = (b: Uint8Array | null): string | null => b === null ? null : new TextDecoder().decode(b)
let clock = 1_000_000
/** An HLC timestamp above every earlier one. */
export const nextHlc = (): bigint => hlcTs(++clock)
