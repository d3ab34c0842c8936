import { assert, ScratchBirdError } from '../../core/errors'
import { isAlive } from '../gossip/machine'
import type { MemberState } from '../gossip/types'
import type { NodeId } from '../../core/ids'

// One catalog across the nodes of a cluster (DESIGN §5, §7; issue 5 "Catalog"), as a sans-I/O
// machine in the shape of the gossip one: inputs are gossip's view of the members (their state
// and announced catalog version), client and peer DDL, RPC replies and ticks; outputs are RPCs to
// send and effects (run a DDL statement here, adopt a catalog, report a DDL's end). The shell
// (node/cluster.ts) does the sending, persisting and logging; the simulator (tests/sim/catalog)
// runs the same machine over a seeded network.
//
// The rules:
//  - Coordinator: DDL is serialised by one node, the lowest configured id alive in this node's
//    view (itself always). A node that is not the coordinator forwards the statement to it and
//    adopts the catalog that comes back with the answer.
//  - The coordinator runs one statement at a time (a bounded queue behind it). Before each it
//    fetches the catalog from every other member not known down and adopts the newest, so a
//    coordinator that just came back or took over never builds a version on a stale catalog, even
//    before gossip told it about the newer one. A failed fetch from a member gossip announces
//    ahead of us fails the statement (we would build on a stale catalog); other failures do not.
//  - The statement builds the next version here without installing it; the coordinator pushes it
//    to the members alive in its view, and once every push has been acknowledged or has failed,
//    installs it and answers if a majority of the configured members (itself included) holds it;
//    else the statement fails with SB_QUORUM_NOT_ACHIEVED, its outcome unknown (the peers that
//    took it spread it). Pushing first means a coordinator that stops mid-statement never holds
//    a version nobody else may have: the version lives on the peers that got it (the next
//    coordinator's fetch round finds it) or nowhere. A member that missed a push catches up:
//    gossip shows it a higher version and it fetches (catch-up, one fetch at a time, retried on
//    the next tick while it is still behind).
//  - Adopting: a catalog from a peer replaces ours when its version is higher. At start a node's
//    own catalog is unconfirmed (it may hold a version it persisted as coordinator and crashed
//    before pushing, while the others built a different catalog of the same version): it fetches
//    from every member first, and until that round ends a same-version catalog that differs from
//    ours replaces it. DDL waits for that round.
//  - Handing over: a node that hears from a lower id directly (any catalog RPC: a node coming
//    back fetches from everyone first) counts it alive for CONTACT_TICKS whatever gossip says
//    yet, and hands it every statement it has not started — queued ones, forwarded ones (a
//    forward goes to a strictly lower id, so it cannot loop) and one whose fetch round heard
//    from it. A lower id whose fetch round finds a higher one running a statement waits for it
//    to end (retried each tick): the higher one starts nothing new once it heard of the lower.
//
// Not consensus: two nodes that both believe they are coordinator without having heard of each
// other (a partition) can still build different catalogs of one version; a coordinator that sees
// the other's version arrive before it installs its own refuses its statement
// (SB_CATALOG_CONFLICT), but a peer may have taken the other push. Closing that needs a ballot
// or a lease on the coordinator role.

/** DDL statements queued behind the one the coordinator is running; more are refused. */
export const MAX_QUEUED_DDL = 64
/**
 * Ticks for which a member that called us directly counts as alive whatever gossip says: a node
 * coming back is heard from (its startup round) before gossip shows it alive everywhere.
 */
export const CONTACT_TICKS = 10

/** What the machine reads of a catalog: its version. The rest is opaque. */
export interface Versioned { readonly version: number }

/** A member as this node's gossip shows it. */
export interface MemberCatalog {
  readonly nodeId: NodeId
  readonly state: MemberState
  readonly catalogVersion: number
}

export interface CatalogSyncConfig<C extends Versioned> {
  readonly selfId: NodeId
  /** The configured members (cluster.nodes), this node included. */
  readonly members: readonly NodeId[]
  /** The catalog this node holds at start (loaded from disk). */
  readonly catalog: C
  /** Do two catalogs of the same version hold the same definitions? */
  readonly same: (a: C, b: C) => boolean
  /** Queue bound (default MAX_QUEUED_DDL). */
  readonly maxQueuedDdl?: number
}

/**
 * A statement run against this node's catalog: its result and the next catalog version it built
 * (null when it changed nothing, e.g. IF NOT EXISTS on an existing table), not installed yet.
 */
export type DdlOutcome<C, R> = { ok: true, result: R, catalog: C | null } | { ok: false, error: ScratchBirdError }

export type CatalogSyncOutput<C, S, R> =
  /**
   * RPC CATALOG_FETCH to `to`; answer with onFetched(call, …) or onCallFailed(call, …). `op`: the
   * statement whose fetch round this is (absent: a catch-up or startup fetch); the shell reads
   * what the round's replies report besides the catalog (cluster/split-ddl-lock.ts holds).
   */
  | { type: 'fetch', call: number, to: NodeId, op?: number }
  /** RPC CATALOG_APPLY of `catalog` to `to`; answer with onPushed(call) or onCallFailed. */
  | { type: 'push', call: number, to: NodeId, catalog: C }
  /** RPC CATALOG_DDL to the coordinator; answer with onForwarded(call, …) or onCallFailed. */
  | { type: 'forward', call: number, to: NodeId, op: number, statement: S }
  /** Check the statement against this node's catalog and build the next version, without installing it; answer with ddlRan(op, …). */
  | { type: 'run-ddl', op: number, statement: S }
  /** Persist and use `catalog`, the version a DDL statement of this node built (its pushes have settled). */
  | { type: 'install', op: number, catalog: C }
  /** Persist and use `catalog` (newer than ours, or replacing an unconfirmed one). */
  | { type: 'adopt', catalog: C, from: NodeId }
  /** DDL `op` is finished: answer its client (or the peer that forwarded it). */
  | { type: 'ddl-done', op: number, result: R }
  | { type: 'ddl-failed', op: number, error: ScratchBirdError }
  /** A push or a catch-up fetch failed (nothing to do but log: catch-up covers it). */
  | { type: 'push-failed', to: NodeId, version: number, error: ScratchBirdError }
  | { type: 'fetch-failed', to: NodeId, error: ScratchBirdError }

interface Job<C, S, R> {
  op: number
  statement: S
  phase: 'queued' | 'sync' | 'run' | 'push'
  /** Outstanding calls of the current phase. */
  pending: Set<number>
  /** Sync phase: fetches that failed, by member. */
  failed: Map<number, ScratchBirdError>
  /** Push phase: the statement's result and catalog, installed and answered once the pushes settled. */
  result?: R
  next?: C
  /** Sync phase: a higher id answered that it is running a statement. */
  wait?: boolean
  /** Push phase: peers that answered holding the pushed version. */
  acks?: number
}

type Call =
  | { kind: 'catch-up', to: NodeId }
  | { kind: 'startup', to: NodeId }
  | { kind: 'sync', to: NodeId, op: number }
  | { kind: 'push', to: NodeId, op: number, version: number }
  | { kind: 'forward', to: NodeId, op: number }

export class CatalogSync<C extends Versioned, S, R> {
  private current: C
  private ids: NodeId[]
  private readonly maxQueued: number
  private view = new Map<number, MemberCatalog>()
  private readonly calls = new Map<number, Call>()
  private nextCall = 1
  private readonly queue: Array<Job<C, S, R>> = []
  private active: Job<C, S, R> | null = null
  private readonly ops = new Set<number>()
  /** Startup round: null before start(), a set of outstanding fetches, then done. */
  private startup: Set<number> | 'done' | null = null
  private catchUp: number | null = null
  private ticks = 0
  /** Members that called us, with the tick they last did. */
  private readonly heard = new Map<number, number>()

  constructor (private readonly config: CatalogSyncConfig<C>) {
    assert(config.members.includes(config.selfId), 'catalog sync: this node must be a member')
    this.current = config.catalog
    this.ids = [...new Set(config.members)].sort((a, b) => a - b)
    this.maxQueued = config.maxQueuedDdl ?? MAX_QUEUED_DDL
  }

  get catalog (): C { return this.current }
  get version (): number { return this.current.version }
  /** True once the startup round has ended (DDL runs only after it). */
  get confirmed (): boolean { return this.startup === 'done' }
  /** Statements waiting behind the running one (for tests and metrics). */
  get queued (): number { return this.queue.length }
  /** No statement running or waiting here. */
  get idle (): boolean { return this.active === null && this.queue.length === 0 }
  /** A statement is running here (told to peers that fetch: a lower id waits for it to end). */
  get coordinating (): boolean { return this.active !== null }

  /** The members changed (a membership epoch, cluster/membership/epochs.ts): counted from now on. */
  setMembers (members: readonly NodeId[]): void {
    assert(members.includes(this.config.selfId), 'catalog sync: this node must be a member')
    this.ids = [...new Set(members)].sort((a, b) => a - b)
  }

  /** The node that serialises DDL in this view: the lowest configured id alive (self always). */
  coordinator (): NodeId {
    return this.ids.find(id => this.knownAlive(id)) ?? this.config.selfId
  }

  // ---- inputs ------------------------------------------------------------------------------------

  /** Gossip's current view (replaces the previous one). Call before any other input that depends on it. */
  observe (members: Iterable<MemberCatalog>): void {
    this.view = new Map()
    for (const m of members) if (m.nodeId !== this.config.selfId) this.view.set(m.nodeId, m)
  }

  /** The startup round: fetch from every other member not known down. */
  start (): Array<CatalogSyncOutput<C, S, R>> {
    assert(this.startup === null, 'catalog sync: started twice')
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    this.startup = new Set()
    for (const to of this.reachablePeers()) this.startup.add(this.send(out, { kind: 'startup', to }))
    if (this.startup.size === 0) this.startup = 'done'
    this.pump(out)
    return out
  }

  /** Periodic: a live member announcing a newer catalog than ours is fetched from (one at a time). */
  tick (): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    this.ticks++
    this.pump(out) // a statement waiting for a higher id to finish its own tries again
    if (this.catchUp !== null) return out
    for (const m of this.view.values()) {
      if (isAlive(m.state) && m.catalogVersion > this.version) { this.fetchFrom(m.nodeId, out); break }
    }
    return out
  }

  /** Gossip's 'catalog-behind' event: fetch from that member now unless a catch-up is running. */
  behind (nodeId: NodeId): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    if (this.catchUp === null && nodeId !== this.config.selfId) this.fetchFrom(nodeId, out)
    return out
  }

  /** This node installed `c` (a DDL it ran, or an adopted catalog): ours from now on. */
  installed (c: C): void {
    this.current = c
  }

  /** A DDL statement from a client of this node: coordinated here, or forwarded to the coordinator. */
  submit (op: number, statement: S): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    const coordinator = this.coordinator()
    if (coordinator === this.config.selfId) {
      this.enqueue(op, statement, out)
    } else {
      this.newOp(op)
      this.send(out, { kind: 'forward', to: coordinator, op }, statement)
    }
    return out
  }

  /**
   * A DDL statement a peer forwarded: coordinated here, or forwarded on when this node knows a
   * lower id alive. Forwarding goes only to a lower id than the forwarder (a node's coordinator
   * is never above itself), so a statement cannot loop.
   */
  coordinate (op: number, statement: S): Array<CatalogSyncOutput<C, S, R>> {
    return this.submit(op, statement)
  }

  /** Member `from` called us (any catalog RPC): it is alive, whatever gossip says yet. */
  contact (from: NodeId): void {
    if (from !== this.config.selfId && this.ids.includes(from)) this.heard.set(from, this.ticks)
  }

  /** A peer pushed its catalog (CATALOG_APPLY): adopted when newer. Answer with `version`. */
  onPush (from: NodeId, c: C): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    this.consider(from, c, out)
    return out
  }

  /** The statement of `op` was checked here (run-ddl): push its catalog on success, fail the op otherwise. */
  ddlRan (op: number, outcome: DdlOutcome<C, R>): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    const job = this.active
    assert(job !== null && job.op === op && job.phase === 'run', `catalog sync: ddlRan for op ${op} that is not running`)
    if (!outcome.ok) {
      this.finish(out, { type: 'ddl-failed', op, error: outcome.error })
      return out
    }
    job.phase = 'push'
    job.result = outcome.result
    if (outcome.catalog === null) {
      this.finish(out, { type: 'ddl-done', op, result: outcome.result })
      return out
    }
    const next = outcome.catalog
    assert(next.version > this.version, `catalog sync: DDL built version ${next.version} on version ${this.version}`)
    job.next = next
    for (const to of this.ids) {
      if (to !== this.config.selfId && this.knownAlive(to)) job.pending.add(this.send(out, { kind: 'push', to, op, version: next.version }, undefined, next))
    }
    if (job.pending.size === 0) this.installAndFinish(job, out)
    return out
  }

  /** A CATALOG_FETCH answered (the catalog already checked and decoded by the shell). */
  onFetched (call: number, c: C, coordinating = false): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    const k = this.take(call)
    if (k === null) return out
    this.contact(k.to)
    this.consider(k.to, c, out)
    if (k.kind === 'sync' && coordinating && k.to > this.config.selfId && this.active?.op === k.op) this.active.wait = true
    this.settled(call, k, null, out)
    return out
  }

  /** A CATALOG_APPLY answered with the version the peer now holds. */
  onPushed (call: number, version: number): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    const k = this.take(call)
    if (k === null) return out
    if (k.kind === 'push' && version === k.version && this.active?.op === k.op) this.active.acks = (this.active.acks ?? 0) + 1
    this.settled(call, k, null, out)
    return out
  }

  /** A forwarded DDL answered: the coordinator's result and its catalog after the statement. */
  onForwarded (call: number, result: R, c: C): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    const k = this.take(call)
    if (k === null || k.kind !== 'forward') return out
    this.consider(k.to, c, out)
    this.ops.delete(k.op)
    out.push({ type: 'ddl-done', op: k.op, result })
    return out
  }

  /** Any call failed (timeout, unreachable, refused, malformed answer). */
  onCallFailed (call: number, error: ScratchBirdError): Array<CatalogSyncOutput<C, S, R>> {
    const out: Array<CatalogSyncOutput<C, S, R>> = []
    const k = this.take(call)
    if (k === null) return out
    if (k.kind === 'forward') {
      this.ops.delete(k.op)
      out.push({ type: 'ddl-failed', op: k.op, error })
      return out
    }
    this.settled(call, k, error, out)
    return out
  }

  // ---- internals ---------------------------------------------------------------------------------

  private knownAlive (id: NodeId): boolean {
    if (id === this.config.selfId) return true
    const m = this.view.get(id)
    if (m !== undefined && isAlive(m.state)) return true
    const t = this.heard.get(id)
    return t !== undefined && this.ticks - t <= CONTACT_TICKS
  }

  /** Members other than us not known down or left: those worth asking for their catalog. */
  private reachablePeers (): NodeId[] {
    return this.ids.filter(id => {
      if (id === this.config.selfId) return false
      const m = this.view.get(id)
      return m === undefined || this.knownAlive(id)
    })
  }

  private newOp (op: number): void {
    assert(!this.ops.has(op), `catalog sync: op ${op} is already running`)
    this.ops.add(op)
  }

  private enqueue (op: number, statement: S, out: Array<CatalogSyncOutput<C, S, R>>): void {
    if (this.queue.length >= this.maxQueued) {
      out.push({
        type: 'ddl-failed',
        op,
        error: new ScratchBirdError('SB_DDL_QUEUE_FULL', `node ${this.config.selfId} already has ${this.queue.length} DDL statements waiting; retry later`, { node: this.config.selfId, queued: this.queue.length })
      })
      return
    }
    this.newOp(op)
    this.queue.push({ op, statement, phase: 'queued', pending: new Set(), failed: new Map() })
    this.pump(out)
  }

  /**
   * Starts the next queued statement when none is running and the startup round is over; hands
   * it to a lower id this node learnt is alive meanwhile.
   */
  private pump (out: Array<CatalogSyncOutput<C, S, R>>): void {
    while (this.active === null && this.startup === 'done' && this.queue.length > 0) {
      const job = this.queue.shift()!
      if (this.yieldTo(job, out)) continue
      this.active = job
      job.phase = 'sync'
      job.wait = false
      job.failed.clear()
      for (const to of this.reachablePeers()) job.pending.add(this.send(out, { kind: 'sync', to, op: job.op }))
      if (job.pending.size === 0) this.run(job, out)
    }
  }

  /** Forwards `job` to the coordinator when that is no longer this node. */
  private yieldTo (job: Job<C, S, R>, out: Array<CatalogSyncOutput<C, S, R>>): boolean {
    const coordinator = this.coordinator()
    if (coordinator === this.config.selfId) return false
    this.send(out, { kind: 'forward', to: coordinator, op: job.op }, job.statement)
    return true
  }

  private run (job: Job<C, S, R>, out: Array<CatalogSyncOutput<C, S, R>>): void {
    // The fetch round heard from a lower id (it is the coordinator): hand the statement to it.
    if (this.yieldTo(job, out)) {
      this.active = null
      this.pump(out)
      return
    }
    // A higher id is running a statement it started before it heard of us: wait for it to end
    // (retried on the next tick), or both would build the same next version.
    if (job.wait) {
      this.active = null
      job.phase = 'queued'
      this.queue.unshift(job)
      return
    }
    // A member that gossip says is ahead of us and that we could not fetch from: building on our
    // catalog now would fork it.
    for (const [id, error] of job.failed) {
      const m = this.view.get(id)
      if (m !== undefined && m.catalogVersion > this.version) {
        this.finish(out, {
          type: 'ddl-failed',
          op: job.op,
          error: new ScratchBirdError('SB_NODE_UNREACHABLE', `node ${id} announces catalog version ${m.catalogVersion} (this node has ${this.version}) and could not be fetched from: ${error.message}`, { node: id })
        })
        return
      }
    }
    job.phase = 'run'
    out.push({ type: 'run-ddl', op: job.op, statement: job.statement })
  }

  private finish (out: Array<CatalogSyncOutput<C, S, R>>, end: CatalogSyncOutput<C, S, R> & { type: 'ddl-done' | 'ddl-failed' }): void {
    const job = this.active!
    for (const call of job.pending) this.calls.delete(call)
    this.active = null
    this.ops.delete(job.op)
    out.push(end)
    this.pump(out)
  }

  /**
   * The pushes of a statement's catalog settled: install it here and answer. A newer catalog
   * that arrived meanwhile can only come from another node coordinating at the same time (see
   * the header); ours is then not installed and the statement fails rather than fork the catalog.
   */
  private installAndFinish (job: Job<C, S, R>, out: Array<CatalogSyncOutput<C, S, R>>): void {
    const next = job.next!
    if (next.version === this.version && this.config.same(next, this.current)) {
      // A peer that got our push announced it in gossip before its acknowledgement reached us,
      // and catch-up fetched it back: it is installed already.
      this.finish(out, { type: 'ddl-done', op: job.op, result: job.result as R })
      return
    }
    // Answered only when a majority of the members holds the version: a coordinator that stops
    // right after answering leaves it where the next coordinator's fetch round finds it.
    const holders = 1 + (job.acks ?? 0)
    const required = Math.floor(this.ids.length / 2) + 1
    if (next.version > this.version && holders < required) {
      this.finish(out, {
        type: 'ddl-failed',
        op: job.op,
        error: new ScratchBirdError('SB_QUORUM_NOT_ACHIEVED', `catalog version ${next.version} reached ${holders} of the ${required} members it needs (a majority of ${this.ids.length}); the statement's outcome is unknown: it may still reach every node`,
          { version: next.version, available_replicas: holders, required_replicas: required })
      })
      return
    }
    if (next.version <= this.version) {
      this.finish(out, {
        type: 'ddl-failed',
        op: job.op,
        error: new ScratchBirdError('SB_CATALOG_CONFLICT', `catalog version ${next.version} built by node ${this.config.selfId} lost to version ${this.version} from a concurrent coordinator; retry the statement`, { node: this.config.selfId, version: next.version, current: this.version })
      })
      return
    }
    this.current = next
    out.push({ type: 'install', op: job.op, catalog: next })
    this.finish(out, { type: 'ddl-done', op: job.op, result: job.result as R })
  }

  private fetchFrom (to: NodeId, out: Array<CatalogSyncOutput<C, S, R>>): void {
    this.catchUp = this.send(out, { kind: 'catch-up', to })
  }

  private send (out: Array<CatalogSyncOutput<C, S, R>>, k: Call, statement?: S, catalog?: C): number {
    const call = this.nextCall++
    this.calls.set(call, k)
    switch (k.kind) {
      case 'catch-up': case 'startup': out.push({ type: 'fetch', call, to: k.to }); break
      case 'sync': out.push({ type: 'fetch', call, to: k.to, op: k.op }); break
      case 'push': out.push({ type: 'push', call, to: k.to, catalog: catalog ?? this.current }); break
      case 'forward': out.push({ type: 'forward', call, to: k.to, op: k.op, statement: statement as S }); break
    }
    return call
  }

  private take (call: number): Call | null {
    const k = this.calls.get(call)
    if (k === undefined) return null // answered already, or its job was finished
    this.calls.delete(call)
    return k
  }

  /** A call of a phase ended (error null: it succeeded). */
  private settled (call: number, k: Call, error: ScratchBirdError | null, out: Array<CatalogSyncOutput<C, S, R>>): void {
    switch (k.kind) {
      case 'catch-up':
        this.catchUp = null
        if (error !== null) out.push({ type: 'fetch-failed', to: k.to, error })
        return
      case 'startup': {
        if (!(this.startup instanceof Set)) return
        // Best effort: a member that does not answer is down, or gossip will show us its newer
        // version later; our catalog counts as confirmed all the same.
        this.startup.delete(call)
        if (error !== null) out.push({ type: 'fetch-failed', to: k.to, error })
        if (this.startup.size === 0) {
          this.startup = 'done'
          this.pump(out)
        }
        return
      }
      case 'sync': case 'push': {
        const job = this.active
        if (job === null || job.op !== k.op) return
        job.pending.delete(call)
        if (error !== null) {
          if (k.kind === 'sync') job.failed.set(k.to, error)
          else out.push({ type: 'push-failed', to: k.to, version: k.version, error })
        }
        if (job.pending.size > 0) return
        if (job.phase === 'sync') this.run(job, out)
        else this.installAndFinish(job, out)
        break
      }
      case 'forward': break // answered in onForwarded / onCallFailed
    }
  }

  /** A catalog from `from`: adopted when newer, or (before our catalog is confirmed) when it differs at the same version. */
  private consider (from: NodeId, c: C, out: Array<CatalogSyncOutput<C, S, R>>): void {
    const newer = c.version > this.version
    const replaces = !newer && this.startup !== 'done' && c.version === this.version && !this.config.same(c, this.current)
    if (!newer && !replaces) return
    this.current = c
    out.push({ type: 'adopt', catalog: c, from })
  }
}
