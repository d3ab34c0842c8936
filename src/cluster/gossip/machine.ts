import { assert } from '../../core/errors'
import { HLC_SKEW_WARN_MS } from '../../core/hlc'
import type { Rng } from '../../core/rng'
import { type ClusterLayout } from '../layout'
import { compareLayouts, decider } from '../membership/epochs'
import { rejoinRefusal, removedSelfReason } from '../membership/readmission'
import { splitsBetween } from '../shard-split'
import {
  copyRecord, GOSSIP_MAX_MEMBERS_PER_MESSAGE, isMemberRecord, isNodeId,
  type GossipMessage, type GossipOutput, type GossipTarget, type MemberRecord, type MemberState
} from './types'
import type { NodeId, ShardId } from '../../core/ids'
import type { SplitParentReport } from '../split-progress'

// SWIM-style gossip membership (DESIGN §7) as a sans-I/O state machine: tick(now) and
// receive(from, msg, now) return messages to send and events to log; the shell does the sending,
// the timers and the logging. Randomness is the injected Rng. Time comes in as arguments: `nowMs`
// is the local monotonic clock (Clock.monotonic: timeouts and ages only, so an NTP step cannot
// mark the cluster down), `wallMs` the local wall clock (Clock.now: only for the clock-offset
// samples of acks; it defaults to nowMs for callers with one clock, like the simulator).
//
// Each tick a node bumps its heartbeat and pushes its digest (every member record it knows) to up
// to `fanout` random live peers, which answer with theirs (push-pull). Records merge by
// (incarnation, left-is-sticky, heartbeat, state rank): see `supersedes`.
//
// Failure detection is local: a member whose heartbeat we have not seen grow for suspectAfterMs
// (default heartbeatTimeoutMs / 2) becomes suspect, for heartbeatTimeoutMs down — checked on
// each tick, so "silent for heartbeat_timeout_ms → down" holds at the first tick after the
// timeout. Verdicts travel in gossip; they only win against a record with the same heartbeat, so
// any fresher heartbeat from the member overrides them, and a member that hears itself suspected
// or down bumps its incarnation (SWIM refutation).
//
// Own pauses (grey failures, issue 21 item 3): a process stopped by SIGSTOP, a long GC pause or a
// stalled VM hears nothing while it is stopped, and its first tick afterwards would convict every
// peer for a silence that was its own. So silence is counted in this node's RUNNING time: a tick
// that comes more than one interval late (a stall: the process could neither tick nor read its
// peers' messages) moves every peer's last-growth time forward by the stall, and reports 'paused'.
// (Late by less than max(interval, half the suspicion delay) is scheduling jitter: ignored.)
// A peer that really died meanwhile is convicted heartbeatTimeoutMs of running time later.
//
// Node id ownership: a process that hears its node id announced with another bootId
//  - while joining takes the id over (incarnation above the other record, claimedOver = its
//    bootId). If that record was down or left, it is a restart: done. If it looked alive, the
//    joiner waits up to heartbeatTimeoutMs, pinging the other address directly: a live owner
//    answers by claiming back over the joiner's bootId, which is proof it is alive after our
//    start → 'id-conflict' and the machine halts. A dead one never answers → restart.
//    (A "fresh heartbeat" is no proof: after a crash and a quick restart the dead process's
//    record still looks fresh everywhere, and its last heartbeats may still be spreading.)
//  - while running keeps the id (incarnation above the other record) and reports 'id-contested'
//    when the other process claimed over it.
//
// Cluster layout (cluster/layout.ts): every message carries the sender's layout — cluster name,
// shard count, membership epoch and members — judged by cluster/membership/epochs.ts
// compareLayouts. The same layout, or an older epoch of ours (the sender adopts ours from our
// answer), is accepted. A newer epoch that keeps us a member is accepted and reported
// ('layout-newer'): the shell persists it, then hands it back (setLayout) — until then this
// machine announces the old one. A node asking to be admitted is accepted (its record is merged,
// so the decider knows its address) and, on the decider only, reported ('join-request'). Any
// other difference — or, on a joiner, the cluster that has not admitted it yet ('awaiting') — is
// refused whole: none of its records is merged, it does not count as the exchange that ends
// joining, the sender's process (node id + bootId) is remembered as refused so its records
// arriving through others are dropped too, and a ping is answered with our own record and layout
// only, so the sender learns of the conflict (or of the joiner) in turn. 'layout-refused' names
// both values; a joiner's wait is reported as 'awaiting-admission'.

/** Same threshold as the HLC's skew warning (DESIGN §3: "Clock skew detected: …"). */
export const CLOCK_SKEW_WARN_MS = HLC_SKEW_WARN_MS
/** At most one 'clock-skew' event per peer per this much local time. */
export const CLOCK_SKEW_WARN_EVERY_MS = 60_000
/** Round trips kept per peer; the estimate is the offset of the one with the smallest rtt (NTP's filter). */
export const CLOCK_SAMPLE_WINDOW = 8
/** Acks slower than this say little about the offset (and may answer a ping from before a clock step). */
export const CLOCK_SAMPLE_MAX_RTT_MS = 5_000
/** Ticks spent announcing 'leaving', then 'left', before the 'left' event. */
export const LEAVE_ANNOUNCE_TICKS = 3
/** A peer still refused for the same reason is reported again after this much local time. */
export const LAYOUT_REFUSAL_REPORT_EVERY_MS = 60_000
/**
 * Chance per tick of also pinging one down member or unknown seed when there are at least
 * `fanout` live peers (with fewer, the free slots always go to them): re-merges healed partitions
 * and notices members that came back.
 */
export const REPROBE_PROBABILITY = 0.25

export interface GossipSelf {
  nodeId: NodeId
  address: string
  datacenter: string
  /** Random per process start (the shell makes it from cryptoRng). */
  bootId: string
  /** This node's cluster layout; peers announcing another are refused. Without one nothing is checked (simulations). */
  layout?: ClusterLayout
}

/** From cluster.nodes; the node's own entry may be included (it is skipped). */
export interface GossipSeed {
  nodeId?: NodeId
  address: string
}

export interface GossipConfig {
  /** The shell's tick period (checked against the timeout; the machine itself only sees tick calls). */
  intervalMs: number
  fanout: number
  heartbeatTimeoutMs: number
  /** Silence before suspicion; default heartbeatTimeoutMs / 2. Must be below heartbeatTimeoutMs. */
  suspectAfterMs?: number
}

export interface GossipLocal {
  catalogVersion?: number
  oldestActiveHlc?: string
  shardReplicas?: number
  /** The split reports of this node (empty: none, the field is dropped). */
  split?: SplitParentReport[]
  /** This node's Mode 1 groups whose voters are not the placement's yet (empty: none, the field is dropped). */
  votersChanging?: ShardId[]
}

export interface MemberView extends MemberRecord {
  isSelf: boolean
  /** now − the last time we saw the member's heartbeat (or incarnation) grow; 0 for ourselves. */
  heartbeatAgeMs: number
  /** Estimated member clock minus ours (ms); null until a round trip with it; 0 for ourselves. */
  clockOffsetMs: number | null
  /** Round trip of the sample the estimate comes from. */
  rttMs: number | null
}

/** At equal heartbeat the worse verdict wins, so suspicion spreads among nodes equally informed. */
const STATE_RANK: Record<MemberState, number> = { joining: 0, normal: 1, leaving: 2, suspect: 3, down: 4, left: 5 }

/** States in which a member is (believed) running: pinged, failure-detected, can own its id. */
export function isAlive (s: MemberState): boolean {
  return s !== 'down' && s !== 'left'
}

/**
 * Does record `a` replace record `b` of the same node id? Higher incarnation wins (only the owner
 * raises it); at equal incarnation 'left' is final; then the higher heartbeat (fresher news from
 * the owner); then the worse state (an observer's verdict on the same news).
 */
export function supersedes (a: MemberRecord, b: MemberRecord): boolean {
  if (a.incarnation !== b.incarnation) return a.incarnation > b.incarnation
  const aLeft = a.state === 'left'
  if (aLeft !== (b.state === 'left')) return aLeft
  if (a.heartbeat !== b.heartbeat) return a.heartbeat > b.heartbeat
  return STATE_RANK[a.state] > STATE_RANK[b.state]
}

interface ClockSample { rtt: number, offset: number }

/** A peer process refused for its layout. */
export interface RefusedPeer { nodeId: NodeId, bootId: string, address: string, reason: string }

interface Peer {
  rec: MemberRecord
  /** Local time we last saw its heartbeat or incarnation grow (or first heard of it). */
  lastGrowthAt: number
  samples: ClockSample[]
  lastSkewWarnAt: number | null
}

export class GossipMachine {
  private readonly me: MemberRecord
  private readonly peers = new Map<NodeId, Peer>()
  private readonly seeds: GossipSeed[]
  private readonly fanout: number
  private readonly heartbeatTimeoutMs: number
  private readonly suspectAfterMs: number
  /** Exchanged a message with another node (joining → normal needs one). */
  private exchanged = false
  /** While joining over a record that looked alive: when we stop waiting, and where its owner is. */
  private claimUntil: number | null = null
  private claimAddress = ''
  private halted = false
  private leaveTicks = 0
  private leftReported = false
  private catalogReported = 0
  private lastContestedBy = ''
  private layout: ClusterLayout | undefined
  /** Refused peer processes by node id (bounded by the node id range), with when we last reported them. */
  private readonly refused = new Map<NodeId, RefusedPeer & { reportedAt: number }>()
  /**
   * Boot ids of members this process saw removed (a layout it ran listed them, a later one does
   * not), by node (bounded by the node id range): their processes are never admitted again
   * (membership/readmission.ts). In memory: the catalog version a joiner announces covers a
   * restart of this node whenever the cluster holds a table.
   */
  private readonly removedBoots = new Map<NodeId, Set<string>>()
  /** Node ids the shell's durable record lists as removed (setRemoved; membership/readmission.ts). */
  private removedIds: ReadonlySet<NodeId> = new Set()
  /** The membership epoch each peer last announced as its own (bounded by the members: one entry per sender accepted). */
  private readonly epochs = new Map<NodeId, number>()
  private readonly intervalMs: number
  /** When tick() last ran (null before the first): a tick far later than intervalMs after it is our own stall. */
  private lastTickAt: number | null = null

  constructor (self: GossipSelf, seeds: readonly GossipSeed[], config: GossipConfig, private readonly rng: Rng) {
    assert(isNodeId(self.nodeId), 'gossip: node id out of range')
    assert(self.address.length > 0 && self.bootId.length > 0, 'gossip: address and bootId required')
    assert(config.intervalMs > 0 && Number.isInteger(config.fanout) && config.fanout >= 1, 'gossip: bad interval or fanout')
    this.intervalMs = config.intervalMs
    assert(config.heartbeatTimeoutMs > config.intervalMs, 'gossip: heartbeat timeout must exceed the interval')
    this.fanout = config.fanout
    this.heartbeatTimeoutMs = config.heartbeatTimeoutMs
    this.suspectAfterMs = config.suspectAfterMs ?? config.heartbeatTimeoutMs / 2
    assert(this.suspectAfterMs > 0 && this.suspectAfterMs < this.heartbeatTimeoutMs, 'gossip: suspectAfterMs must be below the heartbeat timeout')
    this.me = {
      nodeId: self.nodeId,
      address: self.address,
      datacenter: self.datacenter,
      incarnation: 0,
      heartbeat: 0,
      state: 'joining',
      bootId: self.bootId,
      claimedOver: '',
      catalogVersion: 0,
      oldestActiveHlc: '',
      shardReplicas: 0
    }
    this.seeds = seeds.filter(s => s.nodeId !== self.nodeId && s.address !== self.address)
    this.layout = self.layout === undefined ? undefined : { ...self.layout, members: [...self.layout.members] }
  }

  get nodeId (): number { return this.me.nodeId }
  get state (): MemberState { return this.me.state }
  get incarnation (): number { return this.me.incarnation }
  /** True after 'id-conflict': the machine ignores everything and sends nothing. */
  get isHalted (): boolean { return this.halted }

  /** One gossip round; call every intervalMs. */
  tick (nowMs: number): GossipOutput[] {
    if (this.halted) return []
    const out: GossipOutput[] = []
    this.me.heartbeat++
    this.discountOwnStall(nowMs, out)
    this.maybeFinishJoin(nowMs, out)
    this.advanceLeave(out)
    this.detectFailures(nowMs, out)
    for (const to of this.pickTargets()) out.push({ type: 'send', to, msg: this.ping(nowMs) })
    return out
  }

  /**
   * A message from a peer (checked with parseGossipMessage). `fromAddress` is used only if the
   * sender did not include its own record. nowMs: monotonic; wallMs: wall clock (see the header).
   */
  receive (fromAddress: string, msg: GossipMessage, nowMs: number, wallMs = nowMs): GossipOutput[] {
    if (this.halted) return []
    const out: GossipOutput[] = []
    if (this.refuseLayout(fromAddress, msg, nowMs, wallMs, out)) return out
    const members = msg.members.slice(0, GOSSIP_MAX_MEMBERS_PER_MESSAGE)
    for (const r of members) {
      if (!isMemberRecord(r)) continue
      this.merge(r, nowMs, out)
      if (this.halted) return out
    }
    if (msg.from !== this.me.nodeId) this.exchanged = true
    if (msg.type === 'ping') {
      const sender = members.find(r => r.nodeId === msg.from && isMemberRecord(r))
      out.push({
        type: 'send',
        to: { nodeId: msg.from, address: sender?.address ?? fromAddress },
        msg: this.withLayout({ type: 'ack', from: this.me.nodeId, hlc: '', members: this.digest(), echoSentAt: msg.sentAt, answeredAt: wallMs })
      })
    } else if (msg.from !== this.me.nodeId) {
      this.clockSample(msg.from, msg.echoSentAt, msg.answeredAt, nowMs, wallMs, out)
    }
    this.maybeFinishJoin(nowMs, out)
    return out
  }

  /** Start leaving (after DRAIN NODE): 'leaving' for LEAVE_ANNOUNCE_TICKS ticks, then 'left', then the 'left' event. */
  leave (): GossipOutput[] {
    const out: GossipOutput[] = []
    if (this.halted || this.me.state === 'leaving' || this.me.state === 'left') return out
    this.leaveTicks = 0
    this.setSelfState('leaving', out)
    return out
  }

  /** Update what we announce about ourselves; the next message carries it. */
  setLocal (local: GossipLocal): void {
    if (local.catalogVersion !== undefined) this.me.catalogVersion = local.catalogVersion
    if (local.oldestActiveHlc !== undefined) this.me.oldestActiveHlc = local.oldestActiveHlc
    if (local.shardReplicas !== undefined) this.me.shardReplicas = local.shardReplicas
    if (local.split !== undefined) {
      if (local.split.length === 0) delete this.me.split
      else this.me.split = local.split.map(x => ({ ...x }))
    }
    if (local.votersChanging !== undefined) {
      if (local.votersChanging.length === 0) delete this.me.votersChanging
      else this.me.votersChanging = [...local.votersChanging]
    }
    // A new heartbeat, so the changed record replaces the old one everywhere.
    this.me.heartbeat++
  }

  /** The layout this node announces and judges peers by (undefined: none, in simulations). */
  get currentLayout (): ClusterLayout | undefined {
    return this.layout === undefined ? undefined : { ...this.layout, members: [...this.layout.members] }
  }

  /**
   * The node ids the shell's durable record lists as removed: a join under one of them holding the
   * catalog is refused (membership/readmission.ts).
   */
  setRemoved (ids: Iterable<NodeId>): void {
    this.removedIds = new Set(ids)
  }

  /**
   * Runs with `next` from now on (a newer epoch the shell has persisted, or one it decided).
   * Refusals made under the old layout are forgotten: the peers are judged again at their next
   * message.
   */
  setLayout (next: ClusterLayout): void {
    const cur = this.layout
    assert(cur !== undefined && next.cluster === cur.cluster && next.epoch > cur.epoch && splitsBetween(cur.shards, cur.epoch, next.shards, next.epoch) !== null,
      'gossip: a layout is replaced only by a later epoch of the same cluster (its shard count the same, or doubled by splits)')
    for (const id of cur.members) {
      const boot = this.peers.get(id)?.rec.bootId
      if (!next.members.includes(id) && boot !== undefined) this.removedBoots.set(id, new Set([...this.removedBoots.get(id) ?? [], boot]))
    }
    for (const id of next.members) this.removedBoots.delete(id)
    this.layout = { ...next, members: [...next.members] }
    this.refused.clear()
    this.me.heartbeat++
  }

  /** Peer processes refused for announcing another cluster layout (not members: never routed to). */
  /**
   * A ping to peer `id` now, outside the rounds (empty: halted, or `id` unknown): a coordinator
   * whose request a peer refused for its shard count exchanges layouts with that peer at once
   * (exec/shard-count-retry.ts) — the ping carries this node's layout, the ack the peer's, and
   * whichever is newer is adopted by the other as from any round.
   */
  pingTo (id: NodeId, nowMs: number): GossipOutput[] {
    const peer = this.peers.get(id)
    if (this.halted || peer === undefined || id === this.me.nodeId) return []
    return [{ type: 'send', to: { nodeId: id, address: peer.rec.address }, msg: this.ping(nowMs) }]
  }

  /** The membership epoch `id` last announced in a message it sent (undefined: none seen since this process started). */
  peerEpoch (id: NodeId): number | undefined {
    return this.epochs.get(id)
  }

  refusedPeers (): RefusedPeer[] {
    return [...this.refused.values()].map(({ nodeId, bootId, address, reason }) => ({ nodeId, bootId, address, reason }))
  }

  /** Snapshot of the membership, ourselves first. */
  /** Each member's id, state and address, ourselves first: what the per-request liveness checks read (no copy of the records, no clock samples). */
  memberStates (): Array<{ readonly nodeId: NodeId, readonly state: MemberState, readonly address: string }> {
    const out = [{ nodeId: this.me.nodeId, state: this.me.state, address: this.me.address }]
    for (const p of this.peers.values()) out.push({ nodeId: p.rec.nodeId, state: p.rec.state, address: p.rec.address })
    return out
  }

  members (nowMs: number): MemberView[] {
    const views: MemberView[] = [{ ...copyRecord(this.me), isSelf: true, heartbeatAgeMs: 0, clockOffsetMs: 0, rttMs: 0 }]
    for (const p of this.peers.values()) {
      const best = bestSample(p.samples)
      views.push({
        ...copyRecord(p.rec),
        isSelf: false,
        heartbeatAgeMs: nowMs - p.lastGrowthAt,
        clockOffsetMs: best?.offset ?? null,
        rttMs: best?.rtt ?? null
      })
    }
    return views
  }

  // ---- Merging ---------------------------------------------------------------------------------

  /**
   * Judges the sender's layout (see the header); true when `msg` is refused. A sender announcing
   * an acceptable layout again (restarted with the right configuration) is no longer refused.
   */
  private refuseLayout (fromAddress: string, msg: GossipMessage, now: number, wall: number, out: GossipOutput[]): boolean {
    if (this.layout === undefined || msg.layout === undefined || msg.from === this.me.nodeId) return false
    const sender = msg.members.find(r => r.nodeId === msg.from && isMemberRecord(r))
    const verdict = this.readmission(compareLayouts(this.layout, msg.layout, this.me.nodeId, msg.from), msg.from, msg.layout.epoch, sender)
    const address = sender?.address ?? fromAddress
    switch (verdict.kind) {
      case 'same':
      case 'older':
        this.refused.delete(msg.from)
        this.epochs.set(msg.from, msg.layout.epoch)
        return false
      case 'newer':
        this.refused.delete(msg.from)
        this.epochs.set(msg.from, msg.layout.epoch)
        out.push({ type: 'layout-newer', nodeId: msg.from, layout: { ...msg.layout, members: [...msg.layout.members] } })
        return false
      case 'join': {
        this.refused.delete(msg.from)
        const layout = this.layout
        if (decider(layout, id => id === this.me.nodeId || isAlive(this.peers.get(id)?.rec.state ?? 'down')) === this.me.nodeId) {
          out.push({ type: 'join-request', nodeId: msg.from, address, datacenter: sender?.datacenter ?? '' })
        }
        return false
      }
      case 'awaiting':
      case 'conflict':
        break
    }
    const reason = verdict.kind === 'conflict' ? verdict.reason : `not admitted yet by the cluster of node ${msg.from} (membership epoch ${msg.layout.epoch}, members {${msg.layout.members.join(', ')}})`
    const bootId = sender?.bootId ?? ''
    const prev = this.refused.get(msg.from)
    const report = prev === undefined || prev.reason !== reason || prev.bootId !== bootId || now - prev.reportedAt >= LAYOUT_REFUSAL_REPORT_EVERY_MS
    this.refused.set(msg.from, { nodeId: msg.from, bootId, address, reason, reportedAt: report ? now : prev.reportedAt })
    // Known as a member before (through a peer that did not check): that process is not one.
    if (this.peers.get(msg.from)?.rec.bootId === bootId) this.peers.delete(msg.from)
    if (report) {
      out.push(verdict.kind === 'conflict'
        ? { type: 'layout-refused', nodeId: msg.from, address, reason }
        : { type: 'awaiting-admission', nodeId: msg.from, address, epoch: msg.layout.epoch })
    }
    if (msg.type === 'ping') {
      out.push({
        type: 'send',
        to: { nodeId: msg.from, address },
        msg: this.withLayout({ type: 'ack', from: this.me.nodeId, hlc: '', members: [copyRecord(this.me)], echoSentAt: msg.sentAt, answeredAt: wall })
      })
    }
    return true
  }

  /**
   * A join of a removed node's process, or the wait of one that holds the catalog, is a conflict
   * (membership/readmission.ts): refused whole, with the way back in the reason.
   */
  private readmission (verdict: ReturnType<typeof compareLayouts>, from: NodeId, epoch: number, sender: MemberRecord | undefined): ReturnType<typeof compareLayouts> {
    if (verdict.kind === 'join') {
      const reason = rejoinRefusal(from, { bootId: sender?.bootId ?? '', catalogVersion: sender?.catalogVersion ?? 0 }, this.removedBoots.get(from), this.removedIds.has(from))
      return reason === null ? verdict : { kind: 'conflict', reason }
    }
    if (verdict.kind === 'awaiting') {
      const reason = removedSelfReason(this.me.nodeId, this.me.catalogVersion, epoch)
      return reason === null ? verdict : { kind: 'conflict', reason }
    }
    return verdict
  }

  private withLayout<M extends GossipMessage> (m: M): M {
    if (this.layout !== undefined) m.layout = { ...this.layout, members: [...this.layout.members] }
    return m
  }

  private merge (r: MemberRecord, now: number, out: GossipOutput[]): void {
    if (r.nodeId === this.me.nodeId) { this.mergeOwn(r, now, out); return }
    // A refused process's record, passed on by a peer that has not refused it (yet).
    if (this.refused.get(r.nodeId)?.bootId === r.bootId) return
    const cur = this.peers.get(r.nodeId)
    if (cur === undefined) {
      this.peers.set(r.nodeId, { rec: copyRecord(r), lastGrowthAt: now, samples: [], lastSkewWarnAt: null })
      out.push({ type: 'member-state', nodeId: r.nodeId, address: r.address, from: null, to: r.state })
      this.checkCatalog(r, out)
      return
    }
    if (!supersedes(r, cur.rec)) return
    const old = cur.rec
    const restarted = r.bootId !== old.bootId
    cur.rec = copyRecord(r)
    if (restarted || r.incarnation > old.incarnation || r.heartbeat > old.heartbeat) cur.lastGrowthAt = now
    if (restarted) {
      // A new process: its clock samples and skew warnings start over.
      cur.samples = []
      cur.lastSkewWarnAt = null
      out.push({ type: 'member-restarted', nodeId: r.nodeId, address: r.address, bootId: r.bootId })
    }
    if (old.state !== r.state) out.push({ type: 'member-state', nodeId: r.nodeId, address: r.address, from: old.state, to: r.state })
    this.checkCatalog(r, out)
  }

  /** A record of our own node id: what others believe about us, or another process. */
  private mergeOwn (r: MemberRecord, now: number, out: GossipOutput[]): void {
    const me = this.me
    if (r.bootId === me.bootId) {
      // SWIM refutation: a verdict on our current incarnation is answered by a higher one.
      const accused = r.state === 'suspect' || r.state === 'down' || (r.state === 'left' && me.state !== 'left')
      if (r.incarnation >= me.incarnation && accused) {
        me.incarnation = r.incarnation + 1
        me.heartbeat++
      }
      return
    }
    if (me.state === 'joining') {
      if (r.claimedOver === me.bootId) {
        this.halted = true
        out.push({ type: 'id-conflict', nodeId: me.nodeId, address: r.address, bootId: r.bootId })
        return
      }
      if (r.incarnation < me.incarnation) return // our claim already beats it
      me.incarnation = r.incarnation + 1
      me.claimedOver = r.bootId
      me.heartbeat++
      if (isAlive(r.state)) {
        this.claimUntil ??= now + this.heartbeatTimeoutMs
        this.claimAddress = r.address
      }
      return
    }
    // Running: the id is ours (unless we left, then the new process may have it). A claim over our
    // bootId is answered even when our incarnation already beats it (it was built from a stale
    // record of ours): claimedOver naming the claimant is what tells it we are alive.
    if (!isAlive(me.state)) return
    const contest = r.claimedOver === me.bootId
    if (r.incarnation < me.incarnation && (!contest || me.claimedOver === r.bootId)) return
    me.incarnation = Math.max(me.incarnation, r.incarnation + 1)
    me.claimedOver = r.bootId
    me.heartbeat++
    if (contest && r.bootId !== this.lastContestedBy) {
      this.lastContestedBy = r.bootId
      out.push({ type: 'id-contested', nodeId: me.nodeId, address: r.address, bootId: r.bootId })
    }
  }

  private checkCatalog (r: MemberRecord, out: GossipOutput[]): void {
    if (!isAlive(r.state) || r.catalogVersion <= this.me.catalogVersion || r.catalogVersion <= this.catalogReported) return
    this.catalogReported = r.catalogVersion
    out.push({ type: 'catalog-behind', nodeId: r.nodeId, version: r.catalogVersion })
  }

  // ---- Own state -------------------------------------------------------------------------------

  private maybeFinishJoin (now: number, out: GossipOutput[]): void {
    if (this.me.state !== 'joining') return
    const alone = this.seeds.length === 0 && this.peers.size === 0
    if (!alone && !this.exchanged) return
    if (this.claimUntil !== null && now < this.claimUntil) return
    this.claimUntil = null
    this.setSelfState('normal', out)
  }

  private advanceLeave (out: GossipOutput[]): void {
    if (this.me.state === 'leaving') {
      if (++this.leaveTicks >= LEAVE_ANNOUNCE_TICKS) { this.leaveTicks = 0; this.setSelfState('left', out) }
    } else if (this.me.state === 'left' && !this.leftReported) {
      if (++this.leaveTicks >= LEAVE_ANNOUNCE_TICKS) { this.leftReported = true; out.push({ type: 'left' }) }
    }
  }

  private setSelfState (to: MemberState, out: GossipOutput[]): void {
    const from = this.me.state
    if (from === to) return
    this.me.state = to
    this.me.heartbeat++
    out.push({ type: 'member-state', nodeId: this.me.nodeId, address: this.me.address, from, to })
  }

  // ---- Failure detection and peer choice -------------------------------------------------------

  /** A tick more than one interval late: this node stalled; its peers' silence during the stall does not count (header). */
  private discountOwnStall (now: number, out: GossipOutput[]): void {
    const last = this.lastTickAt
    this.lastTickAt = now
    if (last === null) return
    const stall = now - last - this.intervalMs
    // Scheduling jitter on a busy machine is not a stall: only a delay that could by itself move
    // a peer a good way toward suspicion counts (and is worth the warning it logs).
    if (stall <= Math.max(this.intervalMs, this.suspectAfterMs / 2)) return
    for (const p of this.peers.values()) p.lastGrowthAt = Math.min(now, p.lastGrowthAt + stall)
    out.push({ type: 'paused', stalledMs: stall })
  }

  private detectFailures (now: number, out: GossipOutput[]): void {
    for (const p of this.peers.values()) {
      const from = p.rec.state
      if (!isAlive(from)) continue
      const silent = now - p.lastGrowthAt
      const to: MemberState | null = silent >= this.heartbeatTimeoutMs ? 'down' : silent >= this.suspectAfterMs && from !== 'suspect' ? 'suspect' : null
      if (to === null) continue
      p.rec.state = to
      out.push({ type: 'member-state', nodeId: p.rec.nodeId, address: p.rec.address, from, to })
    }
  }

  private pickTargets (): GossipTarget[] {
    const live: GossipTarget[] = []
    const probe: GossipTarget[] = []
    const known = new Set<string>([this.me.address])
    for (const p of this.peers.values()) {
      known.add(p.rec.address)
      if (isAlive(p.rec.state)) live.push({ nodeId: p.rec.nodeId, address: p.rec.address })
      else if (p.rec.state === 'down') probe.push({ nodeId: p.rec.nodeId, address: p.rec.address })
    }
    for (const s of this.seeds) {
      if (!known.has(s.address) && (s.nodeId === undefined || !this.peers.has(s.nodeId))) probe.push({ ...s })
    }
    const targets = sample(live, this.fanout, this.rng)
    const extra = live.length < this.fanout ? this.fanout - live.length : this.rng.next() < REPROBE_PROBABILITY ? 1 : 0
    targets.push(...sample(probe, extra, this.rng))
    // While claiming our id over a record that looked alive, ask its owner directly: a live one
    // claims back at once (its address is ours after a restart in place: nobody to ask).
    if (this.claimUntil !== null && this.claimAddress !== this.me.address && !targets.some(t => t.address === this.claimAddress)) {
      targets.push({ address: this.claimAddress })
    }
    return targets
  }

  private ping (now: number): GossipMessage {
    return this.withLayout({ type: 'ping', from: this.me.nodeId, hlc: '', members: this.digest(), sentAt: now })
  }

  /** Our record first, then the others (a random sample when over the per-message cap). */
  private digest (): MemberRecord[] {
    const others = [...this.peers.values()].map(p => p.rec)
    const chosen = others.length < GOSSIP_MAX_MEMBERS_PER_MESSAGE ? others : sample(others, GOSSIP_MAX_MEMBERS_PER_MESSAGE - 1, this.rng)
    return [copyRecord(this.me), ...chosen.map(copyRecord)]
  }

  // ---- Clock offsets ---------------------------------------------------------------------------

  /** sentAt and now on our monotonic clock (the round trip); peerWall and wall on wall clocks (the offset). */
  private clockSample (nodeId: NodeId, sentAt: number, peerWall: number, now: number, wall: number, out: GossipOutput[]): void {
    const p = this.peers.get(nodeId)
    const rtt = now - sentAt
    if (p === undefined || rtt < 0 || rtt > CLOCK_SAMPLE_MAX_RTT_MS) return
    // The peer answered somewhere within the round trip; taking its midpoint errs by at most rtt/2
    // (exactly half the difference of the two one-way delays).
    p.samples.push({ rtt, offset: peerWall - (wall - rtt / 2) })
    if (p.samples.length > CLOCK_SAMPLE_WINDOW) p.samples.shift()
    const best = bestSample(p.samples)!
    if (Math.abs(best.offset) <= CLOCK_SKEW_WARN_MS) return
    if (p.lastSkewWarnAt !== null && now - p.lastSkewWarnAt < CLOCK_SKEW_WARN_EVERY_MS) return
    p.lastSkewWarnAt = now
    out.push({ type: 'clock-skew', nodeId, offsetMs: Math.round(best.offset), rttMs: best.rtt })
  }
}

function bestSample (samples: readonly ClockSample[]): ClockSample | null {
  let best: ClockSample | null = null
  for (const s of samples) if (best === null || s.rtt < best.rtt) best = s
  return best
}

/** Up to `n` distinct elements of `xs` in random order (partial Fisher–Yates on a copy). */
function sample<T> (xs: readonly T[], n: number, rng: Rng): T[] {
  const a = xs.slice()
  const k = Math.min(n, a.length)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng.next() * (a.length - i))
    const t = a[i]!; a[i] = a[j]!; a[j] = t
  }
  return a.slice(0, k)
}
