import { createXXHash64, createXXHash128, type IHasher } from 'hash-wasm'

// xxhash64 / xxhash128 (hash-wasm) for shard routing, rendezvous placement and Merkle buckets.
// hash-wasm instantiates WASM asynchronously once; after `initHashing()` every call is synchronous.

let h64: IHasher | null = null
let h128: IHasher | null = null

export async function initHashing (): Promise<void> {
  h64 ??= await createXXHash64(0, 0)
  h128 ??= await createXXHash128(0, 0)
}

function hasher (h: IHasher | null): IHasher {
  if (!h) throw new Error('ScratchBird assertion: initHashing() must complete before hashing')
  return h
}

/** xxhash64 (seed 0) of `bytes` as an unsigned bigint. */
export function xxhash64 (bytes: Uint8Array): bigint {
  const d = hasher(h64).init().update(bytes).digest('binary')
  return new DataView(d.buffer, d.byteOffset, 8).getBigUint64(0, false)
}

/** xxhash128 (seed 0) of `bytes`, 16 bytes big-endian. */
export function xxhash128 (bytes: Uint8Array): Uint8Array {
  return hasher(h128).init().update(bytes).digest('binary')
}
