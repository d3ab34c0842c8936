// Value types shared by the storage engine's modules (DESIGN §3, §4, §6).
//
// Time in the engine is an HLC timestamp as one bigint, `(unix_ms << 12n) | counter` — the first
// 60 bits of a UUIDv8-HLC (DESIGN §3) read as a number, so comparing two HlcTs compares the
// physical time first and the logical counter second. The engine never reads a clock to make one:
// the caller (which owns the node's HLC) passes snapshot start points and commit stamps in.

import { asHlcTs, type HlcTs } from '../core/ids'
export type { HlcTs, Xid } from '../core/ids'

/** Version id of one record version: a 16-byte UUID (v8-HLC or v7) chosen by the caller. */
export type VersionId = Uint8Array

export type Isolation = 'snapshot' | 'read_committed'

/** `sync`: every group commit is fsynced; `none`: acknowledged after the OS write (DESIGN §4). */
export type Durability = 'sync' | 'none'

export const HLC_COUNTER_BITS = 12n
const HLC_COUNTER_MASK = (1n << HLC_COUNTER_BITS) - 1n

/** Build an HlcTs from its physical (ms) and logical (counter) parts. */
export function hlcTs (ms: number, counter = 0): HlcTs {
  return ((BigInt(ms) << HLC_COUNTER_BITS) | BigInt(counter)) as HlcTs
}

/** Below every real timestamp: "no time yet" (empty shard, read committed). */
export const HLC_ZERO: HlcTs = asHlcTs(0n)

export function hlcMs (ts: HlcTs): number { return Number(ts >> HLC_COUNTER_BITS) }
export function hlcCounter (ts: HlcTs): number { return Number(ts & HLC_COUNTER_MASK) }

/** Largest value an unsigned 64-bit field can hold (xids, HLCs and LSNs are stored as u64). */
export const U64_MAX = (1n << 64n) - 1n
