import type { Logger } from 'pino'
import { drillBuckets, judgeMode1Leaves, mode1DivergedBuckets, mode1FirstStart, mode1RoundDue, mode1SnapshotHlc } from '../cluster/anti-entropy/mode1-rules'
import { mode1LogLine, type Mode1RoundReport } from '../cluster/anti-entropy/log-lines'
import type { ReplicaLag } from '../cluster/replication/lag'
import type { Clock } from '../core/clock'
import { isScratchBirdError, messageOf } from '../core/errors'
import type { NodeId, ShardId } from '../core/ids'
import type { AntiEntropyStatusRow } from '../exec/env'
import { codecOf, type ShardOpName, type ShardReplies, type ShardRequests } from '../shard/protocol/ops'
import { decodeLeafKey } from '../storage/merkle/leaf-key'
import type { LeafDiff } from '../storage/merkle/tree'
import type { Tuple } from '../storage/keys'
import { hlcMs, type HlcTs } from '../storage/types'
import type { ShardRequester } from './shard-router'
import type { ShardCountSource } from '../cluster/shard-count'

// The I/O shell of Mode 1 verification (DESIGN §6 "Anti-entropy", issue 15 item 6). On each shard
// this node is the primary of, every anti_entropy.interval_ms, a round with its next voter in
// turn: both build Merkle bucket hashes from their stored rows of the primary_replica tables at a
// snapshot point the voter holds in full (now minus its replication lag and a margin:
// mode1-rules.ts), then the leaves of the differing buckets; the keys where the replica does not
// hold the primary's committed version are logged to anti_entropy.log (WARNING) and shown in SHOW
// ANTI_ENTROPY STATUS. Only the primary runs rounds: its committed data is the truth.
//
// Repair: a key where both hold the same version id with different images (silent corruption of
// the replica's copy) gets the primary's image of that version (MODE1_REPAIR, refused by a replica
// not following this primary's generation). Other differences — a version missing or extra on the
// replica — cannot be written in place: versions move only through the replicated log, with their
// transactions' state, and no entry will bring these. The replica is re-bootstrapped instead: its
// copy wiped and installed again from a snapshot of the primary's, then the log from there
// (ShardGroup.rebootstrap) — only when a majority of the voters without it holds every
// acknowledged commit (rules.ts rebootstrapRefusal: never with N = 2), else left and reported.

/** How often the shell looks for a round to start. */
const TICK_MS = 1_000
/** Buckets whose leaves one MODE1_VERIFY asks for (each reply stays under MAX_MODE1_LEAVES for ordinary bucket sizes). */
const BUCKETS_PER_LEAVES_REQUEST = 64
const PEER_CALL_TIMEOUT_MS = 30_000

/** What this shell needs of the node's Mode 1 replication group of a shard (node/replication/shard-group.ts). */
export interface Mode1Group {
  readonly role: string
  readonly voters: readonly NodeId[]
  readonly generation: number
  lag: () => ReplicaLag[]
  /** Wipe replica `to`'s copy and bootstrap it again; null when started, else why not. */
  rebootstrap: (to: NodeId) => string | null
}

export interface Mode1VerifierDeps {
  self: NodeId
  /** Read at each tick: a split's new shards get rounds from its switch on (cluster/shard-count.ts). */
  shardCount: ShardCountSource
  intervalMs: number
  /** This node's group of `shard`, if it is replicated here. */
  group: (shard: ShardId) => Mode1Group | undefined
  /** Ids of the primary_replica tables (a shard holds rows of any of them). */
  tables: () => number[]
  isAlive: (id: NodeId) => boolean
  local: ShardRequester
  forward: (to: NodeId, op: ShardOpName, shard: ShardId, payload: Uint8Array, timeoutMs: number) => Promise<Uint8Array>
  clock: Clock
  /** anti_entropy.log */
  log: Logger
  /** Every finished round (metrics). */
  onRound?: (r: Mode1RoundReport) => void
}

interface ShardTurn { next: number, lastStart: number | null, lastRoundMs: number, forced: boolean, running: string | null }
interface PeerStatus { startedAtMs: number, report: Mode1RoundReport | null }

export class Mode1Verifier {
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private readonly turns = new Map<ShardId, ShardTurn>()
  /** The last round per shard and replica (SHOW ANTI_ENTROPY STATUS). */
  private readonly status = new Map<ShardId, Map<NodeId, PeerStatus>>()

  constructor (private readonly d: Mode1VerifierDeps) {}

  start (): void {
    this.timer = setInterval(() => this.tick(), TICK_MS)
    this.timer.unref()
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
  }

  /** REPAIR SHARD / TABLE: a round now on each of `shards` this node is the primary of; answers those. */
  repairNow (shards: readonly ShardId[]): ShardId[] {
    const started: ShardId[] = []
    for (const shard of shards) {
      if (this.voterPeers(shard) === null) continue
      this.turnOf(shard, this.d.clock.monotonic()).forced = true
      started.push(shard)
    }
    if (started.length > 0) this.tick()
    return started
  }

  statusRows (): AntiEntropyStatusRow[] {
    const rows: AntiEntropyStatusRow[] = []
    for (const [shard, peers] of [...this.status].sort((a, b) => a[0] - b[0])) {
      const running = this.turns.get(shard)?.running ?? null
      for (const [peer, p] of [...peers].sort((a, b) => a[0] - b[0])) {
        const r = p.report
        const isRunning = running === String(peer)
        rows.push({
          shard,
          peer,
          lastRoundAtMs: p.startedAtMs,
          outcome: isRunning ? 'running' : r?.outcome ?? null,
          reason: isRunning ? null : r === null ? null : r.reason ?? (r.rowsDiverged > 0 ? `primary/replica: ${r.rowsDiverged} rows diverged` : 'primary/replica'),
          // One snapshot of the shard's rows is compared per round (no time windows in Mode 1).
          windowsCompared: r?.outcome === 'completed' ? 1 : null,
          windowsDiverged: r?.outcome === 'completed' ? (r.rowsDiverged > 0 ? 1 : 0) : null,
          rowsRepaired: r?.outcome === 'completed' ? r.rowsRepaired : null,
          verifiedThroughMs: null,
          serving: true
        })
      }
    }
    return rows
  }

  tick (): void {
    if (this.stopped) return
    const tables = this.d.tables()
    if (tables.length === 0) return
    const now = this.d.clock.monotonic()
    for (let s = 0; s < this.d.shardCount.shards; s++) {
      const shard = s as ShardId
      const peers = this.voterPeers(shard)
      if (peers === null || peers.length === 0) continue
      const turn = this.turnOf(shard, now)
      if (turn.running !== null) continue
      if (!mode1RoundDue(turn.lastStart === null ? null : now - turn.lastStart, turn.lastRoundMs, this.d.intervalMs, turn.forced)) continue
      const live = peers.filter(p => this.d.isAlive(p))
      if (live.length === 0) continue
      const peer = live[turn.next++ % live.length]!
      turn.forced = false
      turn.lastStart = now
      turn.running = String(peer)
      void this.round(shard, peer, tables)
        .catch((e: unknown) => { this.d.log.warn({ shard, replica: peer }, `Anti-entropy: Round with Node ${peer} failed (${messageOf(e)}) (Shard ${String(shard).padStart(3, '0')}, primary/replica)`) })
        .finally(() => {
          turn.running = null
          turn.lastRoundMs = this.d.clock.monotonic() - now
        })
    }
  }

  /** The other voters of `shard` while this node is its primary; null otherwise. */
  private voterPeers (shard: ShardId): NodeId[] | null {
    const g = this.d.group(shard)
    if (g === undefined || g.role !== 'primary') return null
    return g.voters.filter(v => v !== this.d.self)
  }

  /**
   * The shard's turn. A new one (this node leads the shard for the first time since it started)
   * has its first round within one anti_entropy.interval_ms (mode1-rules.ts mode1FirstStart), then
   * one every interval. Started at once, as they were, every shard's rounds ran in the same
   * second — when the node first led them (a start, a failover, a join's move handing it shards:
   * when load is highest) and then again every interval, all together (bench rebalance: the
   * rounds of all 8 shards landed inside a join's move, on the node that had just installed them).
   */
  private turnOf (shard: ShardId, now: number): ShardTurn {
    let t = this.turns.get(shard)
    if (t === undefined) this.turns.set(shard, t = { next: 0, lastStart: mode1FirstStart(now, this.d.intervalMs, shard, this.d.shardCount.shards), lastRoundMs: 0, forced: false, running: null })
    return t
  }

  private async round (shard: ShardId, peer: NodeId, tableIds: number[]): Promise<void> {
    let peers = this.status.get(shard)
    if (peers === undefined) this.status.set(shard, peers = new Map())
    const st: PeerStatus = { startedAtMs: Math.floor(this.d.clock.now()), report: null }
    peers.set(peer, st)
    const lag = this.d.group(shard)?.lag().find(l => l.replica === peer)
    const base = { shard, replica: peer, bucketsDiverged: 0, rowsDiverged: 0, rowsDeferred: 0, rowsRepaired: 0, rowsUnrepaired: 0, snapshotMs: 0 }
    let report: Mode1RoundReport
    if (lag === undefined) {
      report = { ...base, outcome: 'aborted', reason: 'replica-lag-unknown' }
    } else {
      const snapshotHlc = mode1SnapshotHlc(this.d.clock.now(), lag.lagMs)
      try {
        const found = await this.compare(shard, peer, tableIds, snapshotHlc)
        report = { ...base, ...found, snapshotMs: hlcMs(snapshotHlc), outcome: 'completed', reason: null }
        if (found.rowsUnrepaired > 0 && !this.stopped) {
          const g = this.d.group(shard)
          const refused = g === undefined ? 'this node no longer runs the shard' : g.rebootstrap(peer)
          report = { ...report, rebootstrap: refused === null ? 'started' : refused }
        }
      } catch (e) {
        report = { ...base, snapshotMs: hlcMs(snapshotHlc), outcome: 'aborted', reason: messageOf(e) }
      }
    }
    if (this.stopped) return
    st.report = report
    const line = mode1LogLine(report)
    if (line.level === 'WARNING') this.d.log.warn(line.fields, line.msg)
    else this.d.log.info(line.fields, line.msg)
    this.d.onRound?.(report)
  }

  private async compare (shard: ShardId, peer: NodeId, tableIds: number[], snapshotHlc: HlcTs): Promise<Pick<Mode1RoundReport, 'bucketsDiverged' | 'rowsDiverged' | 'rowsDeferred' | 'rowsRepaired' | 'rowsUnrepaired'>> {
    const req = { shard, tableIds, snapshotHlc, buckets: null }
    const [mine, theirs] = await Promise.all([this.verify(null, req), this.verify(peer, req)])
    const buckets = mode1DivergedBuckets(mine.hashes, theirs.hashes)
    let rowsDiverged = 0
    let rowsDeferred = 0
    let rowsRepaired = 0
    // Leaves in groups of buckets, halved when a group overflows one reply (a big shard); a bucket
    // that still overflows counts as one unrepaired difference (which re-bootstraps the replica).
    const overflowing = await drillBuckets(buckets, BUCKETS_PER_LEAVES_REQUEST, async (group) => {
      const part = { ...req, buckets: group }
      let p: ShardReplies['MODE1_VERIFY']
      let r: ShardReplies['MODE1_VERIFY']
      try {
        [p, r] = await Promise.all([this.verify(null, part), this.verify(peer, part)])
      } catch (e) {
        if (isScratchBirdError(e, 'SB_BAD_ARGUMENT') && e.details?.too_many_leaves !== undefined) return 'too-many'
        throw e
      }
      const v = judgeMode1Leaves({ leaves: p.leaves.map(asLeaf), recent: p.recent }, { leaves: r.leaves.map(asLeaf), recent: r.recent })
      rowsDiverged += v.diverged.length
      rowsDeferred += v.deferred.length
      rowsRepaired += await this.repair(shard, peer, v.diverged)
      return 'ok'
    })
    rowsDiverged += overflowing
    return { bucketsDiverged: buckets.length, rowsDiverged, rowsDeferred, rowsRepaired, rowsUnrepaired: rowsDiverged - rowsRepaired }
  }

  /** Gives the replica the primary's images of the same versions it holds damaged (see the top); answers the rows repaired. */
  private async repair (shard: ShardId, peer: NodeId, diverged: readonly LeafDiff[]): Promise<number> {
    const damaged = diverged.filter(d => d.newer === 'neither' && d.mine !== null)
    if (damaged.length === 0) return 0
    const g = this.d.group(shard)
    if (g === undefined || g.role !== 'primary') return 0
    const generation = BigInt(g.generation)
    const rows: ShardRequests['MODE1_REPAIR']['rows'] = []
    for (const [tableId, group] of groupByTable(damaged)) {
      const r = await this.d.local.request('AE_READ', { shard, tableId, pks: group.map(x => x.pk) })
      group.forEach((x, i) => {
        const v = r.versions[i]
        // Still the version compared (not superseded since): its image is the primary's truth.
        if (v != null && v.row !== null && Buffer.compare(v.versionId, x.diff.mine!.version) === 0) rows.push({ key: x.diff.key, versionId: v.versionId, row: v.row })
      })
    }
    if (rows.length === 0) return 0
    const codec = codecOf('MODE1_REPAIR')
    const req = { shard, generation, rows }
    const reply = codec.decodeReply(await this.d.forward(peer, 'MODE1_REPAIR', shard, codec.encodeRequest(req), PEER_CALL_TIMEOUT_MS))
    return reply.repaired
  }

  private async verify (to: NodeId | null, req: ShardRequests['MODE1_VERIFY']): Promise<ShardReplies['MODE1_VERIFY']> {
    if (to === null) return await this.d.local.request('MODE1_VERIFY', req)
    const codec = codecOf('MODE1_VERIFY')
    return codec.decodeReply(await this.d.forward(to, 'MODE1_VERIFY', req.shard, codec.encodeRequest(req), PEER_CALL_TIMEOUT_MS))
  }
}

function groupByTable (diffs: readonly LeafDiff[]): Map<number, Array<{ diff: LeafDiff, pk: Tuple }>> {
  const out = new Map<number, Array<{ diff: LeafDiff, pk: Tuple }>>()
  for (const diff of diffs) {
    const { tableId, pk } = decodeLeafKey(diff.key)
    let list = out.get(tableId)
    if (list === undefined) out.set(tableId, list = [])
    list.push({ diff, pk })
  }
  return out
}

function asLeaf (l: { key: Uint8Array, versionId: Uint8Array, rowHash: bigint }): { key: Uint8Array, version: Uint8Array, rowHash: bigint } {
  return { key: l.key, version: l.versionId, rowHash: l.rowHash }
}
