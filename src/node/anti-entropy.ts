import type { Logger } from 'pino'
import { AntiEntropyScheduler, type HeldShard, type ScheduledRequest } from '../cluster/anti-entropy/scheduler'
import { antiEntropyLogLine } from '../cluster/anti-entropy/log-lines'
import { serveVerdict, tombstonePurgeCutoff } from '../cluster/anti-entropy/purge-rules'
import type { AeReply, AeRequest, RoundResult } from '../cluster/anti-entropy/types'
import type { AntiEntropyStatusRow } from '../exec/env'
import type { Clock } from '../core/clock'
import { describe, messageOf, ScratchBirdError } from '../core/errors'
import type { RepairRecords } from './repair-records'
import type { Hlc } from '../core/hlc'
import type { NodeId, ShardId } from '../core/ids'
import type { Rng } from '../core/rng'
import { codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../shard/protocol/ops'
import type { MerkleLeafMessage } from '../shard/protocol/messages'
import { nextHlcTs } from '../storage/hlc-ts'
import { decodeLeafKey } from '../storage/merkle/leaf-key'
import type { Tuple } from '../storage/keys'
import type { ShardRequester } from './shard-router'
import type { Mode1Verifier } from './anti-entropy-mode1'

// The I/O shell of anti-entropy (DESIGN §6 "Anti-entropy", issue 15): the scheduler and its repair
// rounds (cluster/anti-entropy/) decide; this carries their requests out — a 'local' request as a
// shard op to this node's worker over the rings, a 'peer' one as the same op in a SHARD_QUERY to
// the peer — feeds the replies back and writes the rounds' events to anti_entropy.log. Sealing
// windows on time is the sealer's (merkle-sealer.ts).
//
// Which shards: those this node holds a replica of for some leaderless_quorum table (the first N
// of the shard's preference list, N the largest of those tables'), each with its other replicas
// as peers. Primary/replica shards are verified by their primary (anti-entropy-mode1.ts): this
// shell starts and stops it and merges its REPAIR and status with its own.
//
// Serving (DESIGN §6 "Tombstones (leaderless)"): every tick re-evaluates, per held shard, whether
// this replica serves it (purge-rules.ts serveVerdict). A shard with no round completed with any
// peer within replication.tombstone_gc_grace_days — this node back from a long outage, or cut off
// that long — is stale: isStale() says so to the quorum shell and to peers' requests (cluster.ts
// refuses REPLICA_READ / REPLICA_APPLY of it with SB_REPLICA_STALE; a repair round's own reads and
// writes come as AE_READ / AE_APPLY and are served), the change is logged, and rounds are forced
// back to back until one with every peer has completed since. The time a replica counts as
// current without any round (`currentSinceMs`) is when its repair records began (repair-records.ts):
// a node restarting after a short stop keeps its records and serves at once.

/** How often the scheduler is advanced (rounds pace themselves inside: round.ts). */
const TICK_MS = 1_000
/** Leaves one MERKLE_LEAVES reply carries at most (count, bytes). */
const LEAVES_PER_REPLY = 20_000
const LEAF_BYTES_PER_REPLY = 4 << 20
/** A peer's shard op may queue behind its writes; the round retries on its own timeout too. */
const PEER_CALL_TIMEOUT_MS = 30_000
/**
 * How often each held shard's anti-entropy CPU (AE_CPU: thread CPU of the worker's anti-entropy
 * ops, shard/ae-cpu.ts) is sampled; the metric is the share of one core over the last period.
 */
export const CPU_SAMPLE_MS = 10_000

export interface AntiEntropyCluster {
  /** This node's leaderless replicas: per shard it holds, the other replicas (empty when none are leaderless). */
  heldShards: () => HeldShard[]
  isAlive: (id: NodeId) => boolean
  forward: (to: NodeId, op: ShardOpName, shard: ShardId, payload: Uint8Array, timeoutMs: number) => Promise<Uint8Array>
}

export interface AntiEntropyDeps {
  intervalMs: number
  local: ShardRequester
  cluster: AntiEntropyCluster
  hlc: Hlc
  clock: Clock
  rng: Rng
  /** anti_entropy.log */
  log: Logger
  /** Every finished round (metrics). */
  onRound?: (r: RoundResult) => void
  /** What earlier runs verified (repair-records.ts), and where to keep what this one verifies; absent: memory only. */
  records?: { readonly initial: RepairRecords, readonly save: (r: RepairRecords) => void }
  /** tombstoneGraceMs(replication.tombstone_gc_grace_days), read at use (SIGHUP). */
  graceMs: () => number
  /** Wall ms since which this node's replicas count as current without a round (repair-records.ts since). */
  currentSinceMs: number
  /** A shard held here stopped (false) or started again (true) serving (metrics). */
  onServing?: (shard: ShardId, serving: boolean) => void
  /**
   * Every CPU_SAMPLE_MS, per held shard: the percent of one CPU core this node's worker spent on
   * the shard's anti-entropy work (its own rounds and its peers') since the previous sample, and
   * those CPU seconds.
   */
  onCpu?: (shard: ShardId, percent: number, cpuSeconds: number) => void
  /** Mode 1 verification of the shards this node is the primary of (absent: not run). */
  mode1?: Mode1Verifier | undefined
  /**
   * Whether the catalog has dropped relation `tableId` (catalog/dropped-relations.ts); absent:
   * none. Rounds ignore such leaves on both sides: one replica may have purged the relation
   * (storage/purge-relations.ts) while the other has not yet, and repairing the difference would
   * copy the dropped rows back onto the replica that purged them.
   */
  isDropped?: ((tableId: number) => boolean) | undefined
}

export class AntiEntropyShell {
  private readonly scheduler: AntiEntropyScheduler
  private timer: NodeJS.Timeout | undefined
  private stopped = false

  private readonly verified: RepairRecords = new Map()
  /** The held shards by id, recomputed at most once per TICK_MS (the sweep asks once per shard). */
  private held: { at: number, byShard: Map<ShardId, HeldShard> } | null = null
  /** Held shards this replica does not serve, with when they became stale (serveVerdict). */
  private readonly stale = new Map<ShardId, number>()
  /** The last AE_CPU reading per shard (monotonic ms, thread CPU ns), and when the next is due. */
  private readonly cpuSeen = new Map<ShardId, { at: number, ns: number }>()
  private nextCpuSampleAt = 0
  private sampling = false

  constructor (private readonly d: AntiEntropyDeps) {
    this.scheduler = new AntiEntropyScheduler({ intervalMs: d.intervalMs }, d.rng)
    for (const [shard, peers] of d.records?.initial ?? []) {
      this.verified.set(shard, new Map(peers))
      this.scheduler.restore(shard, new Map([...peers].map(([p, v]) => [p, { verifiedThroughMs: v }])))
    }
  }

  start (): void {
    // At once: a shard stale after a long outage gets its rounds now, not within the interval.
    this.tick()
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.timer.unref()
    this.d.mode1?.start()
  }

  /** Does this replica of `shard` not serve it (stale: see the top)? Re-evaluated every tick. */
  isStale (shard: ShardId): boolean {
    return this.stale.has(shard)
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
    this.d.mode1?.stop()
  }

  /** REPAIR SHARD / TABLE: a round now for each of `shards` this node holds a leaderless replica of or is the Mode 1 primary of; answers those. */
  repairNow (shards: readonly ShardId[]): ShardId[] {
    this.tick() // the scheduler learns the shards held now
    const started = shards.filter(s => this.scheduler.force(s))
    if (started.length > 0) this.tick()
    const primaryOf = this.d.mode1?.repairNow(shards) ?? []
    return [...new Set([...started, ...primaryOf])].sort((a, b) => a - b)
  }

  /**
   * The wall-clock ms before which a leaderless tombstone of `shard` may have been written to be
   * purged here (purge-rules.ts tombstonePurgeCutoff over this node's rounds with every other
   * replica); null when this node holds no leaderless replica of it or a peer is not verified yet
   * (the records live in memory: after a restart nothing is purged until rounds completed again).
   */
  purgeCutoff (shard: ShardId, nowMs: number, graceMs: number): number | null {
    const held = this.heldNow().get(shard)
    if (held === undefined) return null
    return tombstonePurgeCutoff(held.peers, this.scheduler.repairState(shard, 0), nowMs, graceMs)
  }

  /** SHOW ANTI_ENTROPY STATUS rows: per shard held and peer, the last round. */
  statusRows (): AntiEntropyStatusRow[] {
    const rows: AntiEntropyStatusRow[] = []
    for (const st of this.scheduler.status()) {
      for (const [peer, p] of [...st.peers].sort((a, b) => a[0] - b[0])) {
        const last = p.lastCompleted
        const running = st.running?.peer === peer
        rows.push({
          shard: st.shard,
          peer,
          lastRoundAtMs: p.lastAttempt?.startedAtMs ?? null,
          outcome: running ? 'running' : p.lastAttempt?.outcome ?? null,
          reason: running ? null : p.lastAttempt?.reason ?? null,
          windowsCompared: last?.windowsCompared ?? null,
          windowsDiverged: last?.windowsDiverged ?? null,
          rowsRepaired: last?.rowsRepaired ?? null,
          verifiedThroughMs: p.verifiedThroughMs ?? null,
          serving: !this.stale.has(st.shard)
        })
      }
    }
    if (this.d.mode1 !== undefined) rows.push(...this.d.mode1.statusRows())
    return rows
  }

  /** Advances the scheduler (every TICK_MS; REPAIR calls it at once). */
  tick (): void {
    if (this.stopped) return
    const held = [...this.heldNow().values()]
    this.judgeServing(held)
    this.sampleCpu(held)
    this.run(this.scheduler.tick(this.d.clock.monotonic(), this.d.clock.now(), held, id => this.d.cluster.isAlive(id)))
  }

  /** Every CPU_SAMPLE_MS: each held shard's anti-entropy CPU since the last reading, as a percent of one core (onCpu). */
  private sampleCpu (held: readonly HeldShard[]): void {
    const onCpu = this.d.onCpu
    const now = this.d.clock.monotonic()
    if (onCpu === undefined || this.sampling || now < this.nextCpuSampleAt) return
    this.nextCpuSampleAt = now + CPU_SAMPLE_MS
    this.sampling = true
    void Promise.all(held.map(async ({ shard }) => {
      const r = await this.d.local.request('AE_CPU', { shard })
      if (!r.measured) return
      const at = this.d.clock.monotonic()
      const prev = this.cpuSeen.get(shard)
      this.cpuSeen.set(shard, { at, ns: r.cpuNs })
      if (prev !== undefined && at > prev.at) {
        const ns = Math.max(0, r.cpuNs - prev.ns)
        onCpu(shard, 100 * ns / 1e6 / (at - prev.at), ns / 1e9)
      }
    })).catch((e: unknown) => {
      this.d.log.debug({ err: describe(e) }, `Anti-entropy: CPU sample failed (${messageOf(e)})`)
    }).finally(() => { this.sampling = false })
  }

  /** Re-evaluate which held shards this replica serves; log changes; keep rounds going for stale ones. */
  private judgeServing (held: readonly HeldShard[]): void {
    const now = this.d.clock.now()
    const graceMs = this.d.graceMs()
    const listed = new Set(held.map(h => h.shard))
    for (const shard of [...this.stale.keys()]) {
      if (!listed.has(shard)) { this.stale.delete(shard); this.d.onServing?.(shard, true) } // no longer held here
    }
    for (const h of held) {
      const was = this.stale.get(h.shard) ?? null
      const v = serveVerdict(this.scheduler.repairState(h.shard, this.d.currentSinceMs), h.peers, now, graceMs, was)
      const label = String(h.shard).padStart(3, '0')
      if (v.serving) {
        if (was === null) continue
        this.stale.delete(h.shard)
        this.d.onServing?.(h.shard, true)
        this.d.log.info({ shard: h.shard }, `Anti-entropy: Shard ${label} repaired with every replica; serving it again`)
        continue
      }
      if (was === null) {
        this.stale.set(h.shard, v.staleSinceMs!)
        this.d.onServing?.(h.shard, false)
        this.d.log.warn({ shard: h.shard, waitingFor: v.waitingFor, graceMs },
          `Anti-entropy: Shard ${label} is stale (no repair round completed within tombstone_gc_grace_days); not serving it or counting toward its quorums until a round with every replica (nodes ${v.waitingFor.join(', ')}) completes`)
      }
      // Rounds back to back (the next peer in turn each time) until every peer has had one.
      this.scheduler.force(h.shard)
    }
  }

  private run (reqs: ScheduledRequest[]): void {
    for (const r of reqs) void this.carry(r)
    this.drain()
  }

  private async carry (s: ScheduledRequest): Promise<void> {
    const started = this.d.clock.monotonic()
    let reply: AeReply
    try {
      reply = await this.perform(s.shard, s.request.side === 'local' ? null : s.peer, s.request)
    } catch (e) {
      if (this.stopped) return
      this.run(this.scheduler.onError(s.shard, s.round, s.request.id, e, this.d.clock.monotonic()))
      return
    }
    if (this.stopped) return
    const now = this.d.clock.monotonic()
    this.run(this.scheduler.onReply(s.shard, s.round, s.request.id, reply, now, now - started))
  }

  private drain (): void {
    for (const e of this.scheduler.drainEvents()) {
      const line = antiEntropyLogLine(e)
      if (line.level === 'WARNING') this.d.log.warn(line.fields, line.msg)
      else this.d.log.info(line.fields, line.msg)
      if (e.type === 'round-finished') {
        this.d.onRound?.(e.result)
        this.remember(e.result)
      }
    }
  }

  private heldNow (): Map<ShardId, HeldShard> {
    const now = this.d.clock.monotonic()
    if (this.held === null || now - this.held.at >= TICK_MS) {
      this.held = { at: now, byShard: new Map(this.d.cluster.heldShards().map(h => [h.shard, h])) }
    }
    return this.held.byShard
  }

  /** A completed round's verified-through, kept across restarts (the tombstone purge reads it). */
  private remember (r: RoundResult): void {
    if (this.d.records === undefined || r.outcome !== 'completed' || r.verifiedThroughMs === null) return
    let peers = this.verified.get(r.shard)
    if (peers === undefined) this.verified.set(r.shard, peers = new Map())
    if ((peers.get(r.peer) ?? -1) >= r.verifiedThroughMs) return
    peers.set(r.peer, r.verifiedThroughMs)
    try {
      this.d.records.save(this.verified)
    } catch (e) {
      this.d.log.warn({ err: describe(e) }, `Anti-entropy: repair records not saved (${messageOf(e)}); after a restart, tombstones wait for new rounds`)
    }
  }

  /** One request as its shard op, on this node's worker (`to` null) or the peer's. */
  private async perform (shard: ShardId, to: NodeId | null, q: AeRequest): Promise<AeReply> {
    switch (q.op) {
      case 'roots':
        return { op: 'roots', windows: (await this.call(to, 'MERKLE_ROOTS', { shard })).windows }
      case 'buckets':
        return { op: 'buckets', hashes: (await this.call(to, 'MERKLE_BUCKETS', { shard, window: q.window })).hashes }
      case 'leaves': {
        const r = await this.call(to, 'MERKLE_LEAVES', { shard, window: q.window, buckets: [...q.buckets], maxLeaves: LEAVES_PER_REPLY, maxBytes: LEAF_BYTES_PER_REPLY })
        const dropped = this.d.isDropped
        const leaves = dropped === undefined ? r.leaves : r.leaves.filter(l => !dropped(leafTableId(l.key)))
        return { op: 'leaves', leaves: leaves.map(l => ({ key: l.key, version: l.versionId, rowHash: l.rowHash })), more: r.more }
      }
      case 'adopt': {
        const leaves: MerkleLeafMessage[] = q.leaves.map(l => ({ key: l.key, versionId: l.version, rowHash: l.rowHash }))
        const r = await this.call(to, 'MERKLE_ADOPT', { shard, leaves })
        const needs = new Set(r.needsData.map(leafId))
        return { op: 'adopt', needsData: leaves.map(l => needs.has(leafId(l))) }
      }
      case 'read': {
        const versions: Array<{ versionId: Uint8Array, row: Uint8Array | null } | null> = new Array(q.keys.length).fill(null)
        for (const [tableId, group] of byTable(q.keys)) {
          // AE_READ, not REPLICA_READ: a stale replica answers a repair round's reads (that is how it gets repaired)
          const r = await this.call(to, 'AE_READ', { shard, tableId, pks: group.map(g => g.pk) })
          if (r.versions.length !== group.length) throw new ScratchBirdError('SB_RPC_MALFORMED', `REPLICA_READ answered ${r.versions.length} versions for ${group.length} keys`)
          group.forEach((g, i) => { versions[g.index] = r.versions[i] ?? null })
        }
        return { op: 'read', versions }
      }
      case 'apply': {
        const keys = byTable(q.versions.map(v => v.key))
        const writes = [...keys.values()].flat().sort((a, b) => a.index - b.index).map(g => {
          const v = q.versions[g.index]!
          return { tableId: g.tableId, pk: g.pk, versionId: v.versionId, row: v.row }
        })
        const r = await this.call(to, 'AE_APPLY', { shard, writes, commitHlc: nextHlcTs(this.d.hlc) })
        if (r.applied.length !== writes.length) throw new ScratchBirdError('SB_RPC_MALFORMED', `REPLICA_APPLY answered ${r.applied.length} outcomes for ${writes.length} versions`)
        return { op: 'apply', applied: r.applied }
      }
    }
  }

  private async call<K extends ShardOpName> (to: NodeId | null, op: K, req: ShardRequests[K]): Promise<ShardReplies[K]> {
    if (to === null) return await this.d.local.request(op, req)
    const codec = codecOf(op)
    const shard = (req as { shard: ShardId }).shard
    return codec.decodeReply(await this.d.cluster.forward(to, op, shard, codec.encodeRequest(req), PEER_CALL_TIMEOUT_MS))
  }
}

/** The relation of a leaf key; -1 (no relation: kept) when it does not decode — the round reports that as it does today. */
function leafTableId (key: Uint8Array): number {
  try {
    return decodeLeafKey(key).tableId
  } catch {
    return -1
  }
}

function leafId (l: MerkleLeafMessage): string {
  return `${Buffer.from(l.key).toString('hex')}/${Buffer.from(l.versionId).toString('hex')}`
}

interface KeyRef { index: number, tableId: number, pk: Tuple }

/** Keys grouped by table, each with its position in the request (a read or apply is per table). */
function byTable (keys: readonly Uint8Array[]): Map<number, KeyRef[]> {
  const out = new Map<number, KeyRef[]>()
  keys.forEach((key, index) => {
    const { tableId, pk } = decodeLeafKey(key)
    let list = out.get(tableId)
    if (list === undefined) out.set(tableId, list = [])
    list.push({ index, tableId, pk: pk as Tuple })
  })
  return out
}
