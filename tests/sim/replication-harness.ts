import type { Clock } from '../../src/core/clock'
import { asNodeId, asShardId, type NodeId, type ShardId } from '../../src/core/ids'
import { SeededRng } from '../../src/core/rng'
import { replEnvelopeCodec } from '../../src/cluster/replication/codec'
import { ReplicationMachine } from '../../src/cluster/replication/machine'
import { preVoteFromDisk, requiredReplicas, type DiskLog } from '../../src/cluster/replication/rules'
import type {
  HardState, LogBase, Lsn, Ready, ReplEntry, ReplInput, ReplicationConfig, ReplMessage, SyncReplicas
} from '../../src/cluster/replication/types'
import { SimNetwork } from './network'

// The I/O shell of the Mode 1 replication machine (src/cluster/replication/machine.ts) over the
// seeded simulated network, with the invariant checks of issue 14 run on every Ready. Each node
// keeps a "disk" — exactly what the Readys told it to persist (hard state, log base, entries) and
// its engine (the applied entries, in order) — which survives a crash; everything else (the
// machine, its clock) is rebuilt on restart. Messages cross the network in the wire codec;
// snapshots travel as one message holding the engine's applied entries and the header.
//
// engineLog (issue 14: the machine's log IS the shard's commit log): the disk plays the engine. A
// client commit lands on the disk at the next LSN first — only while the machine is primary in
// the generation the disk holds, as the engine allows local commits — and the machine learns it
// from a log-tail read that completes a little later (a step may come between: stale and
// diverging reads happen). The machine's noop/config entries are appended by this "engine" on
// the Ready's `control`. Entries from a primary are applied as REPL_APPLY does: one already held
// is skipped, a different one or a gap is refused — and then, as on `diverged`, the shell drops
// the rest of the Ready and rebuilds the machine from the disk.
//
// Clocks: each process's monotonic clock runs at its own rate (within ±MAX_RATE_SKEW of global
// time) from its own origin, and its wall clock jumps (the machine must not read it).

export const SHARD = asShardId(7)
const EPOCH_MS = 1_767_225_600_000
/** Each host's monotonic clock rate is within this of real time (two hosts then differ by ≤ 2×, below MAX_CLOCK_DRIFT). */
export const MAX_RATE_SKEW = 0.004

/** A durable engine record: which entry the engine applied at its LSN. */
export interface Applied { lsn: Lsn, generation: number, key: string }

export interface Disk {
  hard: HardState
  base: LogBase
  entries: ReplEntry[]
  applied: Applied[]
  /**
   * The committed LSN the replication state records (storage/repl-state.ts commitLsn, with the
   * voters in effect at it: what the shell reads while no group runs). Recorded here after every
   * step's durable state; the node records it at most every COMMIT_PERSIST_INTERVAL_MS, so its
   * recorded voters may be older still — never newer.
   */
  commitLsn: Lsn
}

/**
 * A snapshot stream. `wipe`: one a re-bootstrap started (anti-entropy found the replica's copy
 * wrong): the replica's storage installs it whatever its machine holds — its data and log wiped,
 * as REPL_SNAPSHOT_INSTALL does — and the machine is rebuilt from that; the sender's shell then
 * steps 'snapshot-streamed'. Such a stream is an RPC: delivered at most once, and never after its
 * sender gave it up as failed.
 */
interface SnapshotWire { kind: 'snapshot-data', id: number, header: Uint8Array, state: Applied[], wipe?: { from: NodeId, sender: ReplicationMachine } }
export type Wire = Uint8Array | SnapshotWire

class SimClock implements Clock {
  wallJump = 0
  constructor (private readonly net: SimNetwork<Wire>, readonly rate: number, readonly startGlobal: number, readonly monoOrigin: number) {}
  now (): number { return EPOCH_MS + this.net.now + this.wallJump }
  monotonic (): number { return this.monoOrigin + (this.net.now - this.startGlobal) * this.rate }
  /** The global time at which this clock reads `mono`. */
  globalAt (mono: number): number { return this.startGlobal + (mono - this.monoOrigin) / this.rate }
}

export interface SimNode {
  id: NodeId
  address: string
  disk: Disk
  machine: ReplicationMachine | null
  clock: SimClock | null
  /** A snapshot's data staged until its header is stepped. */
  staged: Applied[] | null
  /** Primary's shell: replicas it re-bootstrapped (every later snapshot to them installs as the real storage does: wiping); lost on a crash. */
  wipeTo: Set<NodeId>
  /** The voters its machine was last told are gone for good ('gone' input): they count toward no majority. */
  gone?: ReadonlySet<NodeId>
}

export interface AckRec { lsn: Lsn, generation: number, key: string, at: number, by: NodeId, durable: boolean }

export function entryKey (e: ReplEntry): string {
  if (e.kind === 'data') return `g${e.generation}:d${Buffer.from(e.payload).toString('hex')}`
  if (e.kind === 'config') return `g${e.generation}:c${e.voters.join(',')}`
  return `g${e.generation}:n`
}

export interface HarnessOptions {
  seed: number
  rng: SeededRng
  /** Voters of the initial configuration. */
  voters: number[]
  /** All node ids the simulation may start (voters first). */
  nodes: number[]
  syncReplicas: SyncReplicas
  electionTimeoutMs: number
  heartbeatMs: number
  leaseMs: number
  tickMs: number
  maxRetainedBytes: number
  minDelayMs: number
  maxDelayMs: number
  loss: number
  duplicateProbability: number
  /** Chance that a message leaves up to lateMaxMs late. */
  lateProbability: number
  lateMaxMs: number
  /** The engine allocates LSNs (see the top). */
  engineLog?: boolean
  /**
   * Several groups in one simulation (membership-harness.ts): the network they share, this
   * group's shard (its nodes' addresses are n<id>s<shard>), each node's preference list (the
   * shell's replica list), the voters a group starts with — as ShardGroup.load does, the list
   * the shell gives it, whatever the log's base recorded — and hooks after each machine is built
   * and after each Ready is carried out.
   */
  net?: SimNetwork<Wire>
  shard?: ShardId
  preferenceOf?: (id: NodeId) => NodeId[]
  startVoters?: (id: NodeId) => NodeId[]
  onBuilt?: (n: SimNode) => void
  onReady?: (n: SimNode, r: Ready) => void
  /**
   * A replication message reached node `n` (`running`: its machine runs; else a pre-vote was
   * answered from the disk already): the shell's look at it (ReplicationShell.onBatch).
   */
  onMessage?: (n: SimNode, msg: ReplMessage, running: boolean) => void
}

export class ReplicationSim {
  readonly net: SimNetwork<Wire>
  readonly nodes = new Map<NodeId, SimNode>()
  preference: NodeId[]
  /** generation → the node that became its primary and when (global time). */
  readonly primaries = new Map<number, { node: NodeId, at: number }>()
  /** Entry key per LSN of everything any engine applied: one history for all (state machine safety). */
  readonly history = new Map<bigint, string>()
  readonly acks: AckRec[] = []
  readonly violations: string[] = []
  readonly stats = { elections: 0, acks: 0, reads: 0, readsRefused: 0, truncations: 0, snapshots: 0, promotions: 0, removals: 0, proposals: 0, refusedProposals: 0, crashes: 0, resyncs: 0, staleTails: 0, rebootstraps: 0, rebootstrapsRefused: 0, wipes: 0, transfers: 0 }
  private nextPayload = 1
  private nextSnapshot = 1
  private readonly snapshotsDelivered = new Set<number>()
  /** Wipe streams their sender gave up as failed (never delivered after). */
  private readonly snapshotsExpired = new Set<number>()
  /** The highest LSN acknowledged under a majority rule: a read must see it. */
  maxDurableAck: Lsn = 0n

  readonly shard: ShardId

  constructor (readonly o: HarnessOptions) {
    this.net = o.net ?? new SimNetwork<Wire>(o.rng, { minDelayMs: o.minDelayMs, maxDelayMs: o.maxDelayMs, lossProbability: o.loss })
    this.shard = o.shard ?? SHARD
    this.preference = o.voters.map(asNodeId)
    for (const n of o.nodes) {
      const id = asNodeId(n)
      const initial = o.voters.includes(n)
      this.nodes.set(id, {
        id,
        address: o.shard === undefined ? `n${n}` : `n${n}s${o.shard}`,
        disk: {
          hard: { generation: 0, votedFor: 0 },
          base: { lsn: 0n, generation: 0, voters: initial ? o.voters.map(asNodeId) : [] },
          entries: [],
          applied: [],
          commitLsn: 0n
        },
        machine: null,
        clock: null,
        staged: null,
        wipeTo: new Set()
      })
    }
  }

  get now (): number { return this.net.now }

  config (id: NodeId): ReplicationConfig {
    const o = this.o
    return { self: id, preference: o.preferenceOf?.(id) ?? this.preference, syncReplicas: o.syncReplicas, electionTimeoutMs: o.electionTimeoutMs, heartbeatMs: o.heartbeatMs, leaseMs: o.leaseMs, maxRetainedBytes: o.maxRetainedBytes, engineLog: o.engineLog === true }
  }

  private machineFor (n: SimNode, clock: SimClock): ReplicationMachine {
    const d = n.disk
    const appliedLsn = d.applied.length === 0 ? 0n : d.applied[d.applied.length - 1]!.lsn
    const voters = this.o.startVoters?.(n.id) ?? d.base.voters
    return new ReplicationMachine(this.config(n.id), {
      hard: { ...d.hard },
      base: { ...d.base, voters: [...voters] },
      entries: [...d.entries],
      appliedLsn: appliedLsn > d.base.lsn ? appliedLsn : d.base.lsn
    }, clock, new SeededRng(this.o.rng.u32()))
  }

  /** engineLog: the machine and the disk disagree — rebuild the machine from the disk (same process, same clock). */
  private resync (n: SimNode): void {
    this.stats.resyncs++
    n.machine = this.machineFor(n, n.clock!)
    n.gone = undefined
    this.o.onBuilt?.(n)
  }

  private diskLast (d: Disk): Lsn {
    return d.entries.length === 0 ? d.base.lsn : d.entries[d.entries.length - 1]!.lsn
  }

  /** engineLog: the engine appends at the next LSN, at the generation its hard state holds. */
  private engineAppend (n: SimNode, e: { kind: 'data', payload: Uint8Array } | { kind: 'noop' } | { kind: 'config', voters: NodeId[] }): void {
    const d = n.disk
    const lastGen = d.entries.length === 0 ? d.base.generation : d.entries[d.entries.length - 1]!.generation
    if (d.hard.generation < lastGen) { this.fail(`node ${n.id}: disk generation ${d.hard.generation} below its last entry's ${lastGen}`); return }
    d.entries.push({ ...e, lsn: this.diskLast(d) + 1n, generation: d.hard.generation } as ReplEntry)
    this.readTail(n)
  }

  /** engineLog: a log-tail read from the machine's last LSN, begun now, its result stepped a little later. */
  private readTail (n: SimNode): void {
    const m = n.machine
    if (m === null) return
    const epoch = m.logEpoch
    const entries = n.disk.entries.filter(e => e.lsn > m.lastLsn)
    // A few reads are very slow (a busy worker): the machine may have moved on meanwhile.
    const rng = this.o.rng
    this.net.after(rng.next() < this.o.lateProbability * 5 ? rng.next() * this.o.lateMaxMs : rng.next() * this.o.maxDelayMs, () => {
      if (n.machine !== m) return
      if (epoch !== m.logEpoch) this.stats.staleTails++
      this.step(n, { type: 'logged', entries, epoch })
    })
  }

  /**
   * The node's process runs but no group of this shard (never started here, or retired): it
   * answers pre-votes from its disk as the shell does (ReplicationShell.answerWithoutGroup).
   */
  listen (id: NodeId): void {
    const n = this.nodes.get(id)!
    if (n.machine !== null || this.net.isUp(n.address)) return
    this.net.start(n.address, 0, (_from, w) => { this.deliver(n, w) })
  }

  private answerFromDisk (n: SimNode, w: Wire): void {
    if (!(w instanceof Uint8Array)) return
    const env = replEnvelopeCodec.decode(w)
    const reply = preVoteFromDisk(n.id, env.msg, this.diskLog(n.id))
    if (reply !== null) this.send(n, env.msg.from, replEnvelopeCodec.encode({ shard: env.shard, msg: reply }))
    this.o.onMessage?.(n, env.msg, false)
  }

  /** What a node's disk holds of the log (rules.ts DiskLog). */
  diskLog (id: NodeId): DiskLog {
    const d = this.nodes.get(id)!.disk
    const last = d.entries.length === 0 ? { generation: d.base.generation, lsn: d.base.lsn } : d.entries[d.entries.length - 1]!
    return { generation: d.hard.generation, lastGeneration: last.generation, lastLsn: last.lsn }
  }

  /** Starts (or restarts) a node's process from its disk. */
  start (id: NodeId): void {
    const n = this.nodes.get(id)!
    if (this.net.isUp(n.address)) this.net.stop(n.address) // listening without a group (listen)
    const rng = this.o.rng
    const clock = new SimClock(this.net, 1 + (rng.next() * 2 - 1) * MAX_RATE_SKEW, this.net.now, Math.floor(rng.next() * 1e6))
    n.machine = this.machineFor(n, clock)
    n.gone = undefined
    n.clock = clock
    n.staged = null
    n.wipeTo = new Set()
    this.net.start(n.address, 0, (_from, w) => { this.deliver(n, w) })
    this.net.every(n.address, this.net.now + rng.next() * this.o.tickMs, this.o.tickMs, () => { this.step(n, { type: 'tick' }) })
    this.o.onBuilt?.(n)
  }

  /** The node's process stops (`crashed`), or only its group of the shard (a shell retiring it): memory lost, disk kept. */
  crash (id: NodeId, crashed = true): void {
    const n = this.nodes.get(id)!
    if (n.machine === null) return
    this.net.stop(n.address)
    n.machine = null
    n.clock = null
    n.staged = null
    if (crashed) this.stats.crashes++
  }

  /** Anti-entropy asks primary `id` to re-bootstrap replica `to`; true if the machine started it. */
  rebootstrap (id: NodeId, to: NodeId): boolean {
    const n = this.nodes.get(id)!
    if (n.machine === null || n.machine.rebootstrapRefusal(to) !== null) { this.stats.rebootstrapsRefused++; return false }
    n.wipeTo.add(to)
    this.stats.rebootstraps++
    this.step(n, { type: 'rebootstrap', to })
    return true
  }

  isUp (id: NodeId): boolean { return this.nodes.get(id)!.machine !== null }

  upNodes (): SimNode[] { return [...this.nodes.values()].filter(n => n.machine !== null) }

  /** The up node that believes it is primary with the highest generation, if any. */
  currentPrimary (): SimNode | undefined {
    let best: SimNode | undefined
    for (const n of this.upNodes()) {
      const m = n.machine!
      if (m.role === 'primary' && (best === undefined || m.generation > best.machine!.generation)) best = n
    }
    return best
  }

  jumpWall (id: NodeId, ms: number): void {
    const c = this.nodes.get(id)!.clock
    if (c !== null) c.wallJump += ms
  }

  setPreference (ids: NodeId[]): void {
    this.preference = [...ids]
    for (const n of this.upNodes()) this.step(n, { type: 'preference', nodes: ids })
  }

  /** A client commit at a node; returns whether it was taken. */
  propose (id: NodeId): boolean {
    const n = this.nodes.get(id)!
    if (n.machine === null) return false
    const payload = new Uint8Array(4)
    new DataView(payload.buffer).setUint32(0, this.nextPayload++)
    if (this.o.engineLog === true) {
      // The engine takes a local commit only on the primary, at the generation it persisted.
      const m = n.machine
      const taken = m.role === 'primary' && m.generation === n.disk.hard.generation
      if (taken) {
        this.stats.proposals++
        this.engineAppend(n, { kind: 'data', payload })
      } else this.stats.refusedProposals++
      return taken
    }
    const r = this.step(n, { type: 'propose', payload })
    if (r.proposed === null) this.stats.refusedProposals++
    else this.stats.proposals++
    return r.proposed !== null
  }

  /**
   * A graceful stop's leadership transfer at a primary (issue 20 item 4). With engineLog the
   * simulated engine keeps taking commits meanwhile (propose): the race the node's shell narrows
   * by setting its storage role first, here left wide open.
   */
  transfer (id: NodeId): void {
    const n = this.nodes.get(id)!
    if (n.machine?.role !== 'primary') return
    this.stats.transfers++
    this.step(n, { type: 'transfer' })
  }

  read (id: NodeId): void {
    const n = this.nodes.get(id)!
    if (n.machine === null) return
    // Half the reads ask as the node shell does before every read (readGrant: no step), half
    // through the 'read' input; both are checked against every primary elected since (checkRead).
    if (this.o.rng.next() < 0.5) { this.step(n, { type: 'read' }); return }
    const g = n.machine.readGrant()
    if (g.granted) {
      this.stats.reads++
      this.checkRead(n, g.readLsn)
    } else this.stats.readsRefused++
  }

  private deliver (n: SimNode, w: Wire): void {
    if (n.machine === null) { this.answerFromDisk(n, w); return }
    if (w instanceof Uint8Array) {
      const env = replEnvelopeCodec.decode(w)
      if (env.shard !== this.shard) { this.violations.push('message for another shard'); return }
      this.o.onMessage?.(n, env.msg, true)
      this.step(n, { type: 'message', msg: env.msg })
      return
    }
    if (w.wipe !== undefined) { this.installWipe(n, w, w.wipe); return }
    this.snapshotsDelivered.add(w.id)
    n.staged = w.state.map(a => ({ ...a }))
    const env = replEnvelopeCodec.decode(w.header)
    this.step(n, { type: 'message', msg: env.msg })
    n.staged = null
  }

  /** A re-bootstrap's snapshot lands: storage wiped and replaced (REPL_SNAPSHOT_INSTALL), the machine rebuilt from it, then the header. */
  private installWipe (n: SimNode, w: SnapshotWire, wipe: { from: NodeId, sender: ReplicationMachine }): void {
    if (this.snapshotsDelivered.has(w.id) || this.snapshotsExpired.has(w.id)) return
    const env = replEnvelopeCodec.decode(w.header)
    const msg = env.msg
    if (msg.type !== 'snapshot') { this.fail('a snapshot stream without its header'); return }
    const d = n.disk
    // installSnapshotChunk's fencing: never from an older generation, never onto its primary.
    if (msg.generation < d.hard.generation || (n.machine!.role === 'primary' && n.machine!.generation === msg.generation)) return
    this.snapshotsDelivered.add(w.id)
    d.hard = msg.generation > d.hard.generation ? { generation: msg.generation, votedFor: 0 } : d.hard
    d.base = { lsn: msg.base.lsn, generation: msg.base.generation, voters: [...msg.base.voters] }
    d.entries = []
    d.applied = w.state.map(a => ({ ...a }))
    for (const a of d.applied) this.checkHistory(n, a.lsn, a.key)
    this.stats.wipes++
    this.resync(n)
    const sender = this.nodes.get(wipe.from)!
    if (sender.machine === wipe.sender) this.step(sender, { type: 'snapshot-streamed', to: n.id })
    this.step(n, { type: 'message', msg })
  }

  private send (from: SimNode, to: NodeId, w: Wire): void {
    const target = this.nodes.get(to)
    if (target === undefined) return
    const rng = this.o.rng
    // A few messages are very late (retransmissions, a stalled connection): stale generations arrive.
    if (rng.next() < this.o.lateProbability) this.net.after(rng.next() * this.o.lateMaxMs, () => { this.net.send(from.address, target.address, w) })
    else this.net.send(from.address, target.address, w)
    if (rng.next() < this.o.duplicateProbability) this.net.send(from.address, target.address, w)
  }

  step (n: SimNode, input: ReplInput): Ready {
    if (input.type === 'gone') n.gone = new Set(input.nodes)
    const r = n.machine!.step(input)
    this.carryOut(n, r)
    return r
  }

  private fail (msg: string): void {
    this.violations.push(`t=${this.net.now.toFixed(1)} ${msg}`)
  }

  /** The shell: carry a Ready out in the documented order, checking the invariants as it goes. */
  private carryOut (n: SimNode, r: Ready): void {
    const d = n.disk
    const m = n.machine!
    // 1. durable state
    if (r.hardState !== null) d.hard = { ...r.hardState }
    if (r.diverged !== null) { this.resync(n); return }
    if (r.installSnapshot !== null) {
      if (n.staged === null) { this.fail(`node ${n.id} installs a snapshot it never received`); return }
      d.base = { ...r.installSnapshot, voters: [...r.installSnapshot.voters] }
      d.entries = []
      d.applied = n.staged
      const last = d.applied.length === 0 ? 0n : d.applied[d.applied.length - 1]!.lsn
      if (last !== r.installSnapshot.lsn) this.fail(`node ${n.id}: snapshot at ${r.installSnapshot.lsn} holds entries up to ${last}`)
      for (const a of d.applied) this.checkHistory(n, a.lsn, a.key)
      this.stats.snapshots++
    }
    if (r.truncateAfter !== null) {
      const t = r.truncateAfter
      for (const a of d.applied) if (a.lsn > t) this.fail(`node ${n.id} truncates applied LSN ${a.lsn} (after ${t})`)
      d.entries = d.entries.filter(e => e.lsn <= t)
      this.stats.truncations++
    }
    for (const e of r.entries) {
      const last = d.entries.length === 0 ? d.base.lsn : d.entries[d.entries.length - 1]!.lsn
      if (this.o.engineLog === true && e.lsn <= last) {
        // REPL_APPLY: an entry held is skipped, another one at its LSN refused (the engine logged
        // a commit the machine has not heard of yet).
        const held = e.lsn > d.base.lsn ? d.entries[Number(e.lsn - d.base.lsn) - 1] : undefined
        if (held !== undefined && entryKey(held) === entryKey(e)) continue
        this.resync(n)
        return
      }
      if (e.lsn !== last + 1n) {
        if (this.o.engineLog === true) { this.resync(n); return }
        this.fail(`node ${n.id} persists LSN ${e.lsn} after ${last}`)
        return
      }
      d.entries.push(e)
    }
    if (r.control !== null) {
      // REPL_CONTROL_APPEND: refused (nothing appended) when the generation moved on.
      if (r.control.generation === d.hard.generation) this.engineAppend(n, r.control.entry)
    }
    // 2. messages (after the durable state)
    for (const out of r.messages) this.send(n, out.to, replEnvelopeCodec.encode({ shard: this.shard, msg: out.msg }))
    // 3. apply (engines hold every entry from LSN 1 on: a snapshot carries them all)
    for (const e of r.committed) {
      const last = d.applied.at(-1)?.lsn ?? 0n
      if (e.lsn !== last + 1n) {
        this.fail(`node ${n.id} applies LSN ${e.lsn} after ${last}`)
        return
      }
      const key = entryKey(e)
      d.applied.push({ lsn: e.lsn, generation: e.generation, key })
      this.checkHistory(n, e.lsn, key)
    }
    // 4. compaction, only of what the engine holds
    if (r.compactThrough !== null) {
      const applied = d.applied.at(-1)?.lsn ?? 0n
      if (r.compactThrough > applied) this.fail(`node ${n.id} compacts through ${r.compactThrough}, beyond its applied ${applied}`)
      this.compactDisk(n, r.compactThrough)
    }
    // 5. acknowledgements: the entry is durable on the primary and the replicas sync_replicas requires
    for (const lsn of r.acks) {
      const e = m.entryAt(lsn)
      const key = e === undefined ? this.history.get(lsn) : entryKey(e)
      if (key === undefined) { this.fail(`node ${n.id} acknowledges LSN ${lsn} it does not hold`); continue }
      // Voters gone for good (forced removal) count toward no majority: the copies left decide.
      const voters = m.voters.filter(v => n.gone?.has(v) !== true)
      const holders = voters.filter(v => this.holds(v, lsn, key)).length
      const need = 1 + requiredReplicas(this.o.syncReplicas, voters.length)
      if (holders < need) this.fail(`node ${n.id} acknowledges LSN ${lsn} held durably by ${holders} of ${voters.length} voters (needs ${need})`)
      const durable = need >= Math.floor(voters.length / 2) + 1
      this.acks.push({ lsn, generation: m.generation, key, at: this.net.now, by: n.id, durable })
      if (durable && lsn > this.maxDurableAck) this.maxDurableAck = lsn
      this.stats.acks++
    }
    if (m.commitLsn > d.commitLsn) d.commitLsn = m.commitLsn
    // 6. snapshots to stream, reads, events
    for (const s of r.snapshots) {
      const state = d.applied.filter(a => a.lsn <= s.base.lsn)
      const last = state.length === 0 ? 0n : state[state.length - 1]!.lsn
      if (last !== s.base.lsn) this.fail(`node ${n.id} snapshots at ${s.base.lsn} but its engine applied ${last}`)
      const header = replEnvelopeCodec.encode({ shard: this.shard, msg: { type: 'snapshot', generation: s.generation, from: n.id, base: s.base } })
      const id = this.nextSnapshot++
      const sender = n.machine
      const wipe = n.wipeTo.has(s.to) ? { from: n.id, sender: m } : undefined
      this.send(n, s.to, { kind: 'snapshot-data', id, header, state, ...(wipe !== undefined ? { wipe } : {}) })
      // The stream is an RPC: its sender learns of a failure (here: no delivery within its deadline).
      this.net.after(2 * this.o.maxDelayMs + 1, () => {
        const delivered = this.snapshotsDelivered.delete(id)
        // An RPC stream is over once its sender knows the outcome: no copy of it lands later.
        if (wipe !== undefined) this.snapshotsExpired.add(id)
        if (delivered) return
        if (n.machine !== sender || sender === null) return
        this.step(n, { type: 'snapshot-failed', to: s.to })
      })
    }
    if (r.read !== null) {
      if (r.read.granted) {
        this.stats.reads++
        this.checkRead(n, r.read.readLsn)
      } else this.stats.readsRefused++
    }
    for (const ev of r.events) {
      if (ev.type === 'became-primary') this.onElected(n, ev.generation)
      if (ev.type === 'membership') { if (ev.change === 'promote') this.stats.promotions++; else this.stats.removals++ }
    }
    this.o.onReady?.(n, r)
  }

  private compactDisk (n: SimNode, through: Lsn): void {
    const d = n.disk
    const at = d.entries.find(e => e.lsn === through)
    if (at === undefined) { this.fail(`node ${n.id} compacts through ${through}, not in its log`); return }
    let voters = d.base.voters
    for (const e of d.entries) if (e.lsn <= through && e.kind === 'config') voters = e.voters
    d.base = { lsn: through, generation: at.generation, voters: [...voters] }
    d.entries = d.entries.filter(e => e.lsn > through)
  }

  /** Does node `id`'s disk hold the entry `key` at `lsn` (in its log, or applied below its base)? */
  holds (id: NodeId, lsn: Lsn, key: string): boolean {
    const d = this.nodes.get(id)!.disk
    if (lsn > d.base.lsn) {
      const e = d.entries[Number(lsn - d.base.lsn) - 1]
      return e !== undefined && entryKey(e) === key
    }
    // Engines hold every entry from LSN 1 on (a snapshot carries them all): index = LSN − 1.
    return d.applied[Number(lsn) - 1]?.key === key
  }

  private checkHistory (n: SimNode, lsn: Lsn, key: string): void {
    const h = this.history.get(lsn)
    if (h === undefined) this.history.set(lsn, key)
    else if (h !== key) this.fail(`node ${n.id} applied ${key} at LSN ${lsn} where another applied ${h}`)
  }

  private onElected (n: SimNode, generation: number): void {
    this.stats.elections++
    const before = this.primaries.get(generation)
    if (before !== undefined) this.fail(`two primaries in generation ${generation}: ${before.node} and ${n.id}`)
    else this.primaries.set(generation, { node: n.id, at: this.net.now })
    const m = n.machine!
    // Leader completeness: every acknowledged (durable) commit and every applied entry is in its log.
    for (const a of this.acks) {
      if (a.durable && !this.holds(n.id, a.lsn, a.key)) this.fail(`new primary ${n.id} (generation ${generation}) lacks acknowledged LSN ${a.lsn} (${a.key})`)
    }
    for (const [lsn, key] of this.history) {
      if (!this.holds(n.id, lsn, key)) this.fail(`new primary ${n.id} (generation ${generation}, last LSN ${m.lastLsn}) lacks the applied entry at LSN ${lsn}`)
    }
    // Leases: every older primary still serving must have lost its lease by now.
    for (const o of this.upNodes()) {
      if (o === n || o.machine!.role !== 'primary' || o.machine!.generation >= generation) continue
      const until = o.machine!.leaseUntil
      if (until !== -Infinity && o.clock!.globalAt(until) > this.net.now) {
        this.fail(`node ${n.id} became primary of generation ${generation} while node ${o.id} (generation ${o.machine!.generation}) holds a lease until t=${o.clock!.globalAt(until).toFixed(1)}`)
      }
    }
  }

  private checkRead (n: SimNode, readLsn: Lsn): void {
    const g = n.machine!.generation
    for (const [gen, p] of this.primaries) {
      if (gen > g && p.at <= this.net.now) this.fail(`node ${n.id} serves a read in generation ${g} after node ${p.node} became primary of generation ${gen}`)
    }
    if (this.maxDurableAck > readLsn) this.fail(`node ${n.id} serves a read at LSN ${readLsn} below acknowledged LSN ${this.maxDurableAck}`)
  }
}
