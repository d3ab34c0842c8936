import { isScratchBirdError } from '../../src/core/errors'
import { asNodeId, asShardId, type NodeId, type ShardId } from '../../src/core/ids'
import { configuredLayout, countedMembers, holdingMembers, layoutMemberState, placedMembers, type ClusterLayout } from '../../src/cluster/layout'
import { admitLayout, compareLayouts, decider, joinedLayout } from '../../src/cluster/membership/epochs'
import { answerDecree, DecreeProposer, type DecreeRecord, type DecreeReply, type DecreeRequest, type ProposalOutcome, type ProposalReady } from '../../src/cluster/membership/epoch-decree'
import { leftLayout, membershipOpLayout, shardsStillMoving, singleCopyShardsStillMoving, type MembershipOp } from '../../src/cluster/membership/drain'
import { forcedWitnesses, goneVoters } from '../../src/cluster/membership/forced-removal'
import { rejoinRefusal } from '../../src/cluster/membership/readmission'
import { groupAction, keptOnContact, keptWhileVoter, leavingPrimaryHandsOver, shardReplicasHere, singleCopyHandsOver, singleCopyReplicas } from '../../src/cluster/membership/moves'
import { replicaStates } from '../../src/cluster/replication/replica-state'
import { isContact, startsOnContact } from '../../src/cluster/replication/rules'
import type { ReplMessage } from '../../src/cluster/replication/types'
import { preferenceList } from '../../src/cluster/placement'
import type { Ready } from '../../src/cluster/replication/types'
import { SimNetwork } from './network'
import { ReplicationSim, type HarnessOptions, type SimNode, type Wire } from './replication-harness'

// The membership I/O shell over the seeded simulated network (issue 20): several nodes, each with
// a process (up or down, its layout on disk, its memory lost on a crash), one Mode 1 group per
// shard per node run by replication-harness.ts (the shipped replication machine; one
// ReplicationSim per shard, all on one SimNetwork), and the shipped membership rules deciding
// everything the node's shells decide:
//   - which layout a node runs: gossip of the layout (a push-pull exchange with one random peer
//     every GOSSIP_MS over the network) judged by epochs.ts compareLayouts; admission of a
//     joiner by the decider (epochs.ts decider, admitLayout); DRAIN / CANCEL / REMOVE at the
//     decider (drain.ts membershipOpLayout); the end of a drain (drain.ts shardsStillMoving over
//     the primaries' voter lists, leftLayout); each of these decisions is a decree of the next
//     epoch among the voters of the current one (epoch-decree.ts: prepare and accept messages
//     over the network, the acceptor record on the process's disk, requests resent every
//     GOSSIP_MS until DECREE_TIMEOUT_MS), adopted only once chosen, as node/cluster.ts does;
//   - which replica list each node gives its group of a shard and whether it runs one
//     (moves.ts shardReplicasHere, groupAction: ClusterShell.mode1ReplicasOf and
//     ReplicationShell.sync call the same), and which voters it stops counting
//     (forced-removal.ts goneVoters), every SYNC_MS as the node's replication timer does;
//   - with N = 1, single-copy moves as ClusterShell and ReplicationShell run them (moves.ts
//     singleCopyReplicas, singleCopyHandsOver; joins marked normal once drain.ts
//     singleCopyShardsStillMoving is empty). A shard not moving runs, in the simulation, a group
//     whose only voter is its owner — the node commits at generation 0 without one — which is
//     what the old owner's group starts as when a move begins.
// What is simplified, and why it does not weaken the checks: a node's view of who is alive is the
// truth (up and not cut off by the partition), not gossip's suspicion with its delay; the
// decider's MEMBERSHIP_STATUS round reads the primaries it can reach at once rather than by RPC.

/**
 * The nodes a node saw removed (ClusterShell.removedMembers, which forced-removal.ts goneVoters
 * reads) survive its restarts here. On main they are kept in memory only: a survivor that
 * restarts after REMOVE NODE, before its group's config entry removing the dead voter committed,
 * never forces the removal, and with N = 2 the shard stays without a primary for good (seen with
 * an earlier schedule of this simulation). The llmove branch (issue 20) persists the set; this models that.
 */
export const REMOVED_SET_PERSISTED = true
/**
 * SIM_SHELL_VOTERS=1 replays what the node did with a group's voters before they were recorded
 * (session 11): ShardGroup.load started the machine with the replica list the shell passes
 * (moves.ts groupReplicas) as the voters whenever the retained log held no config entry, and the
 * shell knew a group's voters only while its machine ran. So after a node joined, a restarted old
 * replica (a) believed the new placement was already its group's voters — with the joiner it
 * elected a second primary and acknowledged commits were lost (seed 28 of the schedule at commit
 * 22c307e) — or (b), when the join displaced it from the placement, never started its group again
 * though it was still a voter the shard's majority needed (seed 12). By default the simulation
 * runs what the node does now: the voters in effect are durable with the log (the hard state's
 * config, storage/repl-state.ts; a restart starts from them, the harness's disk keeps them) and
 * the shell reads them when no machine runs (node/replication/manager.ts votersOf).
 */
const SHELL_START_VOTERS = process.env.SIM_SHELL_VOTERS !== undefined
/**
 * SIM_NO_CONTACT_START=1 replays the shell before session 12: a node running no group of a shard
 * answered only pre-votes from its disk, so a node promoted by a config entry it never received
 * (crashed right after installing its bootstrap snapshot) or whose log still names voters the
 * layout moved away from never started its group, and a group whose majority needed its vote
 * waited for good (seed 302: shard without a primary after healing). Now a vote request or an
 * append that says it is one of the group starts it (rules.ts startsOnContact), kept while
 * contacted (moves.ts keptOnContact).
 */
const START_ON_CONTACT = process.env.SIM_NO_CONTACT_START === undefined
export const GOSSIP_MS = 100
export const SYNC_MS = 25
export const DRAIN_POLL_MS = 200
const CLUSTER = 'sim'
const TRACE = process.env.SIM_TRACE !== undefined

/**
 * SIM_READMIT=1 replays finding 5: a join is judged by the layouts alone (compareLayouts), so the
 * last gossip of a node REMOVE NODE took out, still in flight, admitted it again when its data
 * directory recorded epoch 1 (the decider cannot tell it from a new node's), and the shards it
 * was a voter of waited for it for good. Now the joining process is judged too
 * (membership/readmission.ts rejoinRefusal: its catalog, its boot id).
 */
const READMIT = process.env.SIM_READMIT !== undefined

/**
 * `heard`: the non-members the sender heard of (SWIM's digest carries every process it knows).
 * `boot` and `catalog`: the sender's gossip record — its process (ids differ per start) and the
 * catalog version its data directory holds (1 once it ran as a member: the simulated cluster holds
 * a table from the start; 0 for a spare not admitted yet, as a new node's empty data directory).
 */
interface LayoutMsg { kind: 'layout', from: NodeId, layout: ClusterLayout, reply: boolean, heard: NodeId[], boot: string, catalog: number }
/** MEMBERSHIP_DECREE: a proposer's request to a voter, or the voter's answer. */
interface DecreeMsg { kind: 'decree', from: NodeId, req?: DecreeRequest, reply?: DecreeReply }
/** A proposal gives up (the statement fails; the operator retries) after this long without a decision. */
export const DECREE_TIMEOUT_MS = 1_000

/** A decree this process proposes (in memory: lost with a crash). `done`: null once its own layout was chosen, else why not. */
interface Proposal { proposer: DecreeProposer, why: string, since: number, done: ((refused: string | null) => void) | undefined }

export interface Proc {
  readonly id: NodeId
  up: boolean
  /** Gone for good (never started again; REMOVE NODE takes it out). */
  dead: boolean
  /** Has run at least once (a spare joins when first started). */
  started: boolean
  /** On disk: survives crashes. */
  layout: ClusterLayout
  /** cluster.nodes: whom it gossips with besides the members it knows. */
  seeds: NodeId[]
  /** Nodes it saw removed (kept across crashes: REMOVED_SET_PERSISTED); in memory: shards whose group it retired. */
  removed: Set<NodeId>
  retired: Set<number>
  /** Per shard: the gone list its group was given last (ShardGroup.gone), in memory. */
  gone: Map<number, NodeId[]>
  /** The live members a forced campaign must also hear from (forced-removal.ts forcedWitnesses), as last given to its groups. */
  witnesses: NodeId[]
  /** Per shard whose group this process retired: its voters then (ReplicationShell.diskVoters after a retire), in memory. */
  retiredVoters: Map<number, NodeId[]>
  /** Per shard whose group started on contact: when a peer last sent it a vote request or an append (ReplicationShell.contacted), in memory. */
  contacted: Map<number, number>
  /** The acceptor record of the next epoch's decree (on disk: survives crashes). */
  decree: DecreeRecord | null
  /** The decree this process proposes, in memory. */
  proposal: Proposal | null
  /**
   * Non-members this process heard of (in memory), from them or in another's gossip: it gossips
   * with them too, as the node's SWIM machine pings every process its digest lists. Without it a
   * decider never pulled from a joiner and waited for the joiner's random choice of peer to fall
   * on it (seed 541: 2.6 s, so the move started too late to end before the run did).
   */
  heard: Set<NodeId>
  /** Process starts (the boot id is `${id}.${boots}`); on disk: the catalog version its data directory holds (see LayoutMsg). */
  boots: number
  catalog: number
  /** Boot ids of members it saw removed (GossipMachine.removedBoots), in memory. */
  removedBoots: Map<NodeId, Set<string>>
}

/** The replication groups' settings and the network's faults, as replication-harness.ts takes them. */
type GroupSettings = Pick<HarnessOptions, 'rng' | 'syncReplicas' | 'electionTimeoutMs' | 'heartbeatMs' | 'leaseMs' | 'tickMs' | 'maxRetainedBytes' |
'minDelayMs' | 'maxDelayMs' | 'loss' | 'duplicateProbability' | 'lateProbability' | 'lateMaxMs'>

export interface MembershipSimOptions extends GroupSettings {
  shards: number
  /** N: the replication_factor of the one primary_replica table. */
  factor: number
  /** Members at epoch 1. */
  initial: number[]
  /** Nodes that may join later. */
  spares: number[]
  /** A step of a move happened (a crash may follow): `nodes` are the ones it involves. */
  onStep?: (what: string, nodes: NodeId[]) => void
}

export class MembershipSim {
  readonly net: SimNetwork<Wire | LayoutMsg | DecreeMsg>
  readonly sims: ReplicationSim[] = []
  readonly procs = new Map<NodeId, Proc>()
  readonly violations: string[] = []
  readonly stats = { adoptions: 0, admissions: 0, opsDone: 0, opsRefused: 0, conflicts: 0, rejoinsRefused: 0, retires: 0, contactStarts: 0, drainsFinished: 0, joinsFinished: 0, handOvers: 0, leavingHandOvers: 0, forced: 0, crashes: 0 }
  /** Per shard and node: the replica list its group runs with (its preference input). */
  private readonly prefs: Array<Map<NodeId, NodeId[]>> = []
  /** Node → partition group (null: healed). */
  private groups: Map<NodeId, number> | null = null
  /** Per shard and primary: when it last decided to promote a voter (engineLog: the config entry lands later). */
  private readonly promoting: Array<Map<NodeId, number>> = []
  /** Per shard: killed nodes that held a voting copy of it. */
  private readonly lost: Array<Set<NodeId>> = []

  constructor (readonly o: MembershipSimOptions) {
    this.net = new SimNetwork<Wire | LayoutMsg | DecreeMsg>(o.rng, { minDelayMs: o.minDelayMs, maxDelayMs: o.maxDelayMs, lossProbability: o.loss })
    const all = [...o.initial, ...o.spares]
    const initialLayout = configuredLayout(CLUSTER, o.shards, o.initial.map(asNodeId))
    for (const n of all) {
      const id = asNodeId(n)
      const member = o.initial.includes(n)
      this.procs.set(id, { id, up: false, dead: false, started: false, layout: member ? initialLayout : configuredLayout(CLUSTER, o.shards, [...o.initial, n].map(asNodeId)), seeds: o.initial.map(asNodeId), removed: new Set(), retired: new Set(), gone: new Map(), witnesses: [], contacted: new Map(), retiredVoters: new Map(), decree: null, proposal: null, heard: new Set(), boots: 0, catalog: member ? 1 : 0, removedBoots: new Map() })
    }
    for (let s = 0; s < o.shards; s++) {
      const shard = asShardId(s)
      const prefs = new Map<NodeId, NodeId[]>()
      this.prefs.push(prefs)
      this.lost.push(new Set())
      this.promoting.push(new Map())
      const first = this.targetOf(initialLayout, shard)
      const { shards: _shards, factor: _factor, initial: _initial, spares: _spares, onStep: _onStep, ...settings } = o
      const sim: ReplicationSim = new ReplicationSim({
        ...settings,
        seed: 0,
        voters: first,
        nodes: all,
        engineLog: true,
        net: this.net as unknown as SimNetwork<Wire>,
        shard,
        preferenceOf: id => prefs.get(id) ?? [],
        ...(SHELL_START_VOTERS ? { startVoters: (id: NodeId) => prefs.get(id) ?? [] } : {}),
        onBuilt: n => { this.onBuilt(s, n) },
        onMessage: (n, msg, running) => { this.onMessage(s, n, msg, running) },
        onReady: (n, r) => { this.onReady(s, n, r) }
      })
      this.sims.push(sim)
    }
  }

  get now (): number { return this.net.now }

  proc (id: NodeId): Proc { return this.procs.get(id)! }

  /** The first N (capped at the placed members) of the shard's preference list over the placed members. */
  replicaCount (l: ClusterLayout): number {
    return Math.min(this.o.factor, Math.max(1, placedMembers(l).length))
  }

  targetOf (l: ClusterLayout, shard: ShardId): NodeId[] {
    return preferenceList(shard, placedMembers(l), this.replicaCount(l))
  }

  // ---- processes ----------------------------------------------------------------------------------

  start (id: NodeId): void {
    const p = this.proc(id)
    if (p.up || p.dead) return
    p.up = true
    p.started = true
    p.boots++
    const address = `c${id}`
    this.net.start(address, 0, (_from, m) => {
      if (m instanceof Uint8Array || !('kind' in m)) return
      if (m.kind === 'layout') this.onLayoutMsg(p, m)
      else if (m.kind === 'decree') this.onDecreeMsg(p, m)
    })
    const rng = this.o.rng
    this.net.every(address, this.now + rng.next() * SYNC_MS, SYNC_MS, () => { this.sync(p) })
    this.net.every(address, this.now + rng.next() * GOSSIP_MS, GOSSIP_MS, () => { this.gossip(p); this.resendDecree(p) })
    this.net.every(address, this.now + rng.next() * DRAIN_POLL_MS, DRAIN_POLL_MS, () => { this.finishDrain(p) })
    this.sync(p)
  }

  crash (id: NodeId): void {
    const p = this.proc(id)
    if (!p.up) return
    if (!REMOVED_SET_PERSISTED) p.removed.clear()
    for (const sim of this.sims) sim.crash(id)
    this.net.stop(`c${id}`)
    p.up = false
    // p.removed is kept: see REMOVED_SET_PERSISTED.
    p.retired.clear()
    p.gone.clear()
    p.contacted.clear()
    p.retiredVoters.clear()
    p.heard.clear()
    p.removedBoots.clear()
    const proposal = p.proposal
    p.proposal = null
    proposal?.done?.('DOWN')
    this.stats.crashes++
  }

  /** Stops a node for good (REMOVE NODE may follow). */
  kill (id: NodeId): void {
    this.sims.forEach((sim, s) => {
      if ([...sim.nodes.values()].some(n => n.machine?.voters.includes(id) === true)) this.lost[s]!.add(id)
    })
    this.crash(id)
    this.proc(id).dead = true
  }

  /**
   * The last gossip message of node `id` (killed for good), as if still in flight: delivered now
   * to every up node (finding 5: a removal is decided within a few round trips, while a late
   * message may arrive up to lateMaxMs after it was sent).
   */
  lateGossip (id: NodeId): void {
    const msg = this.layoutMsg(this.proc(id), false)
    for (const q of this.procs.values()) if (q.up && q.id !== id) this.onLayoutMsg(q, msg)
  }

  // ---- network ------------------------------------------------------------------------------------

  private addresses (id: NodeId): string[] {
    return [`c${id}`, ...this.sims.map(s => s.nodes.get(id)!.address)]
  }

  partition (sides: NodeId[][]): void {
    this.groups = new Map()
    sides.forEach((side, i) => { for (const id of side) this.groups!.set(id, i) })
    this.net.partition(sides.map(side => side.flatMap(id => this.addresses(id))))
  }

  heal (): void {
    this.groups = null
    this.net.heal()
  }

  get partitioned (): boolean { return this.groups !== null }

  /** Can `a` talk to `b` now (both up, same side)? */
  reaches (a: NodeId, b: NodeId): boolean {
    if (a === b) return this.proc(a).up
    if (!this.proc(a).up || !this.proc(b).up) return false
    return this.groups === null || this.groups.get(a) === this.groups.get(b)
  }

  /** `p`'s view of who is alive (see the top). */
  alive (p: Proc): (id: NodeId) => boolean {
    return id => id === p.id || this.reaches(p.id, id)
  }

  // ---- layouts ------------------------------------------------------------------------------------

  private gossip (p: Proc): void {
    const peers = [...new Set([...p.layout.members, ...p.seeds, ...p.heard])].filter(id => id !== p.id && this.procs.has(id))
    if (peers.length === 0) return
    const to = peers[Math.floor(this.o.rng.next() * peers.length)]!
    this.net.send(`c${p.id}`, `c${to}`, this.layoutMsg(p, false))
  }

  private layoutMsg (p: Proc, reply: boolean): LayoutMsg {
    return { kind: 'layout', from: p.id, layout: p.layout, reply, heard: [...p.heard], boot: `${p.id}.${p.boots}`, catalog: p.catalog }
  }

  private onLayoutMsg (p: Proc, m: LayoutMsg): void {
    // A killed node's last gossip still in flight is delivered (finding 5): its join is refused by
    // the process rule (GossipMachine.readmission), so it is never admitted again.
    for (const id of [m.from, ...m.heard]) if (id !== p.id && !p.layout.members.includes(id) && !this.proc(id).dead) p.heard.add(id)
    const v = compareLayouts(p.layout, m.layout, p.id, m.from)
    const refusal = v.kind === 'join' && !READMIT ? rejoinRefusal(m.from, { bootId: m.boot, catalogVersion: m.catalog }, p.removedBoots.get(m.from), p.removed.has(m.from)) : null
    if (refusal !== null) this.stats.rejoinsRefused++
    else if (v.kind === 'newer') this.adopt(p, m.layout, `gossip from ${m.from}`)
    else if (v.kind === 'join' && decider(p.layout, this.alive(p)) === p.id && p.proposal === null) {
      // A node killed for good is never one to admit: only its late messages can ask (finding 5).
      if (this.proc(m.from).dead) this.violations.push(`t=${this.now.toFixed(1)} node ${p.id} admits node ${m.from} again, removed for good (its gossip from epoch ${m.layout.epoch} still in flight)`)
      this.propose(p, admitLayout(p.layout, m.from, this.singleCopy), `admits ${m.from}`, refused => { if (refused === null) this.stats.admissions++ })
    } else if (v.kind === 'conflict' && this.proc(m.from).dead) {
      // A removed node's late message, refused: what the cluster must do (compareLayouts says why).
      this.stats.rejoinsRefused++
    } else if (v.kind === 'conflict') {
      this.stats.conflicts++
      this.violations.push(`t=${this.now.toFixed(1)} node ${p.id} refuses node ${m.from}'s layout: ${v.reason}`)
    }
    if (!m.reply) this.net.send(`c${p.id}`, `c${m.from}`, this.layoutMsg(p, true))
  }

  /** ClusterShell.adoptLayout: persisted first (the disk is the proc's), then acted on. */
  adopt (p: Proc, next: ClusterLayout, why: string): boolean {
    if (next.epoch <= p.layout.epoch || !next.members.includes(p.id)) return false
    for (const id of p.layout.members) {
      if (next.members.includes(id)) continue
      p.removed.add(id)
      // Its gossip record's boot id (the truth here, as `alive` is: see the top).
      p.removedBoots.set(id, new Set([...p.removedBoots.get(id) ?? [], `${id}.${this.proc(id).boots}`]))
    }
    for (const id of next.members) { p.removed.delete(id); p.removedBoots.delete(id) }
    // Admitted: it fetches the catalog (the node does once it runs the layout listing it).
    p.catalog = 1
    p.layout = next
    this.stats.adoptions++
    this.o.onStep?.(`epoch ${next.epoch} adopted (${why})`, [p.id])
    return true
  }

  /**
   * An operator's statement sent to up node `at`: run at the decider of its view (forwarded when
   * another node is, as CATALOG_DDL does: refused when that one is not reachable). `done` gets the
   * error code when refused, null once the layout it decided was chosen and adopted there.
   */
  operate (at: NodeId, op: MembershipOp, done: (refused: string | null) => void): void {
    const p = this.proc(at)
    if (!p.up) { done('DOWN'); return }
    const d = decider(p.layout, this.alive(p))
    if (d === null || !this.reaches(at, d)) { done('NO_DECIDER'); return }
    const dp = this.proc(d)
    if (dp.proposal !== null) { done('BUSY'); return }
    let next: ClusterLayout
    try {
      next = membershipOpLayout(op, { layout: dp.layout, maxFactor: this.o.factor, blocker: null, alive: this.alive(dp), singleCopy: this.singleCopy })
    } catch (e) {
      if (!isScratchBirdError(e)) throw e
      this.stats.opsRefused++
      done(e.code)
      return
    }
    this.propose(dp, next, `${op.kind} ${op.node}`, refused => {
      if (refused === null) this.stats.opsDone++
      done(refused)
    })
  }

  /** ClusterShell.finishDrains at the decider (the status round read at once: see the top). */
  private finishDrain (p: Proc): void {
    if (p.proposal !== null || decider(p.layout, this.alive(p)) !== p.id) return
    // A decree this node accepted and nobody adopted (its proposer crashed): completed here.
    const accepted = p.decree?.epoch === p.layout.epoch + 1 ? p.decree.accepted : null
    if (accepted !== null && accepted !== undefined) { this.propose(p, accepted.layout, 'completes an accepted decree'); return }
    const node = (p.layout.leaving ?? [])[0]
    const joining = p.layout.joining ?? []
    if (node === undefined && joining.length === 0) return
    const reports = new Map<number, NodeId[][]>()
    for (const id of holdingMembers(p.layout)) {
      if (!this.reaches(p.id, id)) continue
      this.sims.forEach((sim, shard) => {
        const m = sim.nodes.get(id)!.machine
        if (m?.role === 'primary') reports.set(shard, [...(reports.get(shard) ?? []), m.voters])
      })
    }
    const n = this.replicaCount(p.layout)
    // Single copies: moved once their new owner leads their group without the old one (ClusterShell.finishMoves).
    const single = this.singleCopy ? singleCopyShardsStillMoving(this.sims.map((_s, shard) => this.singleCopyOwners(p.layout, shard).before), this.sims.map((_s, shard) => this.singleCopyOwners(p.layout, shard).target), reports) : []
    if (node === undefined) {
      if (single.length === 0) this.propose(p, joinedLayout(p.layout), `node(s) ${joining.join(', ')} joined`, refused => { if (refused === null) this.stats.joinsFinished++ })
      return
    }
    const targets = this.sims.map((_s, shard) => n > 1 ? this.targetOf(p.layout, asShardId(shard)) : [])
    if (shardsStillMoving(node, targets, reports).length > 0 || single.length > 0) return
    this.propose(p, leftLayout(p.layout, node), `drain of ${node} finished`, refused => { if (refused === null) this.stats.drainsFinished++ })
  }

  // ---- decrees (ClusterShell's MEMBERSHIP_DECREE) ---------------------------------------------------

  /** Proposes `next` (epoch + 1) as `p`'s decree: adopted once chosen (epoch-decree.ts). */
  private propose (p: Proc, next: ClusterLayout, why: string, done?: (refused: string | null) => void): void {
    if (p.proposal !== null) { done?.('BUSY'); return }
    // A round above any this node promised for the epoch: its own earlier ballots included, since
    // it answers its own prepare first (persisted), so a ballot is never reused after a crash.
    const round = (p.decree?.epoch === next.epoch ? p.decree.promised.round : 0) + 1
    const proposer = new DecreeProposer(p.layout, next, { round, node: p.id })
    p.proposal = { proposer, why, since: this.now, done }
    if (TRACE) console.log(`t=${this.now.toFixed(1)} n${p.id} proposes epoch ${next.epoch} round ${round} (${why})`)
    this.sendDecree(p, proposer.start())
  }

  private sendDecree (p: Proc, ready: ProposalReady): void {
    // Its own answer first: the promise of its ballot is on its disk before any other voter sees it.
    for (const { to, req } of [...ready.send].sort((a, b) => (a.to === p.id ? 0 : 1) - (b.to === p.id ? 0 : 1))) {
      if (to === p.id) this.onDecreeMsg(p, { kind: 'decree', from: p.id, req })
      else this.net.send(`c${p.id}`, `c${to}`, { kind: 'decree', from: p.id, req })
    }
    if (ready.outcome !== null) this.onOutcome(p, ready.outcome)
  }

  private onDecreeMsg (p: Proc, m: DecreeMsg): void {
    if (m.reply !== undefined) {
      if (p.proposal !== null) this.sendDecree(p, p.proposal.proposer.onReply(m.from, m.reply))
      return
    }
    if (m.req === undefined) return
    const { next, reply } = answerDecree(p.decree, p.layout.epoch, m.req)
    if (next !== null) p.decree = next // persisted before the answer leaves
    const answer: DecreeMsg = { kind: 'decree', from: p.id, reply }
    if (m.from === p.id) this.onDecreeMsg(p, answer)
    else this.net.send(`c${p.id}`, `c${m.from}`, answer)
    if (next !== null && m.req.kind === 'accept') this.o.onStep?.(`epoch ${m.req.epoch} accepted by ${p.id}`, [p.id, m.from])
  }

  private onOutcome (p: Proc, outcome: ProposalOutcome): void {
    const proposal = p.proposal!
    p.proposal = null
    if (TRACE) console.log(`t=${this.now.toFixed(1)} n${p.id} decree epoch ${proposal.proposer.epoch}: ${outcome.kind}${outcome.kind === 'chosen' && !outcome.own ? ' (another proposer\'s layout)' : ''}`)
    if (outcome.kind !== 'chosen') { proposal.done?.(outcome.kind === 'outbid' ? 'OUTBID' : 'BEHIND'); return }
    this.adopt(p, outcome.layout, outcome.own ? proposal.why : 'a decree another node proposed, completed here')
    proposal.done?.(outcome.own ? null : 'SUPERSEDED')
  }

  /** Every GOSSIP_MS: the requests of the proposal's phase again to the voters that have not answered; given up after DECREE_TIMEOUT_MS. */
  private resendDecree (p: Proc): void {
    const proposal = p.proposal
    if (proposal === null) return
    if (this.now - proposal.since > DECREE_TIMEOUT_MS || p.layout.epoch >= proposal.proposer.epoch) {
      p.proposal = null
      proposal.done?.(p.layout.epoch >= proposal.proposer.epoch ? 'BEHIND' : 'TIMEOUT')
      return
    }
    const send = proposal.proposer.requests(proposal.proposer.pending().filter(id => id !== p.id))
    for (const { to, req } of send) this.net.send(`c${p.id}`, `c${to}`, { kind: 'decree', from: p.id, req })
  }

  // ---- replication groups -------------------------------------------------------------------------

  /** ReplicationShell.sync with ClusterShell.mode1ReplicasOf / goneVoters for every shard of `p`. */
  private sync (p: Proc): void {
    const l = p.layout
    const alive = this.alive(p)
    const witnesses = forcedWitnesses({ self: p.id, members: l.members, alive })
    const witnessesChanged = !sameSet(p.witnesses, witnesses)
    p.witnesses = witnesses
    this.sims.forEach((sim, s) => {
      const node = sim.nodes.get(p.id)!
      const m = node.machine
      const gone = (voters: readonly NodeId[]): NodeId[] => goneVoters({ self: p.id, voters, members: l.members, removed: [...p.removed], removing: l.removing, alive })
      const contacted = keptOnContact(p.id, this.replicasOf(p, s), this.contactedAgo(p, s), this.contactKeepMs)
      const replicas = m === null ? contacted : keptWhileVoter(p.id, contacted, m.voters, m.followsPrimary(this.now))
      const action = groupAction(p.id, replicas, m !== null, p.contacted.has(s))
      const prefs = this.prefs[s]!
      if (TRACE && (action === 'start' || action === 'retire')) console.log(`t=${this.now.toFixed(1)} s${s} n${p.id} shell ${action} replicas=${replicas.join(',')} epoch=${l.epoch}`)
      if (action === 'start') {
        p.retired.delete(s)
        p.gone.set(s, [])
        prefs.set(p.id, replicas)
        sim.start(p.id)
      } else if (action === 'update') {
        if (!same(prefs.get(p.id) ?? [], replicas)) {
          prefs.set(p.id, replicas)
          sim.step(node, { type: 'preference', nodes: [...replicas] })
        }
        const g = gone(node.machine!.voters)
        if (!sameSet(p.gone.get(s) ?? [], g) || witnessesChanged) {
          if (g.length > 0 && !sameSet(p.gone.get(s) ?? [], g)) this.stats.forced++
          p.gone.set(s, g)
          sim.step(node, { type: 'gone', nodes: g, witnesses })
        }
        this.maybeHandOver(p, s)
      } else if (action === 'retire' && leavingPrimaryHandsOver(p.id, node.machine!.role === 'primary', node.machine!.voters, replicas)) {
        // ReplicationShell.sync: a leaving primary hands over first, its group kept meanwhile.
        if (!same(prefs.get(p.id) ?? [], replicas)) {
          prefs.set(p.id, replicas)
          sim.step(node, { type: 'preference', nodes: [...replicas] })
          this.stats.leavingHandOvers++
        }
        sim.transfer(p.id)
      } else if (action === 'retire') {
        p.retiredVoters.set(s, [...node.machine!.voters])
        sim.crash(p.id, false)
        p.retired.add(s)
        p.contacted.delete(s)
        this.stats.retires++
        const primary = sim.currentPrimary()
        this.o.onStep?.(`shard ${s}: node ${p.id} released its copy`, primary === undefined ? [p.id] : [p.id, primary.id])
      }
      // No group here: the shell still answers pre-votes from the disk (ReplicationShell.answerWithoutGroup).
      if (node.machine === null) sim.listen(p.id)
    })
  }

  /** ClusterShell.mode1ReplicasOf: the replica list `p` gives its group of shard `s` (moves.ts shardReplicasHere). */
  private replicasOf (p: Proc, s: number): NodeId[] {
    if (this.singleCopy) return this.singleCopyReplicasOf(p, s)
    const l = p.layout
    const n = this.replicaCount(l)
    const alive = this.alive(p)
    const shard = asShardId(s)
    const node = this.sims[s]!.nodes.get(p.id)!
    const m = node.machine
    const gone = (voters: readonly NodeId[]): NodeId[] => goneVoters({ self: p.id, voters, members: l.members, removed: [...p.removed], removing: l.removing, alive })
    const voters = m?.voters ?? (SHELL_START_VOTERS ? [] : p.retiredVoters.get(s) ?? diskVoters(node))
    const counted = voters.filter(id => !gone(voters).includes(id))
    const committed = m?.committedVoters ?? voters
    const countedCommitted = committed.filter(id => !gone(committed).includes(id))
    const target = this.targetOf(l, shard)
    const held = preferenceList(shard, holdingMembers(l), n)
    return shardReplicasHere(p.id, n, target, held, counted, p.retired.has(s), layoutMemberState(l, p.id) === 'left', countedCommitted)
  }

  /** N = 1 (every primary_replica table keeps one copy): its copies move as single copies (moves.ts singleCopyReplicas). */
  get singleCopy (): boolean { return this.o.factor <= 1 }

  /**
   * A single-copy shard's owner before the join or drain (first over the members whose copies
   * count: layout.ts countedMembers) and the one placement gives it now (ClusterShell.singleCopyMove).
   */
  singleCopyOwners (l: ClusterLayout, shard: number): { before: NodeId, target: NodeId } {
    return { before: preferenceList(asShardId(shard), countedMembers(l), 1)[0]!, target: this.targetOf(l, asShardId(shard))[0]! }
  }

  /**
   * ClusterShell.mode1ReplicasOf with N = 1: while the copy moves, moves.ts singleCopyReplicas.
   * Not moving, the node runs no group and commits at generation 0; modelled here as a group whose
   * only voter is the owner (what the old owner's group starts as when a move begins — its log
   * holding the rows — so the move itself runs as on the node).
   */
  private singleCopyReplicasOf (p: Proc, s: number): NodeId[] {
    const { before, target } = this.singleCopyOwners(p.layout, s)
    if (before === target) return target === p.id ? [p.id] : []
    const node = this.sims[s]!.nodes.get(p.id)!
    const m = node.machine
    const voters = m?.voters ?? p.retiredVoters.get(s) ?? diskVoters(node)
    return singleCopyReplicas(p.id, before, target, m?.primary ?? 0, voters, p.retired.has(s))
  }

  /** ReplicationShell.maybeHandOver: the old owner, primary, hands the role to the new owner once it is a voter in sync. */
  private maybeHandOver (p: Proc, s: number): void {
    if (!this.singleCopy) return
    const { before, target } = this.singleCopyOwners(p.layout, s)
    const m = this.sims[s]!.nodes.get(p.id)!.machine
    if (m === null || before === target) return
    const primary = m.role === 'primary'
    const inSync = primary && replicaStates([target], { self: p.id, role: m.role, bootstrapping: false, commitLsn: m.commitLsn, progress: m.progress() })[0]?.state === 'in sync'
    if (!singleCopyHandsOver(p.id, before, target, primary, inSync)) return
    this.stats.handOvers++
    this.o.onStep?.(`shard ${s}: ${p.id} hands the primary role over to ${target}`, [p.id, target])
    this.sims[s]!.transfer(p.id)
  }

  /** ReplicationShell CONTACT_KEEP_TIMEOUTS. */
  private get contactKeepMs (): number { return 2 * this.o.electionTimeoutMs }

  /** ReplicationShell.contactedAgo. */
  private contactedAgo (p: Proc, s: number): number | null {
    const at = p.contacted.get(s)
    if (at === undefined) return null
    if (this.now - at <= this.contactKeepMs) return this.now - at
    p.contacted.delete(s)
    return null
  }

  /**
   * ReplicationShell.onBatch / answerWithoutGroup: a vote request or an append refreshes the
   * contact of a group started on contact; without a group, one that says this node is of the
   * group (rules.ts startsOnContact) starts it once its disk is read (the message is dropped).
   */
  private onMessage (s: number, n: SimNode, msg: ReplMessage, running: boolean): void {
    if (!START_ON_CONTACT) return
    const p = this.proc(n.id)
    if (running) {
      if (p.contacted.has(s) && isContact(msg)) p.contacted.set(s, this.now)
      return
    }
    const sim = this.sims[s]!
    // ReplicationShell: a node that retired its group knowing voters without itself (it held its removal) is `removed`.
    const removed = p.retired.has(s) && p.retiredVoters.has(s) && !p.retiredVoters.get(s)!.includes(n.id)
    if (!startsOnContact(n.id, msg, sim.diskLog(n.id), diskVoters(n), removed)) return
    // The disk read (REPL_STATE_GET) takes a moment; the process may stop or start the group meanwhile.
    this.net.after(this.o.rng.next() * this.o.maxDelayMs, () => {
      if (!p.up || n.machine !== null) return
      p.contacted.set(s, this.now)
      const replicas = keptOnContact(p.id, this.replicasOf(p, s), 0, 1)
      if (groupAction(p.id, replicas, false) !== 'start') return
      this.stats.contactStarts++
      p.retired.delete(s)
      p.gone.set(s, [])
      this.prefs[s]!.set(p.id, replicas)
      sim.start(p.id)
    })
  }

  /** ShardGroup: a machine rebuilt (restart, resync) is given the gone voters again. */
  private onBuilt (s: number, n: SimNode): void {
    const p = this.proc(n.id)
    const g = p.gone.get(s) ?? []
    if (g.length > 0) this.sims[s]!.step(n, { type: 'gone', nodes: g, witnesses: p.witnesses })
  }

  private onReady (s: number, n: SimNode, r: Ready): void {
    if (TRACE) {
      const m = n.machine
      for (const ev of r.events) console.log(`t=${this.now.toFixed(1)} s${s} n${n.id} g${m?.generation} ${JSON.stringify(ev, (_k, v) => typeof v === 'bigint' ? Number(v) : v)} voters=${m?.voters.join(',')} commit=${m?.commitLsn}`)
      for (const e of r.entries) if (e.kind === 'config') console.log(`t=${this.now.toFixed(1)} s${s} n${n.id} persists config ${e.lsn} {${e.voters.join(',')}}`)
      if (r.acks.length > 0) console.log(`t=${this.now.toFixed(1)} s${s} n${n.id} acks ${r.acks.join(',')} voters=${m?.voters.join(',')}`)
    }
    for (const e of r.entries) if (e.kind === 'config') this.checkVoters(s, n.id, e.voters, 'persists')
    if (r.control?.entry.kind === 'config') this.checkVoters(s, n.id, r.control.entry.voters, 'appends')
    // engineLog: a promotion is decided (Ready.control) at one commit LSN and lands after the
    // commits the engine logged meanwhile; the new voter held the commit LSN of the decision.
    const c = r.control?.entry
    if (c?.kind === 'config' && n.machine !== null && c.voters.length > n.machine.voters.length) this.promoting[s]!.set(n.id, this.now)
    for (const ev of r.events) {
      if (ev.type === 'membership' && ev.change === 'promote') this.checkInSync(s, ev.node, this.promoting[s]!.get(n.id) ?? this.now)
      if (ev.type === 'snapshot-sent') this.o.onStep?.(`shard ${s}: snapshot at ${ev.lsn} to ${ev.to}`, [n.id, ev.to])
      else if (ev.type === 'snapshot-installed') this.o.onStep?.(`shard ${s}: ${n.id} installed a snapshot`, [n.id, ev.from])
      else if (ev.type === 'membership') {
        this.o.onStep?.(`shard ${s}: ${ev.change} ${ev.node}`, [n.id, ev.node])
      }
    }
  }

  /**
   * Replica count: a configuration entry (persisted or appended by any node) never lists fewer
   * than N voters that are not gone for good, but for the copies lost with a killed node (those
   * are lost whatever the rules do; REMOVE NODE replaces them). What is counted is voters: a node
   * becomes one only once it holds the committed log (checkInSync), and stays in sync by the
   * log's majorities; a learner being bootstrapped never counts.
   */
  private checkVoters (s: number, at: NodeId, voters: readonly NodeId[], how: string): void {
    const live = voters.filter(id => !this.proc(id).dead).length
    const need = this.o.factor - this.lost[s]!.size
    if (live < need) {
      this.violations.push(`t=${this.now.toFixed(1)} shard ${s}: node ${at} ${how} a configuration of ${voters.length} voters {${voters.join(', ')}}, ${live} of them live, below N = ${this.o.factor}${this.lost[s]!.size > 0 ? ` less the ${this.lost[s]!.size} copy lost with a killed node` : ''}`)
    }
  }

  /** A promoted voter is in sync: its disk holds every commit acknowledged under a majority when its promotion was decided (`decidedAt`). */
  private checkInSync (s: number, node: NodeId, decidedAt: number): void {
    const sim = this.sims[s]!
    for (const a of sim.acks) {
      if (a.durable && a.at <= decidedAt && !sim.holds(node, a.lsn, a.key)) {
        const d = sim.nodes.get(node)!.disk
        this.violations.push(`t=${this.now.toFixed(1)} shard ${s}: node ${node} promoted to voter without acknowledged LSN ${a.lsn} (acked by ${a.by} in generation ${a.generation} at t=${a.at.toFixed(1)}; its disk: base ${d.base.lsn}, entries ${d.entries[0]?.lsn ?? '-'}…${d.entries.at(-1)?.lsn ?? '-'}, applied ${d.applied.length} ${d.applied[Number(a.lsn) - 1]?.key ?? 'none'} vs ${a.key})`)
        return
      }
    }
  }

  /** The up node each shard's clients reach as primary (highest generation), if any. */
  primaryOf (s: number): SimNode | undefined { return this.sims[s]!.currentPrimary() }

  /** Does every up node run the same layout? */
  agreed (): boolean {
    const up = [...this.procs.values()].filter(p => p.up)
    return up.length > 0 && up.every(p => p.layout.epoch === up[0]!.layout.epoch)
  }

  /** … with no drain running? */
  quiet (): boolean {
    return this.agreed() && ([...this.procs.values()].find(p => p.up)!.layout.leaving ?? []).length === 0
  }

  /** Has every up node the same layout, with no drain running and every shard on its target? */
  settled (): boolean {
    const up = [...this.procs.values()].filter(p => p.up)
    if (up.length === 0) return false
    const l = up[0]!.layout
    if (up.some(p => p.layout.epoch !== l.epoch) || (l.leaving ?? []).length > 0) return false
    if ([...this.procs.values()].some(p => p.started && !p.dead && !p.up && l.members.includes(p.id) && layoutMemberState(l, p.id) !== 'left')) return false
    return this.sims.every((_sim, s) => {
      const pm = this.primaryOf(s)?.machine ?? null
      return pm !== null && same([...pm.voters].sort((a, b) => a - b), [...this.targetOf(l, asShardId(s))].sort((a, b) => a - b))
    })
  }
}

/**
 * The voters a node's replication state records for the shard (storage/repl-state.ts config: the
 * ones in effect at its recorded committed LSN — the last config entry at or below it, else the
 * base's), which the shell reads while no group runs (ReplicationShell.votersOf). Not the log's
 * last config entry: before session 12 the harness read that one, which the node does not decide
 * on — a leaving primary that crashed right after appending the promotion of its replacement saw
 * itself no longer needed and never restarted its group, the only complete log (seed 390).
 */
function diskVoters (n: SimNode): NodeId[] {
  const d = n.disk
  for (let i = d.entries.length - 1; i >= 0; i--) {
    const e = d.entries[i]!
    if (e.kind === 'config' && e.lsn <= d.commitLsn) return [...e.voters]
  }
  return [...d.base.voters]
}

function same (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

function sameSet (a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every(x => b.includes(x))
}
