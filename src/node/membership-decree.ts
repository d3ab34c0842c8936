import type { ClusterLayout } from '../cluster/layout'
import { answerDecree, DecreeProposer, sameValue, type DecreeRecord, type DecreeReply, type DecreeRequest, type ProposalOutcome, type ProposalReady } from '../cluster/membership/epoch-decree'
import type { SplitHold } from '../cluster/split-ddl-lock'
import type { NodeId } from '../core/ids'
import type { RpcClient } from '../net/rpc/client'

// The I/O shell of the membership decrees (cluster/membership/epoch-decree.ts holds the rules and
// why): this node's acceptor record — persisted (atomic file, fsync) BEFORE an answer leaves —
// and the proposals this node makes as the decider, carried by MEMBERSHIP_DECREE. One proposal
// at a time; the requests a voter has not answered are sent again until the proposal is decided
// or DECREE_TIMEOUT_MS passes, so a majority unreachable makes the operation fail naming the
// voters it did not hear from, and never lets this node decide alone.

/** Proposals again after a value proven stale, at most (each drops one value). */
const MAX_STALE_RETRIES = 3
/** A proposal not decided within this long fails (the statement says which voters did not answer). */
export const DECREE_TIMEOUT_MS = 5_000
/** One MEMBERSHIP_DECREE call (a split's lock outlives the decree's messages by it: cluster/split-ddl-lock.ts rule 2). */
export const DECREE_CALL_TIMEOUT_MS = 1_000
/** A voter whose call failed is asked again after this long, while the phase still waits for it. */
const DECREE_RETRY_MS = 250

/** DecreeShell.propose's options (see there). */
export interface ProposeOptions {
  readonly notAfter?: number | undefined
  readonly judgedAt?: number | undefined
  readonly guard?: SplitGuard | undefined
  /** Only complete a value a voter accepted; propose nothing of its own ('none'). */
  readonly completeOnly?: boolean | undefined
}

/** Takes the split lock for an intent about to be proposed: the clock.monotonic bound of its window, or null when it cannot be taken. */
export type SplitGuard = (value: { layout: ClusterLayout, judgedAt?: number | undefined }) => Promise<number | null>

export type DecreeResult =
  | ProposalOutcome
  /**
   * No majority answered in time: `missing` are the voters the phase still waited for; `maybe`:
   * some voters may have accepted it, so the decider may still complete it later (completeDecree).
   */
  | { kind: 'undecided', missing: NodeId[], maybe: boolean }
  /** This node's own promise or acceptance could not be recorded: nothing was proposed further. */
  | { kind: 'unrecorded', message: string }

export interface DecreeShellDeps {
  readonly selfId: NodeId
  readonly rpc: RpcClient
  readonly addressOf: (id: NodeId) => string
  /** The membership epoch of the layout this node runs. */
  readonly runs: () => number
  /** The acceptor record found in the data directory at start (null: none). */
  readonly record: DecreeRecord | null
  /**
   * Records the acceptor record, durably, before it resolves; rejects when it cannot. Off the
   * event loop (an fsync under a busy disk blocked a node's statements for 100 ms and more at
   * every membership change): DecreeShell runs one at a time.
   */
  readonly persist: (r: DecreeRecord) => Promise<void> | void
  /** clock.monotonic, for a proposal's notAfter bound (absent: never late). */
  readonly now?: () => number
  /** This node's catalog version: a split's intent judged against an older one is refused (epoch-decree.ts); absent: not checked. */
  readonly catalogVersion?: () => number
}

export class DecreeShell {
  private record: DecreeRecord | null
  private busy = false
  /** Answers run one after another: each reads the record the previous one persisted. */
  private answering: Promise<unknown> = Promise.resolve()

  constructor (private readonly d: DecreeShellDeps) {
    this.record = d.record
  }

  /** Is a proposal of this node under way? */
  get proposing (): boolean { return this.busy }

  /**
   * MEMBERSHIP_DECREE: the acceptor's answer, its record persisted first (rejects when it cannot
   * be: no answer). Answers are serialized, so a second request is decided against the record the
   * first one persisted, never against one being written.
   */
  answer (req: DecreeRequest): Promise<DecreeReply> {
    const run = this.answering.then(async () => {
      const { next, reply } = answerDecree(this.record, this.d.runs(), req, this.d.catalogVersion?.())
      if (next !== null) {
        await this.d.persist(next)
        this.record = next
      }
      return reply
    })
    this.answering = run.catch(() => undefined)
    return run
  }

  /**
   * A layout this node accepted for the epoch after the one it runs: maybe chosen without anyone
   * adopting it (its proposer crashed). The decider proposes again to complete it.
   */
  acceptedNext (): { layout: ClusterLayout, judgedAt?: number | undefined } | null {
    const r = this.record
    return r !== null && r.epoch === this.d.runs() + 1 && r.accepted !== null ? { layout: r.accepted.layout, judgedAt: r.accepted.judgedAt } : null
  }

  /**
   * The split intent this node's record accepted for an epoch past the one it runs (persisted
   * before its acceptance was sent), as cluster/split-ddl-lock.ts reports it (rule 3); else null.
   */
  acceptedSplit (): SplitHold | null {
    const r = this.record
    const l = r?.accepted?.layout
    if (r === null || l === undefined || r.epoch <= this.d.runs() || l.split === undefined) return null
    const judgedAt = r.accepted?.judgedAt
    return judgedAt === undefined ? { kind: 'accepted', epoch: r.epoch, shards: l.shards, to: l.split.to, lapsedMs: 0 } : { kind: 'accepted', epoch: r.epoch, shards: l.shards, to: l.split.to, lapsedMs: 0, judgedAt }
  }

  /**
   * Proposes `wanted` (epoch current.epoch + 1); resolves with the outcome (chosen: the caller
   * adopts it). `opts.notAfter` (clock.monotonic ms): nothing of it — this node's own answers included —
   * is sent after then (a split's start: its lock covers that window, cluster/split-ddl-lock.ts
   * rule 2); the proposal ends undecided instead. `opts.guard`: called before the acceptances of a
   * split's intent are sent — unless it is `wanted` judged at `opts.judgedAt` under the caller's
   * own lock (`notAfter` given) — e.g. one found in a promise, or this node's own record completed;
   * it takes the split lock for it and answers the bound of its window, or null (not proposed).
   */
  async propose (current: ClusterLayout, wanted: ClusterLayout, opts: ProposeOptions = {}): Promise<DecreeResult> {
    const { notAfter, judgedAt, guard, completeOnly } = opts
    this.busy = true
    try {
      // A value a majority refused as stale was never chosen and never will be (epoch-decree.ts):
      // this node forgets it if it holds it, and proposes again without it (a few times at most:
      // each try drops one value).
      const exclude: Array<{ layout: ClusterLayout, judgedAt?: number | undefined }> = []
      for (let attempt = 0; ; attempt++) {
        const result = await this.proposeOnce(current, wanted, notAfter, judgedAt, exclude, guard, completeOnly === true)
        if (result.kind !== 'stale') return result
        await this.forget(result.value)
        if (result.own || attempt >= MAX_STALE_RETRIES) return result
        exclude.push(result.value)
      }
    } finally {
      this.busy = false
    }
  }

  /** Drops `value` from this node's record when it holds it (proven stale: it can never be chosen). */
  private async forget (value: { layout: ClusterLayout, judgedAt?: number | undefined }): Promise<void> {
    const run = this.answering.then(async () => {
      const r = this.record
      if (r === null || r.accepted === null || !sameValue(r.accepted, value)) return
      const next: DecreeRecord = { epoch: r.epoch, promised: r.promised, accepted: null }
      await this.d.persist(next)
      this.record = next
    })
    this.answering = run.catch(() => undefined)
    await run.catch(() => undefined)
  }

  private async proposeOnce (current: ClusterLayout, wanted: ClusterLayout, notAfter: number | undefined, judgedAt: number | undefined, exclude: ReadonlyArray<{ layout: ClusterLayout, judgedAt?: number | undefined }>, guard: SplitGuard | undefined, completeOnly: boolean): Promise<DecreeResult> {
    // Above any round this node promised for the epoch, its own earlier ballots included: it
    // answers its own prepare first (persisted), so a ballot is never reused after a restart.
    const round = (this.record?.epoch === wanted.epoch ? this.record.promised.round : 0) + 1
    const proposer = new DecreeProposer(current, wanted, { round, node: this.d.selfId }, { judgedAt, exclude, completeOnly })
    return await new Promise<DecreeResult>(resolve => {
      let over = false
      const finish = (r: DecreeResult): void => {
        if (over) return
        over = true
        clearTimeout(deadline)
        resolve(r)
      }
      const deadline = setTimeout(() => { finish({ kind: 'undecided', missing: proposer.pending(), maybe: proposer.accepting }) }, DECREE_TIMEOUT_MS)
      const late = (): boolean => notAfter !== undefined && this.d.now !== undefined && this.d.now() > notAfter
      const ask = (to: NodeId, req: DecreeRequest): void => {
        if (late()) { finish({ kind: 'undecided', missing: proposer.pending(), maybe: proposer.accepting }); return }
        this.d.rpc.call(this.d.addressOf(to), 'MEMBERSHIP_DECREE', req, { timeoutMs: DECREE_CALL_TIMEOUT_MS, idempotent: true }).then(reply => {
          void feed(proposer.onReply(to, reply))
        }, () => {
          // Lost, refused or unreachable: asked again (the current phase's request) while it is missing.
          setTimeout(() => { if (!over && proposer.pending().includes(to)) void feed({ send: proposer.requests([to]), outcome: null }) }, DECREE_RETRY_MS).unref()
        })
      }
      // Proposing a split's intent this caller did not lock (found in a promise): the lock first,
      // before any acceptance is sent (cluster/split-ddl-lock.ts rule 2), once for all replies.
      let gate: Promise<boolean> | null = null
      const callerLocked = notAfter !== undefined
      const guarded = async (): Promise<boolean> => {
        const v = proposer.proposing
        // The caller's own start, locked and bounded by it (notAfter), needs no second lock.
        if (guard === undefined || v.layout.split === undefined || (callerLocked && judgedAt !== undefined && sameValue(v, { layout: wanted, judgedAt }))) return true
        const bound = await guard(v)
        if (bound === null) { finish({ kind: 'undecided', missing: proposer.pending(), maybe: false }); return false }
        notAfter = bound
        return true
      }
      const feed = async (ready: ProposalReady): Promise<void> => {
        if (over) return
        if (ready.outcome !== null) { finish(ready.outcome); return }
        if (proposer.accepting) {
          gate ??= guarded()
          if (!await gate || over) return
        }
        // Its own answer first: the promise of its ballot is on its disk before any voter sees it.
        const own = ready.send.filter(s => s.to === this.d.selfId)
        for (const { req } of own) {
          if (late()) { finish({ kind: 'undecided', missing: proposer.pending(), maybe: proposer.accepting }); return }
          let reply: DecreeReply
          try { reply = await this.answer(req) } catch (e) {
            finish({ kind: 'unrecorded', message: e instanceof Error ? e.message : String(e) })
            return
          }
          if (over) return
          await feed(proposer.onReply(this.d.selfId, reply))
          if (over) return
        }
        for (const { to, req } of ready.send) if (to !== this.d.selfId) ask(to, req)
      }
      void feed(proposer.start())
    })
  }
}
