import type { Clock } from '../../core/clock'
import { assert, ScratchBirdError } from '../../core/errors'
import type { NodeId } from '../../core/ids'
import type { Rng } from '../../core/rng'
import { ReplLog } from './log'
import { ackableLsn, leaseUntil, logAtLeastAsComplete, majority, majorityMatch, rebootstrapRefusal, requiredReplicas } from './rules'
import {
  MAX_APPEND_BYTES, MAX_CLOCK_DRIFT, MAX_ENTRIES_PER_APPEND, MAX_INFLIGHT_APPENDS, MAX_PENDING_PROPOSALS, MAX_VOTERS, SNAPSHOT_RETRY_ELECTIONS,
  type AppendEntries, type AppendReply, type DurableState, type Generation, type HardState, type InstallSnapshot,
  type Lsn, type Ready, type ReplEntry, type ReplInput, type ReplMessage, type ReplicationConfig, type Role,
  type ReadAnswer, type TimeoutNow, type VoteReply, type VoteRequest
} from './types'

// One shard's Mode 1 replication group as a sans-I/O state machine (DESIGN §6 "Mode 1", §10;
// issue 14). step(input) → Ready: see types.ts for the inputs and the order in which the shell
// carries a Ready out. Time comes only from the injected Clock (monotonic: timeouts and the lease),
// randomness only from the injected Rng (the election timeout).
//
// Raft, with generation = term, primary = leader, LSN = index:
// - Elections use PRE-VOTE (Raft thesis §9.6) plus leader stickiness: a voter refuses a (pre-)vote
//   while it heard from a primary within electionTimeoutMs, and a primary refuses while it is one.
//   Pre-vote keeps a node rejoining from a partition from bumping the generation and deposing a
//   healthy primary (its pre-vote is refused, so its generation never moves); stickiness is also
//   what makes the lease sound (below). A primary that has not heard from a majority within
//   electionTimeoutMs steps down (check-quorum), so a cut-off primary stops accepting commits.
// - Lease: a reply echoes the primary's send time; the primary serves reads until the newest send
//   time a majority acknowledged + leaseMs. Each acknowledging voter refuses votes for
//   electionTimeoutMs after it received that send, so no other primary can be elected before the
//   lease ends; leaseMs < electionTimeoutMs × (1 − 2·MAX_CLOCK_DRIFT) covers clock-rate drift, and
//   a restarted node refuses votes for electionTimeoutMs after start (it may have acknowledged a
//   lease just before it crashed and forgot that).
// - Commit: an entry of the primary's generation held durably by a majority of the voters
//   commits it and everything before. Acknowledgement to clients follows replication.sync_replicas
//   (rules.ts: requiredReplicas); below a majority an acknowledged commit can be lost on failover
//   (documented). Learners (preference-list nodes not yet voters) never count.
// - Membership: voters come from config entries in the log, effective when appended, one change
//   at a time and only once the primary committed an entry of its generation (the single-server
//   change rule with Ongaro's fix). The primary promotes a learner once its log matches the commit
//   LSN and removes a voter that left the preference list (never itself).
// - Forced removal (REMOVE NODE of a node gone for good, issue 20): the shell names voters gone
//   for good ('gone' input); they are left out of every majority — votes, commit, acknowledgement,
//   lease, check-quorum — and their messages ignored, until the primary's config entry removes
//   them. Why that loses no acknowledged entry and elects no second primary:
//   cluster/membership/forced-removal.ts. While a voter is forced out, a pre-vote also asks every
//   other live member (the 'gone' input's witnesses) and every voter left, reachable or not (one
//   cut off looks down), and goes on only once each granted it: this
//   node's voters may be stale — a node removed from the group by config entries it never
//   received still lists the removed node and itself, and forcing the removed node out would make
//   it a majority of one (seen in the membership simulation: acknowledged commits lost). The node
//   that holds the newer configuration, alive, refuses (its log is more complete, or it hears a
//   primary); a member that holds no copy grants (the shell answers from its disk, rules.ts
//   preVoteFromDisk).
// - Own stalls (issue 21, grey failures): a tick much later than the one before means this process
//   could run neither its timers nor its socket reads (SIGSTOP, a long GC, an overloaded machine).
//   libuv runs due timers BEFORE it polls the sockets, so that first tick would judge the peers by
//   a silence that is ours — their replies sit unread, and they echo send times from before the
//   stall — and a healthy primary would step down (check-quorum) or a replica campaign. So a stall
//   gives one election timeout of grace from its end: check-quorum counts the majority as heard at
//   that instant, a replica's election deadline moves past it. At most one grace per two election
//   timeouts, so a process that stalls all the time still steps down (or campaigns) when really
//   cut off, one election timeout after a grace at the latest. The lease is untouched: it counts
//   real time from acknowledgements, so a primary that stalled refuses reads until a majority
//   answers a heartbeat sent after it.
// - Leadership transfer (Raft thesis §3.10; the 'transfer' input, a graceful stop): the primary
//   stops taking commits and serving reads, brings its most caught-up voter to its last LSN and
//   sends it TimeoutNow; that voter campaigns at once (no pre-vote) with `transfer` set, and voters
//   grant it despite stickiness — sound for the lease because the only primary whose lease they
//   set aside is the one that asked, which stopped serving reads before it asked and never serves
//   them again in its generation: a transfer that does not finish within the election timeout ends
//   with the primary stepping down, not resuming (a late TimeoutNow vote could still win).
//   Writes then pause for about one round trip instead of an election timeout. Also used by a
//   primary a move takes off the shard (membership/moves.ts leavingPrimaryHandsOver): it hands over
//   to a voter of its preference list when there is one.

/** Election timeouts a primary keeps sending to a voter it removed that never acknowledges its removal (machine `departing`). */
const DEPARTING_ELECTIONS = 10

interface Peer {
  match: Lsn
  next: Lsn
  state: 'probe' | 'replicate' | 'snapshot'
  inflight: number
  /** The newest of our send times this peer echoed (lease), −Infinity if none. */
  stamp: number
  snapshotLsn: Lsn
  snapshotAt: number
  /** When this peer's match last advanced (or we last rewound to it): the heartbeat resends only after a stall. */
  progressAt: number
  /**
   * Being re-bootstrapped (rebootstrap): its copy is about to be wiped, so what it acknowledges of
   * the log it holds now counts for nothing. 'streaming' until the shell says the snapshot stream
   * ended ('snapshot-streamed': wiped and installed); then 'installing' until the install's own
   * acknowledgement (an accept with stamp 0: onSnapshot's) sets its match again. A failed stream,
   * or an install whose acknowledgement was lost, is started again — never appends.
   */
  wipe?: 'streaming' | 'installing'
  /**
   * When the last re-bootstrap's stream ended (our monotonic clock): a reply to an append sent
   * before it (its echoed stamp is older) is about the wiped log, however late it arrives.
   */
  wipeEndedAt?: number
}

function emptyReady (): Ready {
  return {
    hardState: null,
    installSnapshot: null,
    truncateAfter: null,
    entries: [],
    compactThrough: null,
    messages: [],
    committed: [],
    acks: [],
    failed: [],
    proposed: null,
    control: null,
    diverged: null,
    snapshots: [],
    read: null,
    replicasNeedFrom: null,
    events: []
  }
}

export class ReplicationMachine {
  private readonly cfg: ReplicationConfig
  private readonly self: NodeId
  private hard: HardState
  private persistedHard: HardState
  private roleNow: Role
  private primaryId: NodeId | 0 = 0
  private readonly log: ReplLog
  private commit: Lsn
  private applied: Lsn
  private preference: NodeId[]
  /** Voters gone for good (the 'gone' input): they count toward no majority and are not heard. */
  private gone: ReadonlySet<NodeId> = new Set()
  /** Live members outside the voters whose pre-vote a campaign needs while a voter is forced out (setGone). */
  private witnesses: ReadonlySet<NodeId> = new Set()
  private readonly peers = new Map<NodeId, Peer>()
  /** While campaigning: the answers received (true = granted). */
  private readonly votes = new Map<NodeId, boolean>()
  private preVoting = false
  private electionDeadline = 0
  /** When we last heard from a primary of our generation (or started): votes are refused for electionTimeoutMs after it. */
  private heardAt: number
  private electedAt = 0
  private lastHeartbeatAt = 0
  /** When tick() last ran, and when the last stall of this process ended (header: own stalls). */
  private lastTickAt: number | null = null
  private stallGraceAt = -Infinity
  /** LSN of this primary's noop: reads and membership changes wait until it commits. */
  private generationStart: Lsn = 0n
  /** This primary's data proposals not yet acknowledged, ascending. */
  private pending: Lsn[] = []
  /** engineLog: a control entry asked of the shell and not yet logged (one at a time). */
  /**
   * Primary: voters it removed by a config entry (the entry's LSN), still sent appends and
   * heartbeats until they hold that entry and acknowledged a heartbeat that told them it committed
   * (`toldAt`: that heartbeat's send time, which the reply echoes; a removed node that restarted
   * its group meanwhile answers a later one), or `until` passed (a node that is down is not waited
   * for). Dropped from the peers at once, as Raft does, a
   * removed replica that had not received the entry — or not learned it committed — went on
   * counting itself a voter: its shell kept its group (membership/moves.ts keeps a copy the
   * committed voters still name), which campaigned for good and showed the shard as moving
   * forever (bench rebalance never settled).
   */
  private readonly departing = new Map<NodeId, { lsn: Lsn, toldAt: number | null, until: number }>()
  private controlPending: { kind: 'noop' } | { kind: 'config', change: 'promote' | 'remove', node: NodeId } | null = null
  /** engineLog: bumped by every truncation and snapshot install ('logged' reads begun before are stale). */
  private epoch = 0
  /** Primary handing its role over ('transfer' input): to whom, and when it gives up and steps down. */
  private transfer: { to: NodeId, until: number } | null = null
  private ready: Ready = emptyReady()

  constructor (config: ReplicationConfig, durable: DurableState, private readonly clock: Clock, private readonly rng: Rng) {
    assert(config.electionTimeoutMs > 0 && config.heartbeatMs > 0 && config.heartbeatMs < config.electionTimeoutMs, 'replication: heartbeat must be below the election timeout')
    assert(config.leaseMs > 0 && config.leaseMs < config.electionTimeoutMs * (1 - 2 * MAX_CLOCK_DRIFT), 'replication: leaseMs must stay below electionTimeoutMs × (1 − 2 × MAX_CLOCK_DRIFT)')
    assert(config.syncReplicas === 'majority' || (Number.isInteger(config.syncReplicas) && config.syncReplicas >= 0), 'replication: bad syncReplicas')
    assert(durable.appliedLsn >= durable.base.lsn, 'replication: applied LSN below the log base')
    this.cfg = config
    this.self = config.self
    this.hard = { ...durable.hard }
    this.persistedHard = { ...durable.hard }
    this.log = new ReplLog(durable.base, durable.entries)
    assert(durable.appliedLsn <= this.log.lastLsn, 'replication: applied LSN beyond the log')
    this.commit = durable.appliedLsn
    this.applied = durable.appliedLsn
    assert(config.preference.length <= MAX_VOTERS, `replication: a preference list of at most ${MAX_VOTERS} nodes`)
    this.preference = [...config.preference]
    const now = clock.monotonic()
    this.heardAt = now
    this.roleNow = this.isVoter() ? 'replica' : 'learner'
    this.resetElectionTimer(now)
  }

  // ---- read-only views (the shell's SHOW REPLICATION / metrics, and tests) ----
  get role (): Role { return this.roleNow }
  get generation (): Generation { return this.hard.generation }
  get primary (): NodeId | 0 { return this.primaryId }
  /** A replica hearing from its primary: it knows one, and the primary's last message came within the election timeout (never true of a primary or candidate). */
  followsPrimary (now: number): boolean { return this.roleNow === 'replica' && this.primaryId !== 0 && now < this.electionDeadline }
  get commitLsn (): Lsn { return this.commit }
  get appliedLsn (): Lsn { return this.applied }
  get lastLsn (): Lsn { return this.log.lastLsn }
  get lastGeneration (): Generation { return this.log.lastGeneration }
  get voters (): NodeId[] { return [...this.log.voters] }
  /**
   * The voters in effect at the commit LSN. A config entry counts as soon as it is in the log
   * (the machine's own majorities), but one not committed yet may still be lost in a failover:
   * what this node does with its copy — let it go once the new voters are in (membership/moves.ts)
   * — goes by these, so a leaving primary does not stop the moment it appended the promotion of
   * its replacement, before any other voter held it (seen in the membership simulation: the other
   * voters, still in the old configuration, needed its vote for ever).
   */
  get committedVoters (): NodeId[] { return this.log.votersAt(this.commit) }
  /** The voters in effect at `lsn` and the LSN of the entry (or base) that set them; null below the log's base (not known here). */
  configAt (lsn: Lsn): { lsn: Lsn, voters: NodeId[] } | null { return lsn < this.log.base.lsn ? null : this.log.configAt(lsn) }
  entryAt (lsn: Lsn): ReplEntry | undefined { return this.log.entry(lsn) }
  get logBase (): Lsn { return this.log.base.lsn }
  /** engineLog: pass with a 'logged' input the value read when its log-tail read began. */
  get logEpoch (): number { return this.epoch }
  /** Primary: until when (monotonic) reads may be served; −Infinity otherwise (and once a transfer started: it gave the lease up). */
  get leaseUntil (): number {
    if (this.roleNow !== 'primary' || this.transfer !== null) return -Infinity
    return this.currentLease(this.clock.monotonic())
  }

  /** Per replica, for lag reporting: match LSN and state (primary only). */
  progress (): Array<{ node: NodeId, match: Lsn, state: string, voter: boolean }> {
    const voters = this.voters
    return [...this.peers].map(([node, p]) => ({ node, match: p.match, state: p.state, voter: voters.includes(node) }))
  }

  step (input: ReplInput): Ready {
    this.ready = emptyReady()
    const now = this.clock.monotonic()
    switch (input.type) {
      case 'tick': this.tick(now); break
      case 'message': this.receive(input.msg, now); break
      case 'propose': this.propose(input.payload, now); break
      case 'logged': this.logged(input.entries, input.epoch, now); break
      case 'read': this.read(now); break
      case 'preference':
        assert(input.nodes.length <= MAX_VOTERS, `replication: a preference list of at most ${MAX_VOTERS} nodes`)
        this.preference = [...input.nodes]
        this.syncPeers(now)
        break
      case 'snapshot-failed': this.snapshotFailed(input.to); break
      case 'rebootstrap': this.rebootstrap(input.to, now); break
      case 'snapshot-streamed': this.snapshotStreamed(input.to, now); break
      case 'gone': this.setGone(input.nodes, input.witnesses ?? [], now); break
      case 'transfer': this.startTransfer(now); break
    }
    this.advance()
    const r = this.ready
    if (this.hard.generation !== this.persistedHard.generation || this.hard.votedFor !== this.persistedHard.votedFor) {
      this.persistedHard = { ...this.hard }
      r.hardState = { ...this.hard }
    }
    return r
  }

  // ---- inputs ----

  private tick (now: number): void {
    this.noteOwnStall(now)
    if (this.roleNow === 'primary') {
      if (this.transfer !== null && now >= this.transfer.until) {
        const to = this.transfer.to
        this.ready.events.push({ type: 'transfer', phase: 'abandoned', to, generation: this.hard.generation })
        this.becomeReplica(this.hard.generation, 0, `no new primary within the election timeout of handing over to node ${to}`, now)
        return
      }
      if (this.lostQuorum(now)) {
        this.becomeReplica(this.hard.generation, 0, 'no majority heard within the election timeout (check-quorum)', now)
        return
      }
      if (now - this.lastHeartbeatAt >= this.cfg.heartbeatMs) this.heartbeat(now)
      this.maybeChangeMembership()
      return
    }
    if (now >= this.electionDeadline && this.isVoter() && this.mayCampaign()) this.campaign(true, now)
  }

  /** A tick long after the previous one ends a stall of this process: grace (header: own stalls). */
  private noteOwnStall (now: number): void {
    const last = this.lastTickAt
    this.lastTickAt = now
    if (last === null || now - last <= stallGapMs(this.cfg) || now - this.stallGraceAt < 2 * this.cfg.electionTimeoutMs) return
    this.stallGraceAt = now
    if (this.roleNow !== 'primary') this.electionDeadline = Math.max(this.electionDeadline, now + this.cfg.electionTimeoutMs)
  }

  private receive (msg: ReplMessage, now: number): void {
    if (msg.from === this.self || this.gone.has(msg.from)) return
    switch (msg.type) {
      case 'append': this.onAppend(msg, now); break
      case 'append-reply': this.onAppendReply(msg, now); break
      case 'vote': this.onVote(msg, now); break
      case 'vote-reply': this.onVoteReply(msg, now); break
      case 'snapshot': this.onSnapshot(msg, now); break
      case 'timeout-now': this.onTimeoutNow(msg, now); break
    }
  }

  private propose (payload: Uint8Array, now: number): void {
    assert(this.cfg.engineLog !== true, 'replication: with engineLog the engine logs commits (a \'logged\' input), not propose')
    if (this.roleNow !== 'primary' || this.transfer !== null) {
      this.ready.failed.push({ lsn: null, error: this.notPrimary() })
      return
    }
    if (this.pending.length >= MAX_PENDING_PROPOSALS) {
      this.ready.failed.push({
        lsn: null,
        error: new ScratchBirdError('SB_REPLICATION_BACKLOG_FULL', `the primary already waits on ${this.pending.length} commits its replicas have not acknowledged`, { pending: this.pending.length })
      })
      return
    }
    const lsn = this.appendOwn({ lsn: this.log.lastLsn + 1n, generation: this.hard.generation, kind: 'data', payload })
    this.pending.push(lsn)
    this.ready.proposed = lsn
    this.sendToReplicating(now)
  }

  /**
   * engineLog: entries the engine appended itself. Each must continue the log (an LSN at or below
   * its end must be the entry held there: a tail read twice). One that does not — a commit that
   * landed after this node stopped being primary, while it took a new primary's entries — means
   * the two logs disagree: Ready.diverged, and the shell rebuilds the machine from the engine.
   * An entry of this primary's generation is a proposal (acknowledged under sync_replicas); a
   * commit of an older generation, or landing after this node stopped being primary, is in the log
   * (durably, so it counts toward votes and may yet commit) but its client gets
   * SB_COMMIT_OUTCOME_UNKNOWN.
   */
  private logged (entries: readonly ReplEntry[], epoch: number, now: number): void {
    assert(this.cfg.engineLog === true, 'replication: \'logged\' is for a machine with engineLog')
    if (epoch !== this.epoch) return
    for (const e of entries) {
      if (e.lsn <= this.log.lastLsn) {
        if (e.lsn <= this.log.base.lsn || this.log.generationAt(e.lsn) === e.generation) continue
        this.ready.diverged = `the engine logged LSN ${e.lsn} at generation ${e.generation}, the machine holds generation ${this.log.generationAt(e.lsn)!} there`
        return
      }
      if (e.lsn !== this.log.lastLsn + 1n || e.generation < this.log.lastGeneration || e.generation > this.hard.generation) {
        this.ready.diverged = `the engine logged LSN ${e.lsn} at generation ${e.generation}; the machine's log ends at LSN ${this.log.lastLsn} (generation ${this.log.lastGeneration}) in generation ${this.hard.generation}`
        return
      }
      this.log.append(e)
      const own = this.roleNow === 'primary' && e.generation === this.hard.generation
      if (e.kind === 'data') {
        if (own) {
          this.pending.push(e.lsn)
        } else {
          this.ready.failed.push({
            lsn: e.lsn,
            error: new ScratchBirdError('SB_COMMIT_OUTCOME_UNKNOWN', `the commit at LSN ${e.lsn} landed on a node that is not the shard's primary in generation ${this.hard.generation} (anymore); it may or may not survive`, { lsn: String(e.lsn) })
          })
        }
      } else if (own && this.controlPending !== null && this.controlPending.kind === (e.kind === 'noop' ? 'noop' : 'config')) {
        const c = this.controlPending
        this.controlPending = null
        if (c.kind === 'config') this.noteMembership(c.change, c.node, e.lsn)
      }
      if (e.kind === 'config') this.roleNow = this.roleNow === 'primary' || this.roleNow === 'candidate' ? this.roleNow : this.isVoter() ? 'replica' : 'learner'
    }
    if (this.roleNow === 'primary') {
      this.syncPeers(now)
      this.sendToReplicating(now)
    }
  }

  private read (now: number): void {
    this.ready.read = this.grantRead(now)
  }

  // ---- lease-checked reads (issue 14 item 3; the lease rule is at the top) ----

  /**
   * May this node serve a read of the shard now, as the 'read' input answers but without a step
   * (the shell asks before every read, synchronously): granted only to a primary that committed
   * an entry of its generation (its commit LSN covers every earlier primary's acknowledged
   * commits) and whose lease from a majority holds — which ends before any other node can be
   * elected, so a primary cut off from the majority refuses reads before a new primary exists.
   */
  readGrant (): ReadAnswer {
    return this.grantRead(this.clock.monotonic())
  }

  private grantRead (now: number): ReadAnswer {
    if (this.roleNow !== 'primary' || this.transfer !== null) return { granted: false, error: this.notPrimary() }
    const lease = this.currentLease(now)
    if (this.commit < this.generationStart || now >= lease) {
      return {
        granted: false,
        error: new ScratchBirdError('SB_NOT_PRIMARY', 'the primary does not hold a read lease from a majority of its replicas right now; retry', { primary: this.self, generation: this.hard.generation, lease: 'expired' })
      }
    }
    return { granted: true, readLsn: this.commit, leaseUntil: lease }
  }

  // ---- elections ----

  private campaign (preVote: boolean, now: number, transfer = false): void {
    this.roleNow = 'candidate'
    this.primaryId = 0
    this.preVoting = preVote
    this.votes.clear()
    this.resetElectionTimer(now)
    if (!preVote) {
      this.hard = { generation: this.hard.generation + 1, votedFor: this.self }
    }
    const generation = preVote ? this.hard.generation + 1 : this.hard.generation
    this.ready.events.push({ type: 'campaign', generation, preVote })
    this.votes.set(this.self, true)
    if (this.tallyVotes(now)) return
    const asked = preVote ? [...new Set([...this.quorumVoters(), ...this.campaignWitnesses()])] : this.quorumVoters()
    for (const v of asked) {
      if (v === this.self) continue
      this.send(v, { type: 'vote', generation, from: this.self, lastLsn: this.log.lastLsn, lastGeneration: this.log.lastGeneration, preVote, ...(transfer ? { transfer: true as const } : {}) })
    }
  }

  /**
   * The nodes each of which must grant a pre-vote while a voter is forced out (setGone): the live
   * members (witnesses) and every voter left, reachable or not. Not just a majority of the voters
   * left (see tallyVotes), and not only the live ones: a voter cut off by a partition looks down to
   * this node's gossip, yet may be the one holding the newer configuration and the entries it
   * acknowledged (membership simulation seed 953 of session 14's schedule: {1, 5} of {1, 3, 5},
   * node 3 partitioned away, elected a primary lacking acknowledged entries). Waiting for it costs
   * nothing a forced removal could safely do without it.
   */
  private campaignWitnesses (): NodeId[] {
    if (!this.log.voters.some(id => this.gone.has(id))) return []
    return [...new Set([...this.witnesses, ...this.quorumVoters()])].filter(id => id !== this.self && !this.gone.has(id))
  }

  /** Counts the votes; acts on a majority either way. True if the campaign ended. */
  private tallyVotes (now: number): boolean {
    const voters = this.quorumVoters()
    let granted = 0
    let refused = 0
    for (const [v, g] of this.votes) {
      if (!voters.includes(v)) continue
      if (g) granted++; else refused++
    }
    const need = majority(voters.length)
    if (this.preVoting) {
      // A forced campaign (setGone) goes on only once every live witness granted (no live member
      // holds a more complete log or hears a primary): one refusal ends it — a voter's too, since
      // voters that never received the config entries the group went on with may be a majority
      // of this node's voters once the gone node is left out, without the voter holding the newer
      // log (membership simulation seed 953: {1, 5} of {1, 3, 5} with node 3 refusing elected a
      // primary lacking acknowledged entries).
      const witnesses = this.campaignWitnesses()
      if (witnesses.some(w => this.votes.get(w) === false)) {
        this.becomeReplica(this.hard.generation, 0, 'a live member refused its pre-vote (a voter is forced out: this node\'s voters may be stale)', now)
        return true
      }
      if (granted >= need && witnesses.some(w => this.votes.get(w) !== true)) return false
    }
    if (granted >= need) {
      if (this.preVoting) this.campaign(false, now)
      else this.becomePrimary(now)
      return true
    }
    if (refused >= need) {
      this.becomeReplica(this.hard.generation, 0, 'a majority refused its vote', now)
      return true
    }
    return false
  }

  private inLease (now: number): boolean {
    return this.roleNow === 'primary' || now - this.heardAt < this.cfg.electionTimeoutMs
  }

  private onVote (m: VoteRequest, now: number): void {
    const reply = (granted: boolean, reason: string): void => {
      this.ready.events.push({ type: 'voted', generation: m.generation, candidate: m.from, granted, reason: (m.preVote ? 'pre-vote: ' : '') + reason })
      this.send(m.from, { type: 'vote-reply', generation: granted ? m.generation : this.hard.generation, from: this.self, granted, preVote: m.preVote })
    }
    if (m.generation <= this.hard.generation && (m.preVote || m.generation < this.hard.generation)) {
      reply(false, `generation ${m.generation} is not above ours (${this.hard.generation})`)
      return
    }
    // A transfer's candidate was told to campaign by the primary of its generation, which stopped
    // serving reads first: stickiness protects no lease then (see the top). A primary grants it
    // only if it is the one handing over to that candidate.
    const handedOver = m.transfer === true && !m.preVote && (this.roleNow !== 'primary' || this.transfer?.to === m.from)
    if (this.inLease(now) && !handedOver) {
      reply(false, this.roleNow === 'primary' ? 'we are the primary' : 'heard from a primary within the election timeout')
      return
    }
    const complete = this.log.lastGeneration === 0 || logAtLeastAsComplete(m.lastGeneration, m.lastLsn, this.log.lastGeneration, this.log.lastLsn)
    if (m.preVote) {
      reply(complete, complete ? 'log complete' : 'candidate log is behind ours')
      // Two voters whose timers ran out together each pre-vote the other, both pass, and both ask
      // for real votes in the same generation: a split vote, again and again while their ticks
      // stay in step (a group of two needs both votes; issue 20, membership simulation seeds 175,
      // 278). Of two such pre-candidates the higher id yields to a lower one whose log is as
      // complete: it waits a new election timeout, and the lower one goes on with its grant.
      if (complete && this.roleNow === 'candidate' && this.preVoting && m.generation === this.hard.generation + 1 && m.from < this.self && this.quorumVoters().includes(m.from)) {
        this.becomeReplica(this.hard.generation, 0, `yields to node ${m.from}, pre-voting at the same time`, now)
      }
      return
    }
    if (m.generation > this.hard.generation) this.becomeReplica(m.generation, 0, `vote request for generation ${m.generation}`, now)
    if (this.hard.votedFor !== 0 && this.hard.votedFor !== m.from) {
      reply(false, `already voted for ${this.hard.votedFor} in generation ${this.hard.generation}`)
      return
    }
    if (!complete) {
      reply(false, 'candidate log is behind ours')
      return
    }
    this.hard = { ...this.hard, votedFor: m.from }
    this.resetElectionTimer(now)
    reply(true, 'log complete')
  }

  private onVoteReply (m: VoteReply, now: number): void {
    if (!m.granted && m.generation > this.hard.generation) {
      this.becomeReplica(m.generation, 0, `a voter is in generation ${m.generation}`, now)
      return
    }
    if (this.roleNow !== 'candidate' || m.preVote !== this.preVoting) return
    const asked = this.preVoting ? this.hard.generation + 1 : this.hard.generation
    if (m.granted && m.generation !== asked) return
    this.votes.set(m.from, m.granted)
    this.tallyVotes(now)
  }

  private becomePrimary (now: number): void {
    this.roleNow = 'primary'
    this.primaryId = this.self
    this.preVoting = false
    this.electedAt = now
    this.pending = []
    this.peers.clear()
    this.syncPeers(now)
    this.ready.events.push({ type: 'became-primary', generation: this.hard.generation, lastLsn: this.log.lastLsn })
    if (this.cfg.engineLog === true) {
      // The engine gives the noop its LSN; a commit may even land first. Either way the first
      // entry of this generation is the next one, and reads wait until it commits.
      this.generationStart = this.log.lastLsn + 1n
      this.controlPending = { kind: 'noop' }
      this.ready.control = { generation: this.hard.generation, entry: { kind: 'noop' } }
    } else {
      this.generationStart = this.appendOwn({ lsn: this.log.lastLsn + 1n, generation: this.hard.generation, kind: 'noop' })
    }
    this.heartbeat(now)
  }

  private becomeReplica (generation: Generation, primary: NodeId | 0, reason: string, now: number): void {
    if (generation > this.hard.generation) this.hard = { generation, votedFor: 0 }
    const was = this.roleNow
    const before = this.primaryId
    if (was === 'primary') {
      for (const lsn of this.pending) {
        this.ready.failed.push({
          lsn,
          error: new ScratchBirdError('SB_COMMIT_OUTCOME_UNKNOWN', `this node stopped being the shard's primary (${reason}) before the commit at LSN ${lsn} was acknowledged; it may or may not survive`, { lsn: String(lsn) })
        })
      }
      this.pending = []
      this.peers.clear()
      this.departing.clear()
    }
    this.controlPending = null
    this.transfer = null
    this.roleNow = this.isVoter() ? 'replica' : 'learner'
    this.primaryId = primary
    this.preVoting = false
    this.votes.clear()
    this.resetElectionTimer(now)
    if (was !== this.roleNow || before !== primary) this.ready.events.push({ type: 'became-replica', generation: this.hard.generation, primary, reason })
  }

  // ---- the log: replica side ----

  private refuseAppend (m: AppendEntries, hintLsn: Lsn): void {
    this.send(m.from, {
      type: 'append-reply',
      generation: this.hard.generation,
      from: this.self,
      ok: false,
      matchLsn: 0n,
      hintLsn,
      hintGeneration: this.log.generationAt(hintLsn) ?? 0,
      stamp: m.stamp
    })
  }

  private accept (to: NodeId, generation: Generation, matchLsn: Lsn, stamp: number): void {
    this.send(to, { type: 'append-reply', generation, from: this.self, ok: true, matchLsn, hintLsn: 0n, hintGeneration: 0, stamp })
  }

  /** A message from the primary of `generation` ≥ ours: follow it. */
  private follow (generation: Generation, from: NodeId, now: number): boolean {
    if (generation === this.hard.generation && this.roleNow === 'primary') {
      // Two primaries in one generation cannot happen with honest peers: refuse, change nothing.
      this.ready.events.push({ type: 'refused', from, reason: `claims to be primary of our own generation ${generation}` })
      return false
    }
    if (generation > this.hard.generation || this.primaryId !== from || this.roleNow === 'candidate') {
      this.becomeReplica(generation, from, `primary ${from} of generation ${generation}`, now)
    }
    this.heardAt = now
    this.resetElectionTimer(now)
    return true
  }

  private onAppend (m: AppendEntries, now: number): void {
    if (m.generation < this.hard.generation) {
      // Fencing: an older primary learns our generation from the refusal and steps down.
      this.refuseAppend(m, 0n)
      return
    }
    if (!this.follow(m.generation, m.from, now)) return
    const bad = this.badEntries(m)
    if (bad !== null) {
      this.ready.events.push({ type: 'refused', from: m.from, reason: bad })
      return
    }
    let prevLsn = m.prevLsn
    let entries = m.entries
    const base = this.log.base.lsn
    if (prevLsn < base) {
      // What we compacted or got by snapshot is committed, hence equal on every log: skip it.
      entries = entries.filter(e => e.lsn > base)
      prevLsn = base
      if (entries.length > 0 && entries[0]!.generation < this.log.base.generation) {
        this.ready.events.push({ type: 'refused', from: m.from, reason: `entry generation ${entries[0]!.generation} below our base's` })
        return
      }
    } else if (this.localHistoryAt(prevLsn)) {
      this.refuseAppend(m, 0n)
      return
    } else if (prevLsn > this.log.lastLsn || this.log.generationAt(prevLsn) !== m.prevGeneration) {
      const probe = prevLsn > this.log.lastLsn ? this.log.lastLsn : prevLsn
      this.refuseAppend(m, this.log.agreeingAtOrBelow(probe, m.prevGeneration))
      return
    }
    const lastNew = m.prevLsn + BigInt(m.entries.length) > prevLsn ? m.prevLsn + BigInt(m.entries.length) : prevLsn
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!
      if (e.lsn <= this.log.lastLsn) {
        if (this.log.generationAt(e.lsn) === e.generation) continue
        if (e.lsn <= this.commit) {
          this.ready.events.push({ type: 'refused', from: m.from, reason: `would truncate committed LSN ${e.lsn}` })
          return
        }
        this.truncateAfter(e.lsn - 1n)
      }
      for (const f of entries.slice(i)) {
        this.log.append(f)
        this.ready.entries.push(f)
      }
      break
    }
    // A config entry appended or truncated may have made us a voter or a learner.
    this.roleNow = this.isVoter() ? 'replica' : 'learner'
    const upTo = m.leaderCommit < lastNew ? m.leaderCommit : lastNew
    if (upTo > this.commit) this.commit = upTo <= this.log.lastLsn ? upTo : this.log.lastLsn
    this.accept(m.from, this.hard.generation, lastNew, m.stamp)
  }

  /** Why a primary's entries cannot be right (a buggy or hostile peer), or null. */
  private badEntries (m: AppendEntries): string | null {
    let lsn = m.prevLsn
    let generation = m.prevGeneration
    for (const e of m.entries) {
      if (e.lsn !== lsn + 1n) return `entry LSN ${e.lsn} does not follow ${lsn}`
      if (e.generation < generation || e.generation > m.generation) return `entry generation ${e.generation} out of order`
      lsn = e.lsn
      generation = e.generation
    }
    return null
  }

  private truncateAfter (lsn: Lsn): void {
    const removed = this.log.truncateAfter(lsn)
    if (removed === 0) return
    this.epoch++
    const r = this.ready
    r.truncateAfter = r.truncateAfter === null || lsn < r.truncateAfter ? lsn : r.truncateAfter
    r.entries = r.entries.filter(e => e.lsn <= lsn)
    r.events.push({ type: 'truncated', afterLsn: lsn, removed })
  }

  private onSnapshot (m: InstallSnapshot, now: number): void {
    if (m.generation < this.hard.generation) {
      this.send(m.from, { type: 'append-reply', generation: this.hard.generation, from: this.self, ok: false, matchLsn: 0n, hintLsn: 0n, hintGeneration: 0, stamp: 0 })
      return
    }
    if (!this.follow(m.generation, m.from, now)) return
    if (m.base.lsn > this.commit) {
      this.epoch++
      this.log.reset(m.base)
      this.commit = m.base.lsn
      this.applied = m.base.lsn
      this.ready.installSnapshot = { ...m.base, voters: [...m.base.voters] }
      this.ready.truncateAfter = null
      this.ready.entries = []
      this.roleNow = this.isVoter() ? 'replica' : 'learner'
      this.ready.events.push({ type: 'snapshot-installed', lsn: m.base.lsn, from: m.from })
    }
    // Either way we hold the primary's committed log up to the snapshot's LSN.
    this.accept(m.from, this.hard.generation, m.base.lsn, 0)
  }

  // ---- the log: primary side ----

  private appendOwn (e: ReplEntry): Lsn {
    this.log.append(e)
    this.ready.entries.push(e)
    return e.lsn
  }

  private onAppendReply (m: AppendReply, now: number): void {
    if (m.generation > this.hard.generation) {
      this.becomeReplica(m.generation, 0, `replica ${m.from} is in generation ${m.generation} (fenced)`, now)
      return
    }
    if (this.roleNow !== 'primary' || m.generation < this.hard.generation) return
    const p = this.peers.get(m.from)
    if (p === undefined) return
    if (m.stamp <= now && m.stamp > p.stamp) p.stamp = m.stamp
    if (this.aboutWipedLog(p, m)) return
    if (m.ok) {
      if (m.matchLsn > this.log.lastLsn) {
        this.ready.events.push({ type: 'refused', from: m.from, reason: `acknowledged LSN ${m.matchLsn} beyond our log` })
        return
      }
      if (m.matchLsn > p.match) { p.match = m.matchLsn; p.progressAt = now; this.maybeTimeoutNow(now) }
      if (this.departed(m.from, m)) return
      if (p.next <= p.match) p.next = p.match + 1n
      if (p.state === 'probe' || (p.state === 'snapshot' && p.match >= p.snapshotLsn)) p.state = 'replicate'
      if (p.inflight > 0) p.inflight--
      if (p.state === 'replicate' && p.next <= this.log.lastLsn && p.inflight < MAX_INFLIGHT_APPENDS) this.sendAppend(m.from, p, now)
      return
    }
    if (p.state === 'snapshot' || m.hintLsn < p.match) return
    if (m.hintLsn === 0n && p.next === 1n && p.state === 'probe' && p.match === 0n) {
      // An append after LSN 0 continues every log: refused there, the replica cannot take entries
      // now (it is installing a snapshot another primary started): finish it with ours.
      this.startSnapshot(m.from, p, now)
      return
    }
    const agree = m.hintLsn < this.log.base.lsn ? m.hintLsn : this.log.agreeingAtOrBelow(m.hintLsn, m.hintGeneration)
    p.next = agree + 1n > p.match + 1n ? agree + 1n : p.match + 1n
    p.state = 'probe'
    p.inflight = 0
    p.progressAt = now
    this.sendAppend(m.from, p, now)
  }

  private sendAppend (to: NodeId, p: Peer, now: number): void {
    const base = this.log.base
    if (p.next <= base.lsn || this.needsHistory(p.next) || p.wipe !== undefined) {
      if (p.wipe !== undefined) p.wipe = 'streaming'
      this.startSnapshot(to, p, now)
      return
    }
    const prevLsn = p.next - 1n
    const entries = this.log.slice(p.next, this.log.lastLsn, MAX_ENTRIES_PER_APPEND, MAX_APPEND_BYTES)
    this.send(to, {
      type: 'append',
      generation: this.hard.generation,
      from: this.self,
      prevLsn,
      prevGeneration: this.log.generationAt(prevLsn)!,
      entries,
      leaderCommit: this.commit,
      stamp: now
    })
    if (p.state === 'replicate' && entries.length > 0) {
      p.next = entries[entries.length - 1]!.lsn + 1n
      p.inflight++
    }
  }

  private startSnapshot (to: NodeId, p: Peer, now: number): void {
    const lsn = this.applied
    const base = { lsn, generation: this.log.generationAt(lsn)!, voters: this.log.votersAt(lsn) }
    p.state = 'snapshot'
    p.snapshotLsn = lsn
    p.snapshotAt = now
    p.inflight = 0
    this.ready.snapshots.push({ to, base, generation: this.hard.generation })
    this.ready.events.push({ type: 'snapshot-sent', to, lsn })
  }

  /**
   * Why the primary may not re-bootstrap `to` now (rules.ts rebootstrapRefusal, plus: this node is
   * the primary, `to` is one of its replicas, not being bootstrapped already); null if it may.
   */
  rebootstrapRefusal (to: NodeId): string | null {
    if (this.roleNow !== 'primary') return 'this node is not the primary'
    const p = this.peers.get(to)
    if (p === undefined) return `node ${to} is not a replica of this group`
    if (p.state === 'snapshot') return `node ${to} is being bootstrapped already`
    const voters = this.quorumVoters()
    const matchOf = (v: NodeId): Lsn => v === this.self ? this.log.lastLsn : this.peers.get(v)?.match ?? 0n
    const acked = this.cfg.syncReplicas === 0 ? 0n : this.ackLsn(voters, matchOf)
    return rebootstrapRefusal(voters, this.self, to, matchOf, acked > this.commit ? acked : this.commit)
  }

  private rebootstrap (to: NodeId, now: number): void {
    if (this.rebootstrapRefusal(to) !== null) return
    const p = this.peers.get(to)!
    // It holds nothing we can count on until the snapshot is installed: its acknowledgements
    // count again from the snapshot's LSN (the install's reply).
    p.match = 0n
    p.wipe = 'streaming'
    this.startSnapshot(to, p, now)
  }

  private snapshotStreamed (to: NodeId, now: number): void {
    const p = this.peers.get(to)
    if (p?.wipe !== 'streaming') return
    p.wipe = 'installing'
    p.wipeEndedAt = now
  }

  /** True if this reply says nothing true of a peer being (or lately) re-bootstrapped (see Peer.wipe). */
  private aboutWipedLog (p: Peer, m: AppendReply): boolean {
    if (p.wipe === 'streaming') return true
    if (p.wipe === 'installing') {
      if (!m.ok || m.stamp !== 0) return true
      p.wipe = undefined
      return false
    }
    return p.wipeEndedAt !== undefined && m.stamp !== 0 && m.stamp < p.wipeEndedAt
  }

  private snapshotFailed (to: NodeId): void {
    const p = this.roleNow === 'primary' ? this.peers.get(to) : undefined
    if (p === undefined || p.state !== 'snapshot') return
    p.state = 'probe'
    p.next = p.match + 1n
  }

  /**
   * Every heartbeatMs: an append to each replica — empty, or the entries it lacks. Entries already
   * in flight to a replica that keeps acknowledging are not sent again: under load a round trip
   * outlasts a heartbeat, and resending every unacknowledged entry at each one multiplied the
   * appends (and the replicas' decoding and replies) for nothing. The heartbeat then carries only
   * the lease stamp and the commit LSN, after the replica's match (which it holds). Only once the
   * replica's match has not moved for resendAfterMs (a lost message: the transport drops on
   * overload and on failure) does it go back to the match and resend from there.
   */
  private heartbeat (now: number): void {
    this.lastHeartbeatAt = now
    this.releaseDeparted(now)
    // A TimeoutNow may have been lost: sent again (a duplicate finds its target in a newer generation and is ignored).
    this.maybeTimeoutNow(now)
    const retry = this.cfg.electionTimeoutMs * SNAPSHOT_RETRY_ELECTIONS
    const resendAfter = this.resendAfterMs()
    for (const [to, p] of this.peers) {
      if (p.state === 'snapshot') {
        if (now - p.snapshotAt < retry) {
          // Keeps the lease and the replica's vote quiet while the snapshot streams.
          const prev = p.match > this.log.base.lsn ? p.match : this.log.base.lsn
          this.send(to, { type: 'append', generation: this.hard.generation, from: this.self, prevLsn: prev, prevGeneration: this.log.generationAt(prev)!, entries: [], leaderCommit: this.commit, stamp: now })
          continue
        }
        p.state = 'probe'
        p.next = p.match + 1n
      }
      if (p.state === 'replicate') {
        if (p.next > p.match + 1n && p.match >= this.log.base.lsn && now - p.progressAt < resendAfter) {
          this.send(to, { type: 'append', generation: this.hard.generation, from: this.self, prevLsn: p.match, prevGeneration: this.log.generationAt(p.match)!, entries: [], leaderCommit: this.commit, stamp: now })
          continue
        }
        // Stalled: go back to what the replica confirmed and resend whatever was lost.
        p.next = p.match + 1n
        p.inflight = 0
        p.progressAt = now
      }
      this.sendAppend(to, p, now)
    }
  }

  /** How long a replica's match may stay put with entries in flight before the heartbeat resends them. */
  private resendAfterMs (): number {
    return Math.max(2 * this.cfg.heartbeatMs, this.cfg.electionTimeoutMs / 4)
  }

  private sendToReplicating (now: number): void {
    for (const [to, p] of this.peers) {
      if (p.state === 'replicate' && p.inflight < MAX_INFLIGHT_APPENDS && p.next <= this.log.lastLsn) this.sendAppend(to, p, now)
    }
  }

  /** The peers a primary replicates to: voters and preference-list nodes, but itself. */
  private syncPeers (now: number): void {
    if (this.roleNow !== 'primary') return
    const want = new Set([...this.log.voters, ...this.preference, ...this.departing.keys()])
    want.delete(this.self)
    for (const id of this.gone) want.delete(id)
    for (const id of [...this.peers.keys()]) if (!want.has(id)) this.peers.delete(id)
    for (const id of want) {
      if (!this.peers.has(id)) {
        this.peers.set(id, { match: 0n, next: this.log.lastLsn + 1n, state: 'probe', inflight: 0, stamp: -Infinity, snapshotLsn: 0n, snapshotAt: now, progressAt: now })
      }
    }
  }

  private currentLease (now: number): number {
    const voters = this.quorumVoters()
    const stamps = voters.filter(v => v !== this.self).map(v => this.peers.get(v)?.stamp ?? -Infinity)
    return leaseUntil(now, stamps, voters.length, this.cfg.leaseMs)
  }

  private lostQuorum (now: number): boolean {
    const voters = this.quorumVoters()
    if (!voters.includes(this.self)) return false
    const since = Math.max(this.electedAt, this.stallGraceAt)
    const heard = voters.filter(v => v !== this.self).map(v => Math.max(this.peers.get(v)?.stamp ?? -Infinity, since))
    const newest = [now, ...heard].sort((a, b) => b - a)[majority(voters.length) - 1]!
    return now - newest >= this.cfg.electionTimeoutMs
  }

  private maybeChangeMembership (): void {
    if (this.transfer !== null) return
    if (this.commit < this.generationStart || this.log.lastConfigAfter(this.commit) !== null || this.controlPending !== null) return
    const voters = this.log.voters
    const promote = this.preference.find(n => !voters.includes(n) && (this.peers.get(n)?.match ?? 0n) >= this.commit && this.peers.get(n)?.state === 'replicate')
    let next: NodeId[] | null = null
    let change: { change: 'promote' | 'remove', node: NodeId } | null = null
    if (promote !== undefined) {
      next = [...voters, promote].sort((a, b) => a - b)
      change = { change: 'promote', node: promote }
    } else {
      const leave = voters.find(v => v !== this.self && !this.preference.includes(v))
      if (leave !== undefined) {
        next = voters.filter(v => v !== leave)
        change = { change: 'remove', node: leave }
      }
    }
    if (next === null || change === null) return
    if (this.cfg.engineLog === true) {
      this.controlPending = { kind: 'config', ...change }
      this.ready.control = { generation: this.hard.generation, entry: { kind: 'config', voters: next } }
      return
    }
    const lsn = this.appendOwn({ lsn: this.log.lastLsn + 1n, generation: this.hard.generation, kind: 'config', voters: next })
    this.noteMembership(change.change, change.node, lsn)
    this.syncPeers(this.clock.monotonic())
    this.sendToReplicating(this.clock.monotonic())
  }

  private noteMembership (change: 'promote' | 'remove', node: NodeId, lsn: Lsn): void {
    this.ready.events.push({ type: 'membership', change, node, lsn })
    if (change === 'remove') this.departing.set(node, { lsn, toldAt: null, until: this.clock.monotonic() + DEPARTING_ELECTIONS * this.cfg.electionTimeoutMs })
  }

  /** Heartbeat at `now`: marks the departing voters this heartbeat tells their removal committed; lets go of those past `until`. */
  private releaseDeparted (now: number): void {
    for (const [id, d] of this.departing) {
      const p = this.peers.get(id)
      if (p === undefined || this.log.voters.includes(id)) { this.departing.delete(id); continue }
      if (now >= d.until) { this.departing.delete(id); this.peers.delete(id); continue }
      if (d.toldAt === null && p.match >= d.lsn && this.commit >= d.lsn) d.toldAt = now
    }
  }

  /** A departing voter acknowledged a heartbeat that told it its removal committed: let go. */
  private departed (from: NodeId, m: AppendReply): boolean {
    const d = this.departing.get(from)
    if (d === undefined || !m.ok || d.toldAt === null || m.stamp < d.toldAt || m.matchLsn < d.lsn) return false
    this.departing.delete(from)
    this.peers.delete(from)
    return true
  }

  // ---- leadership transfer (see the top) ----

  private startTransfer (now: number): void {
    if (this.roleNow !== 'primary' || this.transfer !== null) return
    const voters = this.quorumVoters().filter(v => v !== this.self)
    if (voters.length === 0) return
    // A voter of the preference list when there is one: a primary leaving the list (a move) hands
    // over to a node that keeps the shard, not to another voter on its way out.
    const placed = voters.filter(v => this.preference.includes(v))
    const others = placed.length > 0 ? placed : voters
    // The most caught-up voter needs the fewest entries before it may campaign.
    let to = others[0]!
    for (const v of others) if ((this.peers.get(v)?.match ?? 0n) > (this.peers.get(to)?.match ?? 0n)) to = v
    this.transfer = { to, until: now + this.cfg.electionTimeoutMs }
    this.ready.events.push({ type: 'transfer', phase: 'started', to, generation: this.hard.generation })
    // Not sent in this step even if `to` is caught up: with engineLog a commit may still land in
    // the engine until the shell carried 'started' out (storage role replica); its entry comes in
    // through 'logged' and must reach `to` first. The next tick or reply sends it.
    const p = this.peers.get(to)
    if (p !== undefined && p.state === 'replicate' && p.next <= this.log.lastLsn && p.inflight < MAX_INFLIGHT_APPENDS) this.sendAppend(to, p, now)
  }

  /** Transferring: TimeoutNow to the chosen voter once its log holds all of ours. */
  private maybeTimeoutNow (now: number): void {
    const t = this.transfer
    if (t === null || this.roleNow !== 'primary') return
    const p = this.peers.get(t.to)
    if (p === undefined || p.match !== this.log.lastLsn || this.controlPending !== null) return
    this.send(t.to, { type: 'timeout-now', generation: this.hard.generation, from: this.self })
    this.ready.events.push({ type: 'transfer', phase: 'sent', to: t.to, generation: this.hard.generation })
  }

  private onTimeoutNow (m: TimeoutNow, now: number): void {
    // Only from the primary of our generation; a stale or duplicate one changes nothing.
    if (m.generation !== this.hard.generation || m.from !== this.primaryId || this.roleNow !== 'replica' || !this.mayCampaign()) {
      this.ready.events.push({ type: 'refused', from: m.from, reason: `TimeoutNow of generation ${m.generation} (we are a ${this.roleNow} in generation ${this.hard.generation}, primary ${this.primaryId})` })
      return
    }
    this.campaign(false, now, true)
  }

  // ---- history from before the group (generation 0) ----
  //
  // Entries of generation 0 were logged before the shard had a group: leaderless writes and the
  // commits of N = 1 tables, which only the shard's single owner then held — the first node of
  // its preference list. Two logs' generation-0 entries at one LSN are unrelated commits, so they
  // never "agree": a replica refuses an append that continues one (localHistoryAt), and a primary
  // sends a replica that needs any of its own generation-0 entries a snapshot instead (needsHistory).
  // So that no acknowledged N = 1 row is lost, the first primary of a group is that owner: a voter
  // whose log holds nothing of any group (last generation 0) campaigns only if it is the first of
  // the preference list (mayCampaign), and votes for any candidate (it holds no committed entry a
  // vote could lose). A group whose owner is down stays without a primary until it returns.

  /** Replica: does `prevLsn` name one of our entries from before the group (never comparable)? */
  private localHistoryAt (prevLsn: Lsn): boolean {
    return prevLsn > this.log.base.lsn && prevLsn <= this.log.lastLsn && this.log.generationAt(prevLsn) === 0
  }

  /** Primary: would a replica whose log continues at `next` need one of our generation-0 entries? */
  private needsHistory (next: Lsn): boolean {
    return next > this.log.base.lsn && next <= this.log.lastLsn && this.log.generationAt(next) === 0
  }

  private mayCampaign (): boolean {
    return this.log.lastGeneration > 0 || this.preference[0] === this.self
  }

  // ---- after every input: commit, acknowledge, apply, compact ----

  private advance (): void {
    if (this.roleNow === 'primary') {
      const voters = this.quorumVoters()
      const matchOf = (v: NodeId): Lsn => v === this.self ? this.log.lastLsn : this.peers.get(v)?.match ?? 0n
      const m = voters.includes(this.self) ? majorityMatch(voters, matchOf) : null
      if (m !== null && m > this.commit && this.log.generationAt(m) === this.hard.generation) this.commit = m
      this.releaseAcks(voters, matchOf)
    }
    while (this.applied < this.commit) {
      this.applied++
      this.ready.committed.push(this.log.entry(this.applied)!)
    }
    this.compact()
  }

  /**
   * Primary: the LSN through which commits are acknowledged under replication.sync_replicas (the
   * commit LSN under majority); 0 on any other role. What a read served by the primary may have
   * seen must be acknowledged before its answer leaves (ShardGroup.readSettled).
   */
  get acknowledgedLsn (): Lsn {
    if (this.roleNow !== 'primary') return 0n
    const voters = this.quorumVoters()
    return this.ackLsn(voters, (v: NodeId): Lsn => v === this.self ? this.log.lastLsn : this.peers.get(v)?.match ?? 0n)
  }

  private ackLsn (voters: readonly NodeId[], matchOf: (v: NodeId) => Lsn): Lsn {
    if (this.cfg.syncReplicas === 'majority') return this.commit
    const others = voters.filter(v => v !== this.self).map(matchOf)
    return ackableLsn(this.log.lastLsn, others, requiredReplicas(this.cfg.syncReplicas, voters.length))
  }

  private releaseAcks (voters: readonly NodeId[], matchOf: (v: NodeId) => Lsn): void {
    if (this.pending.length === 0) return
    const upTo = this.ackLsn(voters, matchOf)
    let n = 0
    while (n < this.pending.length && this.pending[n]! <= upTo) this.ready.acks.push(this.pending[n++]!)
    if (n > 0) this.pending = this.pending.slice(n)
  }

  private compact (): void {
    let through: Lsn | null = null
    if (this.roleNow === 'primary') {
      let need = this.applied + 1n
      for (const p of this.peers.values()) {
        const n = p.state === 'snapshot' ? p.snapshotLsn + 1n : p.match + 1n
        if (n < need) need = n
      }
      this.ready.replicasNeedFrom = need
      if (need - 1n > this.log.base.lsn) through = need - 1n
    }
    const cut = this.log.sizeCut(this.cfg.maxRetainedBytes, this.applied)
    if (cut !== null && (through === null || cut > through)) through = cut
    if (through === null || through <= this.log.base.lsn) return
    this.log.compactThrough(through)
    this.ready.compactThrough = through
  }

  // ---- helpers ----

  private isVoter (): boolean { return this.log.voters.includes(this.self) }

  /** The voters that count toward majorities: the log's, but those gone for good. */
  private quorumVoters (): readonly NodeId[] {
    const voters = this.log.voters
    return this.gone.size === 0 ? voters : voters.filter(id => !this.gone.has(id))
  }

  /**
   * The shell's 'gone' input (forced removal, see the top): never this node, never every voter.
   * A primary gone for good is forgotten, so this node campaigns once its election timeout runs
   * out (its timer is not reset by the gone node any more: any lease it granted has ended by then).
   */
  private setGone (nodes: readonly NodeId[], witnesses: readonly NodeId[], now: number): void {
    this.witnesses = new Set(witnesses.filter(id => id !== this.self))
    const next = new Set(nodes.filter(id => id !== this.self))
    if (next.size === this.gone.size && [...next].every(id => this.gone.has(id))) return
    const voters = this.log.voters
    if (voters.length > 0 && voters.every(id => next.has(id))) return
    this.gone = next
    const forced = voters.filter(id => next.has(id))
    if (forced.length > 0) this.ready.events.push({ type: 'forced-removal', nodes: forced, voters: this.quorumVoters().slice() })
    if (this.primaryId !== 0 && next.has(this.primaryId) && this.roleNow !== 'primary') this.primaryId = 0
    for (const id of next) { this.peers.delete(id); this.votes.delete(id) }
    if (this.roleNow === 'candidate') this.tallyVotes(now)
  }

  private resetElectionTimer (now: number): void {
    this.electionDeadline = now + this.cfg.electionTimeoutMs * (1 + this.rng.next())
  }

  private send (to: NodeId, msg: ReplMessage): void {
    this.ready.messages.push({ to, msg })
  }

  private notPrimary (): ScratchBirdError {
    return new ScratchBirdError('SB_NOT_PRIMARY', this.primaryId === 0
      ? 'this node is not the shard\'s primary and knows of none right now (an election may be running); retry'
      : `this node is not the shard's primary; node ${this.primaryId} is`, { primary: this.primaryId, generation: this.hard.generation })
  }
}

/** A gap between two ticks longer than this is a stall of this process (ticks come every heartbeatMs / 2). */
export function stallGapMs (cfg: Pick<ReplicationConfig, 'heartbeatMs' | 'electionTimeoutMs'>): number {
  return Math.max(4 * cfg.heartbeatMs, cfg.electionTimeoutMs / 4)
}
