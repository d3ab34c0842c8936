import { describe, expect, it } from 'vitest'
import { answerCoordinatorEffect, answerRecoveryEffect, coordinatorStatus, DECISION_TABLE_ID, decisionShard, decodeDecision, encodeDecision, type TwoPhaseIo, type TwoPhaseOutcome } from '../../src/cluster/twopc'
import { TwoPhaseCoordinator, type CoordinatorEffect, type CoordinatorEvent } from '../../src/cluster/twopc/coordinator'
import { LimboRecovery, type RecoveryEffect, type RecoveryEvent } from '../../src/cluster/twopc/recovery'
import { ManualClock } from '../../src/core/clock'
import { ScratchBirdError } from '../../src/core/errors'
import { SeededRng } from '../../src/core/rng'
import { ShardEngine, type Txn } from '../../src/storage/engine'
import { writeU64 } from '../../src/storage/keys'
import { MemoryKv, MemoryStore } from '../../src/storage/kv-memory'
import { hlcTs, type HlcTs, type Xid } from '../../src/storage/types'
import { readXidMark, SharedXidCounter, SharedXidSource } from '../../src/storage/xid-shared'
import { simSeeds } from './seeds'
import { asNodeId, asShardId, type ShardId, shardIds } from '../../src/core/ids'

// Seeded simulation of two-phase commit (DESIGN §6 "Transactions across shards", §10): the shipped
// coordinator and limbo-recovery machines, their effects carried out by the shipped drivers'
// answerCoordinatorEffect / answerRecoveryEffect over real ShardEngines on MemoryKv stores, under
// a scheduler that interleaves every machine's effects in a seeded order and crashes nodes.
//
// Per seed: 1–3 nodes (one node = the single-node production mode: recovery at restart, coordinator
// gone, records dropped; several = the cluster mode: abort fences, records kept), 3–5 shards each
// owned by a node, 3–7 transactions each writing one row on 2–3 shards (the xid allocated by its
// first shard, as in production), each committed by a coordinator machine on a random node.
// Faults, at any step of any machine (before or after each PREPARE, before or after the decision
// write, between COMMIT PREPAREDs, during recovery):
//  - a node crashes before a step: its engines are abandoned and reopened from their stores at
//    restart (open transactions die, limbo survives), its coordinator and recovery machines vanish,
//    requests to it fail (SB_NODE_UNREACHABLE, nothing applied);
//  - a node crashes right after applying a step: the reply is lost (the caller sees a failure
//    although the step happened — a commit record written, a participant prepared).
// Each seed crashes around one kind of step far more often than around the others (the seeds cycle
// through the step kinds and node counts), so every step gets crashes before and after it.
// A node restarts after a few steps and runs limbo recovery on its shards; in cluster mode live
// nodes also start recovery rounds at random (more often than the production retry loop does, so
// its schedules are a subset), so recovery races running coordinators. Then faults stop, every node restarts, every machine runs to its end,
// open transactions expire (the participant lease) and a last recovery round runs on every node.
// Invariants:
//  - no transaction half-committed: on its participants all committed (at one commit HLC, its row
//    visible) or all dead (its row invisible);
//  - no transaction left in limbo on any shard;
//  - a decision record left behind says what the participants did;
//  - a transaction the client saw acknowledged is committed everywhere at the acknowledged HLC;
//    one reported aborted (outcome known) is aborted everywhere.
//
// Replay one seed: SEED=<n> npx vitest run tests/sim/twopc.sim.test.ts
// More seeds:      SIM_SEEDS=<count> npx vitest run tests/sim/twopc.sim.test.ts
// Counts of what the seeds exercised: SIM_STATS=1 …   Every seed's schedule: SIM_LOG=1 …

const SEED_LIST = simSeeds()

const EPOCH_MS = 1_767_225_600_000
const TABLE = 1
const CRASH_BEFORE_PROBABILITY = 0.03
const CRASH_AFTER_PROBABILITY = 0.04
/** The step kinds of both machines; seed n crashes around FOCUS_STEPS[n % 8] more often. */
const FOCUS_STEPS = ['prepare', 'write-decision', 'commit-prepared', 'abort-prepared', 'rollback', 'read-decision', 'list-limbo', 'drop-decision'] as const
const FOCUS_CRASH_BEFORE_PROBABILITY = 0.15
const FOCUS_CRASH_AFTER_PROBABILITY = 0.35
const MAX_CRASHES = 8
const MIN_DOWN_STEPS = 1
const MAX_DOWN_STEPS = 12
/** Chance per step that a live node starts a recovery round (cluster mode's retry loop). */
const RECOVERY_ROUND_PROBABILITY = 0.08
/** Chance per step that a transaction not yet committing starts its coordinator. */
const START_PROBABILITY = 0.3
/** Steps before the faults stop (all machines then run to their end). */
const FAULT_STEPS = 200
const MAX_STEPS = 5_000

const enc = new TextEncoder()
const dec = new TextDecoder()

type Machine =
  | { kind: 'coordinator', node: number, m: TwoPhaseCoordinator, txn: SimTxn }
  | { kind: 'recovery', node: number, m: LimboRecovery }

interface Task { machine: Machine, effect: CoordinatorEffect | RecoveryEffect }

interface SimTxn {
  id: number
  xid: Xid
  shards: ShardId[]
  coordNode: number
  started: boolean
  outcome: TwoPhaseOutcome | null
}

const stats = { seeds: 0, txns: 0, crashes: 0, lostReplies: 0, commitRecordRepliesLost: 0, acked: 0, aborted: 0, unknown: 0, recoveryCommits: 0, recoveryAborts: 0, fences: 0, pending: 0, halfPreparedAtCrash: 0 }

class Unreachable extends ScratchBirdError {
  constructor (node: number) { super('SB_NODE_UNREACHABLE', `node ${node} is down`, { node }) }
}

class World {
  readonly rng: SeededRng
  readonly nodes: number
  readonly shards: number
  readonly owner: number[] = []
  readonly stores: MemoryStore[] = []
  readonly engines: Array<ShardEngine | null> = []
  readonly kvs: Array<MemoryKv | null> = []
  /** Open (not yet prepared) participant transactions per shard: the worker's `txns`. */
  readonly open: Array<Map<Xid, Txn>> = []
  readonly up: boolean[] = []
  readonly restartAt: number[] = []
  readonly machines = new Set<Machine>()
  tasks: Task[] = []
  readonly txns: SimTxn[] = []
  step = 0
  crashes = 0
  /** Crash the target node of the step being carried out once it is applied (a lost reply). */
  crashAfterApply = false
  private hlcTick = 0
  private versionSeq = 0
  readonly clock = new ManualClock(EPOCH_MS)
  readonly log: string[] = []
  /** Xids whose commit record was dropped (every participant had committed). */
  readonly droppedRecords = new Set<Xid>()

  constructor (readonly seed: number) {
    this.rng = new SeededRng(seed)
    // Seeds cycle through (focus step × node count), so every pair gets its share.
    this.nodes = 1 + Math.floor(seed / FOCUS_STEPS.length) % 3
    this.shards = 3 + this.int(3)
    for (let s = 0; s < this.shards; s++) this.owner.push(s < this.nodes ? s + 1 : 1 + this.int(this.nodes))
    for (let n = 0; n <= this.nodes; n++) { this.up.push(true); this.restartAt.push(0) }
  }

  get focus (): string { return FOCUS_STEPS[this.seed % FOCUS_STEPS.length]! }
  get alone (): boolean { return this.nodes === 1 }
  int (n: number): number { return Math.floor(this.rng.next() * n) }
  chance (p: number): boolean { return this.rng.next() < p }
  hlc (): HlcTs { return hlcTs(EPOCH_MS + ++this.hlcTick) }
  vid (): Uint8Array {
    const b = new Uint8Array(16)
    writeU64(b, 0, BigInt(++this.versionSeq))
    b[8] = 0x80
    return b
  }

  /** Opens a node's shards as its worker does: one node-wide xid counter raised to every shard's mark. */
  async openNode (n: number): Promise<void> {
    const counter = new SharedXidCounter(new SharedArrayBuffer(8))
    const owned = shardIds(this.shards).filter(s => this.owner[s] === n)
    const marks = new Map<number, bigint>()
    for (const s of owned) {
      const kv = await MemoryKv.open(this.stores[s]!)
      this.kvs[s] = kv
      const mark = await readXidMark(kv)
      counter.raiseTo(mark)
      marks.set(s, mark)
    }
    for (const s of owned) {
      this.engines[s] = await ShardEngine.open(this.kvs[s]!, { shardId: s, nodeId: asNodeId(n), durability: 'sync', clock: this.clock, xids: new SharedXidSource(counter, asNodeId(n), marks.get(s)!) })
      this.open[s] = new Map()
    }
  }

  async init (): Promise<void> {
    this.log.push(`${this.nodes} node(s), shards owned by ${this.owner.join(',')}, more crashes around ${this.focus}`)
    for (let s = 0; s < this.shards; s++) this.stores.push(new MemoryStore())
    for (let n = 1; n <= this.nodes; n++) await this.openNode(n)
    const count = 3 + this.int(5)
    for (let id = 0; id < count; id++) {
      const k = 2 + this.int(Math.min(2, this.shards - 1))
      const shards: ShardId[] = []
      while (shards.length < k) { const s = asShardId(this.int(this.shards)); if (!shards.includes(s)) shards.push(s) }
      const startHlc = this.hlc()
      // The first shard allocates the xid (its node's counter), as in production: its node bits
      // name that node, not the coordinator.
      const first = await this.engine(shards[0]!).begin({ startHlc, isolation: 'read_committed' })
      const xid = first.xid
      this.open[shards[0]!]!.set(xid, first)
      for (const s of shards.slice(1)) this.open[s]!.set(xid, await this.engine(s).begin({ startHlc, isolation: 'read_committed', xid }))
      for (const s of shards) await this.open[s]!.get(xid)!.insert(TABLE, [BigInt(id)], enc.encode(`t${id}`), this.vid())
      this.txns.push({ id, xid, shards, coordNode: 1 + this.int(this.nodes), started: false, outcome: null })
    }
  }

  engine (s: number): ShardEngine { return this.engines[s]! }

  /** The shard's engine if its node is up, else the request fails as an unreachable node's would. */
  reach (s: number): ShardEngine {
    const n = this.owner[s]!
    if (!this.up[n]) throw new Unreachable(n)
    return this.engine(s)
  }

  /** Called by the io after a step applied: a planned crash after it turns its reply into a failure. */
  applied (s: number): void {
    if (!this.crashAfterApply) return
    this.crashAfterApply = false
    stats.lostReplies++
    const n = this.owner[s]!
    this.crash(n, 'after applying')
    throw new Unreachable(n)
  }

  crash (n: number, when: string): void {
    if (!this.up[n]) return
    this.crashes++
    stats.crashes++
    this.up[n] = false
    this.restartAt[n] = this.step + MIN_DOWN_STEPS + this.int(MAX_DOWN_STEPS - MIN_DOWN_STEPS + 1)
    this.log.push(`step ${this.step}: node ${n} crashes ${when}`)
    for (let s = 0; s < this.shards; s++) {
      if (this.owner[s] !== n) continue
      // Abandon the engine as a dying process would (LevelDB releases its lock); keep the store.
      void this.kvs[s]!.close()
      this.engines[s] = null
      this.open[s] = new Map()
    }
    for (const m of this.machines) {
      if (m.node !== n) continue
      if (m.kind === 'coordinator') {
        const prepared = m.txn.shards.filter(s => this.engines[s]?.listLimbo().some(l => l.xid === m.txn.xid)).length
        if (prepared > 0 && m.m.outcome === null) stats.halfPreparedAtCrash++
      }
      this.machines.delete(m)
    }
    this.tasks = this.tasks.filter(t => t.machine.node !== n)
  }

  async restart (n: number): Promise<void> {
    await this.openNode(n)
    this.up[n] = true
    this.log.push(`step ${this.step}: node ${n} restarts`)
    this.startRecovery(n)
  }

  /** The decision slots: an insert, so a taken slot refuses (as node/twopc-io.ts writes them). */
  readonly io: TwoPhaseIo = {
    prepare: async (s, xid) => {
      const e = this.reach(s)
      const t = this.open[s]!.get(xid)
      if (t === undefined) throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${xid} is not open on shard ${s}`)
      await e.prepare(t)
      this.open[s]!.delete(xid)
      this.applied(s)
      return e.commitFloor()
    },
    rollback: async (s, xid) => {
      const e = this.reach(s)
      const t = this.open[s]!.get(xid)
      if (t === undefined) throw new ScratchBirdError('SB_TXN_NOT_ACTIVE', `transaction ${xid} is not open on shard ${s}`)
      await e.rollback(t)
      this.open[s]!.delete(xid)
      this.applied(s)
    },
    commitPrepared: async (s, xid, commitHlc) => { await this.reach(s).commitPrepared(xid, commitHlc); this.applied(s) },
    abortPrepared: async (s, xid) => { await this.reach(s).abortPrepared(xid); this.applied(s) },
    writeDecision: async (xid, d) => {
      const s = decisionShard(xid, this.shards)
      await this.reach(s).autocommit({ writes: [{ op: 'insert', tableId: DECISION_TABLE_ID, pk: [xid], row: encodeDecision(d), versionId: this.vid() }], commitHlc: this.hlc() })
      if (d.outcome === 'abort') stats.fences++
      else if (this.crashAfterApply) stats.commitRecordRepliesLost++
      this.applied(s)
    },
    readDecision: async (xid) => {
      const s = decisionShard(xid, this.shards)
      const row = await this.reach(s).get(DECISION_TABLE_ID, [xid])
      this.applied(s)
      return row === undefined ? null : decodeDecision(row)
    },
    dropDecision: async (xid) => {
      const s = decisionShard(xid, this.shards)
      await this.reach(s).autocommit({ writes: [{ op: 'put', tableId: DECISION_TABLE_ID, pk: [xid], row: null, versionId: this.vid() }], commitHlc: this.hlc() })
      this.droppedRecords.add(xid)
      this.applied(s)
    },
    listLimbo: async (s) => {
      const xids = this.reach(s).listLimbo().map(l => l.xid)
      this.applied(s)
      return xids
    }
  }

  /** Xids a node's live coordinators hold (that process's `coordinating` set). */
  coordinating (n: number): Set<Xid> {
    const out = new Set<Xid>()
    for (const m of this.machines) if (m.kind === 'coordinator' && m.node === n && !m.m.finished) out.add(m.txn.xid)
    return out
  }

  startRecovery (n: number): void {
    for (const m of this.machines) if (m.kind === 'recovery' && m.node === n) return // one round at a time
    const shards = shardIds(this.shards).filter(s => this.owner[s] === n)
    const m = new LimboRecovery({ shards, coordinator: coordinatorStatus(this.alone, this.coordinating(n)), dropDecisions: this.alone })
    const machine: Machine = { kind: 'recovery', node: n, m }
    this.machines.add(machine)
    this.push(machine, m.start())
  }

  startCoordinator (t: SimTxn): void {
    t.started = true
    const m = new TwoPhaseCoordinator(t.xid, t.shards, () => this.hlc())
    const machine: Machine = { kind: 'coordinator', node: t.coordNode, m, txn: t }
    this.machines.add(machine)
    this.log.push(`step ${this.step}: node ${t.coordNode} commits txn ${t.id} (xid ${t.xid}) on shards ${t.shards.join(',')}`)
    this.push(machine, m.start())
  }

  push (machine: Machine, effects: Array<CoordinatorEffect | RecoveryEffect>): void {
    for (const effect of effects) {
      if (effect.type === 'outcome') {
        const m = machine as Machine & { kind: 'coordinator' }
        m.txn.outcome = effect.outcome
        this.log.push(`step ${this.step}: txn ${m.txn.id} outcome ${effect.outcome.committed ? 'committed' : effect.outcome.unknown ? 'unknown' : 'aborted'}`)
        continue
      }
      this.tasks.push({ machine, effect })
    }
    if (machine.m.finished) {
      this.machines.delete(machine)
      if (machine.kind === 'recovery') {
        const r = machine.m.result
        stats.recoveryCommits += r.committed
        stats.recoveryAborts += r.aborted
        stats.pending += r.pending
        this.log.push(`step ${this.step}: node ${machine.node} recovery ${JSON.stringify(r)}`)
      }
    }
  }

  /** Carries out one task; its answer goes to its machine if the machine's node is still up. */
  async run (task: Task): Promise<void> {
    const { machine, effect } = task
    this.log.push(`step ${this.step}: node ${machine.node} ${machine.kind} ${effect.type}${'shard' in effect ? ` shard ${effect.shard}` : ''}${machine.kind === 'coordinator' ? ` txn ${machine.txn.id}` : ''}`)
    if (machine.kind === 'coordinator') {
      const ev = await answerCoordinatorEffect(this.io, machine.txn.xid, effect as CoordinatorEffect)
      if (ev !== null && this.machines.has(machine)) this.push(machine, machine.m.step(ev as CoordinatorEvent))
    } else {
      const ev = await answerRecoveryEffect(this.io, effect as RecoveryEffect)
      if (this.machines.has(machine)) this.push(machine, machine.m.step(ev as RecoveryEvent))
    }
  }

  async runStep (faults: boolean): Promise<void> {
    this.step++
    for (let n = 1; n <= this.nodes; n++) if (!this.up[n] && (this.step >= this.restartAt[n]! || !faults)) await this.restart(n)
    if (faults) {
      for (const t of this.txns) if (!t.started && this.up[t.coordNode] && this.chance(START_PROBABILITY)) this.startCoordinator(t)
      if (!this.alone) for (let n = 1; n <= this.nodes; n++) if (this.up[n] && this.chance(RECOVERY_ROUND_PROBABILITY)) this.startRecovery(n)
    } else {
      for (const t of this.txns) if (!t.started && this.up[t.coordNode]) this.startCoordinator(t)
    }
    if (this.tasks.length === 0) return
    const task = this.tasks.splice(this.int(this.tasks.length), 1)[0]!
    if (faults && this.crashes < MAX_CRASHES) {
      const focused = task.effect.type === this.focus
      if (this.chance(focused ? FOCUS_CRASH_BEFORE_PROBABILITY : CRASH_BEFORE_PROBABILITY)) {
        // Either the node the step goes to or the node running the machine (coordinator crash).
        this.crash(this.chance(0.5) ? task.machine.node : 1 + this.int(this.nodes), 'before a step')
        if (!this.up[task.machine.node]) return
      } else if (this.chance(focused ? FOCUS_CRASH_AFTER_PROBABILITY : CRASH_AFTER_PROBABILITY)) {
        this.crashAfterApply = true
      }
    }
    await this.run(task)
    this.crashAfterApply = false
  }

  /** Open transactions never prepared are rolled back by the participant lease (not 2PC's job). */
  async expireOpen (): Promise<void> {
    for (let s = 0; s < this.shards; s++) {
      for (const t of this.open[s]!.values()) await t.rollback()
      this.open[s]!.clear()
    }
  }
}

async function simulate (seed: number): Promise<World> {
  const w = new World(seed)
  await w.init()
  stats.seeds++
  stats.txns += w.txns.length
  while (w.step < FAULT_STEPS) await w.runStep(true)
  // Heal: every node up, every machine to its end, without faults.
  while ((w.tasks.length > 0 || w.txns.some(t => !t.started) || w.up.some(u => !u)) && w.step < MAX_STEPS) await w.runStep(false)
  expect(w.tasks.length, 'machines did not finish').toBe(0)
  await w.expireOpen()
  // A last recovery round on every node (the production retry loop, or a last restart).
  for (let n = 1; n <= w.nodes; n++) w.startRecovery(n)
  while (w.tasks.length > 0 && w.step < MAX_STEPS) await w.runStep(false)
  expect(w.tasks.length, 'recovery did not finish').toBe(0)
  return w
}

async function check (w: World): Promise<void> {
  for (let s = 0; s < w.shards; s++) {
    expect(w.engine(s).listLimbo().map(l => String(l.xid)), `shard ${s} left in limbo`).toEqual([])
  }
  for (const t of w.txns) {
    const states = await Promise.all(t.shards.map(s => w.engine(s).tipState(t.xid)))
    const rows = await Promise.all(t.shards.map(async s => {
      const r = await w.engine(s).get(TABLE, [BigInt(t.id)])
      return r === undefined ? null : dec.decode(r)
    }))
    const committed = states[0]!.state === 'committed'
    const where = `txn ${t.id} (xid ${t.xid}) on shards ${t.shards.join(',')}: ${states.map(x => x.state).join(',')}`
    for (const st of states) {
      expect(st.state, `half-committed: ${where}`).toBe(committed ? 'committed' : 'dead')
      if (committed) expect(st.commitHlc, `commit HLCs differ: ${where}`).toBe(states[0]!.commitHlc)
    }
    // A record left behind never contradicts the outcome (one that did would decide any participant
    // still in limbo the wrong way) — except a fence a recovery round wrote from a stale limbo list
    // after the commit record was dropped: every participant had committed by then.
    const record = await w.engine(decisionShard(t.xid, w.shards)).get(DECISION_TABLE_ID, [t.xid])
    if (record !== undefined && !(committed && w.droppedRecords.has(t.xid))) expect(decodeDecision(record).outcome, `decision record contradicts the participants: ${where}`).toBe(committed ? 'commit' : 'abort')
    expect(rows, `rows disagree with the TIP: ${where}`).toEqual(t.shards.map(() => committed ? `t${t.id}` : null))
    if (t.outcome?.committed === true) {
      stats.acked++
      expect(committed, `acknowledged but not committed: ${where}`).toBe(true)
      expect(states[0]!.commitHlc, `acknowledged at another HLC: ${where}`).toBe(t.outcome.commitHlc)
    } else if (t.outcome !== null && !t.outcome.unknown) {
      stats.aborted++
      expect(committed, `reported aborted but committed: ${where}`).toBe(false)
    } else if (t.outcome !== null) {
      stats.unknown++
    }
  }
}

describe('2PC simulation (seeded crashes of coordinators and participants)', () => {
  for (const seed of SEED_LIST) {
    it(`seed ${seed}`, async () => {
      const w = await simulate(seed)
      if (process.env.SIM_LOG !== undefined) console.log(`SEED=${seed}:\n${w.log.join('\n')}`)
      try {
        await check(w)
      } catch (e) {
        console.log(`SEED=${seed} replays this schedule:\n${w.log.join('\n')}`)
        throw e
      }
    })
  }

  it('the seeds exercised the paths that matter', () => {
    if (process.env.SIM_STATS !== undefined) console.log(stats)
    if (SEED_LIST.length < 100) return
    expect(stats.crashes).toBeGreaterThan(SEED_LIST.length)
    expect(stats.lostReplies).toBeGreaterThan(0)
    expect(stats.halfPreparedAtCrash).toBeGreaterThan(0)
    expect(stats.recoveryCommits).toBeGreaterThan(0)
    expect(stats.recoveryAborts).toBeGreaterThan(0)
    expect(stats.fences).toBeGreaterThan(0)
    expect(stats.pending).toBeGreaterThan(0) // recovery met running coordinators
    expect(stats.acked).toBeGreaterThan(stats.txns / 10)
    expect(stats.aborted).toBeGreaterThan(0)
  })
})
