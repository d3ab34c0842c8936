import { isUserStatement } from '../../src/exec/executor'
import { ddlContext } from '../../src/plan/column-default'
import { afterAll, describe, expect, it } from 'vitest'
import { Catalog } from '../../src/catalog/catalog'
import { CatalogSync, type CatalogSyncOutput, type DdlOutcome } from '../../src/cluster/catalog-sync/machine'
import { checkProvidable } from '../../src/cluster/catalog-sync/providable'
import { sameDocument } from '../../src/cluster/catalog-sync/same'
import { GossipMachine, type GossipConfig } from '../../src/cluster/gossip/machine'
import { parseGossipMessage, type GossipMessage, type GossipOutput } from '../../src/cluster/gossip/types'
import { knownAlive, liveMemberCount } from '../../src/cluster/routing'
import { isScratchBirdError, ScratchBirdError } from '../../src/core/errors'
import { SeededRng } from '../../src/core/rng'
import type { DdlStatement } from '../../src/sql/ast'
import { formatStatement } from '../../src/sql/format'
import { parse } from '../../src/sql/parser'
import { SimNetwork } from './network'
import { simSeeds } from './seeds'
import { asNodeId, type NodeId } from '../../src/core/ids'

// Seeded simulation of catalog sync and DDL coordination (DESIGN §5, §7, §10): 3–5 nodes, each a
// gossip machine and a catalog-sync machine wired as node/cluster.ts wires them, over a network
// with 1–50 ms delay and up to 5 % loss. DDL statements are real SQL, parsed, formatted when
// forwarded and applied by the real Catalog; catalogs cross the wire as JSON and are read back
// with Catalog.fromJSON. Per seed: concurrent DDL from random nodes, the coordinator stopping in
// the middle of a statement (between its fetch round, its pushes and its install), other nodes
// stopping and coming back later with the catalog they had persisted, then everyone back.
// Invariants: no two different catalogs are ever installed with the same version anywhere; every
// acknowledged statement is in the final catalog; all nodes converge to one catalog.
//
// Not covered: partitions (two coordinators that cannot hear each other; see the machine's
// header, "Not consensus"). Before the hand-over rules, seeds 105, 165, 181, 203 and 382 of
// SIM_SEEDS=400 built one version twice right after a lower id came back (seed 181: nodes 1 and
// 2 both pushed a version 3 within 12 ms); SIM_SEEDS=1000 is green since.
//
// Replay one seed: SEED=<n> npx vitest run tests/sim/catalog.sim.test.ts
// More seeds:      SIM_SEEDS=<count> npx vitest run tests/sim/catalog.sim.test.ts
// Totals of what the seeds exercised: SIM_STATS=1 …

const SEED_LIST = simSeeds()

const MIN_DELAY_MS = 1
const MAX_DELAY_MS = 50
const MAX_LOSS = 0.05
const HEARTBEAT_TIMEOUT_ROUNDS = 5
/** Every RPC of the sim fails after this without an answer (the shell's calls have timeouts too). */
const CALL_TIMEOUT_MS = 2_000
/** Gossip rounds of DDL traffic and faults per seed. */
const DDL_ROUNDS = 40
/** After everyone is back: every node holds the same catalog within this many rounds. */
const CONVERGE_ROUNDS = 30

type Sync = CatalogSync<Catalog, DdlStatement, string>
type SyncOutput = CatalogSyncOutput<Catalog, DdlStatement, string>

type Wire =
  | { k: 'gossip', m: GossipMessage }
  | { k: 'req', id: number, from: NodeId, method: 'fetch' | 'apply' | 'ddl', body: unknown }
  | { k: 'rep', id: number, ok: boolean, body: unknown }

interface ClientOp { sql: string, kind: 'create' | 'drop', name: string, node: number, status: 'pending' | 'acked' | 'failed' | 'unknown', at: number, doneAt?: number }

interface Proc {
  id: NodeId
  address: string
  gossip: GossipMachine
  sync: Sync
  up: boolean
  calls: Map<number, { onReply: (body: unknown) => void, onFail: (e: ScratchBirdError) => void }>
  ops: Map<number, { done: (r: string) => void, fail: (e: ScratchBirdError) => void }>
  nextOp: number
}

const addressOf = (id: number): string => `node${id}.sim:7400`

class Sim {
  readonly net: SimNetwork<string>
  readonly procs = new Map<number, Proc>()
  /** What each node persisted: the catalog it comes back with after a stop. */
  readonly disk = new Map<number, Catalog>()
  /** Every catalog ever installed on any node, by version (canonical JSON). */
  readonly versions = new Map<number, unknown>()
  readonly violations: string[] = []
  readonly ops: ClientOp[] = []
  /** Observed events, for the aggregate checks. */
  readonly seen = { stoppedMidDdl: 0, returnedBehind: 0, conflicts: 0, acked: 0, forwarded: 0 }
  private boots = 0
  private nextCall = 1

  constructor (readonly seed: number, readonly rng: SeededRng, readonly cfg: GossipConfig, readonly ids: NodeId[], loss: number) {
    this.net = new SimNetwork<string>(rng, { minDelayMs: MIN_DELAY_MS, maxDelayMs: MAX_DELAY_MS, lossProbability: loss })
    for (const id of ids) this.disk.set(id, new Catalog())
  }

  get now (): number { return this.net.now }

  boot (id: NodeId): Proc {
    const address = addressOf(id)
    const gossip = new GossipMachine({ nodeId: id, address, datacenter: 'dc1', bootId: `boot-${this.seed}-${this.boots++}` },
      this.ids.map(n => ({ nodeId: n, address: addressOf(n) })), this.cfg, new SeededRng(this.rng.u32()))
    const catalog = this.disk.get(id)!
    gossip.setLocal({ catalogVersion: catalog.version })
    const sync: Sync = new CatalogSync({ selfId: id, members: this.ids, catalog, same: (a, b) => sameDocument(a.toJSON(), b.toJSON()) })
    const p: Proc = { id, address, gossip, sync, up: true, calls: new Map(), ops: new Map(), nextOp: 1 }
    this.procs.set(id, p)
    this.net.start(address, 0, (from, wire) => { this.receive(p, from, JSON.parse(wire) as Wire) })
    const phase = this.rng.next() * this.cfg.intervalMs
    let first = true
    this.net.every(address, this.now + phase, this.cfg.intervalMs, () => {
      this.gossipOut(p, p.gossip.tick(this.now))
      this.step(p, m => m.tick())
      if (first) { first = false; this.step(p, m => m.start()) }
    })
    return p
  }

  stop (id: NodeId): void {
    const p = this.procs.get(id)!
    p.up = false
    this.net.stop(p.address)
    for (const op of this.ops) if (op.node === id && op.status === 'pending') op.status = 'unknown'
  }

  up (): Proc[] { return [...this.procs.values()].filter(p => p.up) }

  /** A client sends `sql` (one DDL statement) to node `id`. */
  submit (id: NodeId, op: ClientOp): void {
    const p = this.procs.get(id)!
    this.ops.push(op)
    const s = parse(op.sql)[0] as DdlStatement
    this.runOp(p, (n) => this.step(p, m => m.submit(n, s)), r => { op.status = 'acked'; op.doneAt = this.now; void r }, e => {
      op.status = 'failed'
      op.doneAt = this.now
      if (e.code === 'SB_CATALOG_CONFLICT') this.seen.conflicts++
    })
  }

  // ---- the shell's wiring (node/cluster.ts) -------------------------------------------------------

  private runOp (p: Proc, begin: (op: number) => void, done: (r: string) => void, fail: (e: ScratchBirdError) => void): void {
    const op = p.nextOp++
    p.ops.set(op, { done, fail })
    begin(op)
  }

  private step (p: Proc, input: (m: Sync) => SyncOutput[]): void {
    if (!p.up) return
    p.sync.observe(p.gossip.members(this.now))
    for (const o of input(p.sync)) {
      if (!p.up) break // stopped while carrying out this step: the rest never happened
      this.carryOut(p, o)
    }
  }

  private gossipOut (p: Proc, outs: GossipOutput[]): void {
    for (const o of outs) {
      if (o.type === 'send') this.net.send(p.address, o.to.address, JSON.stringify({ k: 'gossip', m: o.msg } satisfies Wire))
      else if (o.type === 'catalog-behind') this.step(p, m => m.behind(o.nodeId))
    }
  }

  private call (p: Proc, to: number, method: 'fetch' | 'apply' | 'ddl', body: unknown, onReply: (body: unknown) => void, onFail: (e: ScratchBirdError) => void): void {
    // Unique across boots: a reply to a call of a stopped process must not reach a call of its
    // successor (in production the reply rides the connection the call went out on).
    const id = this.nextCall++
    p.calls.set(id, { onReply, onFail })
    this.net.send(p.address, addressOf(to), JSON.stringify({ k: 'req', id, from: p.id, method, body } satisfies Wire))
    this.net.after(CALL_TIMEOUT_MS, () => {
      const c = p.calls.get(id)
      if (c === undefined || !p.up) return
      p.calls.delete(id)
      c.onFail(new ScratchBirdError('SB_RPC_TIMEOUT', `no answer from node ${to}`))
    })
  }

  private receive (p: Proc, from: string, w: Wire): void {
    if (!p.up) return
    if (w.k === 'gossip') {
      const msg = parseGossipMessage(w.m)
      if (msg === null) throw new Error(`seed=${this.seed}: malformed gossip on the wire`)
      const outs = p.gossip.receive(from, msg, this.now)
      this.gossipOut(p, outs)
      return
    }
    if (w.k === 'rep') {
      const c = p.calls.get(w.id)
      if (c === undefined) return // timed out already
      p.calls.delete(w.id)
      if (w.ok) c.onReply(w.body)
      else c.onFail(new ScratchBirdError('SB_RPC_REMOTE_ERROR', String(w.body)))
      return
    }
    const reply = (ok: boolean, body: unknown): void => {
      if (p.up) this.net.send(p.address, from, JSON.stringify({ k: 'rep', id: w.id, ok, body } satisfies Wire))
    }
    p.sync.contact(w.from)
    switch (w.method) {
      case 'fetch': reply(true, { catalog: p.sync.catalog.toJSON(), coordinating: p.sync.coordinating }); break
      case 'apply': {
        const c = Catalog.fromJSON((w.body as { catalog: unknown }).catalog)
        this.step(p, m => m.onPush(w.from, c))
        reply(true, { version: p.sync.version })
        break
      }
      case 'ddl': {
        const s = parse((w.body as { sql: string }).sql)[0] as DdlStatement
        this.runOp(p, op => this.step(p, m => m.coordinate(op, s)), r => reply(true, { result: r, catalog: p.sync.catalog.toJSON() }), e => reply(false, e.code))
        break
      }
    }
  }

  private carryOut (p: Proc, o: SyncOutput): void {
    const failed = (call: number) => (e: ScratchBirdError): void => this.step(p, m => m.onCallFailed(call, e))
    switch (o.type) {
      case 'fetch':
        this.call(p, o.to, 'fetch', {}, body => {
          const b = body as { catalog: unknown, coordinating: boolean }
          const c = Catalog.fromJSON(b.catalog)
          this.step(p, m => m.onFetched(o.call, c, b.coordinating))
        }, failed(o.call))
        break
      case 'push':
        this.call(p, o.to, 'apply', { catalog: o.catalog.toJSON() }, body => this.step(p, m => m.onPushed(o.call, (body as { version: number }).version)), failed(o.call))
        this.maybeStopMidDdl(p)
        break
      case 'forward':
        this.seen.forwarded++
        this.call(p, o.to, 'ddl', { sql: formatStatement(o.statement) }, body => {
          const b = body as { result: string, catalog: unknown }
          const c = Catalog.fromJSON(b.catalog)
          this.step(p, m => m.onForwarded(o.call, b.result, c))
        }, failed(o.call))
        break
      case 'run-ddl': {
        let outcome: DdlOutcome<Catalog, string>
        try {
          const cat = p.sync.catalog
          const s = o.statement
          const ctx = ddlContext(liveMemberCount(this.ids, knownAlive(new Map(p.gossip.members(this.now).map(m => [m.nodeId, m.state])), p.id)))
          if (isUserStatement(s) || s.kind === 'create_view' || s.kind === 'drop_view') throw new Error(`the simulation submits table DDL only, not ${s.kind}`)
          const res = cat.apply(s, ctx)
          if (res.catalog !== cat) checkProvidable(res.catalog, this.ids.length)
          outcome = { ok: true, result: s.kind, catalog: res.catalog === cat ? null : res.catalog }
        } catch (e) {
          if (!isScratchBirdError(e)) throw e
          outcome = { ok: false, error: e }
        }
        this.maybeStopMidDdl(p)
        this.step(p, m => m.ddlRan(o.op, outcome))
        break
      }
      case 'install': case 'adopt': this.install(p, o.catalog); break
      case 'ddl-done': { const op = p.ops.get(o.op); p.ops.delete(o.op); op?.done(o.result); break }
      case 'ddl-failed': { const op = p.ops.get(o.op); p.ops.delete(o.op); op?.fail(o.error); break }
      case 'push-failed': case 'fetch-failed': break
    }
  }

  /** Persist and use (the shell's installCatalog + noteCatalog), checking that a version is one catalog. */
  private install (p: Proc, c: Catalog): void {
    if (!p.up) return
    const known = this.versions.get(c.version)
    if (known === undefined) this.versions.set(c.version, c.toJSON())
    else if (!sameDocument(known, c.toJSON())) this.violations.push(`t=${this.now}: node ${p.id} installed a catalog version ${c.version} that differs from one installed before`)
    this.disk.set(p.id, c)
    p.sync.installed(c)
    p.gossip.setLocal({ catalogVersion: c.version })
  }

  // ---- faults ---------------------------------------------------------------------------------------

  /** Set by the scenario: stop a coordinator in the middle of a statement with this chance per step. */
  midDdlStopChance = 0
  maxDown = 1
  onStop: (id: NodeId) => void = () => {}

  private maybeStopMidDdl (p: Proc): void {
    if (this.rng.next() >= this.midDdlStopChance || this.up().length <= this.ids.length - this.maxDown) return
    if (this.rng.next() < 0.5) {
      // Right now: the outputs of this step after this one are never carried out (a push not
      // sent, a statement checked but never answered).
      this.seen.stoppedMidDdl++
      this.stop(p.id)
      this.onStop(p.id)
      return
    }
    // Or a little later, after some of the messages of this step left.
    this.net.after(this.rng.next() * MAX_DELAY_MS, () => {
      if (!p.up || this.up().length <= this.ids.length - this.maxDown) return
      this.seen.stoppedMidDdl++
      this.stop(p.id)
      this.onStop(p.id)
    })
  }
}

function int (rng: SeededRng, lo: number, hi: number): number {
  return lo + Math.floor(rng.next() * (hi - lo + 1))
}

const totals = { stoppedMidDdl: 0, returnedBehind: 0, conflicts: 0, acked: 0, forwarded: 0 }

function scenario (seed: number): void {
  const rng = new SeededRng(seed)
  const n = int(rng, 3, 5)
  const intervalMs = int(rng, 200, 500)
  const cfg: GossipConfig = { intervalMs, fanout: int(rng, 1, 3), heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_ROUNDS * intervalMs }
  const ids = Array.from({ length: n }, (_, i) => asNodeId(i + 1))
  const sim = new Sim(seed, rng, cfg, ids, rng.next() * MAX_LOSS)
  sim.maxDown = Math.floor((n - 1) / 2)
  sim.midDdlStopChance = 0.02
  const ctx = `seed=${seed} nodes=${n} interval=${intervalMs} fanout=${cfg.fanout}`

  // A stopped node comes back after 1–3 heartbeat timeouts, with the catalog it persisted.
  const restartLater = (id: NodeId): void => {
    const behind = sim.disk.get(id)!.version
    sim.net.after(int(rng, 1, 3) * cfg.heartbeatTimeoutMs, () => {
      if (sim.procs.get(id)!.up) return
      if (Math.max(...sim.up().map(p => p.sync.version)) > behind) sim.seen.returnedBehind++
      sim.boot(id)
    })
  }
  sim.onStop = restartLater

  for (const id of ids) sim.net.at(Math.round(rng.next() * intervalMs), () => sim.boot(id))
  sim.net.runUntil(8 * intervalMs)

  // DDL traffic: CREATE TABLE of new names and DROP TABLE of earlier ones, from random live nodes.
  const start = sim.now
  const end = start + DDL_ROUNDS * intervalMs
  const names: string[] = []
  const statements = int(rng, 15, 30)
  for (let i = 0; i < statements; i++) {
    sim.net.at(start + rng.next() * (end - start), () => {
      const up = sim.up()
      if (up.length === 0) return
      const node = up[Math.floor(rng.next() * up.length)]!.id
      if (names.length > 0 && rng.next() < 0.3) {
        const name = names[Math.floor(rng.next() * names.length)]!
        sim.submit(node, { sql: `DROP TABLE ${name}`, kind: 'drop', name, node, status: 'pending', at: sim.now })
      } else {
        const name = `t${names.length}`
        names.push(name)
        sim.submit(node, { sql: `CREATE TABLE ${name} (k INTEGER PRIMARY KEY, v TEXT)`, kind: 'create', name, node, status: 'pending', at: sim.now })
      }
    })
  }
  // Other nodes stop now and then (never more than a minority at once) and come back later.
  const stops = int(rng, 1, 3)
  for (let i = 0; i < stops; i++) {
    sim.net.at(start + rng.next() * (end - start), () => {
      const up = sim.up()
      if (up.length <= n - sim.maxDown) return
      const victim = up[Math.floor(rng.next() * up.length)]!.id
      sim.stop(victim)
      restartLater(victim)
    })
  }
  sim.net.runUntil(end)
  sim.midDdlStopChance = 0

  // Everyone back; then one catalog everywhere.
  for (const id of ids) if (!sim.procs.get(id)!.up) sim.boot(id)
  // Statements still queued on a coordinator (forwarded before the end) run to their end first:
  // each waits at most two rounds of calls (fetch, push), each at most one timeout (a lost message).
  const settle = sim.now + statements * 2 * CALL_TIMEOUT_MS + CONVERGE_ROUNDS * intervalMs
  while (sim.now < settle && !sim.up().every(p => p.sync.idle)) sim.net.runUntil(sim.now + intervalMs / 4)
  expect(sim.up().every(p => p.sync.idle), `${ctx}: every statement ended by ${settle}`).toBe(true)
  const deadline = sim.now + CONVERGE_ROUNDS * intervalMs
  const converged = (): boolean => {
    const up = sim.up()
    const first = up[0]!.sync.catalog
    return up.length === n && up.every(p => p.sync.confirmed && p.sync.version === first.version && sameDocument(p.sync.catalog.toJSON(), first.toJSON()))
  }
  while (!converged() && sim.now < deadline) sim.net.runUntil(sim.now + intervalMs / 4)

  expect(sim.violations, `${ctx}: one catalog per version`).toEqual([])
  expect(converged(), `${ctx}: all nodes hold one catalog within ${CONVERGE_ROUNDS} rounds of everyone being back (versions ${sim.up().map(p => `${p.id}:${p.sync.version}`).join(' ')})`).toBe(true)
  const final = sim.up()[0]!.sync.catalog
  // A DROP that failed for its client (timed out, its node stopped) may still have run: only
  // tables no DROP was sent for must be there.
  const dropped = new Set(sim.ops.filter(o => o.kind === 'drop').map(o => o.name))
  for (const o of sim.ops) {
    if (o.status !== 'acked') continue
    if (o.kind === 'create' && !dropped.has(o.name)) expect(final.table(o.name), `${ctx}: acknowledged ${o.sql} (node ${o.node}, t=${o.at}) is in the final catalog v${final.version}`).toBeDefined()
    if (o.kind === 'drop') expect(final.table(o.name), `${ctx}: acknowledged ${o.sql} (node ${o.node}, t=${o.at}) holds in the final catalog v${final.version}`).toBeUndefined()
  }
  sim.seen.acked = sim.ops.filter(o => o.status === 'acked').length
  for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += sim.seen[k]
}

describe('catalog sync and DDL coordination simulation', () => {
  for (const seed of SEED_LIST) {
    it(`seed=${seed}`, () => { scenario(seed) })
  }

  it.skipIf(SEED_LIST.length < 50)('exercises what it claims: acknowledged DDL, forwarding, coordinators stopped mid-statement, nodes returning behind', () => {
    expect(totals.acked).toBeGreaterThan(SEED_LIST.length * 5)
    expect(totals.forwarded).toBeGreaterThan(0)
    expect(totals.stoppedMidDdl).toBeGreaterThan(10)
    expect(totals.returnedBehind).toBeGreaterThan(10)
  })

  afterAll(() => {
    if (process.env.SIM_STATS !== undefined) console.log(totals)
  })
})
