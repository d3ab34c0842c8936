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

import { ScratchBirdError } from '../core/errors'
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
  /**
   * A SQL snapshot read (a snapshot transaction, or a statement reading several shards at one
   * HLC): a prepared (limbo) version of another transaction cannot be judged — its commit HLC,
   * chosen by its coordinator after every participant prepared, may fall below startHlc while
   * another shard already shows it committed — so the read fails with SB_TXN_IN_LIMBO and the
   * coordinator retries it once the decision is known. Internal snapshot readers (anti-entropy,
   * snapshots for replicas) leave it unset: for them a limbo version is simply not committed.
   */
  readonly waitLimbo?: boolean
}

/** A prepared version met by a reader that must not guess its outcome (Viewer.waitLimbo). */
export function inLimbo (xid: Xid): ScratchBirdError {
  return new ScratchBirdError('SB_TXN_IN_LIMBO', `a row read is held by prepared transaction ${xid}, whose two-phase commit is being decided; the read was not answered — retry`, { xid: String(xid) })
}

/** Not committed: false, or — a limbo version met by a waitLimbo reader — SB_TXN_IN_LIMBO. */
function uncommitted (state: string, xid: Xid, viewer: Viewer): false {
  if (state === 'limbo' && viewer.waitLimbo === true) throw inLimbo(xid)
  return false
}

export const READ_COMMITTED_VIEWER: Viewer = Object.freeze({ xid: NO_XID, snapshot: false, startHlc: HLC_ZERO })

/** Visibility decided without I/O, or undefined when the TIP entry must be read first. */
export function visibleNow (tip: Tip, v: RecordVersion, viewer: Viewer): boolean | undefined {
  if (v.xid === viewer.xid) return true
  let hlc = v.commitHlc
  if (hlc === undefined) {
    const e = tip.peek(v.xid)
    if (e === undefined) return undefined
    if (e.state !== 'committed') return uncommitted(e.state, v.xid, viewer)
    hlc = e.commitHlc!
  }
  return !viewer.snapshot || hlc < viewer.startHlc
}

export async function isVisible (tip: Tip, v: RecordVersion, viewer: Viewer): Promise<boolean> {
  const now = visibleNow(tip, v, viewer)
  if (now !== undefined) return now
  const e = await tip.get(v.xid)
  if (e.state !== 'committed') return uncommitted(e.state, v.xid, viewer)
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
