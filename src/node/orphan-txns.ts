import type { Logger } from 'pino'
import type { Clock } from '../core/clock'
import { isScratchBirdError, messageOf } from '../core/errors'
import { asXid, isNodeId, type NodeId, type ShardId, type Xid } from '../core/ids'
import type { LiveTxns } from '../exec/live-txns'
import type { ShardOpName, ShardReplies, ShardRequests } from '../shard/protocol/ops'
import type { ShardRequester } from './shard-router'

// Abandoned transactions (CockroachDB's "push" of a transaction record, reduced to what MGA
// needs): a write that conflicts with another transaction's UNCOMMITTED version fails with
// SB_UPDATE_CONFLICT naming that transaction (concurrentXid, concurrentState). Usually it is a
// live transaction and the writer's retry wins once it ends. But a transaction whose coordinator
// died, restarted, or whose ROLLBACK was lost (a timeout, a failover between BEGIN and ROLLBACK)
// holds its versions until the participant's lease (storage.txn_idle_timeout_ms, ten minutes by
// default) — every writer of those rows fails meanwhile, and a table move retrying one page
// never gets through (CI saw exactly that).
//
// So the node that met the conflict asks the holder's coordinator — each BEGIN names it, and the
// shard reports it with the conflict (concurrentCoordinator; the xid's own node id is the node
// that allocated it, the first shard's, not necessarily the coordinator) — whether it still runs
// it (LiveTxns there; TXN_STATUS between nodes). A holder whose coordinator the shard does not
// know (a transaction begun without one) is left to the lease. When it does
// not, or that node is down, the holder is rolled back on the shard (ROLLBACK: only an ACTIVE
// transaction is touched; a prepared one belongs to two-phase-commit recovery) and the writer's
// error goes back as before, so its retry succeeds. This is always safe: a transaction rolled back
// here that was in fact alive fails its next request or COMMIT with SB_TXN_NOT_ACTIVE — nothing
// acknowledged is lost. To keep contention cheap, a holder on a live peer is asked about only once
// it has blocked writers for SUSPECT_AFTER_MS (ordinary transactions end long before); the local
// and dead-coordinator cases cost nothing and are decided at once.

/** A holder on a live peer is asked about only after blocking writers this long. */
export const SUSPECT_AFTER_MS = 2_000
/** Holders remembered (first seen); the oldest are forgotten beyond it. */
const MAX_SUSPECTS = 1_024

export interface OrphanDeps {
  selfId: NodeId
  live: LiveTxns
  /** Up per gossip (null: a single node — every xid is this node's). */
  isAlive: ((id: NodeId) => boolean) | null
  /** TXN_STATUS to a peer (throws when it cannot answer). */
  askPeer: (id: NodeId, xid: Xid) => Promise<boolean>
  clock: Clock
  log: Logger
}

/** What to do about a holder: roll it back, ask its coordinator, or wait (it is alive, or too young to suspect). */
export type OrphanVerdict = 'roll-back' | 'ask' | 'wait'

/** The decision table (pure). */
export function orphanVerdict (f: { coordinator: NodeId, self: NodeId, listedHere: boolean, coordinatorAlive: boolean, blockedMs: number }): OrphanVerdict {
  if (f.coordinator === f.self) return f.listedHere ? 'wait' : 'roll-back'
  if (!f.coordinatorAlive) return 'roll-back'
  return f.blockedMs >= SUSPECT_AFTER_MS ? 'ask' : 'wait'
}

/** The holder an update conflict names — an uncommitted (TIP state active) transaction the shard knows the coordinator of — else null. */
export function conflictHolder (e: unknown): { xid: Xid, coordinator: NodeId } | null {
  if (!isScratchBirdError(e, 'SB_UPDATE_CONFLICT')) return null
  const d = e.details as { concurrentXid?: unknown, concurrentState?: unknown, concurrentCoordinator?: unknown }
  if (d.concurrentState !== 'active' || !isNodeId(d.concurrentCoordinator)) return null
  if (typeof d.concurrentXid !== 'string' || !/^\d{1,20}$/.test(d.concurrentXid)) return null
  const x = BigInt(d.concurrentXid)
  return x > 0n && x < 1n << 64n ? { xid: asXid(x), coordinator: d.concurrentCoordinator } : null
}

/** A ShardRequester that resolves abandoned holders behind the conflicts its requests meet. */
export class OrphanResolver implements ShardRequester {
  /** First time each holder (shard:xid) was seen blocking a writer. */
  private readonly suspects = new Map<string, number>()
  private readonly running = new Map<string, Promise<void>>()

  constructor (private readonly inner: ShardRequester, private readonly d: OrphanDeps) {}

  async request<K extends ShardOpName> (op: K, req: ShardRequests[K], routedBy?: number): Promise<ShardReplies[K]> {
    try {
      return await this.inner.request(op, req, routedBy)
    } catch (e) {
      const holder = conflictHolder(e)
      if (holder !== null) await this.resolve(req.shard, holder.xid, holder.coordinator)
      throw e
    }
  }

  /** Decides (and carries out) what to do about `xid` holding rows of `shard`; never throws. */
  resolve (shard: ShardId, xid: Xid, coordinator: NodeId): Promise<void> {
    const key = `${shard}:${xid}`
    let p = this.running.get(key)
    if (p === undefined) {
      p = this.decide(shard, xid, coordinator, key).catch((e: unknown) => {
        this.d.log.warn({ shard, xid: String(xid), err: messageOf(e) }, `could not settle transaction ${xid} blocking writers on shard ${shard}; its lease will`)
      }).finally(() => this.running.delete(key))
      this.running.set(key, p)
    }
    return p
  }

  private async decide (shard: ShardId, xid: Xid, coordinator: NodeId, key: string): Promise<void> {
    const now = this.d.clock.monotonic()
    const first = this.suspects.get(key) ?? this.remember(key, now)
    const verdict = orphanVerdict({
      coordinator,
      self: this.d.selfId,
      listedHere: this.d.live.has(xid),
      coordinatorAlive: this.d.isAlive === null ? false : this.d.isAlive(coordinator),
      blockedMs: now - first
    })
    if (verdict === 'wait') return
    if (verdict === 'ask' && await this.d.askPeer(coordinator, xid)) return
    this.suspects.delete(key)
    try {
      await this.inner.request('ROLLBACK', { shard, xid })
    } catch (e) {
      if (isScratchBirdError(e, 'SB_TXN_NOT_ACTIVE')) return // ended meanwhile (or never reached that replica)
      throw e
    }
    const why = coordinator === this.d.selfId ? 'this node no longer runs it' : verdict === 'ask' ? `node ${coordinator} no longer runs it` : `its node ${coordinator} is down`
    this.d.log.warn({ shard, xid: String(xid), coordinator }, `transaction ${xid} left uncommitted rows on shard ${shard} and blocked a writer: rolled back (${why})`)
  }

  private remember (key: string, now: number): number {
    if (this.suspects.size >= MAX_SUSPECTS) {
      const oldest = this.suspects.keys().next().value
      if (oldest !== undefined) this.suspects.delete(oldest)
    }
    this.suspects.set(key, now)
    return now
  }
}
