import { ScratchBirdError } from '../core/errors'
import type { NodeId } from '../core/ids'
import { majorityOf } from './membership/epoch-decree'
import type { SplitBlocker } from './shard-split'
import type { SplitUnderWay } from './split-ddl-guard'

// The split lock: what keeps a DDL the split refuses (split-ddl-guard.ts splitDdlRefusal: one that
// changes the copies Mode 1 keeps, or adds what a split refuses) from being built once a split's
// intent may be chosen, whoever coordinates the catalog (and builds DDL) and whoever decides the
// intent (the membership decider: epoch e + 1 over its layout of epoch e), across hand-overs and
// deaths. Pure rules; the shells are node/cluster.ts (SPLIT_LOCK, net/rpc/opcodes.ts; the holds in
// CATALOG_FETCH replies, rpcPayload v5), node/cluster-split.ts (a start) and
// node/membership-decree.ts (the decree's window and guard).
//
//  1. LOCK. Before proposing an intent — its own, or one it found accepted in a promise (the
//     DecreeShell guard) — a decider asks the node it sees as catalog coordinator for the lock on
//     (e, n → 2n). Granted only if that node is the coordinator in its own view, its layout is not
//     past e, no other decider holds one, and NO DDL statement runs on it (CatalogSync.coordinating:
//     from the statement's fetch round to its catalog's install). The reply carries its catalog
//     version v; a start is refused (SB_SHARD_SPLIT_UNSUPPORTED, catalog_change) when the lock is,
//     or when the decider's catalog or a live member's (gossip) is older than v: the start's checks
//     (split-ddl-guard.ts splitStartBlockers) read every node's catalog.
//  2. WINDOW. The decider sends every message of that decree — its own acceptance included —
//     within SPLIT_DECREE_SEND_MS of asking (DecreeShell.propose notAfter); the lock lapses
//     SPLIT_LOCK_TTL_MS after the grant, which covers that and a decree call's timeout. Sooner when
//     the coordinator's layout passes e (the intent adopted — layout.split refuses from then on — or
//     another value won e + 1) or the decider releases it (refused before proposing, another value
//     chosen, or behind: the intent can never be chosen). A decider dying mid-decree holds DDL back
//     for SPLIT_LOCK_TTL_MS, not a minute; after the window the intent lives in acceptor records.
//  3. HOLDS. Every node reports in its CATALOG_FETCH reply the splits it holds: its layout's split
//     ('recorded'), an intent its decree record accepted for an epoch past the one it runs
//     ('accepted': persisted before the acceptance is sent, kept without a TTL until it runs that
//     epoch), and its lock ('lock', held now or how long ago it lapsed). The coordinator fetches from
//     every member not known down before each statement (catalog-sync) and judges it (ddlSplit)
//     against its layout's split, the start it decides, its lock held at any time since that round
//     began, its own record's intent, and every hold the round reported (a lock that lapsed after
//     the round began) — except an intent proven stale (5, staleIntent). A statement refused for an
//     intent only a record holds makes the decider complete it (a complete-only decree: that value
//     under the lock, or nothing when no voter of a majority accepted one), so an undecided intent
//     holds DDL back until its epoch is decided, not for good.
//  4. QUORUM. A statement the split would refuse is built only when a majority of the decree's
//     voters (this node counted) answered its fetch round (splitDdlQuorum; SB_MEMBERSHIP_NO_MAJORITY
//     otherwise, nothing changed): a chosen intent is held by a majority, so one of them answers.
//  5. JUDGED VERSION. The intent carries v (judgedAt, MEMBERSHIP_DECREE v5); an acceptor whose
//     catalog is newer refuses to accept it unless it holds it already (membership/epoch-decree.ts).
//     A majority of such refusals proves it never was and never will be chosen: the proposer drops
//     it and proposes its own value, and a coordinator that hears the same from its round ignores it.
// Why no DDL the split refuses is built once the intent may be chosen. Take a statement D built on
// coordinator K after a fetch round that began at t, and acceptances sent under a lock on C granted
// at g and lapsing at l ≥ g + window. If K = C: no grant falls inside D's round; a round that ended
// before g installed D before v was read (so v includes it); one begun in [g, l] meets the lock
// (held since t); one begun after l finds the window's acceptances in records: a chosen intent is
// on a majority, one of which answers (4) and reports it. If K ≠ C, K fetched from C (catalog-sync's
// assumption of one coordinator at a time: a live C is not known down to the coordinator): before
// g, C heard from the lower id K and refuses the grant (catalog-sync contact); after g, C reports its
// lock, held or lapsed after t. An intent held only by members unreachable during D's round, not
// chosen then (4), can later be chosen only by a majority accepting it — and the members that hold
// D refuse it (5). Once a node records the split, layout.split refuses D until the split ends.
// Not covered: what catalog-sync itself does not (two coordinators in a partition; a statement whose
// pushes failed — SB_QUORUM_NOT_ACHIEVED — spreading later from the peers that took it, so members
// outside those may still accept the intent); DDL applied through ddlPort.setCatalog outside a
// statement round (checked against this node's own holds only). Messages are assumed delivered
// within their call's timeout or never (an acceptance sent in the window lands in it).

/** The decider sends the decree of a split's start (its own acceptance included) within this long after asking for the lock (rule 2). */
export const SPLIT_DECREE_SEND_MS = 8_000
/** How long a granted lock lasts without its intent adopted or released: the send window, a decree call's timeout (1 s) and slack for clock rates (rule 2). */
export const SPLIT_LOCK_TTL_MS = 12_000

/** SPLIT_LOCK's request: take or release the lock for the split of `shards` into `to` over layout epoch `epoch`. */
export interface SplitLockRequest {
  readonly take: boolean
  /** The decider's layout epoch (the intent would be epoch + 1). */
  readonly epoch: number
  readonly shards: number
  readonly to: number
}

/** SPLIT_LOCK's reply: granted (with the coordinator's catalog version), or why not. */
export interface SplitLockReply {
  readonly granted: boolean
  readonly catalogVersion: number
  /** Why it was refused ('' when granted, or for a release). */
  readonly refusal: string
}

/** What the coordinator knows when asked (its own view). */
export interface SplitLockView {
  readonly now: number
  /** Is this node the catalog coordinator in its own view? */
  readonly isCoordinator: boolean
  /** Is a DDL statement running here (built, maybe not installed)? */
  readonly ddlRunning: boolean
  readonly layoutEpoch: number
  readonly catalogVersion: number
}

interface Held { readonly from: NodeId, readonly epoch: number, readonly shards: number, readonly to: number, readonly until: number }

/**
 * A split a node holds (rule 3), as its CATALOG_FETCH reply reports it: its layout records it
 * ('recorded'), its decree record accepted its intent for an epoch it does not run yet
 * ('accepted'), or it is the catalog coordinator's lock ('lock'). `epoch` is the epoch of the
 * layout recording the split (the intent's); `lapsedMs`: for a lock, how long ago it lapsed (0:
 * held now).
 */
export interface SplitHold {
  readonly kind: 'recorded' | 'accepted' | 'lock'
  readonly epoch: number
  readonly shards: number
  readonly to: number
  readonly lapsedMs: number
  /** 'accepted': the catalog version the intent was judged against (absent: a previous release's decider). */
  readonly judgedAt?: number | undefined
}

/** The lock as the catalog coordinator keeps it (in memory: a restarted coordinator holds none, and its DDL waits for its startup fetch round, after which gossip shows it the layout). */
export class SplitDdlLock {
  private held: Held | null = null
  /** The last lock that lapsed by its TTL, and when (rule 3: a fetch round begun before that still meets it). */
  private lapsed: { readonly held: Held, readonly at: number } | null = null

  /** A SPLIT_LOCK from decider `from`: taken (granted) or refused, or released. */
  request (from: NodeId, req: SplitLockRequest, v: SplitLockView): SplitLockReply {
    this.expire(v.now, v.layoutEpoch)
    if (!req.take) {
      // A release says the intent can never be chosen (rule 2): nothing of it is kept.
      if (this.held !== null && this.held.from === from && this.held.epoch === req.epoch) this.held = null
      if (this.lapsed !== null && this.lapsed.held.from === from && this.lapsed.held.epoch === req.epoch) this.lapsed = null
      return { granted: false, catalogVersion: v.catalogVersion, refusal: '' }
    }
    const refusal = !v.isCoordinator
      ? 'it is not the catalog coordinator in its own view (a lower node id is alive there)'
      : v.ddlRunning
        ? 'a DDL statement is being applied there (it may change the copies Mode 1 keeps, which fix the split\'s holders)'
        : v.layoutEpoch > req.epoch
          ? `its layout is of epoch ${v.layoutEpoch} already, past the decider's ${req.epoch}`
          : this.held !== null && this.held.from !== from
            ? `node ${this.held.from} holds it for its own split of ${this.held.shards} shards`
            : null
    if (refusal !== null) return { granted: false, catalogVersion: v.catalogVersion, refusal }
    this.held = { from, epoch: req.epoch, shards: req.shards, to: req.to, until: v.now + SPLIT_LOCK_TTL_MS }
    return { granted: true, catalogVersion: v.catalogVersion, refusal: '' }
  }

  /** The split a DDL built now is judged against because of the lock held now (null: none). */
  current (now: number, layoutEpoch: number): SplitUnderWay | null {
    return this.heldSince(now, now, layoutEpoch)
  }

  /**
   * The split of a lock held at any time from `since` to `now` (rule 3: a statement whose fetch
   * round began at `since` is judged against it), or null.
   */
  heldSince (since: number, now: number, layoutEpoch: number): SplitUnderWay | null {
    this.expire(now, layoutEpoch)
    const h = this.held ?? (this.lapsed !== null && this.lapsed.at > since ? this.lapsed.held : null)
    return h === null ? null : { shards: h.shards, to: h.to }
  }

  /** The lock as this node's CATALOG_FETCH reply reports it (held, or lapsed by its TTL), or null. */
  hold (now: number, layoutEpoch: number): SplitHold | null {
    this.expire(now, layoutEpoch)
    const h = this.held ?? this.lapsed?.held ?? null
    if (h === null) return null
    return { kind: 'lock', epoch: h.epoch + 1, shards: h.shards, to: h.to, lapsedMs: this.held !== null ? 0 : Math.max(1, now - this.lapsed!.at) }
  }

  private expire (now: number, layoutEpoch: number): void {
    // The layout past the epoch: the intent is adopted (layout.split refuses from now on) or lost.
    if (this.lapsed !== null && layoutEpoch > this.lapsed.held.epoch) this.lapsed = null
    if (this.held === null) return
    if (layoutEpoch > this.held.epoch) this.held = null
    else if (now >= this.held.until) {
      this.lapsed = { held: this.held, at: this.held.until }
      this.held = null
    }
  }
}

/** A hold a member reported in the fetch round of the statement being built, and when its reply arrived (this node's clock). */
export interface ReportedHold { readonly from: NodeId, readonly hold: SplitHold, readonly receivedAt: number }

/** What the coordinator judges a statement against (rule 3): its own view and the holds of its fetch round. */
export interface DdlSplitView {
  readonly layoutEpoch: number
  /** Its layout's split under way. */
  readonly recorded: SplitUnderWay | null
  /** The start it is deciding itself (node/cluster-split.ts starting). */
  readonly deciding: SplitUnderWay | null
  /** Its lock, held at any time since the round began (SplitDdlLock.heldSince). */
  readonly lock: SplitUnderWay | null
  /** An intent its own decree record accepted for an epoch past its layout's (null: none). */
  readonly accepted: SplitHold | null
  /** When the statement's fetch round began (this node's clock). */
  readonly roundSince: number
  readonly reported: readonly ReportedHold[]
  /**
   * For dropping an intent proven stale (staleIntent): the decree's voters, this node, its catalog
   * version, and the catalog version each member that answered the round holds. Absent: none dropped.
   */
  readonly catalogs?: { readonly voters: readonly NodeId[], readonly self: NodeId, readonly own: number, readonly answered: ReadonlyMap<NodeId, number> } | undefined
}

/** The split a statement built now is judged against (split-ddl-guard.ts splitDdlRefusal), or null: none held anywhere it heard of. */
export function ddlSplit (v: DdlSplitView): SplitUnderWay | null {
  const own = v.recorded ?? v.deciding ?? v.lock
  if (own !== null) return own
  const h = ddlHolds(v)[0]
  return h === undefined ? null : { shards: h.shards, to: h.to }
}

/**
 * Is a statement held back only by an intent a decree record accepted (no split recorded, decided
 * or locked anywhere the round heard of)? Then the decider completes it (rule 3): nobody else is
 * deciding it, and it may never be decided otherwise.
 */
export function heldByRecordOnly (v: DdlSplitView): boolean {
  const holds = ddlHolds(v)
  return v.recorded === null && v.deciding === null && v.lock === null && holds.length > 0 && holds.every(h => h.kind === 'accepted')
}

/** The holds a statement is judged against besides its coordinator's own view (rule 3). */
function ddlHolds (v: DdlSplitView): SplitHold[] {
  const holds = [...(v.accepted === null ? [] : [v.accepted]), ...v.reported.filter(r => counts(r, v.roundSince)).map(r => r.hold)]
  // A hold of an epoch this node's layout reached is decided here: its split is the layout's, or none.
  return holds.filter(x => x.epoch > v.layoutEpoch && !staleIntent(x, v))
}

/**
 * Is `hold` an accepted intent that can never be chosen? A majority of the voters answered with a
 * catalog newer than the one it was judged against and without holding it: each of them refuses it
 * (epoch-decree.ts: only a holder accepts it again), so no majority ever accepts it, and none did
 * (it would intersect them). Its holders keep it in their records until the epoch is decided; a
 * DDL need not wait for that.
 */
export function staleIntent (hold: SplitHold, v: DdlSplitView): boolean {
  const c = v.catalogs
  if (hold.kind !== 'accepted' || hold.judgedAt === undefined || c === undefined) return false
  const judged = hold.judgedAt
  const same = (x: SplitHold): boolean => x.kind !== 'lock' && x.epoch === hold.epoch && x.shards === hold.shards && x.to === hold.to && (x.kind === 'recorded' || x.judgedAt === judged)
  const holders = new Set(v.reported.filter(r => same(r.hold)).map(r => r.from))
  if (v.accepted !== null && same(v.accepted)) holders.add(c.self)
  const refusing = c.voters.filter(id => !holders.has(id) && (id === c.self ? c.own : c.answered.get(id) ?? -1) > judged)
  return refusing.length >= majorityOf(c.voters.length)
}

/** A reported lock that lapsed before the round began holds nothing back (its window is over: rule 2); every other hold does. */
function counts (r: ReportedHold, since: number): boolean {
  // receivedAt - lapsedMs is no earlier than the lapse (the reply travelled after it was written), so this keeps every lock that lapsed after `since`.
  return r.hold.kind !== 'lock' || r.hold.lapsedMs === 0 || r.receivedAt - r.hold.lapsedMs >= since
}

/**
 * Rule 4: a statement the split would refuse is built only when a majority of the decree's
 * `voters` answered its fetch round (`answered`; this node counts when it is a voter). Null: it may.
 */
export function splitDdlQuorum (voters: readonly NodeId[], self: NodeId, answered: { has: (id: NodeId) => boolean }, statement: string): ScratchBirdError | null {
  const heard = voters.filter(v => v === self || answered.has(v))
  const majority = majorityOf(voters.length)
  if (voters.length === 0 || heard.length >= majority) return null
  const missing = voters.filter(v => !heard.includes(v))
  return new ScratchBirdError('SB_MEMBERSHIP_NO_MAJORITY',
    `${statement} refused: it changes what a shard split depends on (the copies Mode 1 keeps, or what a split cannot copy), and only node(s) {${heard.join(', ')}} of the members {${voters.join(', ')}} answered its catalog round — a split intent a majority may hold would go unseen; nothing was changed: retry once a majority is reachable`,
    { voters: [...voters], missing })
}

/** What the decider checks after the lock was asked for (rule 2 above). */
export interface SplitLockOutcome {
  /** The coordinator's reply, or why it could not be asked (an RPC failure). */
  readonly reply: SplitLockReply | { readonly error: string }
  readonly coordinator: NodeId
  /** The decider's own catalog version. */
  readonly ownCatalogVersion: number
  /** Live members announcing a catalog older than the coordinator's (gossip), with theirs. */
  readonly behind: ReadonlyArray<{ readonly node: NodeId, readonly version: number }>
}

/** The blocker the lock's outcome puts in the way of a start (null: none). */
export function splitLockBlocker (o: SplitLockOutcome): SplitBlocker | null {
  const r = o.reply
  if ('error' in r) return { what: 'catalog_change', detail: `the catalog coordinator (node ${o.coordinator}) could not be asked to hold DDL back for the split (${r.error}): retry` }
  if (!r.granted) return { what: 'catalog_change', detail: `the catalog coordinator (node ${o.coordinator}) cannot hold DDL back for the split now: ${r.refusal}: retry` }
  if (o.ownCatalogVersion < r.catalogVersion) return { what: 'catalog_change', detail: `this node's catalog (version ${o.ownCatalogVersion}) is older than the coordinator's (version ${r.catalogVersion}): retry once it caught up` }
  const behind = o.behind.filter(b => b.version < r.catalogVersion)
  if (behind.length > 0) return { what: 'catalog_change', detail: `node(s) ${behind.map(b => `${b.node} (catalog version ${b.version})`).join(', ')} have not installed the coordinator's catalog version ${r.catalogVersion} yet: retry once they did` }
  return null
}
