import { holdingMembers, sameLayout, type ClusterLayout } from '../layout'
import type { NodeId } from '../../core/ids'

// One decision per membership epoch (issue 20, finding 3; DESIGN §7). Pure: the acceptor's rules
// and the proposer's state machine; the shells (node/cluster.ts, the membership simulation) carry
// the messages, persist the acceptor record before answering, and adopt the chosen layout.
//
// Why: the decider is "the lowest member alive in MY gossip view" (epochs.ts). Views differ
// without any partition an operator would call one — a decider crashes right after deciding and
// its gossip reaches one node only, or a restarted node still sees the old decider dead — so two
// nodes could each write a different layout for epoch e + 1, and the cluster then refused to
// merge for good. Now the layout of epoch e + 1 is a single-decree Paxos among the members of
// layout e that may hold replicas (holdingMembers: a left node may be stopped at any time and
// must not be needed), its VOTERS:
//   - a proposer picks a ballot (round, node id), unique to it, and asks every voter to PROMISE
//     (prepare); a voter persists the promise, then answers with the value it accepted for e + 1,
//     if any;
//   - with promises from a majority, the proposer proposes the accepted value of the highest
//     ballot among them — its own only when none accepted one — (accept); a voter persists the
//     acceptance unless it promised a higher ballot;
//   - with acceptances from a majority the value is CHOSEN: only then does any node adopt it
//     (the proposer first; everyone else by gossip, which carries adopted layouts only).
// Two majorities of one voter set intersect, so a value accepted by a majority is seen by every
// later proposer's prepare and re-proposed: at most one layout is ever chosen for e + 1, whatever
// the messages lost, reordered or duplicated and whoever crashes (the acceptor record is on disk).
// The voter set is the same for every proposer because layout e is itself the one chosen layout
// of its epoch (by induction; epoch 1 is the configured cluster, and a joiner — whose configured
// layout lists itself — is never a voter: it is no member of the cluster's layout e).
//
// An acceptor keeps the record of ONE decree: the highest epoch it was asked about. A message for
// a lower epoch, or for an epoch not above the layout it runs, is refused ('behind'): a proposer
// at a higher epoch exists only once the lower decrees were chosen, so the refusal is the answer
// "already decided — catch up by gossip", and forgetting the lower record is safe (a refusal is
// always safe in Paxos). A proposer that finds its value was not the one chosen adopts the chosen
// one and reports its own operation as not done (the statement is retried against the new layout).
//
// A split's intent (a layout with `split`) carries the catalog version its start was judged
// against (`judgedAt`: the catalog coordinator's, under the split lock, cluster/split-ddl-lock.ts).
// An acceptor whose catalog is newer refuses to accept it ('stale') unless it accepted that very
// value already: the catalog the start was checked against is gone there, and a DDL the split
// refuses may be in it. A refusal is always safe; and since every node holding the intent accepts
// it again, a majority of stale refusals proves it was never chosen (a chosen value is held by a
// majority, which intersects the refusers) and never will be (catalog versions only grow): the
// proposer then drops it (`exclude`) and proposes its own value, instead of re-proposing a value
// that can no longer gather a majority — which would stop every later membership change.

/** A proposal number: higher round first, then higher node id; unique to its proposer. */
export interface Ballot { round: number, node: NodeId }

/** A value accepted for a decree: the layout, and for a split's intent the catalog version it was judged against (see the header). */
export interface Accepted { ballot: Ballot, layout: ClusterLayout, judgedAt?: number | undefined }

/** What an acceptor persists (in the cluster record) before it answers. */
export interface DecreeRecord {
  /** The decree: the epoch whose layout is being chosen. */
  epoch: number
  promised: Ballot
  accepted: Accepted | null
}

export type DecreeRequest =
  | { kind: 'prepare', epoch: number, ballot: Ballot }
  | { kind: 'accept', epoch: number, ballot: Ballot, layout: ClusterLayout, judgedAt?: number | undefined }

export type DecreeReply =
  /** prepare: promised; `accepted` is what this voter accepted for the epoch, if anything. */
  | { kind: 'promise', epoch: number, ballot: Ballot, accepted: Accepted | null }
  /** accept: accepted. */
  | { kind: 'accepted', epoch: number, ballot: Ballot }
  /** A higher ballot was promised for this epoch: retry with a higher round. */
  | { kind: 'rejected', epoch: number, ballot: Ballot, promised: Ballot }
  /** The epoch is decided already (this voter runs it or a later one, or was asked about a later one). */
  | { kind: 'behind', epoch: number, ballot: Ballot, runs: number }
  /** accept of a split's intent: this voter's catalog (`catalogVersion`) is newer than the one it was judged against. */
  | { kind: 'stale', epoch: number, ballot: Ballot, catalogVersion: number }

export function compareBallots (a: Ballot, b: Ballot): number {
  return a.round !== b.round ? a.round - b.round : a.node - b.node
}

/** The voters of the decree choosing epoch `layout.epoch + 1` (see the header). */
export function decreeVoters (layout: ClusterLayout): NodeId[] {
  return holdingMembers(layout)
}

/** A strict majority of `n` voters. */
export function majorityOf (n: number): number {
  return Math.floor(n / 2) + 1
}

/** Are two accepted values the same value (a split's intent: judged against the same catalog too)? */
export function sameValue (a: { layout: ClusterLayout, judgedAt?: number | undefined }, b: { layout: ClusterLayout, judgedAt?: number | undefined }): boolean {
  return a.layout.epoch === b.layout.epoch && sameLayout(a.layout, b.layout) && a.judgedAt === b.judgedAt
}

/**
 * An acceptor's answer to `req`, running the layout of epoch `runs` with catalog version
 * `catalogVersion` (absent: not checked), with `record` on disk. `next` is the record to persist
 * (fsync) BEFORE the reply is sent; null when it is unchanged.
 */
export function answerDecree (record: DecreeRecord | null, runs: number, req: DecreeRequest, catalogVersion?: number): { next: DecreeRecord | null, reply: DecreeReply } {
  const { epoch, ballot } = req
  if (epoch <= runs || (record !== null && record.epoch > epoch)) {
    return { next: null, reply: { kind: 'behind', epoch, ballot, runs: Math.max(runs, record?.epoch ?? 0) } }
  }
  // A record of an earlier decree is forgotten (see the header): this one starts empty.
  const current = record !== null && record.epoch === epoch ? record : null
  if (current !== null && compareBallots(ballot, current.promised) < 0) {
    return { next: null, reply: { kind: 'rejected', epoch, ballot, promised: current.promised } }
  }
  if (req.kind === 'prepare') {
    const accepted = current?.accepted ?? null
    const same = current !== null && compareBallots(ballot, current.promised) === 0
    return { next: same ? null : { epoch, promised: ballot, accepted }, reply: { kind: 'promise', epoch, ballot, accepted } }
  }
  // A split's intent judged against a catalog older than ours (the header), unless we hold it already.
  if (req.layout.split !== undefined && req.judgedAt !== undefined && catalogVersion !== undefined && catalogVersion > req.judgedAt &&
    !(current?.accepted != null && sameValue(current.accepted, req))) {
    return { next: null, reply: { kind: 'stale', epoch, ballot, catalogVersion } }
  }
  const same = current !== null && compareBallots(ballot, current.promised) === 0 && current.accepted !== null &&
    compareBallots(current.accepted.ballot, ballot) === 0
  const accepted: Accepted = req.judgedAt === undefined ? { ballot, layout: req.layout } : { ballot, layout: req.layout, judgedAt: req.judgedAt }
  return { next: same ? null : { epoch, promised: ballot, accepted }, reply: { kind: 'accepted', epoch, ballot } }
}

export type ProposalOutcome =
  /** A majority accepted `layout` for the epoch: adopt it. `own`: it is the value this proposer wanted. */
  | { kind: 'chosen', layout: ClusterLayout, own: boolean }
  /** A voter promised a higher ballot: retry (after a pause) with a round above `promised.round`. */
  | { kind: 'outbid', promised: Ballot }
  /** A voter runs epoch `runs` ≥ the decree's: this proposer is behind; it catches up by gossip. */
  | { kind: 'behind', runs: number }
  /**
   * A majority refused `value` (a split's intent) as judged against a catalog older than theirs
   * (newest: `catalogVersion`): it was never chosen and never will be (the header). Drop it.
   */
  | { kind: 'stale', value: { layout: ClusterLayout, judgedAt?: number | undefined }, own: boolean, catalogVersion: number }
  /** completeOnly: no voter of the promising majority accepted anything, so nothing was proposed. */
  | { kind: 'none' }

/** Messages to send: `to` each voter (this node included: its shell answers itself). */
export interface ProposalReady { send: Array<{ to: NodeId, req: DecreeRequest }>, outcome: ProposalOutcome | null }

/**
 * The proposer of one decree: epoch `current.epoch + 1`, value `wanted`, ballot `ballot`. Feed it
 * the voters' replies (any order, duplicates, from any voter); the shell resends the last phase's
 * requests to the voters that have not answered (`pending`) when it times out.
 */
export class DecreeProposer {
  readonly epoch: number
  readonly voters: readonly NodeId[]
  private phase: 'prepare' | 'accept' | 'done' = 'prepare'
  private readonly promises = new Map<NodeId, Accepted | null>()
  private readonly accepts = new Set<NodeId>()
  private readonly stale = new Map<NodeId, number>()
  private value: ClusterLayout
  private judgedAt: number | undefined

  /**
   * `judgedAt`: the catalog version a split's intent `wanted` was judged against; `exclude`: values
   * proven stale (a 'stale' outcome), never proposed again even when a promise carries one.
   */
  constructor (current: ClusterLayout, readonly wanted: ClusterLayout, readonly ballot: Ballot, opts: { judgedAt?: number | undefined, exclude?: ReadonlyArray<{ layout: ClusterLayout, judgedAt?: number | undefined }>, completeOnly?: boolean | undefined } = {}) {
    if (wanted.epoch !== current.epoch + 1) throw new Error(`ScratchBird assertion: a decree proposes epoch ${current.epoch + 1}, not ${wanted.epoch}`)
    this.epoch = wanted.epoch
    this.voters = decreeVoters(current)
    this.value = wanted
    this.judgedAt = opts.judgedAt
    this.judgedWanted = opts.judgedAt
    this.exclude = opts.exclude ?? []
    this.completeOnly = opts.completeOnly === true
  }

  /** Only completes a value a voter accepted: never proposes `wanted` (a decider completing an intent it heard of). */
  private readonly completeOnly: boolean

  private readonly judgedWanted: number | undefined
  private readonly exclude: ReadonlyArray<{ layout: ClusterLayout, judgedAt?: number | undefined }>

  /** The value this proposer proposes now (its own, or one a promise carried). */
  get proposing (): { layout: ClusterLayout, judgedAt?: number | undefined } {
    return { layout: this.value, judgedAt: this.judgedAt }
  }

  /** The first messages: a prepare to every voter. */
  start (): ProposalReady {
    return { send: this.requests(this.voters), outcome: null }
  }

  get done (): boolean { return this.phase === 'done' }

  /** Has it asked voters to accept a value (which a majority may then hold, so it may yet be chosen)? */
  get accepting (): boolean { return this.phase === 'accept' }

  /** Voters whose answer to the current phase is still missing. */
  pending (): NodeId[] {
    if (this.phase === 'done') return []
    return this.voters.filter(id => this.phase === 'prepare' ? !this.promises.has(id) : !this.accepts.has(id))
  }

  /** The requests of the current phase to `to`. */
  requests (to: readonly NodeId[]): ProposalReady['send'] {
    if (this.phase === 'done') return []
    const req: DecreeRequest = this.phase === 'prepare'
      ? { kind: 'prepare', epoch: this.epoch, ballot: this.ballot }
      : this.judgedAt === undefined
        ? { kind: 'accept', epoch: this.epoch, ballot: this.ballot, layout: this.value }
        : { kind: 'accept', epoch: this.epoch, ballot: this.ballot, layout: this.value, judgedAt: this.judgedAt }
    return to.map(id => ({ to: id, req }))
  }

  /** A voter's reply; ignored when it is not one of ours (another ballot, epoch or phase). */
  onReply (from: NodeId, reply: DecreeReply): ProposalReady {
    const none: ProposalReady = { send: [], outcome: null }
    if (this.phase === 'done' || !this.voters.includes(from) || reply.epoch !== this.epoch || compareBallots(reply.ballot, this.ballot) !== 0) return none
    if (reply.kind === 'behind') return this.finish({ kind: 'behind', runs: reply.runs })
    if (reply.kind === 'rejected') return this.finish({ kind: 'outbid', promised: reply.promised })
    if (reply.kind === 'stale') {
      if (this.phase !== 'accept') return none
      this.stale.set(from, reply.catalogVersion)
      if (this.stale.size < majorityOf(this.voters.length)) return none
      const own = sameValue(this.proposing, { layout: this.wanted, judgedAt: this.judgedWanted })
      return this.finish({ kind: 'stale', value: { layout: this.value, judgedAt: this.judgedAt }, own, catalogVersion: Math.max(...this.stale.values()) })
    }
    const majority = majorityOf(this.voters.length)
    if (reply.kind === 'promise' && this.phase === 'prepare') {
      this.promises.set(from, reply.accepted)
      if (this.promises.size < majority) return none
      // The value of the highest ballot any of the majority accepted must be proposed again: it may
      // have been chosen already (the header).
      // A value proven stale is not (the header): it can never be chosen, and was not.
      let best: Accepted | null = null
      for (const a of this.promises.values()) {
        if (a === null || this.exclude.some(x => sameValue(x, a))) continue
        if (best === null || compareBallots(a.ballot, best.ballot) > 0) best = a
      }
      if (best !== null) {
        this.value = best.layout
        this.judgedAt = best.judgedAt
      } else if (this.completeOnly) return this.finish({ kind: 'none' })
      this.phase = 'accept'
      return { send: this.requests(this.voters), outcome: null }
    }
    if (reply.kind === 'accepted' && this.phase === 'accept') {
      this.accepts.add(from)
      if (this.accepts.size < majority) return none
      return this.finish({ kind: 'chosen', layout: this.value, own: this.value === this.wanted || (this.value.epoch === this.wanted.epoch && sameLayout(this.value, this.wanted)) })
    }
    return none
  }

  private finish (outcome: ProposalOutcome): ProposalReady {
    this.phase = 'done'
    return { send: [], outcome }
  }
}
