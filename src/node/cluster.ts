import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import { Catalog } from '../catalog/catalog'
import { firstLive, preferenceList } from '../cluster/placement'
import { GossipMachine, isAlive, type MemberView } from '../cluster/gossip/machine'
import type { GossipAck, GossipOutput, GossipPing, GossipTarget, MemberState } from '../cluster/gossip/types'
import { systemClock } from '../core/clock'
import type { Config } from '../core/config/load'
import { isScratchBirdError, ScratchBirdError } from '../core/errors'
import type { Hlc } from '../core/hlc'
import { cryptoRng } from '../core/rng'
import type { RpcClient } from '../net/rpc/client'
import type { CatalogDoc, DdlReply, ShardQuery } from '../net/rpc/payloads'
import type { RpcMethods } from '../net/rpc/server'
import type { NodeMetrics } from '../ops/metrics'
import type { DdlStatement } from '../sql/ast'
import { formatStatement } from '../sql/format'
import { parse } from '../sql/parser'
import { commandResult, type StatementResult } from '../exec/result'
import { uuidVersion } from '../core/uuid'
import { nextHlcTs } from '../storage/hlc-ts'
import { codecOf, type ShardOpName } from '../shard/protocol/ops'
import type { RawShardRequester, ShardRouting } from './shard-router'

// The cluster I/O shell (DESIGN §6 "Placement", §7; issue 5): drives the sans-I/O gossip machine
// with a timer and cluster RPC (failure detection on the monotonic clock, so an NTP step cannot
// mark the cluster down; clock offsets from wall-clock samples), places shards by rendezvous hashing over the configured members,
// forwards shard requests to their owners, and keeps one catalog across nodes — DDL runs on the
// catalog coordinator (the lowest live node id), which pushes every new version to the live
// nodes; a node that was away notices a higher version in gossip and fetches it.
//
// Placement uses the members of cluster.nodes, not whoever gossip has seen: a shard's data lives
// where the placement put it, and until shards can be streamed to a new owner (DRAIN NODE, issue
// of its own) a member appearing or disappearing must not move ownership.

/** Gossip RPCs wait at most this long: a slower answer says nothing a later round won't. */
const GOSSIP_CALL_TIMEOUT_MS = 2_000
/** A forwarded shard request may scan a whole shard; the HTTP server bounds requests at 60 s. */
const SHARD_CALL_TIMEOUT_MS = 50_000
/** Catalog pushes, fetches and forwarded DDL. */
const CATALOG_CALL_TIMEOUT_MS = 10_000
const DDL_KINDS = new Set(['create_table', 'alter_table', 'drop_table'])

export interface ClusterDeps {
  readonly config: Config
  readonly hlc: Hlc
  readonly log: Logger
  readonly metrics: NodeMetrics
  readonly rpc: RpcClient
  readonly workers: RawShardRequester
  readonly catalog: () => Catalog
  /** Persist and use `c` (a newer version from the coordinator or a peer). */
  readonly installCatalog: (c: Catalog) => void
  /** Runs a DDL statement against this node's catalog (validates, persists, installs). */
  readonly runDdl: (s: DdlStatement) => StatementResult
  /** This node cannot go on (its node id is owned by another live process). */
  readonly onFatal: (reason: string) => void
}

export interface MemberRow {
  nodeId: number
  address: string
  datacenter: string
  state: MemberState | 'unknown'
  heartbeatAgeMs: number | null
  clockOffsetMs: number | null
  shardReplicas: number
}

export interface ShardMapRow { shard: number, preference: number[], live: number[] }

const encodeHlc = (h: Hlc): string => { const s = h.state(); return `${s.ts}.${s.counter}` }

function decodeHlc (text: string): { ts: number, counter: number } | null {
  const m = /^(\d{1,15})\.(\d{1,4})$/.exec(text)
  return m ? { ts: Number(m[1]), counter: Number(m[2]) } : null
}

function malformed (what: string): ScratchBirdError {
  return new ScratchBirdError('SB_RPC_MALFORMED', `malformed ${what}`)
}

export class ClusterShell implements ShardRouting {
  readonly selfId: number
  private readonly machine: GossipMachine
  /** Configured members: id → address (the addresses this node dials, e.g. through a proxy). */
  private readonly addresses = new Map<number, string>()
  private readonly ids: number[]
  private readonly prefs: number[][]
  private timer: NodeJS.Timeout | null = null
  private stateCache: Map<number, MemberState> | null = null
  private fetching = false

  constructor (private readonly d: ClusterDeps, listenAddress: string) {
    const { config } = d
    this.selfId = config.node.id
    for (const n of config.cluster.nodes) this.addresses.set(n.id, n.address)
    if (!this.addresses.has(this.selfId)) this.addresses.set(this.selfId, listenAddress)
    this.ids = [...this.addresses.keys()].sort((a, b) => a - b)
    this.prefs = [...Array(config.storage.shards).keys()].map(s => preferenceList(s, this.ids))
    this.machine = new GossipMachine(
      { nodeId: this.selfId, address: this.addresses.get(this.selfId)!, datacenter: config.node.datacenter, bootId: randomBytes(8).toString('hex') },
      config.cluster.nodes.map(n => ({ nodeId: n.id, address: n.address })),
      { intervalMs: config.gossip.interval_ms, fanout: config.gossip.fanout, heartbeatTimeoutMs: config.gossip.heartbeat_timeout_ms },
      cryptoRng)
    this.machine.setLocal({ catalogVersion: d.catalog().version, shardReplicas: this.prefs.filter(p => p[0] === this.selfId).length })
  }

  /** More than one configured member: placement, forwarding and cluster DDL apply. */
  static enabled (config: Config): boolean {
    return config.cluster.nodes.some(n => n.id !== config.node.id)
  }

  register (methods: RpcMethods): void {
    methods
      .register('PING', p => p)
      .register('GOSSIP_SYNC', (p, ctx) => this.onGossip(p, ctx.from))
      .register('SHARD_QUERY', p => this.onShardQuery(p))
      .register('CATALOG_FETCH', () => ({ catalog: this.d.catalog().toJSON() }))
      .register('CATALOG_APPLY', p => this.onCatalogApply(p))
      .register('CATALOG_DDL', p => this.onDdl(p))
  }

  start (): void {
    const round = (): void => {
      this.stateCache = null
      this.handle(this.machine.tick(systemClock.monotonic()))
      this.catchUpCatalog()
    }
    this.logPlacement()
    round()
    this.timer = setInterval(round, this.d.config.gossip.interval_ms)
    this.timer.unref()
  }

  stop (): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  // ---- membership -------------------------------------------------------------------------------

  private view (): Map<number, MemberView> {
    return new Map(this.machine.members(systemClock.monotonic()).map(m => [m.nodeId, m]))
  }

  /**
   * Member states by id, for the per-request liveness checks (routing, quorums): rebuilt only
   * after the gossip machine ran (a tick or a received message can change a state; nothing else
   * can), not on every shard request.
   */
  private states (): Map<number, MemberState> {
    this.stateCache ??= new Map(this.machine.members(systemClock.monotonic()).map(m => [m.nodeId, m.state]))
    return this.stateCache
  }

  /** A member we have not heard of yet counts as alive: requests to it fail on their own if not. */
  private alive (id: number, view?: Map<number, MemberView>): boolean {
    if (id === this.selfId) return true
    const state = view === undefined ? this.states().get(id) : view.get(id)?.state
    return state === undefined || isAlive(state)
  }

  liveNodes (): number {
    const view = this.view()
    return this.ids.filter(id => id === this.selfId || (view.get(id) !== undefined && isAlive(view.get(id)!.state))).length
  }

  members (): MemberRow[] {
    const view = this.view()
    const replicas = (id: number): number => this.prefs.filter(p => p[0] === id).length
    const rows: MemberRow[] = this.ids.map(id => {
      const m = view.get(id)
      return {
        nodeId: id,
        address: m?.address ?? this.addresses.get(id)!,
        datacenter: m?.datacenter ?? this.d.config.cluster.nodes.find(n => n.id === id)?.datacenter ?? '',
        state: m?.state ?? 'unknown',
        heartbeatAgeMs: m === undefined ? null : Math.max(0, Math.round(m.heartbeatAgeMs)),
        clockOffsetMs: m?.clockOffsetMs === null || m === undefined ? null : Math.round(m.clockOffsetMs),
        shardReplicas: replicas(id)
      }
    })
    // Members gossip knows but the config does not (they hold no shards here).
    for (const m of view.values()) {
      if (this.addresses.has(m.nodeId)) continue
      rows.push({ nodeId: m.nodeId, address: m.address, datacenter: m.datacenter, state: m.state, heartbeatAgeMs: Math.round(m.heartbeatAgeMs), clockOffsetMs: m.clockOffsetMs === null ? null : Math.round(m.clockOffsetMs), shardReplicas: 0 })
    }
    return rows
  }

  shardMap (): ShardMapRow[] {
    const view = this.view()
    // Replication factor 1 for now (issue 5): the owner is the only replica.
    return this.prefs.map((p, shard) => ({ shard, preference: p, live: p.slice(0, 1).filter(id => this.alive(id, view)) }))
  }

  // ---- routing ----------------------------------------------------------------------------------

  placedOwner (shard: number): number { return this.prefs[shard]![0]! }

  ownerOf (shard: number): number | null {
    const owner = this.placedOwner(shard)
    return firstLive([owner], id => this.alive(id)) ?? null
  }

  scanNodeOf (shard: number, tableId: number): number | null | undefined {
    const t = this.d.catalog().tableById(tableId)
    if (t?.replication.replication_mode !== 'leaderless_quorum') return undefined
    const replicas = this.replicasOf(shard, t.replication.replication_factor)
    if (replicas.includes(this.selfId)) return this.selfId
    const view = this.view()
    return replicas.find(id => this.alive(id, view)) ?? null
  }

  async forward (nodeId: number, op: ShardOpName, shard: number, payload: Uint8Array, timeoutMs = SHARD_CALL_TIMEOUT_MS): Promise<Uint8Array> {
    const reply = await this.d.rpc.call(this.addressOf(nodeId), 'SHARD_QUERY', { op, shard, payload }, { timeoutMs })
    return reply.payload
  }

  private async onShardQuery (q: ShardQuery): Promise<{ payload: Uint8Array }> {
    const { op, shard } = q
    if (shard >= this.prefs.length) throw malformed(`SHARD_QUERY (no shard ${shard})`)
    // Served here whatever this node's own view says: the sender routed by the same placement,
    // and re-forwarding could bounce a request between two nodes with different views.
    let payload = q.payload
    if (op === 'REPLICA_APPLY') payload = this.observeReplicaApply(payload)
    return { payload: await this.d.workers.requestRaw(op, shard, payload) }
  }

  /**
   * A quorum write, hint or read repair from a peer (DESIGN §3): every version updates this node's
   * HLC before anything is applied; one more than max_clock_offset_ms ahead refuses the whole
   * request (SB_CLOCK_OFFSET_EXCEEDED, counted). The versions are then committed at a commit HLC of
   * this node (above its snapshots' start points), not the coordinator's.
   */
  private observeReplicaApply (payload: Uint8Array): Uint8Array {
    const codec = codecOf('REPLICA_APPLY')
    const req = codec.decodeRequest(payload)
    for (const w of req.writes) {
      if (uuidVersion(w.versionId) !== 8) continue
      try {
        this.d.hlc.update(w.versionId)
      } catch (e) {
        if (!isScratchBirdError(e)) throw e
        this.d.metrics.hlcRemoteRejections.inc({ node_id: String(this.selfId) })
        this.d.log.warn({ shard: req.shard, err: e.toJSON() }, `replica write refused: ${e.message}`)
        throw e
      }
    }
    return codec.encodeRequest({ ...req, commitHlc: nextHlcTs(this.d.hlc) })
  }

  private addressOf (nodeId: number): string {
    const a = this.addresses.get(nodeId) ?? this.view().get(nodeId)?.address
    if (a === undefined) throw new ScratchBirdError('SB_NODE_UNREACHABLE', `node ${nodeId} is not a known cluster member`, { node: nodeId })
    return a
  }

  // ---- gossip -----------------------------------------------------------------------------------

  private resolve (to: GossipTarget): string {
    return (to.nodeId !== undefined ? this.addresses.get(to.nodeId) : undefined) ?? to.address
  }

  /** Every gossip message updates the HLC (DESIGN §3); one too far ahead is refused whole. */
  private observeHlc (text: string, from: number): boolean {
    const remote = decodeHlc(text)
    if (remote === null) return true // a peer that sent none (not an error: '' is allowed)
    try {
      this.d.hlc.update(remote)
      return true
    } catch (e) {
      if (!isScratchBirdError(e)) throw e
      this.d.metrics.hlcRemoteRejections.inc({ node_id: String(this.selfId) })
      this.d.log.warn({ peer: from, err: e.toJSON() }, `gossip from node ${from} refused: ${e.message}`)
      return false
    }
  }

  private onGossip (msg: GossipPing, from: number): GossipAck | null {
    if (!this.observeHlc(msg.hlc, from)) throw new ScratchBirdError('SB_CLOCK_OFFSET_EXCEEDED', `node ${this.selfId} refuses gossip from node ${msg.from}: its clock is too far ahead`)
    this.stateCache = null
    const out = this.machine.receive(this.addresses.get(msg.from) ?? '', msg, systemClock.monotonic(), systemClock.now())
    let ack: GossipAck | null = null
    for (const o of out) {
      if (o.type === 'send' && o.msg.type === 'ack' && o.msg.from === this.selfId && ack === null) ack = { ...o.msg, hlc: encodeHlc(this.d.hlc) }
    }
    this.handle(out.filter(o => !(o.type === 'send' && o.msg.type === 'ack')))
    return ack
  }

  private handle (outputs: GossipOutput[]): void {
    for (const o of outputs) {
      switch (o.type) {
        case 'send': if (o.msg.type === 'ping') this.sendPing(o.to, { ...o.msg, hlc: encodeHlc(this.d.hlc) }); break
        case 'member-state': this.onMemberState(o.nodeId, o.address, o.from, o.to); break
        case 'member-restarted': this.d.log.info({ peer: o.nodeId, address: o.address }, `Node ${o.nodeId} restarted (${o.address})`); break
        case 'clock-skew': {
          const ms = Math.round(Math.abs(o.offsetMs))
          this.d.log.warn({ peer: o.nodeId, offsetMs: Math.round(o.offsetMs), rttMs: Math.round(o.rttMs) },
            `Clock skew detected: Node ${o.nodeId} clock ${ms}ms ${o.offsetMs < 0 ? 'behind' : 'ahead of'} Node ${this.selfId}`)
          break
        }
        case 'catalog-behind': void this.fetchCatalog(o.nodeId); break
        case 'id-conflict':
          this.d.log.error({ peer: o.nodeId, address: o.address }, `node id ${o.nodeId} is already in use by a live node at ${o.address}; refusing to run as a second node ${o.nodeId}`)
          this.d.onFatal(`node id ${o.nodeId} is already alive at ${o.address}`)
          break
        case 'id-contested':
          this.d.log.warn({ peer: o.nodeId, address: o.address }, `another process at ${o.address} tried to take node id ${o.nodeId}; this node keeps it`)
          break
        case 'left': break
      }
    }
  }

  private sendPing (to: GossipTarget, msg: GossipPing): void {
    this.d.rpc.call(this.resolve(to), 'GOSSIP_SYNC', msg, { timeoutMs: GOSSIP_CALL_TIMEOUT_MS, idempotent: true }).then(ack => {
      if (ack === null) return
      if (!this.observeHlc(ack.hlc, ack.from)) return
      this.stateCache = null
      this.handle(this.machine.receive(this.resolve(to), ack, systemClock.monotonic(), systemClock.now()))
    }, (e: unknown) => {
      // Silence is what the failure detector measures; the error itself adds nothing.
      this.d.log.debug({ to, err: isScratchBirdError(e) ? e.code : String(e) }, 'gossip exchange failed')
    })
  }

  // Lines as in the seed's "Example Log Entries": joins at INFO, node failures at ERROR (the seed's
  // level for them), suspicion at WARNING.
  private onMemberState (nodeId: number, address: string, from: MemberState | null, to: MemberState): void {
    if (nodeId === this.selfId) {
      this.d.log.info({ state: to }, `this node is ${to} in cluster ${this.d.config.cluster.name}`)
      return
    }
    const fields = { peer: nodeId, address, from, to }
    if (to === 'normal' && from !== 'suspect' && from !== 'normal') this.d.log.info(fields, `Node ${nodeId} joined cluster (gossip)`)
    else if (to === 'down') this.d.log.error(fields, `Node ${nodeId} is down: silent for ${this.d.config.gossip.heartbeat_timeout_ms} ms`)
    else if (to === 'suspect') this.d.log.warn(fields, `Node ${nodeId} is suspect: no heartbeat for ${this.d.config.gossip.heartbeat_timeout_ms / 2} ms`)
    else this.d.log.info(fields, `Node ${nodeId} is ${to}${from === null ? '' : ` (was ${from})`}`)
  }

  /** The placement, once at start ("Shard 001 assigned to {Node 1}"): one owner per shard for now. */
  logPlacement (): void {
    this.prefs.forEach((p, shard) => {
      this.d.log.info({ shard, owner: p[0], preference: p }, `Shard ${String(shard).padStart(3, '0')} assigned to {Node ${p[0]!}}`)
    })
  }

  // ---- catalog ----------------------------------------------------------------------------------

  /** The node that serialises DDL: the lowest configured id alive in this node's view. */
  coordinator (): number {
    const view = this.view()
    return this.ids.find(id => id === this.selfId || (view.get(id) !== undefined && isAlive(view.get(id)!.state))) ?? this.selfId
  }

  /** Called whenever this node's catalog changes: gossip announces the version. */
  noteCatalog (c: Catalog): void {
    this.machine.setLocal({ catalogVersion: c.version })
  }

  /**
   * Refuses tables whose replication the cluster cannot provide (issue 5: never silently):
   * primary_replica with replication_factor > 1 (commit-log streaming is not built yet), and a
   * leaderless_quorum replication_factor above the configured members (replicas are the first N
   * of a shard's preference list over cluster.nodes).
   */
  checkProvidable (c: Catalog): void {
    for (const t of c.tables) {
      if (t.version !== c.version) continue
      const n = t.replication.replication_factor
      if (t.replication.replication_mode === 'leaderless_quorum') {
        if (n > this.ids.length) {
          throw new ScratchBirdError('SB_INVALID_TABLE_OPTION', `replication_factor=${n} exceeds the ${this.ids.length} configured members of the cluster`,
            { table: t.name, option: 'replication_factor', value: n, members: this.ids.length })
        }
        continue
      }
      if (n > 1) {
        throw new ScratchBirdError('SB_REPLICATION_UNAVAILABLE',
          `replication_factor=${n} is not available yet for replication_mode 'primary_replica': this release places each shard of such a table on one node (replication_factor=1); use replication_mode 'leaderless_quorum' for replicas`,
          { table: t.name, option: 'replication_factor', value: n })
      }
    }
  }

  /** The replicas of `shard` for a table of replication factor `n`: the first n of its preference list. */
  replicasOf (shard: number, n: number): number[] {
    return this.prefs[shard]!.slice(0, n)
  }

  /** Is `id` alive in this node's gossip view (self always; a member never heard of counts as alive)? */
  isAlive (id: number): boolean {
    return this.alive(id)
  }

  /** A DDL statement from a client of this node: run here when coordinator, else forwarded. */
  async ddl (s: DdlStatement): Promise<StatementResult> {
    const coordinator = this.coordinator()
    if (coordinator === this.selfId) return await this.coordinateDdl(s)
    const reply = await this.d.rpc.call(this.addressOf(coordinator), 'CATALOG_DDL', { sql: formatStatement(s) }, { timeoutMs: CATALOG_CALL_TIMEOUT_MS })
    this.adopt(reply.catalog, coordinator)
    return commandResult(reply.command, 0, reply.warnings)
  }

  private async onDdl (p: { sql: string }): Promise<DdlReply> {
    const statements = parse(p.sql)
    const s = statements[0]
    if (statements.length !== 1 || s === undefined || !DDL_KINDS.has(s.kind)) throw malformed('CATALOG_DDL (one CREATE, ALTER or DROP TABLE expected)')
    const result = await this.coordinateDdl(s as DdlStatement)
    return { command: result.command, warnings: result.warnings, catalog: this.d.catalog().toJSON() }
  }

  /**
   * DDL on the coordinator. A coordinator that just came back or took over may hold an older
   * catalog than a live member announces in gossip: it adopts the newest one first (and fails the
   * statement if it cannot fetch it), so it never builds a version on a stale catalog. What gossip
   * has not announced yet can still race (no consensus; see the note on issue 5).
   */
  private async coordinateDdl (s: DdlStatement): Promise<StatementResult> {
    const mine = this.d.catalog().version
    let newest: MemberView | undefined
    for (const m of this.view().values()) {
      if (!m.isSelf && isAlive(m.state) && m.catalogVersion > (newest?.catalogVersion ?? mine)) newest = m
    }
    if (newest !== undefined) {
      const reply = await this.d.rpc.call(this.addressOf(newest.nodeId), 'CATALOG_FETCH', {}, { timeoutMs: CATALOG_CALL_TIMEOUT_MS, idempotent: true })
      this.adopt(reply.catalog, newest.nodeId)
    }
    const result = this.d.runDdl(s)
    await this.pushCatalog()
    return result
  }

  private async pushCatalog (): Promise<void> {
    const catalog = this.d.catalog().toJSON()
    const view = this.view()
    const peers = this.ids.filter(id => id !== this.selfId && view.get(id) !== undefined && isAlive(view.get(id)!.state))
    await Promise.allSettled(peers.map(id => this.d.rpc.call(this.addressOf(id), 'CATALOG_APPLY', { catalog }, { timeoutMs: CATALOG_CALL_TIMEOUT_MS, idempotent: true }).catch((e: unknown) => {
      // The peer catches up from gossip (it sees the higher version and fetches).
      this.d.log.warn({ peer: id, err: isScratchBirdError(e) ? e.code : String(e) }, `catalog version ${this.d.catalog().version} not delivered to node ${id} yet`)
    })))
  }

  private onCatalogApply (p: CatalogDoc): { version: number } {
    this.adopt(p.catalog, null)
    return { version: this.d.catalog().version }
  }

  /** Installs a catalog document from a peer if it is newer than ours. */
  private adopt (doc: unknown, from: number | null): void {
    let c: Catalog
    try { c = Catalog.fromJSON(doc) } catch (e) {
      if (isScratchBirdError(e)) throw malformed(`catalog${from === null ? '' : ` from node ${from}`}: ${e.message}`)
      throw e
    }
    if (c.version <= this.d.catalog().version) return
    this.d.installCatalog(c)
    this.d.log.info({ version: c.version, from }, `catalog version ${c.version} installed${from === null ? '' : ` from node ${from}`}`)
  }

  /** A live member announcing a newer catalog than ours (we were away, or a push was lost): fetch it. */
  private catchUpCatalog (): void {
    const mine = this.d.catalog().version
    const ahead = [...this.view().values()].find(m => !m.isSelf && isAlive(m.state) && m.catalogVersion > mine)
    if (ahead !== undefined) void this.fetchCatalog(ahead.nodeId)
  }

  private async fetchCatalog (nodeId: number): Promise<void> {
    if (this.fetching) return
    this.fetching = true
    try {
      const reply = await this.d.rpc.call(this.addressOf(nodeId), 'CATALOG_FETCH', {}, { timeoutMs: CATALOG_CALL_TIMEOUT_MS, idempotent: true })
      this.adopt(reply.catalog, nodeId)
    } catch (e) {
      this.d.log.warn({ peer: nodeId, err: isScratchBirdError(e) ? e.code : String(e) }, `catalog fetch from node ${nodeId} failed; retried when gossip next shows a newer version`)
    } finally {
      this.fetching = false
    }
  }
}
