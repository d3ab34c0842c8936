// A SQL transaction as the coordinator sees it: the shards it has joined (BEGIN on first use,
// one XID for all) and which of them it wrote. COMMIT: read-only shards roll back (nothing to
// make durable), one written shard commits locally (one TIP commit), several go through
// two-phase commit with its durable decision record.
//
// An access method may instead keep a transaction's writes until COMMIT (DeferredWrites; the
// leaderless access, access/lww.ts, does): they are shipped after the shard transaction
// committed and dropped at ROLLBACK. A transaction writes either through the shards or through
// deferred writes, never both (the deferred writes' own error says why): the two could not commit
// atomically.
import { commitTwoPhase } from '../cluster/twopc'
import { ScratchBirdError, isScratchBirdError } from '../core/errors'
import { nextHlcTs } from '../storage/hlc-ts'
import type { RowWrite } from '../storage/engine'
import { hlcCounter, hlcMs, type HlcTs, type Isolation, type Xid } from '../storage/types'
import { asHlcTs } from '../core/ids'
import type { Hlc } from '../core/hlc'
import type { Generators, ShardPort, SnapshotPort, TwoPhasePort } from './env'
import type { SnapshotToken } from './snapshots'
import type { TxnBegin } from '../shard/protocol/messages'
import type { ShardId } from '../core/ids'
import type { ClientInfo } from '../core/statement-report'
import type { Principal } from '../security/privileges'
import { SessionSettings } from './settings/session-settings'
import { SessionTempTables } from './temp-tables'

/** Writes an access method keeps until COMMIT instead of sending them. */
export interface DeferredWrites {
  /** Rows held. */
  readonly size: number
  /** Sends them (COMMIT, after the shard transaction committed); the holder is empty afterwards whatever the outcome. */
  ship (): Promise<void>
  /** Drops them (ROLLBACK). */
  clear (): void
  /** The error for a transaction that would write both through the shards and through these. */
  mixedWrites (): ScratchBirdError
}

/** How a request names its transaction on a shard: the xid there, or the BEGIN its first request carries. */
export type ShardTxnRef = { xid: Xid, begin?: undefined } | { begin: TxnBegin, xid?: undefined }

export type TxnPorts = ShardPort & Pick<Generators, 'hlc'> & TwoPhasePort & SnapshotPort

export class SqlTxn {
  private xid: Promise<Xid> | null = null
  private readonly joined = new Map<ShardId, Promise<Xid>>()
  private readonly written = new Set<ShardId>()
  /** Shards whose first request in the transaction failed after its xid was known (track()). */
  private readonly attempted = new Set<ShardId>()
  private deferredWrites: DeferredWrites | null = null
  /**
   * Requests sent in the transaction and not answered yet. ROLLBACK waits for them: a statement
   * whose write failed on one shard while its write to another was still on the way would
   * otherwise tell that shard ROLLBACK first — refused there as not begun — and the write landing
   * after it would stay, an open transaction's version no later writer gets past.
   */
  private readonly inFlight = new Set<Promise<unknown>>()
  /** A statement failed: only ROLLBACK is accepted (PostgreSQL's aborted-transaction state). */
  failed = false
  private ended = false
  /** A snapshot transaction is in the node's registry from here to its end, so the sweep keeps
   *  what it may read on shards it has not joined yet (snapshots.ts). */
  private readonly snapshot: SnapshotToken | null

  constructor (
    private readonly env: TxnPorts,
    readonly isolation: Isolation,
    readonly explicit: boolean,
    readonly startHlc: HlcTs = nextHlcTs(env.hlc)
  ) {
    this.snapshot = isolation === 'snapshot' ? env.snapshots.register(startHlc) : null
  }

  /** Marks the transaction ended (once): it no longer holds the sweep back. */
  private end (): boolean {
    if (this.ended) return false
    this.ended = true
    if (this.snapshot !== null) this.env.snapshots.release(this.snapshot)
    return true
  }

  get shards (): ShardId[] { return [...this.joined.keys()] }
  get writtenShards (): ShardId[] { return [...this.written] }

  /**
   * Sends a request on `shard` inside the transaction: `send` gets the transaction's xid there, or —
   * the transaction's first request on that shard — the BEGIN the request carries (shard/protocol/
   * messages.ts TxnBegin: no round trip of its own), and its reply names the xid. The first shard
   * allocates the xid (node-wide counter); every other shard begins with it, so a shard's first
   * request waits for the first shard's reply. From then on the node lists the xid as live until the
   * transaction's end has run (a participant asks). A first request that fails leaves the shard not
   * joined (the shard rolled back what it began for it): a later request begins there again.
   *
   * `writes`: the request writes rows. Those must never be held under an xid this node does not yet
   * list as live — a writer meeting them would take them for an abandoned transaction's and have
   * them rolled back (node/orphan-txns.ts) — so a transaction whose very first request writes gets
   * its xid from a BEGIN of its own first.
   */
  async on<R extends { xid?: Xid }> (shard: ShardId, send: (at: ShardTxnRef) => Promise<R>, writes = false): Promise<R> {
    if (this.ended) throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', 'the transaction has ended: no further request is sent in it')
    const request = this.send(shard, send, writes)
    this.inFlight.add(request)
    try {
      return await request
    } finally { this.inFlight.delete(request) }
  }

  private async send<R extends { xid?: Xid }> (shard: ShardId, send: (at: ShardTxnRef) => Promise<R>, writes: boolean): Promise<R> {
    if (writes && this.xid === null) await this.track(shard, this.env.request('BEGIN', { shard, ...this.beginArgs(undefined) }).then(r => r.xid))
    const joined = this.joined.get(shard)
    if (joined !== undefined) return await send({ xid: await joined })
    let reply: R | undefined
    const known = this.xid
    await this.track(shard, (async () => {
      reply = await send({ begin: this.beginArgs(known === null ? undefined : await known) })
      if (reply.xid === undefined) throw new Error('ScratchBird assertion: a request carrying BEGIN is answered with the xid begun')
      return reply.xid
    })())
    return reply!
  }

  private beginArgs (xid: Xid | undefined): TxnBegin {
    const coordinator = this.env.liveTxns?.nodeId
    return { isolation: this.isolation, startHlc: this.startHlc, ...(xid === undefined ? {} : { xid }), ...(coordinator === undefined ? {} : { coordinator }) }
  }

  /**
   * `begun` begins the transaction on `shard` (and allocates its xid when it has none yet): the
   * shard counts as joined meanwhile, so other requests there wait for it. The xid it allocates is
   * listed as live before anyone else learns it. When it fails the shard is not joined, and an xid
   * it was to allocate is not the transaction's.
   */
  private async track (shard: ShardId, begun: Promise<Xid>): Promise<Xid> {
    const allocating = this.xid === null
    const p = begun.then(xid => { if (allocating) this.env.liveTxns?.add(xid); return xid })
    p.catch(() => {}) // whoever waits on it sees the failure; nobody need
    this.joined.set(shard, p)
    if (allocating) this.xid = p
    try {
      return await p
    } catch (e) {
      if (this.joined.get(shard) === p) this.joined.delete(shard)
      if (this.xid === p) this.xid = null
      // The shard may have begun it all the same (the reply was lost, or too large for the ring):
      // ROLLBACK tells it too when the xid is known (one it never began refuses it harmlessly).
      if (!allocating) this.attempted.add(shard)
      throw e
    }
  }

  async write (shard: ShardId, writes: RowWrite[]): Promise<boolean[]> {
    return (await this.writeOn(shard, at => this.env.request('WRITE', { shard, writes, ...at }))).affected
  }

  /** A request that writes rows on `shard` in the transaction (WRITE, MODIFY_ROW): the shard counts as written (see on()). */
  async writeOn<R extends { xid?: Xid }> (shard: ShardId, send: (at: ShardTxnRef) => Promise<R>): Promise<R> {
    const deferred = this.deferredWrites
    if (deferred !== null && deferred.size > 0) throw deferred.mixedWrites()
    this.written.add(shard)
    try {
      return await this.on(shard, send, true)
    } catch (e) {
      // Not joined after all (its first request failed): nothing of this transaction is on it.
      if (!this.joined.has(shard)) this.written.delete(shard)
      throw e
    }
  }

  /** Registers the holder of the writes kept until COMMIT (one access method defers writes, once per transaction). */
  defer (holder: DeferredWrites): void {
    if (this.deferredWrites !== null && this.deferredWrites !== holder) throw new Error('ScratchBird assertion: a transaction has one holder of deferred writes')
    this.deferredWrites = holder
  }

  /** Has the transaction written through the shards (so deferred writes must be refused)? */
  get wroteShards (): boolean { return this.written.size > 0 }

  async commit (): Promise<void> {
    if (!this.end()) return
    try {
      await this.commitShards()
    } finally {
      await this.unlist()
    }
    if (this.deferredWrites !== null) await this.deferredWrites.ship()
  }

  /** The transaction's end has run: the node no longer lists it as live (participants may now roll back what is left of it). */
  private async unlist (): Promise<void> {
    if (this.xid === null || this.env.liveTxns === undefined) return
    const [xid] = await Promise.allSettled([this.xid])
    if (xid.status === 'fulfilled') this.env.liveTxns.delete(xid.value)
  }

  private async commitShards (): Promise<void> {
    if (this.xid === null) return
    const xid = await this.xid
    const readOnly = this.shards.filter(s => !this.written.has(s))
    const written = this.writtenShards
    await Promise.all(readOnly.map(s => this.env.request('ROLLBACK', { shard: s, xid })))
    if (written.length === 1) {
      await this.env.request('COMMIT', { shard: written[0]!, xid, commitHlc: nextHlcTs(this.env.hlc) })
    } else if (written.length > 1) {
      const out = await commitTwoPhase(this.env.twoPhase, xid, written, above => hlcAbove(this.env.hlc, above))
      if (!out.committed) {
        if (isScratchBirdError(out.error)) throw out.error
        throw new ScratchBirdError('SB_INTERNAL', `two-phase commit failed: ${String(out.error)}`)
      }
    }
  }

  /** Rolls back every joined shard; never throws (a shard that cannot answer forgets at restart). */
  async rollback (): Promise<void> {
    if (!this.end()) return
    this.deferredWrites?.clear()
    await Promise.allSettled([...this.inFlight])
    if (this.xid === null) return
    // A shard whose BEGIN failed is told too when the xid is known: the failure may have been the
    // answer's (a timeout, a lost connection) while the shard did begin it — a ROLLBACK it never
    // began is refused harmlessly (SB_TXN_NOT_ACTIVE).
    const [xid] = await Promise.allSettled([this.xid])
    if (xid.status === 'rejected') return
    const told = new Set([...this.shards, ...this.attempted])
    await Promise.allSettled([...told].map(shard => this.env.request('ROLLBACK', { shard, xid: xid.value })))
    this.env.liveTxns?.delete(xid.value)
  }
}

/**
 * A fresh HLC reading above `above` (a two-phase commit's participants' floor): the node's clock is
 * moved up to it first (Hlc.update), so what this node stamps later stays above it too. A floor
 * the clock refuses (further ahead than max_clock_offset_ms) still yields floor + 1.
 */
export function hlcAbove (hlc: Hlc, above: HlcTs): HlcTs {
  const c = nextHlcTs(hlc)
  if (c > above) return c
  try { hlc.update({ ts: hlcMs(above), counter: hlcCounter(above) }) } catch { /* refused: the floor + 1 below */ }
  const d = nextHlcTs(hlc)
  return d > above ? d : asHlcTs(above + 1n)
}

/** Per-session SQL state (the HTTP session registry holds one per session). */
export class SessionState {
  txn: SqlTxn | null = null
  /** Who sends this session's statements (statement reports: audit log, metrics). */
  client: ClientInfo | undefined = undefined
  /** The authenticated user whose privileges every statement is checked against (security/privileges.ts); undefined: no checks (internal callers, tools). */
  principal: Principal | undefined = undefined
  /** SET / RESET / SHOW (exec/settings/): this session's settings. */
  readonly settings = new SessionSettings()
  /** CREATE TEMPORARY TABLE (temp-tables.ts): this session's temporary tables and their rows. */
  readonly temp = new SessionTempTables()
}
