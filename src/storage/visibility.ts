// MGA visibility (DESIGN §6 "Visibility and garbage collection"): which version of a row a reader
// sees. A version is visible when it is the reader's own, or committed — for a snapshot reader
// with a commit HLC below the snapshot's start; for a read-committed statement, at all. The reader
// walks from the primary version along the back links until one is visible; a visible tombstone
// means "no row".
//
// Reads do not take snapshots of the KV store. The chain can change under a reader (the sweep
// drops or restores versions, a commit moves the primary back); every such change keeps the
// versions the reader is entitled to, but may move them, so a missing back version makes the
// reader start again from the primary (bounded by MAX_CHAIN_RESTARTS).

import { backKey, corrupt } from './keys'
import type { KvStore } from './kv'
import type { Tip } from './tip'
import { asXid } from '../core/ids'
import { HLC_ZERO, type HlcTs, type Xid } from './types'
import { decodeVersion, type RecordVersion } from './versions'

/** Restarts from the primary a read tolerates before it reports the chain as corrupt. */
export const MAX_CHAIN_RESTARTS = 8

/** Xid of a reader that is not a transaction (autocommit reads): matches no version. */
export const NO_XID: Xid = asXid(-1n)

export interface Viewer {
  readonly xid: Xid
  /** true: snapshot isolation (commit HLC < startHlc); false: read committed (latest commit). */
  readonly snapshot: boolean
  readonly startHlc: HlcTs
}

export const READ_COMMITTED_VIEWER: Viewer = Object.freeze({ xid: NO_XID, snapshot: false, startHlc: HLC_ZERO })

/** Visibility decided without I/O, or undefined when the TIP entry must be read first. */
export function visibleNow (tip: Tip, v: RecordVersion, viewer: Viewer): boolean | undefined {
  if (v.xid === viewer.xid) return true
  let hlc = v.commitHlc
  if (hlc === undefined) {
    const e = tip.peek(v.xid)
    if (e === undefined) return undefined
    if (e.state !== 'committed') return false
    hlc = e.commitHlc!
  }
  return !viewer.snapshot || hlc < viewer.startHlc
}

export async function isVisible (tip: Tip, v: RecordVersion, viewer: Viewer): Promise<boolean> {
  const now = visibleNow(tip, v, viewer)
  if (now !== undefined) return now
  const e = await tip.get(v.xid)
  if (e.state !== 'committed') return false
  return !viewer.snapshot || e.commitHlc! < viewer.startHlc
}

/**
 * The version of the row at `rowKey` that `viewer` sees (possibly a tombstone), starting from
 * the primary version's bytes already read (`primary`, undefined when there is no row).
 */
export async function readVisible (kv: KvStore, tip: Tip, rowKey: Uint8Array, primary: Uint8Array | undefined,
  viewer: Viewer): Promise<RecordVersion | undefined> {
  let bytes = primary
  for (let attempt = 0; ; attempt++) {
    if (bytes === undefined) return undefined
    let v = decodeVersion(bytes)
    for (;;) {
      const vis = visibleNow(tip, v, viewer) ?? await isVisible(tip, v, viewer)
      if (vis) return v
      if (v.prev === undefined) return undefined
      const back = await kv.get(backKey(rowKey, v.prev))
      if (back === undefined) break
      v = decodeVersion(back)
    }
    if (attempt >= MAX_CHAIN_RESTARTS) throw corrupt('record version chain: back version missing', { key: Buffer.from(rowKey).toString('hex') })
    bytes = await kv.get(rowKey)
  }
}
