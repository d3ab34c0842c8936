import { ScratchBirdError } from '../../core/errors'
import type { NodeId, ShardId } from '../../core/ids'
import { divergentWindows } from '../../storage/merkle/forest-index'
import { bucketOf, diffLeaves, type MerkleLeaf } from '../../storage/merkle/tree'
import { afterRead, isRowRepaired, keyAction, type KeyAction } from './decide'
import { checkAdopt, checkApply, checkBuckets, checkLeaves, checkRead, checkRoots } from './replies'
import type { AbortReason, AeEvent, AeReply, AeRequestBody, RepairVersion, Side, WindowReport } from './types'

// The steps of one repair round (round.ts drives them): a generator that yields one request per
// side at a time and resumes with their replies, so the walk over windows, buckets and keys reads
// top to bottom while staying sans-I/O. It counts what it did (the round's result) and pushes the
// window events; it ends the round early by throwing Abort (budget, oversized bucket) or a coded
// error from a reply check (replies.ts), which the driver turns into an aborted round.
//
//   roots of both → divergent windows, oldest first (after resumeAfterWindow first, if given)
//   per window: bucket hashes of both → differing buckets → their leaves, a few buckets at a time
//   (a cut reply is continued from its last, partial bucket) → per differing key decide.ts's
//   action → for the keys to repair, both directions together: adopt, read, apply, adopt.

/** A request addressed to one side, before the driver gives it an id. */
export type Ask = AeRequestBody & { readonly side: Side }
export type Steps = Generator<Ask[], void, AeReply[]>

/** Thrown inside the steps to end the round; never escapes the driver. */
export class Abort {
  constructor (readonly reason: AbortReason, readonly error?: unknown) {}
}

export interface WalkOptions {
  readonly shard: ShardId
  readonly peer: NodeId
  /** Round start − in-flight tolerance: newer leaves at or above it are left alone. */
  readonly youngerThanMs: number
  readonly maxLeaves: number
  readonly maxKeys: number
  readonly maxBuckets: number
  readonly resumeAfterWindow: number | undefined
}

class Tally {
  inFlight = 0
  rowsRepaired = 0
  leavesAdopted = 0
  conflicts = 0
  unrepairable = 0
  constructor (readonly window: number) {}
  report (): WindowReport {
    return { window: this.window, inFlight: this.inFlight, rowsRepaired: this.rowsRepaired, leavesAdopted: this.leavesAdopted, conflicts: this.conflicts, unrepairable: this.unrepairable }
  }
}

function chunks<T> (items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

export class RoundWalk {
  windowsCompared = 0
  windowsDiverged = 0
  readonly reports: WindowReport[] = []
  leavesSeen = 0
  /** Last window fully walked. */
  lastWindow: number | undefined
  readonly events: AeEvent[] = []
  private readonly shard: ShardId
  private readonly peer: NodeId

  constructor (private readonly o: WalkOptions) {
    this.shard = o.shard
    this.peer = o.peer
  }

  * run (): Steps {
    const [mine, theirs] = yield [{ side: 'local', op: 'roots' }, { side: 'peer', op: 'roots' }]
    const a = checkRoots(mine as Extract<AeReply, { op: 'roots' }>)
    const b = checkRoots(theirs as Extract<AeReply, { op: 'roots' }>)
    this.windowsCompared = new Set([...a.keys(), ...b.keys()]).size
    const divergent = divergentWindows(a, b)
    const after = this.o.resumeAfterWindow
    const order = after === undefined ? divergent : [...divergent.filter(w => w > after), ...divergent.filter(w => w <= after)]
    for (const w of order) {
      yield * this.window(w)
      this.lastWindow = w
    }
  }

  private * window (w: number): Steps {
    const [hm, ht] = yield [{ side: 'local', op: 'buckets', window: w }, { side: 'peer', op: 'buckets', window: w }]
    const mine = checkBuckets(hm as Extract<AeReply, { op: 'buckets' }>)
    const theirs = checkBuckets(ht as Extract<AeReply, { op: 'buckets' }>)
    const differing: number[] = []
    for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) differing.push(i)
    const tally = new Tally(w)
    let announced = false
    for (const chunk of chunks(differing, this.o.maxBuckets)) {
      let pending = chunk
      while (pending.length > 0) {
        if (this.leavesSeen >= this.o.maxLeaves) throw new Abort('budget')
        const [lm, lt] = yield [{ side: 'local', op: 'leaves', window: w, buckets: pending }, { side: 'peer', op: 'leaves', window: w, buckets: pending }]
        const rm = checkLeaves(lm as Extract<AeReply, { op: 'leaves' }>, pending)
        const rt = checkLeaves(lt as Extract<AeReply, { op: 'leaves' }>, pending)
        this.leavesSeen += (lm as Extract<AeReply, { op: 'leaves' }>).leaves.length + (lt as Extract<AeReply, { op: 'leaves' }>).leaves.length
        const done = new Set(pending.filter(x => rm.complete.has(x) && rt.complete.has(x)))
        if (done.size === 0) throw new Abort('bucket-too-large', new ScratchBirdError('SB_RPC_TOO_LARGE', `anti-entropy: bucket ${pending[0]} of window ${w} (shard ${this.shard}) does not fit one leaves reply`))
        const diffs = diffLeaves(rm.leaves.filter(l => done.has(bucketOf(l.key))), rt.leaves.filter(l => done.has(bucketOf(l.key))))
        const repairs: Array<Extract<KeyAction, { kind: 'repair' }>> = []
        for (const d of diffs) {
          const act = keyAction(d, this.o.youngerThanMs)
          if (act.kind === 'conflict') tally.conflicts++
          else if (act.kind === 'in-flight') tally.inFlight++
          else repairs.push(act)
        }
        if (!announced && (repairs.length > 0 || tally.conflicts > 0)) {
          announced = true
          this.windowsDiverged++
          this.events.push({ type: 'window-diverged', shard: this.shard, peer: this.peer, window: w })
        }
        for (const part of chunks(repairs, this.o.maxKeys)) yield * this.repair(part, tally)
        pending = pending.filter(x => !done.has(x))
      }
    }
    if (announced) {
      const report = tally.report()
      this.reports.push(report)
      this.events.push({ type: 'window-repaired', shard: this.shard, peer: this.peer, report })
    }
  }

  /** decide.ts's steps 1–4 for some keys, both directions together. */
  private * repair (keys: ReadonlyArray<Extract<KeyAction, { kind: 'repair' }>>, tally: Tally): Steps {
    // 1. the lagging side adopts the leaf when it holds that version or a newer one
    const needs = yield * this.adopt(keys.map(k => ({ side: k.lagging, leaf: k.leaf })), tally)
    const fetch = keys.filter((_, i) => needs[i])
    if (fetch.length === 0) return
    // 2. read the key's latest version from the side holding the leaf
    const reads = yield * this.both(fetch, k => k.holder, part => ({ op: 'read', keys: part.map(k => k.leaf.key) }),
      (reply, n) => checkRead(reply as Extract<AeReply, { op: 'read' }>, n))
    const ship: Array<{ key: Extract<KeyAction, { kind: 'repair' }>, version: RepairVersion, adoptAfter: boolean }> = []
    fetch.forEach((k, i) => {
      const d = afterRead(k.leaf, reads[i]!)
      if (d.kind === 'unrepairable') { tally.unrepairable++; return }
      ship.push({ key: k, version: { key: k.leaf.key, versionId: d.versionId, row: d.row }, adoptAfter: d.adoptAfter })
    })
    if (ship.length === 0) return
    // 3. apply it on the lagging side (LWW); the write adds its leaf to its own window there
    const applied = yield * this.both(ship, s => s.key.lagging, part => ({ op: 'apply', versions: part.map(s => s.version) }),
      (reply, n) => checkApply(reply as Extract<AeReply, { op: 'apply' }>, n))
    ship.forEach((_, i) => { if (isRowRepaired(applied[i]!)) tally.rowsRepaired++ })
    // 4. a newer version than the leaf was shipped: the leaf itself is history the lagging side now supersedes
    const later = ship.filter(s => s.adoptAfter)
    if (later.length === 0) return
    const still = yield * this.adopt(later.map(s => ({ side: s.key.lagging, leaf: s.key.leaf })), tally)
    tally.unrepairable += still.filter(Boolean).length
  }

  /** MERKLE_ADOPT of each leaf on its side; per leaf whether it still needs data. */
  private * adopt (items: ReadonlyArray<{ side: Side, leaf: MerkleLeaf }>, tally: Tally): Generator<Ask[], boolean[], AeReply[]> {
    const needs = yield * this.both(items, it => it.side, part => ({ op: 'adopt', leaves: part.map(it => it.leaf) }),
      (reply, n) => checkAdopt(reply as Extract<AeReply, { op: 'adopt' }>, n))
    tally.leavesAdopted += needs.filter(x => !x).length
    return [...needs]
  }

  /**
   * One request per side for the items addressed to it (none for a side with no items), and the
   * checked per-item answers back in the items' order.
   */
  private * both<T, R> (items: readonly T[], sideOf: (item: T) => Side, body: (part: T[]) => AeRequestBody,
    check: (reply: AeReply, n: number) => readonly R[]): Generator<Ask[], R[], AeReply[]> {
    const local = items.filter(it => sideOf(it) === 'local')
    const peer = items.filter(it => sideOf(it) === 'peer')
    const asks: Ask[] = []
    if (local.length > 0) asks.push({ side: 'local', ...body(local) })
    if (peer.length > 0) asks.push({ side: 'peer', ...body(peer) })
    if (asks.length === 0) return []
    const replies = yield asks
    const localAnswers = local.length > 0 ? check(replies[0]!, local.length) : []
    const peerAnswers = peer.length > 0 ? check(replies[local.length > 0 ? 1 : 0]!, peer.length) : []
    let li = 0
    let pi = 0
    return items.map(it => sideOf(it) === 'local' ? localAnswers[li++]! : peerAnswers[pi++]!)
  }
}
